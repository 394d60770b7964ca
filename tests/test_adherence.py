"""Adherence for one seed patient, dose by dose against hand-computed statuses and measures.

Patient RA-900 (tests/fixtures/seed-one-patient.csv) starts on Monday 2027-01-04 in
Asia/Shanghai (UTC+8, no daylight saving). hrIL-2 (blinded label "hrIL-2 or placebo") at
09:00 on 2027-01-04, 06, 08, 10, 12, 14, 16 (cycle 1), window ±24 h, on time within ±2 h;
methotrexate 15 mg on Wednesdays 08:00 (window ±72 h, on time ±12 h, from the protocol);
folic acid 1 mg at 08:00 daily except Wednesdays (window ±12 h); loxoprofen 60 mg at
08:00, 13:00, 19:00 (window ±3 h).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import dosing
from dosing.adherence.check import AdherenceResult
from tests.conftest import FIXTURES

IL2 = "hrIL-2 or placebo"


@pytest.fixture(scope="module")
def one(seed_protocol: dosing.Protocol) -> dosing.Cohort:
    return dosing.load_cohort(FIXTURES / "seed-one-patient.csv", seed_protocol)


def check(protocol: dosing.Protocol, cohort: dosing.Cohort, log: str, as_of: str, **options: object) -> AdherenceResult:
    return dosing.check_adherence(protocol, cohort, FIXTURES / log, as_of=dt.date.fromisoformat(as_of), **options)


def of(result: AdherenceResult, drug: str) -> pd.DataFrame:
    return result.doses[result.doses["drug"] == drug]


def row(result: AdherenceResult, drug: str, level: str = "patient", cycle: int | None = None) -> pd.Series:
    s = result.summary
    pick = (s["level"] == level) & (s["drug"] == drug)
    if cycle is not None:
        pick &= s["cycle"] == cycle
    assert pick.sum() == 1
    return s[pick].iloc[0]


def test_every_other_day_one_missed_one_late(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> None:
    """The injection of 01-10 given 24 h late on 01-11 is late for 01-10, not early for 01-12,
    because 01-12 has its own injection (3 h late): both doses count as taken."""
    result = check(seed_protocol, one, "log-il2-missed-and-late.csv", "2027-01-20")
    il2 = of(result, IL2)
    cycle1 = il2[il2["cycle"] == 1]
    assert cycle1["date"].astype(str).tolist() == [f"2027-01-{d:02d}" for d in (4, 6, 8, 10, 12, 14, 16)]
    assert cycle1["status"].tolist() == ["on_time", "on_time", "missed", "late", "late", "on_time", "early"]
    assert cycle1["deviation_hours"].tolist()[:2] == [0.0, 0.5]
    assert cycle1["deviation_hours"].tolist()[3:] == [24.0, 3.0, 0.0, -2.5]
    assert cycle1["log_line"].tolist()[3:] == [4, 5, 6, 7]
    assert set(il2[il2["cycle"] > 1]["status"]) == {"not_due"}
    assert result.extra.empty
    m = row(result, IL2)
    assert (m["due"], m["taken"], m["missed"], m["on_time"], m["late"], m["early"]) == (7, 6, 1, 3, 2, 1)
    assert m["taking_adherence"] == 85.7  # 6 / 7
    assert m["timing_adherence"] == 42.9  # 3 / 7
    assert (m["days_due"], m["correct_days"], m["correct_dosing_days"]) == (7, 5, 71.4)  # 01-08, 01-10 empty
    assert m["longest_gap_days"] == 2  # dosing days 01-08 and 01-10 without an injection
    assert pd.isna(m["drug_holidays"])  # not a daily drug
    assert (m["first_given"], m["last_given"], m["persistence_days"]) == ("2027-01-04", "2027-01-16", 13)
    assert m["flag"] == ""
    assert row(result, IL2, "cycle", 1)["taken"] == 6
    assert row(result, IL2, "cycle", 2)["due"] == 0


def test_weekly_methotrexate_a_day_late_and_a_wrong_dose(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> None:
    result = check(seed_protocol, one, "log-mtx-day-late.csv", "2027-01-21")
    mtx = of(result, "Methotrexate").head(3)
    assert mtx["date"].astype(str).tolist() == ["2027-01-06", "2027-01-13", "2027-01-20"]
    assert mtx["status"].tolist() == ["on_time", "late", "on_time"]
    assert mtx["deviation_hours"].tolist() == [0.0, 24.0, 0.0]
    assert mtx["wrong_dose"].tolist() == [False, False, True]
    assert mtx["dose"].tolist() == [15.0, 15.0, 15.0]
    assert mtx["dose_given"].tolist() == [15.0, 15.0, 20.0]
    m = row(result, "Methotrexate")
    assert (m["due"], m["taken"], m["late"], m["wrong_dose"], m["taking_adherence"]) == (3, 3, 1, 1, 100.0)


def test_diary_with_dates_only(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> None:
    """Dates alone count as taken that day, neither on time nor late; Wednesday has no folic acid."""
    result = check(seed_protocol, one, "log-diary-dates-only.csv", "2027-01-10")
    folic = of(result, "Folic acid")
    due = folic[folic["status"] != "not_due"]
    assert due["date"].astype(str).tolist() == ["2027-01-04", "2027-01-05", "2027-01-07", "2027-01-08", "2027-01-09"]
    assert due["status"].tolist() == ["taken", "taken", "taken", "missed", "taken"]
    assert due["deviation_hours"].isna().all()
    extra = result.extra[["line", "given_at", "reason"]].values.tolist()
    assert extra == [[4, "2027-01-06", "no dose planned near it"]]
    m = row(result, "Folic acid")
    assert (m["due"], m["taken"], m["untimed"], m["on_time"], m["late"], m["extra"]) == (5, 4, 4, 0, 0, 1)
    assert m["taking_adherence"] == 80.0
    assert pd.isna(m["timing_adherence"])  # a diary: timing is not judged
    assert m["given_ratio"] == 100.0  # 4 taken + 1 extra
    assert (m["days_due"], m["correct_days"]) == (5, 4)
    assert m["drug_holidays"] == 0


def test_double_dose_same_day(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> None:
    result = check(seed_protocol, one, "log-double-dose.csv", "2027-01-05")
    first = of(result, "Folic acid").iloc[0]
    assert (first["status"], first["log_line"], first["deviation_hours"]) == ("on_time", 2, 0.0)
    assert result.extra[["line", "drug", "reason"]].values.tolist() == [
        [3, "Folic acid", "a second dose: the planned dose near it was already taken"]
    ]
    m = row(result, "Folic acid")
    assert (m["due"], m["taken"], m["extra"], m["correct_days"], m["given_ratio"]) == (1, 1, 1, 0, 200.0)
    assert m["flag"] == "doses given above 120% of due"


def test_held_dose_is_not_missed_and_a_dose_given_in_the_hold_is_extra(
    seed_protocol: dosing.Protocol, one: dosing.Cohort
) -> None:
    doses = dosing.expand(seed_protocol, one)
    doses.loc[(doses["drug"] == "Folic acid") & (doses["date"].astype(str) == "2027-01-04"), "held"] = True
    result = check(seed_protocol, one, "log-double-dose.csv", "2027-01-05", doses=doses)
    first = of(result, "Folic acid").iloc[0]
    assert first["status"] == "held"
    assert result.extra["reason"].tolist() == ["during a hold", "during a hold"]
    m = row(result, "Folic acid")
    assert (m["due"], m["held"], m["extra"]) == (0, 1, 2)
    assert pd.isna(m["taking_adherence"])


def test_doses_not_yet_due(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> None:
    """as of 01-04: the 08:00 dose given counts; nothing planned on or after 01-04 and not given is missed."""
    result = check(seed_protocol, one, "log-double-dose.csv", "2027-01-04")
    folic = of(result, "Folic acid")
    assert folic["status"].tolist()[:3] == ["on_time", "not_due", "not_due"]
    loxo = of(result, "Loxoprofen")
    assert set(loxo["status"]) == {"not_due"}
    assert row(result, "Loxoprofen")["due"] == 0
    later = check(seed_protocol, one, "log-double-dose.csv", "2027-01-06")
    assert row(later, "Loxoprofen")["missed"] == 6  # 01-04 and 01-05, three a day
    before = check(seed_protocol, one, "log-double-dose.csv", "2027-01-03")  # the log is ahead of the as-of date
    assert before.after_as_of == 2 and before.extra.empty
    assert set(before.doses["status"]) == {"not_due"}
    assert "given after 2027-01-03 (left out): 2" in before.summary_text()


def test_extra_after_withdrawal_and_stop(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> None:
    """A stand-in for the changes file: withdrawn or stopped dates give the reason for an extra dose."""
    changes = SimpleNamespace(
        stops=pd.DataFrame({"patient_id": ["RA-900"], "regimen": ["methotrexate"], "from_date": ["2027-01-10"]}),
        withdrawals=pd.DataFrame({"patient_id": ["RA-900"], "from_date": ["2027-01-19"]}),
    )
    doses = dosing.expand(seed_protocol, one)
    doses = doses[~((doses["drug"] == "Methotrexate") & (doses["date"].astype(str) >= "2027-01-10"))]
    result = check(seed_protocol, one, "log-mtx-day-late.csv", "2027-01-21", doses=doses, changes=changes)
    assert result.extra["reason"].tolist() == ["after the drug was stopped", "after the patient withdrew"]
    assert result.extra["line"].tolist() == [3, 4]


def test_log_rows_with_blank_given_at_in_a_worklist_are_not_given(
    seed_protocol: dosing.Protocol, one: dosing.Cohort, tmp_path: pytest.TempPathFactory
) -> None:
    sheet = pd.DataFrame(
        {
            "patient_id": ["RA-900", "RA-900"],
            "drug": ["Folic acid", "Folic acid"],
            "uid": ["a", "b"],
            "given_at": ["2027-01-04 08:05", ""],
            "given_by": ["nurse", ""],
            "dose_given": ["1", ""],
        }
    )
    from dosing.io.read.log import log_from_frame

    log = log_from_frame(sheet, seed_protocol, one)
    assert len(log.given) == 1 and log.bad.empty
    assert log.given["line"].tolist() == [2]


def test_blinded_tables_hide_arm_and_true_drug(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> None:
    result = check(seed_protocol, one, "log-il2-missed-and-late.csv", "2027-01-20")
    assert "arm" not in result.doses.columns and "regimen" not in result.doses.columns
    assert set(result.doses["drug"].astype(str)) == {IL2, "Methotrexate", "Folic acid", "Loxoprofen"}
    unblinded = check(seed_protocol, one, "log-il2-missed-and-late.csv", "2027-01-20", unblinded=True)
    assert set(unblinded.doses["arm"].astype(str)) == {"active"}
    assert "hrIL-2" in set(unblinded.doses["drug"].astype(str))


def test_log_accepts_true_drug_names_and_offsets(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> None:
    from dosing.io.read.log import log_from_frame

    frame = pd.DataFrame(
        {
            "patient_id": ["RA-900", "RA-900"],
            "drug": ["HRIL-2", "  Placebo "],
            "given_at": ["2027-01-04T09:00+08:00", "2027-01-06 01:00Z"],
        }
    )
    log = log_from_frame(frame, seed_protocol, one)
    assert log.bad.empty
    assert log.given["label"].tolist() == [IL2, IL2]
    expected = pd.Timestamp("2027-01-04 01:00", tz="UTC").value // 10**9
    assert log.given["given_s"].tolist() == [expected, expected + 2 * 86400]
    days = [np.datetime64(d, "D").astype(np.int64) for d in ("2027-01-04", "2027-01-06")]
    assert log.given["given_day"].tolist() == days


def test_default_windows_per_dose(seed_protocol: dosing.Protocol, one: dosing.Cohort) -> None:
    """Half the gap to the nearer neighbouring dose, whole days when a day or more; fixed where set."""
    from dosing.adherence.check import dose_windows, regimen_rules

    doses = dosing.expand(seed_protocol, one)
    group = doses["label"].cat.codes.to_numpy()
    seconds = doses["planned_at"].astype("int64").to_numpy() // 10**9
    hours = pd.Series(dose_windows(doses, group, seconds, regimen_rules(seed_protocol, doses)) / 3600)
    first_day = doses[doses["date"].astype(str) == "2027-01-04"].index
    got = dict(zip(doses.loc[first_day, "drug"].astype(str) + " " + doses.loc[first_day, "time"].astype(str),
                   hours[first_day], strict=True))  # fmt: skip
    assert got == {
        "Folic acid 08:00": 12.0,
        "Loxoprofen 08:00": 2.5,  # 5 h to 13:00
        "hrIL-2 09:00": 24.0,
        "Loxoprofen 13:00": 2.5,
        "Loxoprofen 19:00": 3.0,  # 6 h to 13:00, 13 h to 08:00 the next day
    }
    assert set(hours[(doses["drug"] == "Methotrexate").to_numpy()]) == {72.0}  # the protocol's 72 h


def test_a_weekly_phase_gets_a_weekly_window() -> None:
    """NCT04077684: every other day for 12 weeks, then weekly from 2027-03-29: the weekly dose of 04-05
    given 2 days late is late, not missed (the first weekly dose, 2 days after the last every-other-day
    one, keeps ±24 h)."""
    from dosing.io.read.log import log_from_frame
    from tests.conftest import shipped

    protocol, cohort = shipped("nct04077684")
    label = "Study drug (hrIL-2 or placebo)"
    frame = pd.DataFrame({"patient_id": ["SLE-001"], "drug": [label], "given_at": ["2027-04-07 09:00"]})
    result = dosing.check_adherence(
        protocol, cohort, log_from_frame(frame, protocol, cohort), as_of=dt.date(2027, 4, 8)
    )
    dose = result.doses[(result.doses["patient_id"] == "SLE-001") & (result.doses["date"].astype(str) == "2027-04-05")]
    assert dose[["status", "deviation_hours"]].values.tolist() == [["late", 48.0]]
    assert result.extra.empty
