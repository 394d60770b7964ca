"""Logged as-needed (PRN) doses as EC PERFORMED and EX records (``--DOSFRQ = PRN``).

A PRN regimen plans no dose, so its doses have no SCHEDULED record: each logged PRN dose (as
:mod:`dosing.adherence.prn` judged it) is one PERFORMED record, ``ECOCCUR = Y``, at the log's time, and
(unblinded) one EX record. The link id is the patient, the regimen key shown and the log line
(``PEM-001.metoclopramide-prn.prn-line-7``): a PRN dose has no planned UID. The dose is the log's amount
in the protocol's unit, or the regimen's fixed dose when the log gives none; where a blinded view hides
the dose (it differs between arms) there is no amount, only the blinded dose as text. Vectorised.
"""

from __future__ import annotations

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
    pids = doses["patient_id"].astype(str).to_numpy()
    arm_of = dict(zip(cohort.patients["patient_id"].astype(str), cohort.patients["arm"].astype(str), strict=True))
    which = _regimen_of(protocol, regimens, [arm_of.get(p, "") for p in pids], doses["drug"].astype(str).to_numpy())
    known = which >= 0  # a PRN judgement names a PRN regimen of the patient's arm: all known
    doses, pids, which = doses[known], pids[known], which[known]
    chosen = [regimens[i] for i in which]
    view = View(protocol, unblinded)
    zones = pd.Series(pids).map(
        dict(zip(cohort.patients["patient_id"].astype(str), cohort.patients["timezone"].astype(str), strict=True))
    )
    admin = given.reindex(doses["line"].to_numpy(dtype=np.int64))
    timed = admin["timed"].fillna(False).to_numpy(dtype=bool)
    seconds = admin["given_s"].fillna(0).to_numpy(dtype=np.int64)
    days = admin["given_day"].fillna(0).to_numpy(dtype=np.int64).astype("datetime64[D]")
    texts = local_iso(pd.to_datetime(seconds, unit="s", utc=True), zones.to_numpy())
    dtc = np.where(timed, texts, np.datetime_as_string(days).astype(object))
    hidden = np.array([view.hides_dose(r.id) for r in chosen], dtype=bool)
    placebo = np.array([bool(unblinded and r.placebo_for) for r in chosen], dtype=bool)
    amount = np.where(np.isnan(doses["dose_given"].to_numpy(dtype=float)), _fixed(chosen), doses["dose_given"])
    keys = [r.id if unblinded else r.display_key for r in chosen]
    lines = doses["line"].astype(int).astype(str).to_numpy()
    dy = study_day(days, _start_days(cohort, pd.Series(pids)))
    return pd.DataFrame(
        {
            "patient_id": pids,
            "regimen": [r.id for r in chosen],
            "USUBJID": protocol.study.id + "-" + pids.astype(object),
            "LNKID": [f"{p}.{k}.prn-line-{line}" for p, k, line in zip(pids, keys, lines, strict=True)],
            "TRT": [_treatment(r, unblinded) for r in chosen],
            "DOSE": np.where(placebo, 0.0, np.where(hidden, np.nan, amount.astype(float))),
            "DOSTXT": [r.blinded_dose if h else None for r, h in zip(chosen, hidden, strict=True)],
            "DOSU": [None if h else _unit(protocol, r, unblinded) for r, h in zip(chosen, hidden, strict=True)],
            "DOSFRM": [dose_form_term(protocol, r) if unblinded else None for r in chosen],
            "DOSFRQ": AS_NEEDED,
            "ROUTE": [route_term(protocol, r) for r in chosen],
            "EPOCH": TREATMENT,
            "DTC": dtc,
            "DY": dy,
            "ENDTC": dtc,  # a dose at a point in time
            "ENDY": dy,
            "minutes": 0,
            "zone": zones.to_numpy(),
            "date": days,
            "held": False,
            "placebo": placebo,
            "order": seconds * 1_000_000_000,
            "ADJ": "",
            "OCCUR": "Y",
            "REASOC": None,
        }
    )


def _regimen_of(protocol: Protocol, regimens: list[Regimen], arms: list[str], shown: np.ndarray) -> np.ndarray:
    """Per dose, the index of the PRN regimen of the patient's arm logged under that drug name (-1: none)."""
    members = {a.id: set(a.regimens) for a in protocol.arms}
    lookup = {
        (arm, r.blinded_label or r.drug): i for i, r in enumerate(regimens) for arm in members if r.id in members[arm]
    }
    return np.array([lookup.get((arm, str(name)), -1) for arm, name in zip(arms, shown, strict=True)], dtype=int)


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
