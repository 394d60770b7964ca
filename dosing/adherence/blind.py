"""A blinded adherence check must not judge what it cannot see (pure).

Where blinding hides a dose that differs between arms (a ``blinded_dose`` such as "1 syringe"), a
log row written in true terms ("200000 IU", or the true drug name) could only be judged against the
patient's own arm: "right" for the 0.2 MIU patient and "wrong" for the others would tell a blinded
user the arm. So a blinded check leaves such a dose *not judged* for every arm alike: ``wrong_dose``
is empty (<NA>), ``dose_note`` says why, and summary.csv and report.html count it as
``dose_not_judged``. ``--unblinded`` judges it against the arm.

A planned dose with no administration (missed, not due, held) has nothing to judge either:
``wrong_dose`` is empty there too, with no ``dose_note`` (it is not counted as not judged).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..protocol.model import Protocol

WHY_NOT_JUDGED = "a blinded check cannot compare a true dose; run with --unblinded"
NOT_JUDGED = f"not judged: {WHY_NOT_JUDGED}"


def blind_judgement(
    protocol: Protocol, planned: pd.DataFrame, table: pd.DataFrame, given: pd.DataFrame, unblinded: bool
) -> pd.DataFrame:
    """``table`` (one row per planned dose, with ``admin`` and a boolean ``wrong_dose``) with
    ``wrong_dose`` as a nullable boolean, empty where not judged, and a ``dose_note`` column."""
    wrong = table["wrong_dose"].to_numpy(dtype=bool)
    skip = np.zeros(len(table), dtype=bool)
    if not unblinded and protocol.study.blinded:
        hidden_ids = [r.id for r in protocol.regimens if r.blinded_dose is not None]
        admin = table["admin"].to_numpy()
        written = admin >= 0
        true_terms = np.zeros(len(table), dtype=bool)
        if len(given):
            true_terms[written] = given["true_terms"].to_numpy(dtype=bool)[admin[written]]
            dose = given["dose_given"].to_numpy(dtype=float)[np.maximum(admin, 0)]
            written &= ~np.isnan(dose)
        skip = written & true_terms & planned["regimen"].isin(hidden_ids).to_numpy(dtype=bool)
    out = table.copy()
    nothing_given = table["admin"].to_numpy() < 0
    out["wrong_dose"] = pd.arrays.BooleanArray(wrong & ~skip, skip | nothing_given)
    notes = np.array(["", NOT_JUDGED], dtype=object)  # by reference: not a text array of a million rows
    out["dose_note"] = pd.Categorical(notes[skip.astype(np.int8)], categories=notes)
    return out


__all__ = ["NOT_JUDGED", "WHY_NOT_JUDGED", "blind_judgement"]
