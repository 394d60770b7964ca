"""The seed trial NCT02467504 for one patient, dose by dose against hand-computed dates.

Patient RA-900 starts on Monday 2027-01-04 (study day 1), takes methotrexate 15 mg on
Wednesdays; study days 1..168 run to Sunday 2027-06-20.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import dosing
from tests.conftest import FIXTURES

START = dt.date(2027, 1, 4)


def day(n: int) -> str:
    return (START + dt.timedelta(days=n - 1)).isoformat()


@pytest.fixture(scope="module")
def doses(seed_protocol: dosing.Protocol) -> pd.DataFrame:
    cohort = dosing.load_cohort(FIXTURES / "seed-one-patient.csv", seed_protocol)
    return dosing.expand(seed_protocol, cohort)


def of(doses: pd.DataFrame, regimen: str) -> pd.DataFrame:
    return doses[doses["regimen"] == regimen]


def test_il2_on_odd_days_of_three_cycles(doses: pd.DataFrame) -> None:
    il2 = of(doses, "il2")
    expected_days = [*range(1, 14, 2), *range(29, 42, 2), *range(57, 70, 2)]
    assert il2["study_day"].tolist() == expected_days
    assert len(il2) == 21
    assert il2["date"].astype(str).tolist()[:3] == ["2027-01-04", "2027-01-06", "2027-01-08"]
    assert il2["date"].astype(str).tolist()[6:8] == ["2027-01-16", "2027-02-01"]  # day 13, day 29
    assert il2["date"].astype(str).iloc[-1] == "2027-03-13"  # day 69
    assert set(il2["time"].astype(str)) == {"09:00"}
    assert il2["cycle"].tolist() == [1] * 7 + [2] * 7 + [3] * 7
    assert il2["cycle_day"].tolist() == [1, 3, 5, 7, 9, 11, 13] * 3
    assert il2["dose_number"].tolist() == list(range(1, 22))
    assert set(il2["dose"]) == {1_000_000.0}


def test_nothing_on_day_15_the_first_rest_day(doses: pd.DataFrame) -> None:
    """ "every 2 days for 14 days" is half-open: day 15 starts the rest, day 13 is the last dose."""
    assert 15 not in of(doses, "il2")["study_day"].tolist()


def test_methotrexate_once_weekly_on_the_patients_wednesday(doses: pd.DataFrame) -> None:
    mtx = of(doses, "methotrexate")
    assert mtx["study_day"].tolist() == list(range(3, 169, 7))
    assert len(mtx) == 24
    assert mtx["date"].astype(str).iloc[0] == "2027-01-06"
    assert mtx["date"].astype(str).iloc[-1] == "2027-06-16"
    assert set(mtx["weekday"].astype(str)) == {"Wednesday"}
    assert set(mtx["dose"]) == {15.0}
    assert set(mtx["time"].astype(str)) == {"08:00"}


def test_folic_acid_daily_except_methotrexate_days(doses: pd.DataFrame) -> None:
    folic = of(doses, "folic-acid")
    mtx_days = set(range(3, 169, 7))
    assert folic["study_day"].tolist() == [d for d in range(1, 169) if d not in mtx_days]
    assert len(folic) == 144
    assert folic["study_day"].tolist()[:4] == [1, 2, 4, 5]  # the gap on Wednesday, day 3
    assert "Wednesday" not in set(folic["weekday"].astype(str))


def test_loxoprofen_three_times_daily_through_day_168(doses: pd.DataFrame) -> None:
    lox = of(doses, "loxoprofen")
    assert len(lox) == 504
    assert lox["time"].astype(str).tolist()[:3] == ["08:00", "13:00", "19:00"]
    assert lox["date"].astype(str).iloc[-1] == day(168) == "2027-06-20"
    daily = lox.groupby("date", observed=True)["dose"].sum()
    assert daily.max() == 180.0


def test_no_dose_outside_study_days(doses: pd.DataFrame) -> None:
    assert doses["study_day"].between(1, 168).all()
    assert doses["date"].astype(str).min() == "2027-01-04"


def test_timestamps_are_zone_aware_and_match_local_times(doses: pd.DataFrame) -> None:
    assert str(doses["planned_at"].dt.tz) == "UTC"
    first = doses[doses["regimen"] == "il2"].iloc[0]
    assert first["planned_at"] == pd.Timestamp("2027-01-04 01:00", tz="UTC")  # 09:00 in Shanghai (UTC+8)
    assert first["timezone"] == "Asia/Shanghai"


def test_uids_stable_unique_and_arm_independent(seed_protocol: dosing.Protocol, doses: pd.DataFrame) -> None:
    assert doses["uid"].is_unique
    il2 = of(doses, "il2").iloc[0]
    assert il2["uid"] == "RA-900.b-hril-2-or-placebo.d001.0900@nct02467504.dosing"
    again = dosing.expand(seed_protocol, dosing.load_cohort(FIXTURES / "seed-one-patient.csv", seed_protocol))
    assert again["uid"].tolist() == doses["uid"].tolist()


def test_seed_cohort_has_47_patients_23_active(seed_cohort: dosing.Cohort) -> None:
    arms = seed_cohort.patients["arm"].value_counts().to_dict()
    assert arms == {"placebo": 24, "active": 23}
    assert seed_cohort.patients["mtx_dose"].between(7.5, 20).all()
