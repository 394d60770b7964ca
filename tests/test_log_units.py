"""The log reads units through the unit registry (issue 9 §2, audit of "conversions are exact").

A dose written in another unit of the same kind as the regimen's (``0.06 g`` for 60 mg, ``1 MIU`` for
1,000,000 IU, ``1 × 10⁶ IU`` as our own outputs print it) is converted exactly and judged; a count
unit in the plural (``2 syringes``) is the count unit; an unknown unit (``60 MG``, ``60 Mg``) is a bad
row with a did-you-mean, as in a protocol. Nothing given means nothing judged: ``wrong_dose`` empty.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from dosing.adherence.blind import NOT_JUDGED
from dosing.jobs.adherence import check_adherence
from tests.conftest import shipped

HEADER = "patient_id,drug,given_at,dose_given,given_by,notes\n"
SEED_AS_OF = dt.date(2026, 12, 10)
IL2 = "Study drug (hrIL-2 or placebo)"
ARMS = {"SLE-001": "0.2 MIU", "SLE-002": "0.5 MIU", "SLE-003": "1 MIU", "SLE-004": "placebo"}
IL2_AS_OF = dt.date(2027, 1, 5)


def seed_check(tmp_path: Path, *rows: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    protocol, cohort = shipped("nct02467504")
    log = tmp_path / "log.csv"
    log.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    result = check_adherence(protocol, cohort, log, as_of=SEED_AS_OF)
    doses = result.doses[result.doses["patient_id"] == "RA-002"]
    return doses.assign(when=doses["date"].astype(str) + " " + doses["time"].astype(str)), result.bad_rows


def il2_check(tmp_path: Path, dose: str, *, unblinded: bool) -> dict[str, tuple[str, object, str]]:
    """The same dose written for the first injection of one patient of each arm (01-04 or 01-05)."""
    protocol, cohort = shipped("nct04077684")
    log = tmp_path / "il2.csv"
    starts = {"SLE-001": "2027-01-04", "SLE-002": "2027-01-04", "SLE-003": "2027-01-05", "SLE-004": "2027-01-05"}
    log.write_text(
        HEADER + "".join(f'{p},{IL2},{day} 09:00,"{dose}",N,\n' for p, day in starts.items()), encoding="utf-8"
    )
    result = check_adherence(protocol, cohort, log, as_of=IL2_AS_OF, unblinded=unblinded)
    assert result.bad_rows.empty, result.bad_rows["reason"].tolist()
    doses = result.doses[result.doses["dose_given"].notna()]
    return {
        ARMS[row.patient_id]: (row.status, row.wrong_dose, row.dose_note)
        for row in doses.itertuples()
        if row.patient_id in ARMS
    }


def test_a_dose_in_another_mass_or_iu_unit_is_converted_exactly_and_judged(tmp_path: Path) -> None:
    doses, bad = seed_check(
        tmp_path,
        "RA-002,Loxoprofen,2026-12-08 08:00,0.06 g,N,",
        'RA-002,Loxoprofen,2026-12-08 19:00,"60,000 µg",N,',
        "RA-002,hrIL-2 or placebo,2026-12-08 09:00,1 MIU,N,",
    )
    assert bad.empty, bad["reason"].tolist()
    given = doses[doses["dose_given"].notna()].set_index("when")
    assert given["drug"].astype(str).to_dict() == {
        "2026-12-08 08:00": "Loxoprofen",
        "2026-12-08 09:00": "hrIL-2 or placebo",
        "2026-12-08 19:00": "Loxoprofen",
    }
    # 0.06 g = 60 mg and 60,000 µg = 60 mg exactly (not 60.00000000000001); 1 MIU = 1,000,000 IU
    assert given["dose_given"].tolist() == [60.0, 1_000_000.0, 60.0]
    assert given["status"].astype(str).tolist() == ["on_time"] * 3
    assert given["wrong_dose"].tolist() == [False, False, False]


def test_a_wrong_amount_in_another_unit_is_a_wrong_dose(tmp_path: Path) -> None:
    doses, bad = seed_check(tmp_path, "RA-002,Loxoprofen,2026-12-08 08:00,0.6 g,N,")
    assert bad.empty
    given = doses[doses["dose_given"].notna()]
    assert given["dose_given"].tolist() == [600.0] and given["wrong_dose"].tolist() == [True]


@pytest.mark.parametrize("written", ["1 × 10⁶ IU", "1 x 10^6 IU", "1x10**6 IU", "10 × 10⁵ IU"])
def test_a_power_of_ten_as_our_outputs_print_it_is_read(tmp_path: Path, written: str) -> None:
    doses, bad = seed_check(tmp_path, f"RA-002,hrIL-2 or placebo,2026-12-08 09:00,{written},N,")
    assert bad.empty, bad["reason"].tolist()
    given = doses[doses["dose_given"].notna()]
    assert given["dose_given"].tolist() == [1_000_000.0] and given["wrong_dose"].tolist() == [False]


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("60 MG", "dose_given '60 MG' has an unknown unit 'MG'; did you mean 'mg'?"),
        ("60 Mg", "dose_given '60 Mg' has an unknown unit 'Mg'; did you mean 'mg'?"),
        ("60 mgs", "dose_given '60 mgs' has an unknown unit 'mgs'; did you mean 'mg'?"),
        ("60 gram", "dose_given '60 gram' has an unknown unit 'gram'; did you mean 'g'?"),
        ("2 tablets", "dose_given '2 tablets' is in another unit (expected mg)"),
        ("1 × 10⁶ IU", "dose_given '1 × 10⁶ IU' is in another unit (expected mg)"),
    ],
)
def test_a_unit_that_cannot_be_compared_is_a_bad_row_with_its_reason(tmp_path: Path, written: str, reason: str) -> None:
    doses, bad = seed_check(tmp_path, f"RA-002,Loxoprofen,2026-12-08 08:00,{written},N,")
    assert bad["reason"].tolist() == [reason]
    assert doses["dose_given"].notna().sum() == 0


@pytest.mark.parametrize(("written", "wrong"), [("1 syringes", False), ("2 syringes", True), ("1 syringe", False)])
def test_a_count_unit_in_the_plural_is_the_count_unit(tmp_path: Path, written: str, wrong: bool) -> None:
    judged = il2_check(tmp_path, written, unblinded=False)
    assert judged == {arm: ("on_time", wrong, "") for arm in ARMS.values()}


@pytest.mark.parametrize("written", ["1 MIU", "1 × 10⁶ IU", "200 kIU", "0.001 L"])
def test_a_converted_true_dose_is_not_judged_in_any_arm_when_blinded(tmp_path: Path, written: str) -> None:
    judged = il2_check(tmp_path, written, unblinded=False)
    assert judged == {arm: ("on_time", pd.NA, NOT_JUDGED) for arm in ARMS.values()}


@pytest.mark.parametrize("written", ["0.2 MIU", "200 kIU", "200,000 IU", "2 × 10⁵ IU"])
def test_a_converted_true_dose_is_judged_against_the_arm_when_unblinded(tmp_path: Path, written: str) -> None:
    judged = il2_check(tmp_path, written, unblinded=True)
    wrong = {arm: judgement[1] for arm, judgement in judged.items()}
    assert wrong == {"0.2 MIU": False, "0.5 MIU": True, "1 MIU": True, "placebo": True}


def test_placebo_volume_in_litres_is_converted_when_unblinded(tmp_path: Path) -> None:
    wrong = {arm: judged[1] for arm, judged in il2_check(tmp_path, "0.001 L", unblinded=True).items()}
    assert wrong == {"0.2 MIU": True, "0.5 MIU": True, "1 MIU": True, "placebo": False}


def test_nothing_given_means_nothing_judged(tmp_path: Path) -> None:
    """Missed, not-due and held doses have an empty wrong_dose (not False), and are not counted as
    'not judged' in the summary."""
    protocol, cohort = shipped("nct02467504")
    log = tmp_path / "log.csv"
    log.write_text(HEADER + "RA-002,Loxoprofen,2026-12-08 08:00,60 mg,N,\n", encoding="utf-8")
    result = check_adherence(protocol, cohort, log, as_of=SEED_AS_OF)
    doses = result.doses
    given = doses["dose_given"].notna()
    assert int(given.sum()) == 1 and doses.loc[given, "wrong_dose"].tolist() == [False]
    nothing = doses[doses["log_line"].isna()]
    assert set(nothing["status"].astype(str)) >= {"missed", "not_due"}
    assert nothing["wrong_dose"].isna().all()
    patients = result.summary[result.summary["level"] == "patient"]
    assert int(patients["dose_not_judged"].sum()) == 0 and int(patients["wrong_dose"].sum()) == 0
