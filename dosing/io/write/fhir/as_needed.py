"""As-needed (PRN) regimens in the FHIR export: a ``MedicationRequest`` with no planned doses.

A PRN regimen has no dose rows (:mod:`dosing.protocol.prn`), so there is no Timing of doses to give
back. Its request says what FHIR R4 can say of it: ``asNeededBoolean`` true, the most that may be taken
(``maxDosePerPeriod``: ``max_per_24h`` doses per 24 hours), and one ``dosageInstruction`` per run of days
the schedule allows (``timing.repeat.boundsPeriod`` from the first day's start to the last day's end,
with the patient's UTC offset), cut at a ``stop`` of the regimen or the patient's withdrawal in the
changes file. The minimum interval has no FHIR element: ``Dosage.text`` says it. Vectorised over
patients and days; the loops run over regimens and runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ....adherence.prn import prn_regimens
from ....plan.changes import Changes
from ....plan.cohort import Cohort
from ....plan.schedule import Patients, day_plan
from ....protocol.model import Protocol, Regimen
from ....protocol.prn import describe_as_needed
from ....protocol.units import format_dose
from .codes import TIMEZONE, UCUM, dose_quantity

WINDOW_COLUMNS = ["patient_id", "regimen", "first", "last"]


def prn_windows(protocol: Protocol, cohort: Cohort, changes: Changes | None, blinded: bool) -> pd.DataFrame:
    """Per patient and PRN regimen of the patient's arm, each run of allowed days (``first``/``last``:
    dates, both included). A blinded export of a blinded study leaves out a PRN regimen that not every
    arm has under its label: that a patient may take it would tell the arm."""
    frame = cohort.patients
    last = protocol.study.last_day
    patients = Patients.of(protocol, frame)
    ends = _end_days(protocol, cohort, changes)
    parts = []
    for regimen in prn_regimens(protocol):
        if blinded and protocol.study.blinded and not _in_every_arm(protocol, regimen):
            continue
        arms = [a.id for a in protocol.arms if regimen.id in a.regimens]
        mask = np.broadcast_to(day_plan(regimen.schedule, patients, {}).mask, (patients.n, last)).copy()
        mask &= frame["arm"].astype(str).isin(arms).to_numpy()[:, None]
        mask &= np.arange(1, last + 1)[None, :] < ends.get(regimen.id, ends[""])[:, None]
        parts.append(_runs(frame, regimen.id, mask))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=WINDOW_COLUMNS)


def _in_every_arm(protocol: Protocol, regimen: Regimen) -> bool:
    def shown(regimen_id: str) -> str:
        other = protocol.regimen(regimen_id)
        return other.blinded_label or other.drug

    label = shown(regimen.id)
    return all(any(shown(r) == label for r in arm.regimens) for arm in protocol.arms)


def _end_days(protocol: Protocol, cohort: Cohort, changes: Changes | None) -> dict[str, np.ndarray]:
    """Per regimen id ("" for any): per patient, the first study day no longer allowed (a stop of the
    regimen, or the withdrawal; past the study's end where there is none)."""
    frame = cohort.patients
    never = np.full(len(frame), protocol.study.last_day + 1, dtype=np.int64)
    if changes is None:
        return {"": never}
    pids = pd.Index(frame["patient_id"].astype(str))
    starts = frame["start_date"].to_numpy().astype("datetime64[D]").astype(np.int64)

    def first_days(rows: pd.DataFrame) -> np.ndarray:
        out = never.copy()
        if len(rows):
            who = pids.get_indexer(pd.Index(rows["patient_id"].astype(str)))
            days = pd.to_datetime(rows["from_date"].astype(str)).to_numpy().astype("datetime64[D]").astype(np.int64)
            np.minimum.at(out, who[who >= 0], (days - starts[who] + 1)[who >= 0])
        return out

    withdrawn = first_days(changes.withdrawals)
    ends = {"": withdrawn}
    for regimen in prn_regimens(protocol):
        stops = changes.stops[changes.stops["regimen"].astype(str) == regimen.id]
        ends[regimen.id] = np.minimum(withdrawn, first_days(stops))
    return ends


def _runs(frame: pd.DataFrame, regimen_id: str, mask: np.ndarray) -> pd.DataFrame:
    """The runs of True days of each patient's row of ``mask`` (study day 1 first) as dates."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    who, first = np.nonzero(edges == 1)  # run starts: index = study day - 1
    _, after = np.nonzero(edges == -1)  # the day after each run (same order: row by row, left to right)
    start = frame["start_date"].to_numpy().astype("datetime64[D]")[who]
    return pd.DataFrame(
        {
            "patient_id": frame["patient_id"].astype(str).to_numpy()[who],
            "regimen": regimen_id,
            "first": start + first.astype("timedelta64[D]"),
            "last": start + (after - 1).astype("timedelta64[D]"),
        }
    )


def prn_request_dosages(
    protocol: Protocol, regimen: Regimen, windows: pd.DataFrame, zone: str, route: dict, hidden: bool
) -> list[dict]:
    """One ``dosageInstruction`` per run of allowed days (``windows``: this patient's, of ``regimen``).
    ``hidden``: a blinded dose ("1 syringe"): no amount, so no ``doseAndRate`` and no ``maxDosePerPeriod``."""
    assert regimen.as_needed is not None
    amount = _fixed_amount(regimen)
    dose_text = str(regimen.blinded_dose) if hidden else _dose_text(regimen, amount)
    text = f"{dose_text} {route['text']}, {describe_as_needed(regimen)}"
    text += f", {regimen.instructions}" if regimen.instructions else ""
    out = []
    for sequence, (first, last) in enumerate(zip(windows["first"], windows["last"], strict=True), 1):
        start = pd.Timestamp(first).tz_localize(zone)
        end = (pd.Timestamp(last) + pd.Timedelta(days=1)).tz_localize(zone) - pd.Timedelta(seconds=1)
        dosage: dict = {
            "sequence": sequence,
            "text": text,
            "timing": {
                "extension": [{"url": TIMEZONE, "valueCode": zone}],
                "repeat": {"boundsPeriod": {"start": start.isoformat(), "end": end.isoformat()}},
            },
            "asNeededBoolean": True,
            "route": route,
        }
        if amount is not None and not hidden:
            unit = regimen.dose.absolute_unit
            most = dose_quantity(amount * regimen.as_needed.max_per_24h, unit)
            dosage["doseAndRate"] = [{"doseQuantity": dose_quantity(amount, unit)}]
            dosage["maxDosePerPeriod"] = {
                "numerator": most,
                "denominator": {"value": 24, "unit": "h", "system": UCUM, "code": "h"},
            }
        out.append(dosage)
    return out


def _fixed_amount(regimen: Regimen) -> float | None:
    """The PRN dose when it is the same for every patient (a per-size or formula dose is not computed here)."""
    dose = regimen.dose
    if dose.amount is None or dose.per or dose.formula or dose.bsa or dose.patient_value is not None:
        return None
    return float(dose.amount)


def _dose_text(regimen: Regimen, amount: float | None) -> str:
    if amount is not None:
        return format_dose(amount, regimen.dose.absolute_unit)
    return f"the patient's dose ({regimen.dose.unit})"


__all__ = ["WINDOW_COLUMNS", "prn_request_dosages", "prn_windows"]
