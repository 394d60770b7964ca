"""Infusions: the regimen key ``duration``, the dose table's end columns, the check against the
interval, dose numbers per regimen, the outputs and adherence.

The mFOLFOX6-like fixture (tests/fixtures/mfolfox6-infusion.toml, cohort -cohort.csv): day 1 of each
14-day cycle, 12 cycles; oxaliplatin 85 mg/m2 and leucovorin 400 mg/m2 over 2 hours from 09:00, a
fluorouracil bolus 400 mg/m2 at 11:00 and a fluorouracil infusion 2400 mg/m2 over 46 hours from 11:00.
Hand-checked ends (46 hours of elapsed time after the start):

- FOX-001, Europe/Berlin, bsa 1.80, starts Monday 2027-01-04: 11:00 CET (10:00 UTC) + 46 h = Wednesday
  2027-01-06 08:00 UTC = 09:00 CET. Cycle 12 is day 155, Monday 2027-06-07: 11:00 CEST (09:00 UTC) to
  Wednesday 2027-06-09 07:00 UTC = 09:00 CEST.
- FOX-002, Europe/Berlin, bsa 2.00, starts Saturday 2027-03-13. Cycle 2 starts Saturday 2027-03-27 at
  11:00 CET (10:00 UTC) and ends Monday 2027-03-29 08:00 UTC; the clocks went forward on Sunday
  2027-03-28, so that is 10:00 CEST on the wall, one hour later than the 09:00 of the other cycles.
- FOX-003, America/New_York, bsa 1.70, starts Saturday 2027-11-06: 11:00 EDT (15:00 UTC) to Monday
  2027-11-08 13:00 UTC, which is 08:00 EST (the clocks went back on Sunday 2027-11-07): one hour earlier.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import dosing
from dosing.errors import ProtocolError, ValueParseError
from dosing.io.write.sheet_times import time_cell
from dosing.plan.columns import DOSE_COLUMNS, WORKLIST_COLUMNS
from dosing.plan.durations import add_end_columns
from dosing.protocol.durations import duration_text, parse_duration
from tests.builders import protocol, regimen
from tests.conftest import FIXTURES

INFUSION = "fluorouracil-infusion"
WHEN = ["date", "time", "planned_utc", "end_date", "end_time", "planned_end_utc", "weekday", "cycle"]


@pytest.fixture(scope="module")
def fox() -> tuple[dosing.Protocol, dosing.Cohort]:
    proto = dosing.load_protocol(FIXTURES / "mfolfox6-infusion.toml")
    return proto, dosing.load_cohort(FIXTURES / "mfolfox6-infusion-cohort.csv", proto)


@pytest.fixture(scope="module")
def table(fox: tuple[dosing.Protocol, dosing.Cohort]) -> pd.DataFrame:
    doses = dosing.expand(*fox)
    return add_end_columns(doses.assign(planned_utc=dosing.plan.expand.utc_text(doses["planned_at"])))


def when(table: pd.DataFrame, pid: str, regimen_id: str, cycle: int) -> list[object]:
    mine = table[(table["patient_id"] == pid) & (table["regimen"] == regimen_id) & (table["cycle"] == cycle)]
    assert len(mine) == 1
    return [str(v) for v in mine[WHEN[:-1]].iloc[0].tolist()] + [int(mine["cycle"].iloc[0])]


# --- the key ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("46 hours", 2760), ("30 minutes", 30), ("2h", 120), ("90m", 90), ("1 day", 1440), ("2 weeks", 20160)],
)
def test_a_duration_is_written_like_other_offsets(text: str, minutes: int) -> None:
    assert parse_duration(text) == dt.timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (46, 'a duration needs its unit: write duration = "46 hours" or "46 minutes", not the bare number 46'),
        (2.5, "needs its unit"),
        ("46 hourz", 'expected a duration such as "46 hours", "30 minutes", "2h" or "90m"'),
        ("1.5 hours", "whole minutes, hours or days"),
        ("0 hours", "a duration must be longer than 0, got '0 hours'"),
        ("15 days", "longer than 14 days, the longest a dose may last"),
        (True, "expected a duration such as"),
    ],
)
def test_a_duration_without_a_unit_with_a_typo_or_out_of_bounds_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValueParseError) as err:
        parse_duration(value)
    assert message in err.value.message


def test_the_protocol_error_names_the_regimen_and_the_key() -> None:
    with pytest.raises(ProtocolError) as err:
        protocol([regimen("drip", {"every": "14 days"}, ["11:00"], duration=46)])
    assert "regimens[0] (id 'drip').duration: a duration needs its unit" in str(err.value)


def test_durations_read_for_people() -> None:
    assert [duration_text(m) for m in (30, 60, 90, 1440, 2760, 2880, 20160)] == [
        "30 minutes", "1 hour", "1 hour 30 minutes", "24 hours", "46 hours", "2 days", "14 days",
    ]  # fmt: skip


# --- the check against the interval ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "times", "duration", "gap"),
    [
        ({"daily": True}, ["11:00"], "25 hours", "24 hours"),
        ({"daily": True}, ["08:00", "20:00"], "13h", "12 hours"),
        ({"daily": True}, ["08:00", "22:00"], "11 hours", "10 hours"),  # 22:00 to 08:00 the next day
        ({"cycle_days": [1, 2], "cycle_length": "14 days", "cycles": 2}, ["11:00"], "46 hours", "24 hours"),
        ({"every": "2 days"}, ["11:00"], "3 days", "2 days"),
    ],
)
def test_an_infusion_longer_than_its_interval_is_refused(
    schedule: dict[str, object], times: list[str], duration: str, gap: str
) -> None:
    with pytest.raises(ProtocolError) as err:
        protocol([regimen("drip", schedule, times, duration=duration)], last_day=28)
    text = str(err.value)
    assert "regimens[0] (id 'drip').duration: an infusion longer than its interval: regimen 'drip'" in text
    assert f"its doses come {gap} apart" in text
    assert f"Fix: shorten duration to at most {gap}, or give the doses further apart" in text


def test_an_infusion_as_long_as_its_interval_or_with_one_dose_is_accepted() -> None:
    protocol([regimen("drip", {"daily": True}, ["11:00"], duration="24 hours")])
    protocol([regimen("once", {"daily": True, "count": 1}, ["11:00"], duration="14 days")])


def test_a_placebo_must_last_as_long_as_its_drug() -> None:
    def arm_regimen(rid: str, minutes: str) -> dict[str, object]:
        return {**regimen(rid, {"every": "14 days"}, ["11:00"], duration=minutes), "blinded_label": "Study drip"}

    data = {
        "study": {"id": "B", "title": "t", "blinding": "double", "timezone": "Europe/Berlin", "last_day": 28},
        "arms": [{"id": "a", "label": "A", "regimens": ["act"]}, {"id": "p", "label": "P", "regimens": ["pla"]}],
        "regimens": [arm_regimen("act", "2 hours"), arm_regimen("pla", "30 minutes")],
    }
    with pytest.raises(ProtocolError) as err:
        dosing.plan.load.protocol_from_dict(data)
    assert "blinding: regimen 'pla' differs from 'act' in duration, so blinded outputs would reveal the arm" in str(
        err.value
    )


# --- the dose table -------------------------------------------------------------------------------


def test_hand_checked_ends_of_the_46_hour_infusion(table: pd.DataFrame) -> None:
    assert when(table, "FOX-001", INFUSION, 1) == [
        "2027-01-04", "11:00", "2027-01-04T10:00:00Z", "2027-01-06", "09:00", "2027-01-06T08:00:00Z", "Monday", 1,
    ]  # fmt: skip
    assert when(table, "FOX-001", INFUSION, 12) == [
        "2027-06-07", "11:00", "2027-06-07T09:00:00Z", "2027-06-09", "09:00", "2027-06-09T07:00:00Z", "Monday", 12,
    ]  # fmt: skip


def test_an_infusion_across_the_spring_change_ends_an_hour_later_on_the_wall_clock(table: pd.DataFrame) -> None:
    assert when(table, "FOX-002", INFUSION, 1)[3:6] == ["2027-03-15", "09:00", "2027-03-15T08:00:00Z"]
    assert when(table, "FOX-002", INFUSION, 2) == [
        "2027-03-27", "11:00", "2027-03-27T10:00:00Z", "2027-03-29", "10:00", "2027-03-29T08:00:00Z", "Saturday", 2,
    ]  # fmt: skip
    assert when(table, "FOX-002", INFUSION, 3)[3:6] == ["2027-04-12", "09:00", "2027-04-12T07:00:00Z"]


def test_an_infusion_across_the_autumn_change_ends_an_hour_earlier_on_the_wall_clock(table: pd.DataFrame) -> None:
    assert when(table, "FOX-003", INFUSION, 1) == [
        "2027-11-06", "11:00", "2027-11-06T15:00:00Z", "2027-11-08", "08:00", "2027-11-08T13:00:00Z", "Saturday", 1,
    ]  # fmt: skip


def test_short_infusions_end_the_same_day_and_a_bolus_has_no_end(table: pd.DataFrame) -> None:
    assert when(table, "FOX-001", "oxaliplatin", 1)[:6] == [
        "2027-01-04", "09:00", "2027-01-04T08:00:00Z", "2027-01-04", "11:00", "2027-01-04T10:00:00Z",
    ]  # fmt: skip
    assert when(table, "FOX-001", "fluorouracil-bolus", 1)[3:6] == ["", "", ""]
    bolus = table[table["regimen"] == "fluorouracil-bolus"]
    assert (bolus["duration_minutes"] == 0).all() and set(bolus["end_date"].astype(str)) == {""}


def test_the_bolus_and_the_infusion_of_one_drug_are_numbered_apart(table: pd.DataFrame) -> None:
    mine = table[table["patient_id"] == "FOX-001"]
    for regimen_id in ("fluorouracil-bolus", INFUSION, "oxaliplatin"):
        assert mine.loc[mine["regimen"] == regimen_id, "dose_number"].tolist() == list(range(1, 13))
    first_day = mine[mine["study_day"] == 1]
    assert first_day[["regimen", "dose_number"]].values.tolist() == [
        ["oxaliplatin", 1], ["leucovorin", 1], ["fluorouracil-bolus", 1], [INFUSION, 1],
    ]  # fmt: skip


def test_a_delayed_infusion_takes_its_end_along(fox: tuple[dosing.Protocol, dosing.Cohort], tmp_path: Path) -> None:
    """A 7-day delay of FOX-002's infusion from cycle 2: 2027-04-03 11:00 CEST (09:00 UTC) + 46 h =
    Monday 2027-04-05 07:00 UTC = 09:00 CEST (no change of the clocks any more)."""
    proto, cohort = fox
    path = tmp_path / "changes.csv"
    path.write_text(
        "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n"
        f"FOX-002,delay,{INFUSION},2,2027-03-20,,7,,,neutropenia\n",
        encoding="utf-8",
    )
    changes = dosing.load_changes(path, proto, cohort)
    moved = dosing.plan.apply_changes.apply_changes(dosing.expand(proto, cohort), changes)
    moved = add_end_columns(moved.assign(planned_utc=dosing.plan.expand.utc_text(moved["planned_at"])))
    assert when(moved, "FOX-002", INFUSION, 2)[:6] == [
        "2027-04-03", "11:00", "2027-04-03T09:00:00Z", "2027-04-05", "09:00", "2027-04-05T07:00:00Z",
    ]  # fmt: skip


# --- the files ------------------------------------------------------------------------------------


def test_the_end_columns_follow_planned_utc_in_every_dose_table() -> None:
    at = DOSE_COLUMNS.index("planned_utc")
    assert DOSE_COLUMNS[at : at + 4] == ["planned_utc", "end_date", "end_time", "planned_end_utc"]
    at = WORKLIST_COLUMNS.index("planned_utc")
    assert WORKLIST_COLUMNS[at : at + 3] == ["planned_utc", "end_date", "end_time"]


def test_generate_writes_the_ends(fox: tuple[dosing.Protocol, dosing.Cohort], tmp_path: Path) -> None:
    folder = dosing.generate(*fox, tmp_path, feeds=False).folder

    def read(path: Path) -> pd.DataFrame:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")

    study = read(folder / "doses.csv")
    patient = read(folder / "patients" / "FOX-002" / "doses.csv")
    open_label = [*DOSE_COLUMNS, "dose_basis"]  # an open study's dose tables show how each dose was computed
    assert list(study.columns) == open_label and list(patient.columns) == open_label
    uid = f"FOX-002.{INFUSION}.d015.1100@fox-inf.dosing"
    for rows in (study, patient):
        row = rows[rows["uid"] == uid].iloc[0]
        assert (row["end_date"], row["end_time"], row["planned_end_utc"]) == (
            "2027-03-29",
            "10:00",
            "2027-03-29T08:00:00Z",
        )
    bolus = study[study["uid"].str.contains(".fluorouracil-bolus.")]
    assert set(bolus["end_date"]) == set(bolus["end_time"]) == set(bolus["planned_end_utc"]) == {""}
    sheet = read(folder / "worklist.csv")
    assert list(sheet.columns) == WORKLIST_COLUMNS
    row = sheet[sheet["uid"] == uid].iloc[0]
    assert (row["time"], row["end_date"], row["end_time"]) == ("11:00", "2027-03-29", "10:00")


def test_validate_says_how_long() -> None:
    from dosing.jobs.validate import describe_regimen

    proto = dosing.load_protocol(FIXTURES / "mfolfox6-infusion.toml")
    assert describe_regimen(proto.regimen(INFUSION)).endswith("intravenous at 11:00 over 46 hours")
    assert describe_regimen(proto.regimen("fluorouracil-bolus")).endswith("intravenous at 11:00")


# --- the nurses' sheet ----------------------------------------------------------------------------


def _row(**fields: str) -> SimpleNamespace:
    base = {"time": "11:00", "date": "2027-01-04", "end_date": "", "end_time": "", "timezone": "Europe/Berlin"}
    return SimpleNamespace(**{**base, "planned_utc": "2027-01-04T10:00:00Z", **fields})


def test_the_sheet_shows_start_and_end() -> None:
    assert time_cell(_row()) == "11:00"
    assert time_cell(_row(time="09:00", end_date="2027-01-04", end_time="11:00")) == "09:00 → 11:00"
    assert time_cell(_row(end_date="2027-01-06", end_time="09:00")) == "11:00 → 09:00\nWed 06 Jan"
    across = _row(date="2027-03-27", planned_utc="2027-03-27T10:00:00Z", end_date="2027-03-29", end_time="10:00")
    assert time_cell(across) == "11:00 → 10:00\nMon 29 Mar\n(clocks changed: UTC+02:00)"


def test_the_sheet_says_under_the_drug_how_long_a_dose_lasts() -> None:
    """11:00 CET (10:00 UTC) to Monday 10:00 CEST (08:00 UTC) across the spring change: 46 hours."""
    from dosing.io.write.sheet_times import duration_note

    assert duration_note(_row()) is None  # the bolus
    two = _row(time="09:00", planned_utc="2027-01-04T08:00:00Z", end_date="2027-01-04", end_time="11:00")
    assert duration_note(two) == "infusion over 2 h"
    across = _row(date="2027-03-27", planned_utc="2027-03-27T10:00:00Z", end_date="2027-03-29", end_time="10:00")
    assert duration_note(across) == "infusion over 46 h"
    assert duration_note(_row(end_date="2027-01-04", end_time="11:30")) == "infusion over 30 min"


def test_the_diary_says_how_long_an_infusion_lasts_and_until_when(fox: tuple[dosing.Protocol, dosing.Cohort]) -> None:
    """FOX-002 (Berlin) cycle 2, Saturday 2027-03-27: the bolus at 11:00, the pump from 11:00 for 46 hours
    until Monday 29 Mar 10:00 CEST; oxaliplatin 09:00-11:00."""
    from dosing.jobs.diary import patient_diary

    proto, cohort = fox
    mine = cohort.patients[cohort.patients["patient_id"] == "FOX-002"]
    doses = dosing.expand(proto, dosing.Cohort(mine.reset_index(drop=True), cohort.source))
    book = patient_diary(
        proto, next(mine.itertuples(index=False)), doses, pd.DataFrame(columns=["visit", "study_day", "time"])
    )
    day = book.items[book.items["study_day"] == 15]
    texts = [t for t in day["text"] if "Fluorouracil" in t or "Oxaliplatin" in t]
    assert any(t.endswith("(over 2 h, until Sat 27 Mar 11:00)") and "Oxaliplatin" in t for t in texts)
    assert sum(t.endswith("(over 46 h, until Mon 29 Mar 10:00)") and "Fluorouracil" in t for t in texts) == 1
    assert sum("Fluorouracil" in t and "(over" not in t for t in texts) == 1  # the bolus
    # bsa 2.00: oxaliplatin 85 x 2 = 170 mg, leucovorin 400 x 2 = 800 mg, bolus 800 mg, pump 2400 x 2 = 4,800 mg
    assert [m.text.split(":")[0] for m in book.medicines] == [
        "Oxaliplatin 170 mg over 2 h",
        "Leucovorin 800 mg over 2 h",
        "Fluorouracil 800 mg",
        "Fluorouracil 4,800 mg over 46 h",
    ]


# --- adherence --------------------------------------------------------------------------------------


def test_a_logged_infusion_is_judged_on_its_start(fox: tuple[dosing.Protocol, dosing.Cohort], tmp_path: Path) -> None:
    """FOX-001's cycle 1 (Berlin, 2027-01-04): oxaliplatin started at 09:20 is on time (±2 h of the
    09:00 start, though it ran until 11:20); the infusion logged at 09:00 on Wednesday, when the
    pump came off, is 46 hours after the 11:00 start: late, not on time for its end. Cycle 2's
    infusion, logged at its start on its worklist row (uid), is on time."""
    proto, cohort = fox
    log = tmp_path / "log.csv"
    log.write_text(
        "patient_id,drug,given_at,dose_given,uid\n"
        "FOX-001,Oxaliplatin,2027-01-04 09:20,153,\n"
        f"FOX-001,Fluorouracil,2027-01-06 09:00,4320,FOX-001.{INFUSION}.d001.1100@fox-inf.dosing\n"
        f"FOX-001,Fluorouracil,2027-01-18 11:10,4320,FOX-001.{INFUSION}.d015.1100@fox-inf.dosing\n",
        encoding="utf-8",
    )
    result = dosing.check_adherence(proto, cohort, log, as_of=dt.date(2027, 1, 31))
    mine = result.doses[result.doses["patient_id"] == "FOX-001"].set_index("uid")
    oxaliplatin = mine.loc["FOX-001.oxaliplatin.d001.0900@fox-inf.dosing"]
    assert (oxaliplatin["status"], oxaliplatin["deviation_hours"]) == ("on_time", 0.33)  # hours, rounded to 2 places
    assert oxaliplatin["end_time"] == "11:00"  # the planned end, shown beside the judged start
    first = mine.loc[f"FOX-001.{INFUSION}.d001.1100@fox-inf.dosing"]
    assert (first["status"], first["deviation_hours"]) == ("late", 46.0)
    second = mine.loc[f"FOX-001.{INFUSION}.d015.1100@fox-inf.dosing"]
    assert (second["status"], second["deviation_hours"]) == ("on_time", 0.17)


def test_show_says_when_an_infusion_ends(fox: tuple[dosing.Protocol, dosing.Cohort]) -> None:
    from dosing.jobs.show import show

    text = show(*fox, "FOX-002")
    assert "  2027-03-27 Sat  day  15  09:00  Oxaliplatin 170 mg until 11:00; Leucovorin 800 mg until 11:00\n" in text
    assert (
        "  2027-03-27 Sat  day  15  11:00  Fluorouracil 800 mg; Fluorouracil 4,800 mg until 2027-03-29 10:00\n" in text
    )


def test_the_calendar_says_the_dose_number_counts_per_regimen() -> None:
    """The pump on FOX-002's day 15 is cycle 2's infusion: the 2nd of its regimen (the 4th fluorouracil dose)."""
    from dosing.io.write.ics_wording import PER_DOSE

    assert PER_DOSE[0].format(study_day=15, cycle=2, cycle_day=1, dose_number=2) == (
        "Study day 15, cycle 2 day 1, dose 2 of this regimen"
    )
