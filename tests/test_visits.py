"""Visit plans: window and holiday arithmetic against hand-checked calendars, the seed
protocol's visit plan, anchors, calendar events and the visit outputs.

Chinese public holidays used here (holidays package, "CN"):
  National Day 2026: Thu Oct 1 - Wed Oct 7 are all days off (Oct 1-3 National Day, Oct 5
  observed, Oct 6-7 substituted days off; Oct 4 is a Sunday). Thu Oct 8 is open.
  Spring Festival 2026: Mon Feb 16 - Fri Feb 20 and Mon Feb 23 are days off.
  2027: New Year's Day Fri Jan 1; Spring Festival Fri Feb 5 - Wed Feb 10.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import icalendar
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import dosing
from dosing.cli import main
from dosing.errors import ProtocolError
from dosing.plan.load import protocol_from_dict
from dosing.plan.visits import NO_OPEN_DAY, ClinicCalendar, nearest_open, plan_visits
from dosing.protocol.model import ClinicPolicy
from tests.conftest import FIXTURES, PROTOCOLS

CHINA = ClinicPolicy(closed_weekdays=["Saturday", "Sunday"], holidays="CN")


def schedule(target: str, early: int, late: int, policy: ClinicPolicy = CHINA) -> tuple[str, bool]:
    day = np.array([target], dtype="datetime64[D]")
    calendar = ClinicCalendar(policy, range(2025, 2028))
    chosen, found = nearest_open(day, early, late, calendar)
    return str(chosen[0]), bool(found[0])


def test_open_target_stays() -> None:
    assert schedule("2026-10-12", 3, 3) == ("2026-10-12", True)  # a Monday


def test_golden_week_target_moves_to_first_open_day_after_the_holiday() -> None:
    # Mon 2026-10-05 (National Day, observed), window Oct 2-8: Oct 2-7 are all closed.
    assert schedule("2026-10-05", 3, 3) == ("2026-10-08", True)


def test_golden_week_window_with_no_open_day_is_reported() -> None:
    # window Oct 3-7: Saturday, Sunday and three days off
    assert schedule("2026-10-05", 2, 2) == ("2026-10-05", False)


def test_spring_festival_target_moves_back_to_the_friday_before() -> None:
    # Wed 2026-02-18, window Feb 13-23: Feb 16-20 and 23 are days off, 14/21 Saturdays, 15/22 Sundays.
    assert schedule("2026-02-18", 5, 5) == ("2026-02-13", True)


def test_ties_go_to_the_earlier_day() -> None:
    saturday_only = ClinicPolicy(closed_weekdays=["Saturday"])
    assert schedule("2026-10-17", 1, 1, saturday_only) == ("2026-10-16", True)  # Friday, not Sunday


def test_window_is_asymmetric() -> None:
    # Saturday 2026-10-17 with no early days: only later days count, Sunday is closed, Monday is open.
    assert schedule("2026-10-17", 0, 2) == ("2026-10-19", True)
    assert schedule("2026-10-17", 0, 1) == ("2026-10-17", False)


def test_calendar_names_why_a_day_is_closed() -> None:
    calendar = ClinicCalendar(CHINA, range(2026, 2027))
    why = calendar.closed(np.array(["2026-10-01", "2026-10-10", "2026-10-12"], dtype="datetime64[D]"))
    assert why[0] == "National Day"
    assert why[1] == "Saturday"  # a make-up working day in China, but this clinic is closed on Saturdays
    assert why[2] == ""


@pytest.fixture(scope="module")
def one_patient(seed_protocol: dosing.Protocol) -> pd.DataFrame:
    cohort = dosing.load_cohort(FIXTURES / "seed-one-patient.csv", seed_protocol)
    return plan_visits(seed_protocol, cohort).set_index("visit")


def test_seed_visit_plan_for_a_patient_starting_monday_2027_01_04(one_patient: pd.DataFrame) -> None:
    expected = {
        # visit: (target, window start, window end, scheduled, study day)
        "screening": ("2027-01-03", "2026-12-07", "2027-01-03", "2026-12-31", -4),
        "baseline": ("2027-01-04", "2027-01-04", "2027-01-04", "2027-01-04", 1),
        "week-2": ("2027-01-18", "2027-01-16", "2027-01-20", "2027-01-18", 15),
        "week-4": ("2027-02-01", "2027-01-29", "2027-02-04", "2027-02-01", 29),
        "week-8": ("2027-03-01", "2027-02-26", "2027-03-04", "2027-03-01", 57),
        "week-12": ("2027-03-29", "2027-03-26", "2027-04-01", "2027-03-29", 85),
        "week-24": ("2027-06-21", "2027-06-14", "2027-06-28", "2027-06-21", 169),
    }
    columns = ["target_date", "window_start", "window_end", "scheduled_date", "study_day"]
    got = {v: tuple(one_patient.loc[v, columns]) for v in expected}
    assert got == expected
    # screening's target (day -1) is a Sunday, Jan 2 a Saturday, Jan 1 New Year's Day: 3 days earlier
    assert one_patient.loc["screening", "moved_reason"] == "target closed (Sunday); moved 3 days earlier"


def test_week_24_falls_after_the_last_dosing_day(seed_protocol: dosing.Protocol, one_patient: pd.DataFrame) -> None:
    assert seed_protocol.study.last_day == 168
    assert one_patient.loc["week-24", "study_day"] == 169


def test_every_seed_visit_is_inside_its_window_and_open_or_flagged(
    seed_protocol: dosing.Protocol, seed_cohort: dosing.Cohort
) -> None:
    visits = plan_visits(seed_protocol, seed_cohort)
    assert len(visits) == 7 * len(seed_cohort)
    inside = (visits["window_start"] <= visits["scheduled_date"]) & (visits["scheduled_date"] <= visits["window_end"])
    assert inside.all()
    calendar = ClinicCalendar(seed_protocol.clinic, range(2026, 2029))
    closed = calendar.closed(visits["scheduled_date"].to_numpy(dtype="datetime64[D]")) != ""
    assert (closed == (visits["warning"] == NO_OPEN_DAY)).all()
    # every synthetic patient starts on an open clinic day, so nothing is flagged and no visit is on a closed day
    assert (visits["warning"] == "").all()
    assert not closed.any()


def test_visit_uids_are_stable_and_do_not_name_the_arm(one_patient: pd.DataFrame) -> None:
    assert one_patient.loc["week-4", "uid"] == "RA-900.visit-week-4@nct02467504.dosing"


def test_sle_protocol_visits_at_weeks_4_to_24() -> None:
    protocol = dosing.load_protocol(PROTOCOLS / "nct04077684.toml")
    assert [v.target_day for v in protocol.visits] == [29, 57, 85, 113, 141, 169]


def test_chained_visit_follows_its_anchor_visit() -> None:
    protocol = dosing.load_protocol(FIXTURES / "visits-chained.toml")
    cohort = dosing.load_cohort(FIXTURES / "visits-chained-cohort.csv", protocol)
    visits = plan_visits(protocol, cohort)
    p1 = visits[visits["patient_id"] == "P-1"].set_index("visit")["scheduled_date"]
    assert p1.to_dict() == {"c2": "2027-02-01", "c2-follow": "2027-02-08", "fixed": "2027-03-01"}


# ---- protocol validation -----------------------------------------------------------------------


def seed_data() -> dict:
    return tomllib.loads((PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"anchor": "week-99"}, "visits[2] (id 'week-2').anchor: unknown anchor 'week-99'"),
        ({"anchor": "il2 cycle 4"}, "regimen 'il2' has cycles 1-3, not 4"),
        ({"anchor": "methotrexate cycle 1"}, "regimen 'methotrexate' has no cycles"),
        ({"day": 0, "week": None}, "there is no study day 0"),
        ({"day": 15}, "give exactly one target"),
        ({"window": {"early": 2, "later": 2}}, "unknown key 'later'; did you mean 'late'?"),
    ],
)
def test_bad_visits_are_refused_with_the_field_path(edit: dict, message: str) -> None:
    data = seed_data()
    visit = data["visits"][2]
    for key, value in edit.items():
        if value is None:
            visit.pop(key)
        else:
            visit[key] = value
    with pytest.raises(ProtocolError) as err:
        protocol_from_dict(data, source="seed.toml")
    assert message in str(err.value)
    assert "visits[2]" in str(err.value)


def test_circular_anchors_are_refused() -> None:
    data = seed_data()
    data["visits"][2]["anchor"] = "week-12"
    data["visits"][5]["anchor"] = "week-2"
    with pytest.raises(ProtocolError, match="circular visit anchors: week-2 -> week-12 -> week-2"):
        protocol_from_dict(data, source="seed.toml")


def test_unknown_holiday_country_is_refused() -> None:
    data = seed_data()
    data["clinic"]["holidays"] = "XX"
    with pytest.raises(ProtocolError, match=r"clinic.holidays: country 'XX' is not known"):
        protocol_from_dict(data, source="seed.toml")


# ---- outputs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, seed_protocol: dosing.Protocol) -> Path:
    out = tmp_path_factory.mktemp("out")
    result = CliRunner().invoke(
        main,
        [
            "generate",
            str(PROTOCOLS / "nct02467504.toml"),
            "--cohort",
            str(FIXTURES / "changes-two-patients.csv"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "visits:   14 (0 with a warning, see visits.csv)" in result.output
    return out / "nct02467504"


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def test_visit_files_are_written(generated: Path) -> None:
    everyone = read(generated / "visits.csv")
    assert list(everyone.columns[:7]) == [
        "patient_id",
        "visit",
        "name",
        "target_date",
        "window_start",
        "window_end",
        "scheduled_date",
    ]
    assert {"study_day", "moved_reason", "uid"} <= set(everyone.columns)
    assert len(everyone) == 14
    mine = read(generated / "patients" / "RA-901" / "visits.csv")
    assert len(mine) == 7 and set(mine["patient_id"]) == {"RA-901"}
    sheet = read(generated / "visit-worklist.csv")
    assert list(sheet["scheduled_date"]) == sorted(sheet["scheduled_date"])
    assert {"attended", "notes", "site"} <= set(sheet.columns)


def test_blinded_visit_outputs_are_the_same_for_both_arms(generated: Path) -> None:
    everyone = read(generated / "visits.csv")
    assert "arm" not in everyone.columns
    active = everyone[everyone["patient_id"] == "RA-900"].drop(columns=["patient_id", "uid"]).reset_index(drop=True)
    placebo = everyone[everyone["patient_id"] == "RA-901"].drop(columns=["patient_id", "uid"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(active, placebo)


def test_visits_are_all_day_events_in_the_calendar(generated: Path) -> None:
    calendar = icalendar.Calendar.from_ical((generated / "patients" / "RA-900" / "calendar.ics").read_bytes())
    visits = [e for e in calendar.walk("VEVENT") if "visit" in str(e.get("categories").to_ical().decode())]
    assert len(visits) == 7
    week4 = next(e for e in visits if str(e["uid"]) == "RA-900.visit-week-4@nct02467504.dosing")
    assert week4.decoded("dtstart") == dt.date(2027, 2, 1)
    assert week4.decoded("dtend") == dt.date(2027, 2, 2)  # exclusive end of an all-day event
    assert int(week4["sequence"]) == 0
    text = str(week4["description"])
    assert "Window: 2027-01-29 to 2027-02-04 (target 2027-02-01)" in text
    assert "- DAS28-ESR" in text
    raw = (generated / "patients" / "RA-900" / "calendar.ics").read_bytes()
    assert b"DTSTART;VALUE=DATE:20270201" in raw


def test_timed_visit_when_clinic_hours_are_given(seed_protocol: dosing.Protocol) -> None:
    from dosing.io.write.ics_visits import visit_events

    data = seed_data()
    data["visits"][2]["time"] = "09:30"
    data["visits"][2]["duration"] = "2h"
    protocol = protocol_from_dict(data)
    cohort = dosing.load_cohort(FIXTURES / "seed-one-patient.csv", protocol)
    visits = plan_visits(protocol, cohort)
    stamp = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
    event = visit_events(visits[visits["visit"] == "week-2"], "Asia/Shanghai", stamp)[0]
    assert event.to_ical().count(b"DTSTART;TZID=Asia/Shanghai:20270118T093000") == 1
    assert event.decoded("dtend") - event.decoded("dtstart") == dt.timedelta(hours=2)


def test_unknown_subdivision_is_refused() -> None:
    data = seed_data()
    data["clinic"]["subdivision"] = "ZZ"
    with pytest.raises(ProtocolError, match=r"clinic: CN has no subdivision 'ZZ'"):
        protocol_from_dict(data, source="seed.toml")


def test_no_visit_files_without_a_visit_plan(tmp_path: Path) -> None:
    protocol = dosing.load_protocol(PROTOCOLS / "capecitabine.toml")
    cohort = dosing.load_cohort(PROTOCOLS / "capecitabine-cohort.csv", protocol)
    result = dosing.generate(protocol, cohort, tmp_path)
    assert not (result.folder / "visits.csv").exists()
    assert not (result.folder / "visit-worklist.csv").exists()
    assert "visits" not in result.summary()
