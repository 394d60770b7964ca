"""Regimens scheduled relative to a delayed one (``after``, ``except_days_of``) are re-derived from its
moved doses (dosing/plan/dependents.py).

Hand-checked, tests/fixtures/dependents-after-delay.toml, P-1 and P-2 start Mon 2027-01-04 (day d is
January 3 + d): chemo on days 1 and 3 of 7-day cycles x 4 = days 1, 3, 8, 10, 15, 17, 22, 24;
rescue the day after each chemo dose, up to day 26 = 2, 4, 9, 11, 16, 18, 23, 25; vitamin daily on
days 1-28 except chemo days (20 doses).

P-1's chemo cycle 2 is delayed 2 days (dated Mon 2027-01-11, the cycle's first dose): chemo moves to
1, 3, 10, 12, 17, 19, 24, 26. Rescue follows: 2, 4, 11, 13, 18, 20, 25 (day 27 is after its end_day
26, so that dose is not given, as the plan would not have it). Vitamin loses days 12, 19, 26 (chemo
moved onto them) and gains days 8, 15, 22 (chemo left them).
"""

from __future__ import annotations

import pandas as pd
import pytest

import dosing
from dosing.plan.changes import changes_from_rows
from tests.conftest import FIXTURES

HEADER = ["patient_id", "change", "regimen", "cycle", "date", "days", "reason"]
DELAY = ["P-1", "delay", "chemo", "2", "2027-01-11", "2", "neutropenia"]


@pytest.fixture(scope="module")
def protocol() -> dosing.Protocol:
    return dosing.load_protocol(FIXTURES / "dependents-after-delay.toml")


@pytest.fixture(scope="module")
def cohort(protocol: dosing.Protocol) -> dosing.Cohort:
    return dosing.load_cohort(FIXTURES / "dependents-after-delay-cohort.csv", protocol)


def applied(protocol: dosing.Protocol, cohort: dosing.Cohort, *rows: list[str]) -> pd.DataFrame:
    changes = changes_from_rows(HEADER, [(i + 2, r) for i, r in enumerate(rows)], protocol, cohort)
    return dosing.apply_changes(dosing.expand(protocol, cohort), changes)


def days(doses: pd.DataFrame, pid: str, regimen: str) -> list[int]:
    return doses[(doses["patient_id"] == pid) & (doses["regimen"] == regimen)]["study_day"].tolist()


def rows(doses: pd.DataFrame, pid: str, regimen: str) -> pd.DataFrame:
    return doses[(doses["patient_id"] == pid) & (doses["regimen"] == regimen)].set_index("study_day")


def test_the_plan_before_any_change(protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    doses = dosing.expand(protocol, cohort)
    assert days(doses, "P-1", "chemo") == [1, 3, 8, 10, 15, 17, 22, 24]
    assert days(doses, "P-1", "rescue") == [2, 4, 9, 11, 16, 18, 23, 25]
    assert days(doses, "P-1", "vitamin") == [2, 4, 5, 6, 7, 9, 11, 12, 13, 14, 16, 18, 19, 20, 21, 23, 25, 26, 27, 28]


def test_after_and_except_days_of_follow_a_delayed_cycle(protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    doses = applied(protocol, cohort, DELAY)
    assert days(doses, "P-1", "chemo") == [1, 3, 10, 12, 17, 19, 24, 26]
    assert days(doses, "P-1", "rescue") == [2, 4, 11, 13, 18, 20, 25]
    assert days(doses, "P-1", "vitamin") == [2, 4, 5, 6, 7, 8, 9, 11, 13, 14, 15, 16, 18, 20, 21, 22, 23, 25, 27, 28]
    # no day has both chemo and vitamin, every chemo dose is followed by rescue the next day (up to day 26)
    assert not set(days(doses, "P-1", "chemo")) & set(days(doses, "P-1", "vitamin"))
    # the patient without changes keeps the plan
    assert days(doses, "P-2", "vitamin") == days(dosing.expand(protocol, cohort), "P-2", "vitamin")


def test_a_moved_dependent_keeps_its_uid_time_and_counts_the_delay(
    protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    rescue = rows(applied(protocol, cohort, DELAY), "P-1", "rescue")
    moved = rescue.loc[11]  # planned day 9 (Tue 2027-01-12), the day after chemo day 8, now day 11
    assert (moved["uid"], moved["date"], moved["time"]) == (
        "P-1.rescue.d009.2000@dependents.dosing",
        "2027-01-14",
        "20:00",
    )
    assert (moved["weekday"], moved["sequence"], str(moved["changed_on"].date())) == ("Thursday", 1, "2027-01-11")
    assert str(moved["planned_at"]) == "2027-01-14 12:00:00+00:00"  # 20:00 in Shanghai (UTC+8)
    kept = rescue.loc[4]  # cycle 1: not moved, not touched
    assert (kept["uid"], kept["sequence"]) == ("P-1.rescue.d004.2000@dependents.dosing", 0)


def test_a_new_except_days_dose_is_named_for_its_day(protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    vitamin = rows(applied(protocol, cohort, DELAY), "P-1", "vitamin")
    new = vitamin.loc[8]  # Mon 2027-01-11: chemo left it
    assert (new["uid"], new["date"], new["time"], new["dose"]) == (
        "P-1.vitamin.d008.0800@dependents.dosing",
        "2027-01-11",
        "08:00",
        1.0,
    )
    assert (new["held"], new["sequence"], str(new["changed_on"].date())) == (False, 1, "2027-01-11")
    assert vitamin["uid"].is_unique
    assert vitamin["dose_number"].tolist() == list(range(1, 21))  # numbered again in time order
    assert vitamin.loc[7, "sequence"] == 0  # before the delayed cycle: untouched


def test_a_held_dose_is_still_a_planned_day_for_except_days_of(
    protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    # chemo on day 1 (Mon 2027-01-04) is held: it is not given, but vitamin gets no dose that day
    doses = applied(protocol, cohort, ["P-1", "hold", "chemo", "", "2027-01-04", "", "nausea"])
    assert 1 not in days(doses, "P-1", "vitamin")
    assert days(doses, "P-1", "rescue")[0] == 2  # and rescue stays


def test_a_stop_of_the_anchor_regimen_leaves_the_dependents_as_planned(
    protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    doses = applied(protocol, cohort, ["P-1", "stop", "chemo", "", "2027-01-11", "", "progression"])
    assert days(doses, "P-1", "chemo") == [1, 3]
    planned = dosing.expand(protocol, cohort)
    assert days(doses, "P-1", "vitamin") == days(planned, "P-1", "vitamin")
    assert days(doses, "P-1", "rescue") == days(planned, "P-1", "rescue")


def test_generate_writes_the_re_derived_doses(protocol: dosing.Protocol, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from dosing.cli import main

    args = [
        "generate",
        str(FIXTURES / "dependents-after-delay.toml"),
        "--cohort",
        str(FIXTURES / "dependents-after-delay-cohort.csv"),
        "--changes",
        str(FIXTURES / "changes-dependents.csv"),
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "dependents" / "patients" / "P-1" / "doses.csv")
    vitamin = table[table["drug"] == "Vitamin Z"]["study_day"].tolist()
    assert vitamin == [2, 4, 5, 6, 7, 8, 9, 11, 13, 14, 15, 16, 18, 20, 21, 22, 23, 25, 27, 28]
    import icalendar
    import recurring_ical_events

    text = (tmp_path / "dependents" / "patients" / "P-1" / "calendar.ics").read_bytes()
    events = recurring_ical_events.of(icalendar.Calendar.from_ical(text)).all()
    shown = sorted(e["DTSTART"].dt.date().isoformat() for e in events if "Vitamin Z" in str(e["SUMMARY"]))
    assert len(shown) == 20 and "2027-01-11" in shown and "2027-01-15" not in shown  # day 8 in, day 12 out
