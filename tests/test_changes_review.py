"""Regressions found in review of the changes file: delays across a spring-forward gap (B9),
delays dated after their cycle began or running past the study's end (B10), and withdrawals
or stops that shorten recurring calendar events (B8)."""

from __future__ import annotations

import dosing
from dosing.changes import Changes, changes_from_rows
from dosing.changes_apply import apply_changes
from dosing.cohort import cohort_from_rows
from tests.builders import protocol, regimen

HEADER = ["patient_id", "change", "regimen", "cycle", "date", "time", "days", "dose", "visit", "reason"]


def weekly_at_0230(last_day: int = 60) -> dosing.Protocol:
    """Weekly cycles (8 of them) with one dose at 02:30 on cycle day 1."""
    schedule = {"cycle_days": [1], "cycle_length": "7 days", "cycles": 8}
    return protocol([regimen("r", schedule, times=["02:30"])], last_day=last_day)


def one_patient(proto: dosing.Protocol, start: str, zone: str) -> dosing.Cohort:
    return cohort_from_rows(["patient_id", "arm", "start_date", "timezone"], [(2, ["P1", "a", start, zone])], proto)


def changes_of(proto: dosing.Protocol, cohort: dosing.Cohort, *lines: str) -> Changes:
    rows = [(n + 2, line.split(",")) for n, line in enumerate(lines)]
    return changes_from_rows(HEADER, rows, proto, cohort, source="changes.csv")


# ---- B9: a delay across a spring-forward gap ----------------------------------------------


def test_delay_onto_and_off_a_spring_forward_day_reads_times_as_expand_does() -> None:
    """Berlin springs forward on Sunday 2027-03-28 (02:00 -> 03:00). Cycles start on Sundays
    03-07, 03-14, 03-21, 03-28, ...: delaying cycle 3 by 7 days moves the 03-21 dose onto the gap
    day (02:30 does not exist: 03:30 CEST, as expand reads it) and the 03-28 dose off it (02:30 again)."""
    proto = weekly_at_0230()
    cohort = one_patient(proto, "2027-03-07", "Europe/Berlin")
    planned = dosing.expand(proto, cohort)
    assert planned["time"].astype(str).tolist()[2:5] == ["02:30", "03:30", "02:30"]  # expand's own rule
    after = apply_changes(planned, changes_of(proto, cohort, "P1,delay,r,3,2027-03-20,,7,,,x"))
    shown = after[["date", "time", "weekday", "study_day"]].astype(str).values.tolist()
    assert shown[1:5] == [
        ["2027-03-14", "02:30", "Sunday", "8"],
        ["2027-03-28", "03:30", "Sunday", "22"],  # was 2027-03-21 02:30
        ["2027-04-04", "02:30", "Sunday", "29"],  # was 2027-03-28 03:30 (planned 02:30)
        ["2027-04-11", "02:30", "Sunday", "36"],
    ]
    utc = after["planned_at"].dt.strftime("%m-%d %H:%M").tolist()[2:4]
    assert utc == ["03-28 01:30", "04-04 00:30"]  # 03:30 CEST and 02:30 CEST
    # the same days planned without a delay give the same rows (expand and the delay agree)
    later = dosing.expand(proto, one_patient(proto, "2027-03-14", "Europe/Berlin"))
    assert later[["date", "time"]].astype(str).values.tolist()[2:4] == [
        ["2027-03-28", "03:30"],
        ["2027-04-04", "02:30"],
    ]


def test_hold_of_a_dose_moved_onto_the_gap_day_uses_the_time_doses_csv_shows() -> None:
    proto = weekly_at_0230()
    cohort = one_patient(proto, "2027-03-07", "Europe/Berlin")
    delay = "P1,delay,r,3,2027-03-20,,7,,,x"
    held = apply_changes(
        dosing.expand(proto, cohort), changes_of(proto, cohort, delay, "P1,hold,r,,2027-03-28,03:30,,,,x")
    )
    assert held.loc[held["held"], ["date", "time"]].astype(str).values.tolist() == [["2027-03-28", "03:30"]]
