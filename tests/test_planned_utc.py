"""``planned_utc``: every dose table a person reads (doses.csv, each patient's doses.csv, worklist.csv,
adherence/doses.csv) names the UTC instant of each planned dose, ISO 8601 with ``Z``, next to the local
date, time and zone, so that a local time that occurs twice (fall-back) is never ambiguous.

Hand-checked instants (2027):
- New York leaves daylight saving on Sunday 2027-11-07 at 02:00 EDT (clocks back to 01:00 EST).
  01:30 occurs twice that night; a dose at 01:30 is its first occurrence (EDT, UTC-4): 05:30Z.
  The day before (EDT) 01:30 is 05:30Z; the day after (EST, UTC-5) 06:30Z.
- Berlin enters daylight saving on Sunday 2027-03-28 at 02:00 CET (clocks forward to 03:00 CEST).
  08:00 on 03-27 is CET (UTC+1): 07:00Z; on 03-28 CEST (UTC+2): 06:00Z. 02:30 does not exist on
  03-28; it is read with the offset before the gap (RFC 5545), shown as 03:30 CEST: 01:30Z.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest

import dosing
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.columns import DOSE_COLUMNS, WORKLIST_COLUMNS
from tests.builders import daily_drug
from tests.conftest import PROTOCOLS


def daily_at(times: list[str], zone: str) -> dosing.Protocol:
    return daily_drug(zone, times, study_id="UTCCOL", last_day=3)


def generated(tmp_path: Path, times: list[str], zone: str, start: str) -> dict[str, pd.DataFrame]:
    protocol = daily_at(times, zone)
    cohort = cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone"], [(2, ["P1", "a", start, zone])], protocol
    )
    folder = dosing.generate(protocol, cohort, tmp_path, feeds=False).folder
    paths = {"doses": "doses.csv", "worklist": "worklist.csv", "patient": "patients/P1/doses.csv"}
    return {key: read(folder / name) for key, name in paths.items()}


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(path.read_bytes()), dtype=str, keep_default_na=False, encoding="utf-8-sig")


def when(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    return list(zip(table["date"], table["time"], table["planned_utc"], strict=True))


def test_new_york_fall_back_the_repeated_hour_is_named_by_its_utc_instant(tmp_path: Path) -> None:
    tables = generated(tmp_path, ["01:30"], "America/New_York", "2027-11-06")
    expected = [
        ("2027-11-06", "01:30", "2027-11-06T05:30:00Z"),
        ("2027-11-07", "01:30", "2027-11-07T05:30:00Z"),  # the first 01:30 (EDT), not 06:30Z (EST)
        ("2027-11-08", "01:30", "2027-11-08T06:30:00Z"),
    ]
    for table in tables.values():
        assert when(table) == expected


def test_berlin_spring_forward_dose_and_a_dose_in_the_gap(tmp_path: Path) -> None:
    tables = generated(tmp_path, ["02:30", "08:00"], "Europe/Berlin", "2027-03-27")
    expected = [
        ("2027-03-27", "02:30", "2027-03-27T01:30:00Z"),
        ("2027-03-27", "08:00", "2027-03-27T07:00:00Z"),
        ("2027-03-28", "03:30", "2027-03-28T01:30:00Z"),  # 02:30 does not exist: 03:30 CEST
        ("2027-03-28", "08:00", "2027-03-28T06:00:00Z"),
        ("2027-03-29", "02:30", "2027-03-29T00:30:00Z"),
        ("2027-03-29", "08:00", "2027-03-29T06:00:00Z"),
    ]
    for table in tables.values():
        assert when(table) == expected


def test_planned_utc_stands_beside_the_local_date_time_and_zone(tmp_path: Path) -> None:
    tables = generated(tmp_path, ["08:00"], "Europe/Berlin", "2027-03-27")
    assert DOSE_COLUMNS[1:5] == ["date", "time", "timezone", "planned_utc"]
    assert WORKLIST_COLUMNS[:4] == ["date", "time", "timezone", "planned_utc"]
    open_label = [*DOSE_COLUMNS, "dose_basis"]  # an open study's dose tables end with how each dose was computed
    assert list(tables["doses"].columns) == open_label
    assert list(tables["patient"].columns) == open_label
    assert list(tables["worklist"].columns) == WORKLIST_COLUMNS


def test_adherence_doses_name_the_planned_instant(tmp_path: Path) -> None:
    """A dose at 01:30 New York time logged at 01:40 on the fall-back night (first occurrence, EDT)."""
    protocol = daily_at(["01:30"], "America/New_York")
    cohort = cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone"], [(2, ["P1", "a", "2027-11-06", "America/New_York"])], protocol
    )
    log = tmp_path / "log.csv"
    log.write_text("patient_id,drug,given_at,dose_given\nP1,Drug,2027-11-07 01:40,1\n", encoding="utf-8")
    result = dosing.write_adherence(protocol, cohort, log, tmp_path, as_of=dt.date(2027, 11, 9))
    assert result.folder is not None
    written = read(result.folder / "doses.csv")
    columns = list(written.columns)
    assert columns[columns.index("timezone") + 1] == "planned_utc"
    assert when(written) == [
        ("2027-11-06", "01:30", "2027-11-06T05:30:00Z"),
        ("2027-11-07", "01:30", "2027-11-07T05:30:00Z"),
        ("2027-11-08", "01:30", "2027-11-08T06:30:00Z"),
    ]
    assert written["status"].tolist() == ["missed", "on_time", "missed"]


@pytest.mark.parametrize("unblinded", [False, True])
def test_every_row_of_a_changed_seed_study_names_its_instant(tmp_path: Path, unblinded: bool) -> None:
    """With the shipped changes applied (doses moved by delays), planned_utc is each row's local date
    and time in Asia/Shanghai (UTC+8, no daylight saving) minus eight hours."""
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    cohort = dosing.load_cohort(PROTOCOLS / "nct02467504-cohort.csv", protocol)
    changes = dosing.load_changes(PROTOCOLS / "nct02467504-changes.csv", protocol, cohort)
    folder = dosing.generate(protocol, cohort, tmp_path, changes=changes, unblinded=unblinded, feeds=False).folder
    for name in ("doses.csv", "worklist.csv"):
        table = read(folder / name)
        local = pd.to_datetime(table["date"] + " " + table["time"]) - pd.Timedelta(hours=8)
        assert (local.dt.strftime("%Y-%m-%dT%H:%M:00Z") == table["planned_utc"]).all()
