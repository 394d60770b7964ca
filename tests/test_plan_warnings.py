"""Warnings a pharmacist would give (issue 9 §5): in-clinic doses on closed clinic days (and what
the protocol says happens then: warn, move, home), first days long past, and an end-of-treatment
visit before the last dose. Expected dates are worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import recurring_ical_events
from click.testing import CliRunner
from icalendar import Calendar

import dosing
from dosing.cli import main
from dosing.errors import ProtocolError
from dosing.plan.changes import changes_from_rows
from dosing.plan.clinic_days import home_after_changes
from dosing.plan.visits import plan_visits
from dosing.plan.warnings import WarningsRefused, plan_warnings
from tests.builders import UTC_ALLOWED, expand_for, protocol, regimen
from tests.conftest import PINNED_TODAY, PROTOCOLS
from tests.seed_variants import SEED_PATIENT, seed_with, write

SEED_COHORT = PROTOCOLS / "nct02467504-cohort.csv"
HOME = 'on_closed_day = "home"'


def _load(tmp_path: Path, text: str) -> dosing.Protocol:
    return dosing.load_protocol(write(tmp_path, "p.toml", text))


def _closed_doses(warnings: list[dosing.plan.warnings.PlanWarning]) -> int:
    return sum(int(re.search(r": (\d+) in-clinic dose", w.message).group(1)) for w in warnings)  # type: ignore[union-attr]


# ---- closed clinic days: the seed -------------------------------------------------------------------


def test_seed_with_warn_reports_the_333_injections_on_closed_days(tmp_path: Path) -> None:
    """Before this issue, 333 of the seed's 987 in-clinic injections fell on weekends and Chinese
    holidays without a word (260 on Saturdays and Sundays, 73 on holidays)."""
    proto = _load(tmp_path, seed_with((HOME, 'on_closed_day = "warn"')))
    cohort = dosing.load_cohort(SEED_COHORT, proto)
    doses = dosing.expand(proto, cohort)
    warnings = plan_warnings(proto, cohort, doses, plan_visits(proto, cohort), today=PINNED_TODAY)
    closed = [w for w in warnings if w.kind == "closed_clinic"]
    assert doses["in_clinic"].sum() == 987
    assert len(closed) == 47  # one per patient: every patient has at least one
    assert _closed_doses(closed) == 333
    assert [w for w in warnings if w.kind != "closed_clinic"] == []


def test_shipped_seed_gives_closed_day_injections_at_home(
    seed_protocol: dosing.Protocol, seed_cohort: dosing.Cohort
) -> None:
    doses = dosing.expand(seed_protocol, seed_cohort)
    injections = doses[doses["regimen"].isin(["il2", "il2-placebo"])]
    home = injections[~injections["in_clinic"]]
    assert len(injections) == 987 and len(home) == 333
    assert home["instructions"].astype(str).str.contains("at home: clinic closed").all()
    # RA-001 starts Friday 2026-12-11: day 3 is Sunday 2026-12-13, at home on its own day
    row = home[(home["patient_id"] == "RA-001") & (home["study_day"] == 3)].iloc[0]
    assert (str(row["date"]), row["instructions"]) == (
        "2026-12-13",
        "subcutaneous injection; at home: clinic closed (Sunday)",
    )
    warnings = plan_warnings(
        seed_protocol, seed_cohort, doses, plan_visits(seed_protocol, seed_cohort), today=PINNED_TODAY
    )
    assert warnings == []


def test_home_doses_leave_the_staff_calendar(tmp_path: Path, seed_protocol: dosing.Protocol) -> None:
    cohort = dosing.load_cohort(SEED_PATIENT, seed_protocol)
    dosing.generate(seed_protocol, cohort, tmp_path, feeds=False)
    staff = Calendar.from_ical((tmp_path / "nct02467504" / "staff" / "PKUPH.ics").read_bytes())
    doses = [
        e
        for e in recurring_ical_events.of(staff).between(dt.date(2026, 12, 1), dt.date(2027, 12, 31))
        if "visit" not in str(e.get("CATEGORIES").to_ical())
    ]
    # RA-900 starts Monday 2027-01-04: of 21 injections 8 fall on closed days (golden doses.csv)
    assert len(doses) == 21 - 8
    assert all(e["DTSTART"].dt.weekday() < 5 for e in doses)


# ---- closed clinic days: moving -----------------------------------------------------------------------


def _every_three_days(**clinic: object) -> dosing.Protocol:
    """Injections every 3 days at a clinic closed on Wednesdays. For a patient starting Monday
    2027-01-04: days 1 (Mon 4), 4 (Thu 7), 7 (Sun 10), 10 (Wed 13), 13 (Sat 16), ... 28."""
    shot = regimen("shot", {"every": "3 days"}, times=["09:00"], in_clinic=True)
    return protocol([shot], clinic={"closed_weekdays": ["Wednesday"], **clinic})


def test_move_goes_to_the_nearest_open_day_ties_earlier_and_keeps_the_uid() -> None:
    doses = expand_for(_every_three_days(on_closed_day="move", move_window={"early": 1, "late": 1}))
    # day 10 (Wed 13) is closed; Tue 12 and Thu 14 are both open and one day away: the earlier wins
    moved = doses[doses["uid"].str.contains(r"\.d010\.")].iloc[0]
    assert (str(moved["date"]), int(moved["study_day"]), moved["weekday"]) == ("2027-01-12", 9, "Tuesday")
    assert moved["instructions"] == "moved from Wed 2027-01-13: clinic closed (Wednesday)"
    assert str(moved["planned_at"]) == "2027-01-12 09:00:00+00:00"
    assert doses["study_day"].tolist() == [1, 4, 7, 9, 13, 16, 19, 22, 25, 28]
    assert (
        plan_warnings(
            _every_three_days(on_closed_day="move", move_window={"early": 1, "late": 1}),
            _cohort(),
            doses,
            _no_visits(),
            today=PINNED_TODAY,
        )
        == []
    )


def test_move_keeps_the_minimum_spacing_or_stays_and_warns() -> None:
    # with 3 days between doses a move of one day leaves 2: allowed with 2, not with 3
    proto = _every_three_days(on_closed_day="move", move_window={"early": 1, "late": 1}, min_days_between_doses=3)
    doses = expand_for(proto)
    assert doses["study_day"].tolist() == [1, 4, 7, 10, 13, 16, 19, 22, 25, 28]
    warnings = plan_warnings(proto, _cohort(proto), doses, _no_visits(), today=PINNED_TODAY)
    assert [w.message for w in warnings] == [
        "patient P1: 1 in-clinic dose of shot on days the clinic is closed: 2027-01-13 (Wednesday)"
    ]
    proto = _every_three_days(on_closed_day="move", move_window={"early": 1, "late": 1}, min_days_between_doses=2)
    assert expand_for(proto)["study_day"].tolist() == [1, 4, 7, 9, 13, 16, 19, 22, 25, 28]


def _moving(schedule: dict[str, object], gap: int = 1) -> dosing.Protocol:
    shot = regimen("shot", schedule, times=["09:00"], in_clinic=True)
    window = {"early": 1, "late": 1}
    clinic = {"closed_weekdays": ["Wednesday"], "on_closed_day": "move", "move_window": window}
    return protocol([shot], clinic={**clinic, "min_days_between_doses": gap})


def test_move_never_lands_on_another_dose_of_the_regimen() -> None:
    # daily from Mon 4: Wed 6 (day 3) has doses on Tue 5 and Thu 7 either side: nowhere to go
    assert expand_for(_moving({"daily": True, "end_day": 7}))["study_day"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    # with min_days_between_doses = 0 it may join a neighbour's day (earlier first: Tue 5, day 2)
    assert expand_for(_moving({"daily": True, "end_day": 4}, gap=0))["study_day"].tolist() == [1, 2, 2, 4]


def test_every_other_day_moves_beside_a_neighbour_only_when_the_gap_allows() -> None:
    # every other day from Mon 4: days 1 (Mon 4), 3 (Wed 6, closed), 5 (Fri 8), 7 (Sun 10)
    assert expand_for(_moving({"every": "2 days", "end_day": 7}))["study_day"].tolist() == [1, 2, 5, 7]
    assert expand_for(_moving({"every": "2 days", "end_day": 7}, gap=2))["study_day"].tolist() == [1, 3, 5, 7]


def test_home_keeps_the_day_and_takes_the_dose_out_of_the_clinic() -> None:
    doses = expand_for(_every_three_days(on_closed_day="home"))
    home = doses[~doses["in_clinic"]]
    assert home["study_day"].tolist() == [10]  # Wed 13 (day 28 is Sunday 31)
    assert set(home["instructions"]) == {"at home: clinic closed (Wednesday)"}


def test_a_moved_dose_is_on_time_in_adherence(tmp_path: Path) -> None:
    proto = _every_three_days(on_closed_day="move", move_window={"early": 1, "late": 1})
    log = tmp_path / "log.csv"
    log.write_text("patient_id,drug,given_at\nP1,shot,2027-01-12 09:00\n", encoding="utf-8")
    result = dosing.check_adherence(proto, _cohort(proto), log, as_of=dt.date(2027, 1, 14))
    row = result.doses[result.doses["date"].astype(str) == "2027-01-12"].iloc[0]
    assert row["status"] == "on_time"
    assert result.extra.empty


def test_moved_doses_reach_the_calendar_on_their_new_day(tmp_path: Path) -> None:
    proto = _every_three_days(on_closed_day="move", move_window={"early": 1, "late": 1})
    dosing.generate(proto, _cohort(proto), tmp_path, feeds=False)
    for name in ("recurring", "expanded"):
        dosing.generate(proto, _cohort(proto), tmp_path / name, feeds=False, ics_style=name)  # type: ignore[arg-type]
        ics = Calendar.from_ical((tmp_path / name / "t" / "patients" / "P1" / "calendar.ics").read_bytes())
        days = sorted(
            e["DTSTART"].dt.date().isoformat()
            for e in recurring_ical_events.of(ics).between(dt.date(2027, 1, 1), dt.date(2027, 3, 1))
        )
        assert days == [
            "2027-01-04",
            "2027-01-07",
            "2027-01-10",
            "2027-01-12",
            "2027-01-16",
            "2027-01-19",
            "2027-01-22",
            "2027-01-25",
            "2027-01-28",
            "2027-01-31",
        ], name


def test_move_needs_a_window() -> None:
    with pytest.raises(ProtocolError, match="move_window"):
        _every_three_days(on_closed_day="move")
    with pytest.raises(ProtocolError, match="move_window"):
        _every_three_days(move_window={"early": 1, "late": 1})


# ---- first day in the past ----------------------------------------------------------------------------


def _cohort(proto: dosing.Protocol | None = None, start: str = "2027-01-04") -> dosing.Cohort:
    from dosing.plan.cohort import cohort_from_rows

    proto = proto or _every_three_days(on_closed_day="move", move_window={"early": 1, "late": 1})
    return cohort_from_rows(["patient_id", "arm", "start_date", "timezone"], [(2, ["P1", "a", start, "UTC"])], proto)


def _no_visits() -> object:
    import pandas as pd

    return pd.DataFrame(columns=["visit"])


@pytest.mark.parametrize(("start", "warned"), [("2026-11-24", False), ("2026-11-23", True), ("2027-01-04", False)])
def test_a_first_day_more_than_seven_days_past_warns(start: str, warned: bool) -> None:
    proto = protocol([regimen("pill", {"daily": True})])
    cohort = _cohort(proto, start)
    doses = dosing.expand(proto, cohort)
    found = plan_warnings(proto, cohort, doses, _no_visits(), today=dt.date(2026, 12, 1))  # type: ignore[arg-type]
    if not warned:
        assert found == []
        return
    # 2026-11-23 .. 2026-11-30: 8 daily doses before today
    assert [w.message for w in found] == [
        "patient P1 starts on 2026-11-23, 8 days before today (2026-12-01); study.max_days_in_past is 7: "
        "8 doses dated before today would reach the patient's calendar"
    ]


def test_max_days_in_past_is_the_protocols_and_today_defaults_to_the_pinned_clock() -> None:
    proto = protocol([regimen("pill", {"daily": True})])
    strict = protocol(
        [regimen("pill", {"daily": True})],
        study={
            "id": "T",
            "title": "t",
            "blinding": "open",
            "timezone": "UTC",
            **UTC_ALLOWED,
            "last_day": 28,
            "max_days_in_past": 0,
        },
    )
    cohort = _cohort(proto, "2026-11-30")
    assert plan_warnings(proto, cohort, dosing.expand(proto, cohort), _no_visits()) == []  # type: ignore[arg-type]
    cohort = _cohort(strict, "2026-11-30")
    assert [w.kind for w in plan_warnings(strict, cohort, dosing.expand(strict, cohort), _no_visits())] == [
        "past_start"
    ]  # type: ignore[arg-type]


# ---- end of treatment -----------------------------------------------------------------------------------


def _twins(proto: dosing.Protocol) -> dosing.Cohort:
    from dosing.plan.cohort import cohort_from_rows

    header = ["patient_id", "arm", "start_date", "timezone", "site", "mtx_dose", "mtx_weekday"]
    rows = [
        (2, ["RA-A", "active", "2027-01-04", "Asia/Shanghai", "PKUPH", "15", "Wednesday"]),
        (3, ["RA-B", "placebo", "2027-01-04", "Asia/Shanghai", "PKUPH", "15", "Wednesday"]),
    ]
    return cohort_from_rows(header, rows, proto)


@pytest.mark.parametrize(("days", "warned"), [(7, False), (16, False), (17, True), (21, True)])
def test_a_delay_that_pushes_the_last_injection_past_week_12_warns_alike_in_both_arms(
    seed_protocol: dosing.Protocol, days: int, warned: bool
) -> None:
    """Start Monday 2027-01-04; week 12 is day 85 (2027-03-29, a Monday, open). Cycle 3 ends on day
    69; a delay of cycle 2 by N days ends it on day 69 + N: day 85 at N = 16 (same day: no warning),
    day 86 at N = 17, day 90 at N = 21 (2027-04-03)."""
    cohort = _twins(seed_protocol)
    header = ["patient_id", "change", "regimen", "cycle", "date", "days", "reason"]
    rows = [
        (line, [pid, "delay", "hrIL-2 or placebo", "2", "2027-01-20", str(days), "infection"])
        for line, pid in ((2, "RA-A"), (3, "RA-B"))
    ]
    changes = changes_from_rows(header, rows, seed_protocol, cohort)
    doses = home_after_changes(dosing.apply_changes(dosing.expand(seed_protocol, cohort), changes), seed_protocol)
    visits = plan_visits(seed_protocol, cohort, changes)
    found = plan_warnings(seed_protocol, cohort, doses, visits, today=PINNED_TODAY)
    if not warned:
        assert found == []
        return
    last_day = 69 + days
    last = (dt.date(2027, 1, 4) + dt.timedelta(days=last_day - 1)).isoformat()
    assert [w.message for w in found] == [
        f"patient {pid}: visit 'Week 12 (end of treatment)' on 2027-03-29 (day 85) is before the last dose of "
        f"hrIL-2 or placebo on {last} (day {last_day}); it is meant to follow the end of treatment"
        for pid in ("RA-A", "RA-B")
    ]


def test_a_delayed_injection_on_a_closed_day_is_given_at_home(seed_protocol: dosing.Protocol) -> None:
    """Cycle 2 delayed 3 days: its first dose moves from day 29 (Mon 2027-02-01, open) to day 32
    (Thu 2027-02-04, open), and its day-35 dose (Sun 2027-02-07, at home) to day 38 (Wed 2027-02-10,
    a Spring Festival holiday): still at home, with that day's reason."""
    cohort = _twins(seed_protocol)
    header = ["patient_id", "change", "regimen", "cycle", "date", "days", "reason"]
    changes = changes_from_rows(
        header, [(2, ["RA-A", "delay", "il2", "2", "2027-01-20", "3", "x"])], seed_protocol, cohort
    )
    doses = home_after_changes(dosing.apply_changes(dosing.expand(seed_protocol, cohort), changes), seed_protocol)
    mine = doses[(doses["patient_id"] == "RA-A") & (doses["regimen"] == "il2")].set_index("study_day")
    assert bool(mine.loc[32, "in_clinic"]) and mine.loc[32, "instructions"] == "subcutaneous injection"
    assert not mine.loc[38, "in_clinic"]
    assert mine.loc[38, "instructions"] == (
        "subcutaneous injection; at home: clinic closed (Chinese New Year (Spring Festival) (observed))"
    )
    assert (
        plan_warnings(seed_protocol, cohort, doses, plan_visits(seed_protocol, cohort, changes), today=PINNED_TODAY)
        == []
    )


def test_after_last_dose_of_names_a_known_regimen(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"visits\[5\].*after_last_dose_of.*unknown regimen 'il-2'"):
        _load(tmp_path, seed_with(('after_last_dose_of = "il2"', 'after_last_dose_of = "il-2"')))


# ---- the commands -----------------------------------------------------------------------------------------


def test_validate_and_generate_print_warnings_and_strict_refuses(tmp_path: Path) -> None:
    path = write(tmp_path, "warn.toml", seed_with((HOME, 'on_closed_day = "warn"')))
    cohort = str(SEED_PATIENT)
    runner = CliRunner()
    result = runner.invoke(main, ["validate", str(path), "--cohort", cohort])
    assert result.exit_code == 0
    expected = (
        "Warning: patient RA-900: 8 in-clinic doses of hrIL-2 or placebo on days the clinic is closed: "
        "2027-01-10 (Sunday), 2027-01-16 (Saturday), 2027-02-05 (Chinese New Year's Eve), "
        "2027-02-07 (Chinese New Year (Spring Festival)), "
        "2027-02-09 (Chinese New Year (Spring Festival) (observed)), 2027-02-13 (Saturday) and 2 more\n"
    )
    assert result.stderr == expected
    assert "  warnings: 1 (printed above)" in result.stdout
    out = tmp_path / "out"
    result = runner.invoke(
        main, ["generate", str(path), "--cohort", cohort, "--out", str(out), "--no-feeds", "--strict"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(expected + "Error: --strict: 1 warning (above), nothing written\n  Fix: ")
    assert not out.exists()
    result = runner.invoke(main, ["generate", str(path), "--cohort", cohort, "--out", str(out), "--no-feeds"])
    assert result.exit_code == 0 and result.stderr == expected
    assert "  warnings: 1 (printed above)" in result.stdout
    result = runner.invoke(
        main, ["validate", str(PROTOCOLS / "nct02467504.toml"), "--cohort", cohort, "--today", "2027-02-01", "--strict"]
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "Warning: patient RA-900 starts on 2027-01-04, 28 days before today (2027-02-01); study.max_days_in_past is 7: "
        "119 doses dated before today would reach the patient's calendar"
    )


def test_strict_library_calls_raise_with_the_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, "warn.toml", seed_with((HOME, 'on_closed_day = "warn"')))
    with pytest.raises(WarningsRefused) as caught:
        dosing.validate(path, SEED_PATIENT, strict=True)
    assert [w.kind for w in caught.value.warnings] == ["closed_clinic"]


def test_a_patient_whose_calendar_was_already_written_is_not_warned_again(tmp_path: Path) -> None:
    """Regenerating weeks into the study (e.g. after a changes file) warns only about patients new to
    the output folder: the others' phones already have their past doses."""
    proto = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    cohort = dosing.load_cohort(SEED_PATIENT, proto)  # RA-900 starts 2027-01-04
    later = dt.date(2027, 2, 1)
    first = dosing.generate(proto, cohort, tmp_path / "fresh", feeds=False, today=later)
    assert [w.kind for w in first.warnings] == ["past_start"]
    dosing.generate(proto, cohort, tmp_path / "kept", feeds=False, today=PINNED_TODAY)
    again = dosing.generate(proto, cohort, tmp_path / "kept", feeds=False, today=later)
    assert again.warnings == []
    assert (
        dosing.validate(PROTOCOLS / "nct02467504.toml", SEED_PATIENT, today=later, out_dir=tmp_path / "kept").warnings
        == []
    )
    assert len(dosing.validate(PROTOCOLS / "nct02467504.toml", SEED_PATIENT, today=later).warnings) == 1


def test_closed_day_warnings_are_the_same_in_both_arms(tmp_path: Path) -> None:
    proto = _load(tmp_path, seed_with((HOME, 'on_closed_day = "warn"')))
    cohort = _twins(proto)
    doses = dosing.expand(proto, cohort)
    found = plan_warnings(proto, cohort, doses, plan_visits(proto, cohort), today=PINNED_TODAY)
    assert [w.patient_id for w in found] == ["RA-A", "RA-B"]
    masked = {w.message.replace(w.patient_id, "<id>") for w in found}
    assert len(masked) == 1
    assert not re.search(r"placebo'|\bactive\b|\bil2\b|Placebo|hrIL-2 1", masked.pop().replace("hrIL-2 or placebo", ""))
