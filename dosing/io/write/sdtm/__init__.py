"""CDISC SDTM export: the dose table, the changes and the adherence check as EC, EX, TA, TE and TV.

:func:`sdtm_datasets` maps (pure tables; blinded: EC, TE and TV only), :func:`write_datasets` writes
each as Dataset-JSON 1.1 and SAS transport v5 with ``define.json``. Controlled terms come from one
table (:mod:`.terminology`); variables, labels and origins from :mod:`.variables`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ....adherence.check import judge_adherence
from ....adherence.log import AdministrationLog
from ....plan.apply_changes import apply_changes
from ....plan.blind_view import View
from ....plan.changes import Changes
from ....plan.cohort import Cohort
from ....plan.dose_levels import level_adjustments
from ....plan.expand import expand
from ....protocol.model import Protocol
from .as_needed import prn_records
from .design import ta_dataset, te_dataset, tv_dataset
from .domains import ec_dataset, ex_dataset, performed_records
from .exposure import dose_adjustments, hold_reasons, planned_records
from .files import dataset_json, metadata, write_xpt


def sdtm_datasets(
    protocol: Protocol,
    cohort: Cohort,
    *,
    changes: Changes | None = None,
    log: AdministrationLog | None = None,
    as_of: dt.date | None = None,
    unblinded: bool = False,
    on_judged: Callable[[pd.DataFrame], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """The datasets by name: EC, EX (unblinded, with a log), TA (unblinded), TE, TV (with visits).
    ``as_of`` (default: today) as in ``dosing adherence``: log rows given after it are left out;
    ``on_judged`` sees the adherence dose table first (it may refuse it, as a blinded export does)."""
    doses = expand(protocol, cohort)
    if changes is not None:
        doses = apply_changes(doses, changes)
    doses = doses.reset_index(drop=True)
    planned = planned_records(protocol, cohort, doses, unblinded)
    planned["ADJ"] = level_adjustments(doses, changes, dose_adjustments(planned, changes))  # dose and dose_level rows
    performed = None
    if log is not None:
        as_of = as_of or dt.date.today()
        judged = judge_adherence(protocol, cohort, log, changes=changes, as_of=as_of, unblinded=unblinded, doses=doses)
        if on_judged is not None:
            on_judged(judged.doses)
        given = log.given.set_index("line")[["given_s", "timed", "given_day", "true_terms"]]
        reasons = hold_reasons(planned, doses, changes)
        performed = performed_records(
            cohort, planned, judged.doses, given, reasons, _true_dose_hidden(protocol, doses), as_of
        )
        as_needed = prn_records(protocol, cohort, judged.prn.doses, given, unblinded)  # no planned record
        if len(as_needed):
            performed = pd.concat([performed, as_needed], ignore_index=True)
    frames = {"EC": ec_dataset(protocol, planned, performed)}
    if unblinded and performed is not None:
        frames["EX"] = ex_dataset(protocol, performed)
    if unblinded:
        frames["TA"] = ta_dataset(protocol)
    frames["TE"] = te_dataset(protocol)
    if protocol.visits:
        frames["TV"] = tv_dataset(protocol, unblinded)
    return frames


def _true_dose_hidden(protocol: Protocol, doses: pd.DataFrame) -> np.ndarray:
    """Per dose: its regimen's blinded worklist shows a blinded dose (a syringe) in place of the true one."""
    view = View(protocol, unblinded=False)
    hidden = {r.id: view.hides_dose(r.id) for r in protocol.regimens}
    return doses["regimen"].astype(str).map(hidden).to_numpy(dtype=bool)


def write_datasets(frames: dict[str, pd.DataFrame], folder: Path, study_id: str, created: dt.datetime) -> list[Path]:
    """``<name>.json`` and ``<name>.xpt`` per dataset, then ``define.json``; the paths written."""
    files = []
    for name, frame in frames.items():
        json_path, xpt_path = folder / f"{name.lower()}.json", folder / f"{name.lower()}.xpt"
        json_path.write_bytes(dataset_json(name, frame, study_id, created))
        write_xpt(name, frame, xpt_path)
        files += [json_path, xpt_path]
    (folder / "define.json").write_bytes(metadata(frames, study_id))
    return [*files, folder / "define.json"]


__all__ = ["sdtm_datasets", "write_datasets"]
