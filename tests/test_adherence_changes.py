"""Adherence with the shipped changes file: a held dose is not missed, doses after a withdrawal
are not due, and a dose given after the withdrawal is extra with that reason.

The log gives every dose the (changed) schedule still plans, at its planned local time, plus one
loxoprofen dose for RA-005 on 2027-02-20, after the withdrawal of 2027-02-15.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import dosing
from tests.conftest import PROTOCOLS

CHANGES = PROTOCOLS / "nct02467504-changes.csv"


@pytest.fixture(scope="module")
def result(seed_protocol: dosing.Protocol, seed_cohort: dosing.Cohort, tmp_path_factory: pytest.TempPathFactory):
    planned = dosing.apply_changes(
        dosing.expand(seed_protocol, seed_cohort), dosing.load_changes(CHANGES, seed_protocol, seed_cohort)
    )
    given = planned[~planned["held"]]
    log = pd.DataFrame(
        {
            "patient_id": given["patient_id"].astype(str),
            "drug": given["label"].astype(str),
            "given_at": given["date"].astype(str) + " " + given["time"].astype(str),
            "dose_given": given["dose"].map(lambda d: f"{d:g}"),
        }
    )
    late = pd.DataFrame(
        [{"patient_id": "RA-005", "drug": "Loxoprofen", "given_at": "2027-02-20 08:00", "dose_given": "60"}]
    )
    path = Path(tmp_path_factory.mktemp("log")) / "log.csv"
    pd.concat([log, late]).to_csv(path, index=False)
    return dosing.check_adherence(seed_protocol, seed_cohort, path, changes=CHANGES, as_of=dt.date(2027, 12, 31))


def test_held_dose_is_held_not_missed(result: dosing.AdherenceResult) -> None:
    ra004 = result.doses[(result.doses["patient_id"] == "RA-004") & (result.doses["date"].astype(str) == "2026-12-20")]
    il2 = ra004[ra004["drug"] == "hrIL-2 or placebo"]
    assert il2["status"].tolist() == ["held"]
    assert (result.doses["status"] != "missed").all()


def test_no_dose_due_after_withdrawal(result: dosing.AdherenceResult) -> None:
    ra005 = result.doses[result.doses["patient_id"] == "RA-005"]
    assert ra005["date"].astype(str).max() < "2027-02-15"


def test_dose_after_withdrawal_is_extra_with_the_reason(result: dosing.AdherenceResult) -> None:
    extra = result.extra
    assert len(extra) == 1
    assert extra.iloc[0]["patient_id"] == "RA-005"
    assert "withdr" in str(extra.iloc[0]["reason"])
