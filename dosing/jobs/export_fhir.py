"""``dosing export fhir``: HL7 FHIR R4 JSON into ``OUT/<study id>/fhir/`` (``-UNBLINDED`` with
``unblinded``): ``plan-definition.json`` (the protocol) and ``bundles/<patient id>.json`` (one
``collection`` Bundle per patient: MedicationRequests with their Timing, MedicationAdministrations of a
log, the visits as a CarePlan). See docs/exports-fhir-redcap.md."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..io.study_lock import DEFAULT_WAIT_S
from ..io.write.fhir import patient_bundle, plan_definition, prn_windows
from ..plan.changes import Changes
from ..plan.cohort import Cohort
from ..protocol.model import Protocol
from .exports import ExportResult, Planned, export_folder, finish, iso_day, planned, study_changes, write_json
from .generate import output_folder


def export_fhir(
    protocol: Protocol,
    cohort: Cohort,
    out_dir: str | Path = "output",
    *,
    unblinded: bool = False,
    changes: Changes | None = None,
    discard_changes: bool = False,
    log: str | Path | None = None,
    as_of: dt.date | None = None,
    group: str | None = None,
    wait: float = DEFAULT_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write the FHIR export; all or nothing. With ``log`` every planned dose judged by ``as_of``
    (see :func:`dosing.check_adherence`) is a MedicationAdministration: ``completed`` when given,
    ``not-done`` with a ``statusReason`` when missed or held. A blinded export whose log gives a true
    dose that differs between arms is refused (:class:`~dosing.jobs.exports.BlindedExportRefused`)."""
    changes = study_changes(protocol, cohort, out_dir, unblinded, changes, discard_changes)
    plan = planned(protocol, cohort, unblinded=unblinded, changes=changes, log=log, as_of=as_of)
    definition = plan_definition(protocol, blinded=not unblinded)
    by_patient = dict(tuple(plan.doses.groupby("patient_id", observed=True, sort=False)))
    visits = dict(tuple(plan.visits.groupby("patient_id", sort=False))) if len(plan.visits) else {}
    judged = dict(tuple(due(plan).groupby("patient_id", observed=True, sort=False))) if plan.judged is not None else {}
    empty = plan.doses.iloc[0:0]
    prn = dict(tuple(prn_windows(protocol, cohort, changes, blinded=not unblinded).groupby("patient_id", sort=False)))
    taken = plan.as_needed if plan.as_needed is not None else pd.DataFrame(columns=["patient_id"])
    prn_taken = dict(tuple(taken.groupby(taken["patient_id"].astype(str), sort=False)))
    zones = dict(zip(cohort.patients["patient_id"].astype(str), cohort.patients["timezone"].astype(str), strict=True))
    with export_folder(protocol, out_dir, "fhir", unblinded, group=group, wait=wait, on_wait=on_wait) as folder:
        write_json(definition, folder / "plan-definition.json")
        (folder / "bundles").mkdir()
        for pid in cohort.patients["patient_id"].astype(str):
            mine_judged = judged.get(pid, empty) if plan.judged is not None else None
            mine_prn = (prn[pid], zones[pid], not unblinded, prn_taken.get(pid)) if pid in prn else None
            bundle = patient_bundle(
                protocol,
                pid,
                by_patient.get(pid, empty),
                visits.get(pid, pd.DataFrame()),
                mine_judged,
                plan.route_of,
                mine_prn,
            )
            write_json(bundle, folder / "bundles" / f"{pid}.json")
        options = {"unblinded": unblinded, "log": None if log is None else str(log), "as_of": iso_day(plan.as_of)}
        options["changes_discarded"] = discard_changes
        finish(folder, "export fhir", protocol, cohort, changes, options)
    final = output_folder(Path(out_dir), protocol, unblinded) / "fhir"
    files = [final / "plan-definition.json", final / "bundles" / "<patient id>.json"]
    return ExportResult(final, not unblinded, len(cohort), files, plan.notes(), not protocol.study.blinded)


def due(plan: Planned) -> pd.DataFrame:
    """The judged doses that get a MedicationAdministration's status: a hold recorded for a dose planned
    on or after the as-of date is not yet due (it stays a planned dose, as in SDTM EC)."""
    judged = plan.judged
    assert judged is not None and plan.as_of is not None
    later = pd.to_datetime(judged["date"].astype(str)).dt.date.to_numpy() >= plan.as_of
    return judged[~(later & (judged["status"].astype(str) == "held").to_numpy())]
