"""Logged as-needed (PRN) doses as EC PERFORMED and EX records (``--DOSFRQ = PRN``).

A PRN regimen plans no dose, so its doses have no SCHEDULED record: each logged PRN dose (as
:mod:`dosing.adherence.prn` judged it) is one PERFORMED record, ``ECOCCUR = Y``, at the log's time, and
(unblinded) one EX record. The link id is the patient, the regimen key shown and the log line
(``PEM-001.metoclopramide-prn.prn-line-7``): a PRN dose has no planned UID. The dose is the log's amount
in the protocol's unit, or the regimen's fixed dose when the log gives none; where a blinded view hides
the dose (it differs between arms) there is no amount, only the blinded dose as text. Vectorised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ....adherence.prn import prn_regimens
from ....plan.blind_view import View
from ....plan.cohort import Cohort
from ....plan.visits import study_day
from ....protocol.model import Protocol, Regimen
from .exposure import TREATMENT, _start_days, local_iso
from .terminology import AS_NEEDED, dose_form_term, route_term, unit_term


def prn_records(
    protocol: Protocol, cohort: Cohort, doses: pd.DataFrame, given: pd.DataFrame, unblinded: bool
) -> pd.DataFrame:
    """One PERFORMED record per logged PRN dose (``doses``: the PRN judgement's dose table; ``given``:
    the log's administrations by line, with ``given_s``, ``timed``, ``given_day``)."""
    regimens = prn_regimens(protocol)
    if doses.empty or not regimens:
        return pd.DataFrame()
    patients = cohort.patients.set_index(cohort.patients["patient_id"].astype(str))
    pids = doses["patient_id"].astype(str)
    which = _regimen_of(protocol, regimens, pids.map(patients["arm"].astype(str)), doses["drug"].astype(str))
    known = which >= 0  # a PRN judgement names a PRN regimen of the patient's arm: all known
    doses, pids, which = doses[known], pids[known], which[known]
    per = _per_regimen(protocol, regimens, unblinded)  # one value per regimen, picked per dose below
    zones = pids.map(patients["timezone"].astype(str)).to_numpy()
    admin = given.reindex(doses["line"].to_numpy(dtype=np.int64))
    timed = admin["timed"].fillna(False).to_numpy(dtype=bool)
    seconds = admin["given_s"].fillna(0).to_numpy(dtype=np.int64)
    days = admin["given_day"].fillna(0).to_numpy(dtype=np.int64).astype("datetime64[D]")
    texts = local_iso(pd.to_datetime(seconds, unit="s", utc=True), zones)
    dtc = np.where(timed, texts, np.datetime_as_string(days).astype(object))
    hidden, placebo = per["hidden"][which], per["placebo"][which]
    logged = doses["dose_given"].to_numpy(dtype=float)
    amount = np.where(np.isnan(logged), per["fixed"][which], logged)
    lines = doses["line"].astype(np.int64).astype(str).to_numpy(dtype=object)
    dy = study_day(days, _start_days(cohort, pids))
    return pd.DataFrame(
        {
            "patient_id": pids.to_numpy(),
            "regimen": per["id"][which],
            "USUBJID": protocol.study.id + "-" + pids.to_numpy(dtype=object),
            "LNKID": pids.to_numpy(dtype=object) + "." + per["key"][which] + ".prn-line-" + lines,
            "TRT": per["treatment"][which],
            "DOSE": np.where(placebo, 0.0, np.where(hidden, np.nan, amount)),
            "DOSTXT": per["text"][which],
            "DOSU": per["unit"][which],
            "DOSFRM": per["form"][which],
            "DOSFRQ": AS_NEEDED,
            "ROUTE": per["route"][which],
            "EPOCH": TREATMENT,
            "DTC": dtc,
            "DY": dy,
            "ENDTC": dtc,  # a dose at a point in time
            "ENDY": dy,
            "minutes": 0,
            "zone": zones,
            "date": days,
            "held": False,
            "placebo": placebo,
            "order": seconds * 1_000_000_000,
            "ADJ": "",
            "OCCUR": "Y",
            "REASOC": None,
        }
    )


def _per_regimen(protocol: Protocol, regimens: list[Regimen], unblinded: bool) -> dict[str, np.ndarray]:
    """What a record shows of each PRN regimen, as arrays indexed like ``regimens``."""
    view = View(protocol, unblinded)
    hidden = [view.hides_dose(r.id) for r in regimens]

    def column(values: Sequence[object], dtype: type = object) -> np.ndarray:
        return np.array(list(values), dtype=dtype)

    return {
        "id": column([r.id for r in regimens]),
        "key": column([r.id if unblinded else r.display_key for r in regimens]),
        "treatment": column([_treatment(r, unblinded) for r in regimens]),
        "hidden": column(hidden, bool),
        "placebo": column([bool(unblinded and r.placebo_for) for r in regimens], bool),
        "fixed": _fixed(regimens),
        "text": column([r.blinded_dose if h else None for r, h in zip(regimens, hidden, strict=True)]),
        "unit": column([None if h else _unit(protocol, r, unblinded) for r, h in zip(regimens, hidden, strict=True)]),
        "form": column([dose_form_term(protocol, r) if unblinded else None for r in regimens]),
        "route": column([route_term(protocol, r) for r in regimens]),
    }


def _regimen_of(protocol: Protocol, regimens: list[Regimen], arms: pd.Series, shown: pd.Series) -> np.ndarray:
    """Per dose, the index of the PRN regimen of the patient's arm logged under that drug name (-1: none)."""
    pairs = [
        (a.id, r.blinded_label or r.drug, i)
        for i, r in enumerate(regimens)
        for a in protocol.arms
        if r.id in a.regimens
    ]
    index = pd.MultiIndex.from_tuples([(arm, name) for arm, name, _ in pairs])
    found = index.get_indexer(pd.MultiIndex.from_arrays([arms.fillna("").astype(str), shown.astype(str)]))
    numbers = np.array([i for _, _, i in pairs] + [-1], dtype=np.int64)
    return numbers[found]  # found -1 picks the appended -1


def _treatment(regimen: Regimen, unblinded: bool) -> str:
    if not unblinded:
        return regimen.blinded_label or regimen.drug
    return "PLACEBO" if regimen.placebo_for else regimen.drug


def _unit(protocol: Protocol, regimen: Regimen, unblinded: bool) -> str:
    if unblinded and regimen.placebo_for:  # 0 in the active drug's unit, as for scheduled placebo doses
        return unit_term(protocol, protocol.regimen(regimen.placebo_for))
    return unit_term(protocol, regimen)


def _fixed(chosen: list[Regimen]) -> np.ndarray:
    """Each dose's regimen's fixed amount (NaN for a per-size or formula dose: not computed here)."""
    out = []
    for r in chosen:
        fixed = r.dose.amount is not None and not (r.dose.per or r.dose.formula or r.dose.bsa)
        out.append(float(r.dose.amount) if fixed and r.dose.amount is not None else np.nan)
    return np.array(out, dtype=float)


__all__ = ["prn_records"]
