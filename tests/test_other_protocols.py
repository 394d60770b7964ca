"""The two other shipped protocols prove the format is general: NCT04077684 (four arms whose
dose differs, two phases) and capecitabine (twice daily from the evening of day 1, dose from
body-surface area, patients across daylight-saving changes)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import dosing
from tests.conftest import shipped

SLE_DAYS = [*range(1, 84, 2), *range(85, 163, 7)]


@pytest.fixture(scope="module")
def sle() -> tuple[dosing.Protocol, dosing.Cohort]:
    return shipped("nct04077684")


@pytest.fixture(scope="module")
def cape() -> pd.DataFrame:
    return dosing.expand(*shipped("capecitabine"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


# ---- NCT04077684 --------------------------------------------------------------------------


def test_sle_54_injections_every_other_day_then_weekly(sle: tuple[dosing.Protocol, dosing.Cohort]) -> None:
    doses = dosing.expand(*sle)
    assert len(SLE_DAYS) == 54 and SLE_DAYS[41:44] == [83, 85, 92] and SLE_DAYS[-1] == 162
    for patient_id, mine in doses.groupby("patient_id", observed=True):
        assert mine["study_day"].tolist() == SLE_DAYS, patient_id
        assert mine["dose_number"].tolist() == list(range(1, 55))
    assert len(doses) == 8 * 54


def test_sle_blinded_doses_csv_hides_drug_and_dose(sle: tuple[dosing.Protocol, dosing.Cohort], tmp_path: Path) -> None:
    dosing.generate(*sle, tmp_path)
    folder = tmp_path / "nct04077684"
    rows = read_csv(folder / "doses.csv")
    assert len(rows) == 8 * 54
    assert {r["drug"] for r in rows} == {"Study drug (hrIL-2 or placebo)"}
    assert {r["dose"] for r in rows} == {"1 syringe"}
    assert {r["unit"] for r in rows} == {""}
    assert "arm" not in rows[0]
    for name in ("doses.csv", "worklist.csv", "patients/SLE-001/doses.csv", "patients/SLE-001/calendar.ics"):
        text = (folder / name).read_text(encoding="utf-8-sig")
        for secret in ("IU", "200000", "500000", "1000000", "Placebo,", "il2-0.2", "hrIL-2 1 MIU"):
            assert secret not in text, (name, secret)


def test_sle_unblinded_doses_csv_shows_the_arm_doses(
    sle: tuple[dosing.Protocol, dosing.Cohort], tmp_path: Path
) -> None:
    dosing.generate(*sle, tmp_path, unblinded=True)
    rows = read_csv(tmp_path / "nct04077684-UNBLINDED" / "doses.csv")
    by_arm = {(r["arm"], r["drug"], r["dose"], r["unit"]) for r in rows}
    assert by_arm == {
        ("il2-0.2", "hrIL-2", "200000", "IU"),
        ("il2-0.5", "hrIL-2", "500000", "IU"),
        ("il2-1.0", "hrIL-2", "1000000", "IU"),
        ("placebo", "Placebo", "1", "mL"),
    }
    assert {r["blinded_label"] for r in rows} == {"Study drug (hrIL-2 or placebo)"}


# ---- capecitabine -------------------------------------------------------------------------


def test_capecitabine_28_doses_per_cycle_8_cycles(cape: pd.DataFrame) -> None:
    for _, mine in cape.groupby("patient_id", observed=True):
        assert len(mine) == 224
        assert mine.groupby("cycle").size().tolist() == [28] * 8
        assert mine["dose_number"].tolist() == list(range(1, 225))


def test_capecitabine_first_dose_evening_day_1_last_morning_day_15(cape: pd.DataFrame) -> None:
    mine = cape[cape["patient_id"] == "CAPE-001"]  # starts Monday 2027-03-01 in Berlin
    cycle1 = mine[mine["cycle"] == 1]
    first, last = cycle1.iloc[0], cycle1.iloc[-1]
    assert (first["date"], first["time"], first["study_day"], first["cycle_day"]) == ("2027-03-01", "20:00", 1, 1)
    assert (last["date"], last["time"], last["study_day"], last["cycle_day"]) == ("2027-03-15", "08:00", 15, 15)
    # every day 2-14 has both doses
    assert cycle1.groupby("study_day").size().to_dict() == {1: 1, **{d: 2 for d in range(2, 15)}, 15: 1}
    cycle2 = mine[mine["cycle"] == 2]
    assert cycle2["study_day"].iloc[0] == 22 and cycle2["time"].iloc[0] == "20:00"
    assert cycle2["cycle_day"].iloc[-1] == 15
    # cycle 8 starts on day 148; its last dose, the morning of day 162, is inside the study
    assert mine["study_day"].iloc[-1] == 162


def test_capecitabine_dose_from_body_surface_area(cape: pd.DataFrame) -> None:
    # 1250 mg/m2 x BSA, to the nearest 150 mg (halves round up):
    # 1.82 -> 2275 -> 2250 (15.17 x 150); 1.65 -> 2062.5 -> 2100 (13.75); 2.01 -> 2512.5 -> 2550 (16.75);
    # 1.95 -> 2437.5 -> 2400 (16.25); 1.74 -> 2175 -> 2250 (exactly 14.5 x 150, rounds up)
    expected = {"CAPE-001": 2250, "CAPE-002": 2100, "CAPE-003": 2550, "CAPE-004": 2400, "CAPE-005": 2250}
    dose = cape.groupby("patient_id", observed=True)["dose"].agg(["min", "max"])
    assert dose["min"].to_dict() == expected
    assert dose["max"].to_dict() == expected
    assert set(cape["unit"]) == {"mg"}


def test_capecitabine_new_york_patient_keeps_0800_and_2000_across_dst(cape: pd.DataFrame) -> None:
    # CAPE-004 starts 2027-03-02 in New York; clocks go forward on Sunday 2027-03-14.
    mine = cape[cape["patient_id"] == "CAPE-004"]
    assert set(mine["time"].astype(str)) == {"08:00", "20:00"}
    assert set(mine["timezone"].astype(str)) == {"America/New_York"}
    at = mine.set_index([mine["date"].astype(str), mine["time"].astype(str)])["planned_at"]
    assert at[("2027-03-13", "08:00")] == pd.Timestamp("2027-03-13 13:00", tz="UTC")  # EST, UTC-5
    assert at[("2027-03-14", "08:00")] == pd.Timestamp("2027-03-14 12:00", tz="UTC")  # EDT, UTC-4
    assert at[("2027-03-14", "20:00")] == pd.Timestamp("2027-03-15 00:00", tz="UTC")
    local = mine["planned_at"].dt.tz_convert("America/New_York")
    assert (local.dt.strftime("%H:%M") == mine["time"].astype(str)).all()
    assert (local.dt.strftime("%Y-%m-%d") == mine["date"].astype(str)).all()


def test_capecitabine_berlin_patient_across_the_autumn_change(cape: pd.DataFrame) -> None:
    # CAPE-003 starts 2027-10-12 in Berlin; clocks go back on Sunday 2027-10-31 (day 20, a rest day
    # of cycle 1), so cycle 2 (from day 22, 2027-11-02) is at UTC+1.
    mine = cape[cape["patient_id"] == "CAPE-003"]
    first = mine.iloc[0]
    assert first["planned_at"] == pd.Timestamp("2027-10-12 18:00", tz="UTC")  # 20:00 CEST
    cycle2 = mine[mine["cycle"] == 2].iloc[0]
    assert cycle2["date"] == (dt.date(2027, 10, 12) + dt.timedelta(days=21)).isoformat()
    assert cycle2["planned_at"] == pd.Timestamp("2027-11-02 19:00", tz="UTC")  # 20:00 CET
