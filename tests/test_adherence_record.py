"""Adherence reports what happened (issue 9 section 6): a dose written on its own worklist row is
judged against that dose, ``given_at`` takes only the documented forms, and the nurse's
``given_by`` and ``notes`` stay with the dose they sign.

Patient RA-900 (tests/fixtures/seed-one-patient.csv, Asia/Shanghai) takes loxoprofen 60 mg at
08:00, 13:00 and 19:00 from 2027-01-04 (windows ±2.5 h, ±2.5 h, ±3 h: half the gaps of 5 and 6 h,
13 h to the next 08:00) and folic acid at 08:00 daily except Wednesdays (±12 h).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import dosing
from dosing.io.read.log import log_from_frame
from dosing.plan.blinding import blind
from tests.conftest import FIXTURES

LOX = "Loxoprofen"


@pytest.fixture(scope="module")
def one(seed_protocol: dosing.Protocol) -> dosing.Cohort:
    return dosing.load_cohort(FIXTURES / "seed-one-patient.csv", seed_protocol)


@pytest.fixture(scope="module")
def sheet(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> pd.DataFrame:
    """The blinded worklist's rows (patient_id, drug, date, time, uid)."""
    rows = blind(dosing.expand(seed_protocol, one), seed_protocol).reset_index(drop=True)
    return rows[["uid", "patient_id", "drug", "date", "time"]].astype(str)


def uid_of(sheet: pd.DataFrame, drug: str, date: str, time: str) -> str:
    pick = (sheet["drug"] == drug) & (sheet["date"] == date) & (sheet["time"] == time)
    assert pick.sum() == 1
    return str(sheet.loc[pick, "uid"].iloc[0])


def run(
    protocol: dosing.Protocol,
    cohort: dosing.Cohort,
    sheet: pd.DataFrame,
    rows: list[tuple[str, str, str, str]],
    as_of: dt.date = dt.date(2027, 1, 5),
) -> dosing.AdherenceResult:
    """``rows``: (drug, planned date, planned time, given_at) written on that dose's worklist row."""
    frame = pd.DataFrame(
        {
            "uid": [uid_of(sheet, d, day, t) for d, day, t, _ in rows],
            "patient_id": "RA-900",
            "drug": [r[0] for r in rows],
            "given_at": [r[3] for r in rows],
            "given_by": "nurse",
        }
    )
    log = log_from_frame(frame, protocol, cohort)
    assert log.bad.empty
    return dosing.check_adherence(protocol, cohort, log, as_of=as_of)


def statuses(result: dosing.AdherenceResult, drug: str, date: str) -> list[tuple[str, str, str]]:
    d = result.doses
    rows = d[(d["drug"] == drug) & (d["date"].astype(str) == date)]
    return list(zip(rows["time"].astype(str), rows["status"].astype(str), rows["given_at"].astype(str), strict=True))


def test_a_dose_on_its_own_row_late_beyond_the_window_is_late_not_missed_plus_extra(
    seed_protocol: dosing.Protocol, one: dosing.Cohort, sheet: pd.DataFrame
) -> None:
    """08:00 given at 11:30 on its row (3.5 h late, in the 13:00 dose's window) while 13:00 has its
    own administration; 19:00 given at 23:30 on its row (4.5 h late, no dose in reach). Before:
    08:00 and 19:00 missed, two extras."""
    result = run(
        seed_protocol,
        one,
        sheet,
        [
            (LOX, "2027-01-04", "08:00", "2027-01-04 11:30"),
            (LOX, "2027-01-04", "13:00", "2027-01-04 13:00"),
            (LOX, "2027-01-04", "19:00", "2027-01-04 23:30"),
        ],
    )
    assert statuses(result, LOX, "2027-01-04") == [
        ("08:00", "late", "2027-01-04 11:30"),
        ("13:00", "on_time", "2027-01-04 13:00"),
        ("19:00", "late", "2027-01-04 23:30"),
    ]
    lox = result.doses[(result.doses["drug"] == LOX) & (result.doses["date"].astype(str) == "2027-01-04")]
    assert lox["deviation_hours"].tolist() == [3.5, 0.0, 4.5]
    assert result.extra.empty


def test_a_dose_nearer_to_another_dose_without_administration_goes_there(
    seed_protocol: dosing.Protocol, one: dosing.Cohort, sheet: pd.DataFrame
) -> None:
    """08:00 given at 12:00 on its row, and 13:00 not given: 12:00 is 1 h from 13:00 (in its window)
    and 4 h from 08:00, so it is the 13:00 dose, 1 h early; 08:00 is missed."""
    result = run(seed_protocol, one, sheet, [(LOX, "2027-01-04", "08:00", "2027-01-04 12:00")])
    assert statuses(result, LOX, "2027-01-04") == [
        ("08:00", "missed", ""),
        ("13:00", "on_time", "2027-01-04 12:00"),
        ("19:00", "missed", ""),
    ]
    assert result.extra.empty


def test_a_second_administration_on_the_same_row_is_extra(
    seed_protocol: dosing.Protocol, one: dosing.Cohort, sheet: pd.DataFrame
) -> None:
    """Two administrations on the 08:00 row, at 08:10 and 11:30 (13:00 given on its row): the one in
    the window is the dose; the late one is a second dose (extra), it does not displace it."""
    result = run(
        seed_protocol,
        one,
        sheet,
        [
            (LOX, "2027-01-04", "08:00", "2027-01-04 08:10"),
            (LOX, "2027-01-04", "08:00", "2027-01-04 11:30"),
            (LOX, "2027-01-04", "13:00", "2027-01-04 13:00"),
            (LOX, "2027-01-04", "19:00", "2027-01-04 19:00"),
        ],
    )
    assert [s for _, s, _ in statuses(result, LOX, "2027-01-04")] == ["on_time", "on_time", "on_time"]
    assert result.extra["given_at"].astype(str).tolist() == ["2027-01-04 11:30"]


def test_two_late_administrations_on_one_row_the_nearer_is_the_dose(
    seed_protocol: dosing.Protocol, one: dosing.Cohort, sheet: pd.DataFrame
) -> None:
    result = run(
        seed_protocol,
        one,
        sheet,
        [
            (LOX, "2027-01-04", "19:00", "2027-01-05 00:30"),
            (LOX, "2027-01-04", "19:00", "2027-01-04 23:00"),
        ],
    )
    assert statuses(result, LOX, "2027-01-04")[2] == ("19:00", "late", "2027-01-04 23:00")
    assert result.extra["given_at"].astype(str).tolist() == ["2027-01-05 00:30"]


def test_a_diary_entry_on_a_row_is_an_administration_of_that_dose(
    seed_protocol: dosing.Protocol, one: dosing.Cohort, sheet: pd.DataFrame
) -> None:
    """19:00 of 01-04 given at 13:17 the next day on its row (18.28 h late, in the window of 13:00 of
    01-05), while 13:00 of 01-05 has a diary entry (the date alone) on its row: 13:00 is not a dose
    without administration, so 19:00 is late and 13:00 taken. (Found in the benchmark: 31 such.)"""
    rows = [(LOX, "2027-01-04", "19:00", "2027-01-05 13:17"), (LOX, "2027-01-05", "13:00", "2027-01-05")]
    result = run(seed_protocol, one, sheet, rows, as_of=dt.date(2027, 1, 6))
    assert statuses(result, LOX, "2027-01-04")[2] == ("19:00", "late", "2027-01-05 13:17")
    assert statuses(result, LOX, "2027-01-05")[1] == ("13:00", "taken", "2027-01-05")
    assert result.extra.empty


@pytest.mark.parametrize("text", ["now", "today", "2027", "2027-01", "2027-01-04 09", "2027-W01-1", "20270104"])
def test_given_at_takes_only_the_documented_forms(
    seed_protocol: dosing.Protocol, one: dosing.Cohort, text: str
) -> None:
    """Before, "now" and "today" became the current time and "2027", "2027-01" 1 January 00:00."""
    frame = pd.DataFrame({"patient_id": ["RA-900"], "drug": ["Folic acid"], "given_at": [text]})
    log = log_from_frame(frame, seed_protocol, one)
    assert log.given.empty
    reason = log.bad["reason"].iloc[0]
    assert reason.startswith(f"cannot read given_at {text!r} (accepted: 2027-01-04 09:00 (the patient's local time)")
    assert "2027-01-04T09:00+08:00" in reason and "2027-01-04 alone (a diary)" in reason


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2027-01-04 08:00", "2027-01-04T00:00"),
        ("2027-01-04T08:00", "2027-01-04T00:00"),
        ("2027-01-04 08:00:30", "2027-01-04T00:00:30"),
        ("2027-01-04T08:00+08:00", "2027-01-04T00:00"),
        ("2027-01-04T00:00Z", "2027-01-04T00:00"),
        ("2027-01-04T01:00+0900", "2027-01-03T16:00"),
    ],
)
def test_the_documented_forms_still_read(
    seed_protocol: dosing.Protocol, one: dosing.Cohort, text: str, utc: str
) -> None:
    frame = pd.DataFrame({"patient_id": ["RA-900"], "drug": ["Folic acid"], "given_at": [text]})
    log = log_from_frame(frame, seed_protocol, one)
    assert log.bad.empty
    assert log.given["given_s"].iloc[0] == pd.Timestamp(utc).value // 10**9


def test_given_by_and_notes_are_kept_with_the_dose_and_the_extra(
    seed_protocol: dosing.Protocol, one: dosing.Cohort, sheet: pd.DataFrame, tmp_path: pytest.TempPathFactory
) -> None:
    filled = sheet.copy()
    for column in ("given_at", "given_by", "dose_given", "notes"):
        filled[column] = ""
    first = filled.index[(filled["drug"] == "Folic acid") & (filled["date"] == "2027-01-04")][0]
    filled.loc[first, ["given_at", "given_by", "notes"]] = ["2027-01-04 08:05", "N. Li", "vomited, not repeated"]
    extra = filled.loc[[first]].assign(given_at="2027-01-04 09:00", given_by="W. Wang", notes="given twice")
    path = tmp_path / "worklist.csv"
    pd.concat([filled, extra]).to_csv(path, index=False)
    result = dosing.write_adherence(seed_protocol, one, path, tmp_path / "out", as_of=dt.date(2027, 1, 5))
    assert result.folder is not None
    folder = result.folder
    doses = pd.read_csv(folder / "doses.csv", dtype=str, keep_default_na=False)
    signed = doses[doses["given_at"] != ""]
    assert signed[["given_at", "given_by", "notes"]].values.tolist() == [
        ["2027-01-04 08:05", "N. Li", "vomited, not repeated"]
    ]
    assert set(doses.loc[doses["given_at"] == "", "given_by"]) == {""}
    extras = pd.read_csv(folder / "extra.csv", dtype=str, keep_default_na=False)
    assert extras[["given_at", "given_by", "notes"]].values.tolist() == [["2027-01-04 09:00", "W. Wang", "given twice"]]
