"""One patient's FHIR R4 ``Bundle`` (type ``collection``): a ``MedicationRequest`` per regimen, a
``MedicationAdministration`` per judged planned dose of a log, and a ``CarePlan`` of the visits.

The patient is named by a study-scoped identifier only (no name, no birth date). The tables given are
already blinded or not (:mod:`dosing.plan.blinding`): a blinded table names the blinded label, keys the
regimen by its arm-independent key and shows a hidden dose as text (then ``doseAndRate`` is left out and
``Dosage.text`` says it). Resource ids are UUIDs derived from the study, patient and regimen key (or dose
uid), so that a second export gives the same ids and two arms of a blinded study the same bytes.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd

from ....protocol.model import Protocol
from ....protocol.units import format_dose
from .as_needed import prn_request_dosages
from .codes import TIMEZONE, dose_quantity, patient_identifier, route_coding
from .timing import Run, runs

_NAMESPACE = uuid.UUID("6f1c8f4e-2b7d-5a59-9d0c-5d1f0c1e9a10")
GIVEN = ("taken", "on_time", "early", "late")
NOT_DONE_REASON = {
    "missed": "missed: no administration was logged for this planned dose",
    "held": "held: the study's changes file holds this dose (not made up)",
}


def urn(*parts: str) -> str:
    """A stable ``urn:uuid:`` from the parts (never random, never the arm)."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join(parts))}"


def patient_bundle(
    protocol: Protocol,
    patient_id: str,
    doses: pd.DataFrame,
    visits: pd.DataFrame,
    judged: pd.DataFrame | None,
    route_of: dict[str, str],
    prn: tuple[pd.DataFrame, str, bool, pd.DataFrame | None] | None = None,
) -> dict:
    """The bundle of one patient: ``doses`` (the dose table's rows of this patient, ``regimen`` the
    key shown), ``visits`` (plan_visits rows), ``judged`` (adherence rows with a ``regimen`` key),
    ``prn``: this patient's as-needed windows (:func:`.as_needed.prn_windows`), zone, whether blinded and
    the log's as-needed doses of this patient (the PRN judgement's table; None without a log)."""
    study = protocol.study.id
    entries = []
    requests: dict[str, str] = {}
    for key, mine in doses.groupby("regimen", observed=True, sort=False):
        full_url = urn(study, patient_id, str(key))
        requests[str(key)] = full_url
        entries.append({"fullUrl": full_url, "resource": _request(protocol, patient_id, mine, route_of[str(key)])})
    if prn is not None and len(prn[0]):
        entries += _prn_requests(protocol, patient_id, *prn)
    if judged is not None:
        entries += _administrations(protocol, patient_id, judged, requests)
    if len(visits):
        entries.append(
            {"fullUrl": urn(study, patient_id, "visits"), "resource": _care_plan(protocol, patient_id, visits)}
        )
    return {"resourceType": "Bundle", "id": _id(urn(study, patient_id)), "type": "collection", "entry": entries}


def _id(full_url: str) -> str:
    return full_url.removeprefix("urn:uuid:")


def _request(protocol: Protocol, patient_id: str, doses: pd.DataFrame, route_regimen: str) -> dict:
    given = doses[~doses["held"].to_numpy(dtype=bool)]
    first = doses.iloc[0]
    route = route_coding(str(first["route"]), protocol, route_regimen)
    zone = str(first["timezone"])
    instructions = [_dosage(i, run, route, str(first["instructions"]), zone) for i, run in enumerate(runs(given), 1)]
    key = str(first["regimen"])
    return {
        "resourceType": "MedicationRequest",
        "id": _id(urn(protocol.study.id, patient_id, key)),
        "identifier": [{"system": f"urn:dosing:{protocol.study.id.lower()}:regimen", "value": key}],
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": str(first["drug"])},
        "subject": patient_identifier(protocol.study.id, patient_id),
        "instantiatesCanonical": [plan_url(protocol)],
        "dosageInstruction": instructions,
    }


def _prn_requests(
    protocol: Protocol, patient_id: str, windows: pd.DataFrame, zone: str, blinded: bool, taken: pd.DataFrame | None
) -> list:
    """A MedicationRequest per as-needed regimen (no planned doses: see :mod:`.as_needed`), and a
    completed MedicationAdministration per logged dose of it."""
    entries = []
    for regimen_id, mine in windows.groupby("regimen", sort=False):
        regimen = protocol.regimen(str(regimen_id))
        hides = blinded and protocol.study.blinded and regimen.blinded_label is not None
        key = regimen.display_key if blinded else regimen.id
        route = route_coding(regimen.route, protocol, regimen.id)
        full_url = urn(protocol.study.id, patient_id, key)
        hidden = hides and regimen.blinded_dose is not None
        resource = {
            "resourceType": "MedicationRequest",
            "id": _id(full_url),
            "identifier": [{"system": f"urn:dosing:{protocol.study.id.lower()}:regimen", "value": key}],
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": str(regimen.blinded_label) if hides else regimen.drug},
            "subject": patient_identifier(protocol.study.id, patient_id),
            "instantiatesCanonical": [plan_url(protocol)],
            "dosageInstruction": prn_request_dosages(protocol, regimen, mine, zone, route, hidden),
        }
        entries.append({"fullUrl": full_url, "resource": resource})
        if taken is not None and len(taken):
            shown = regimen.blinded_label or regimen.drug
            mine_taken = taken[taken["drug"].astype(str) == shown]
            unit = regimen.dose.absolute_unit
            entries += _prn_given(protocol, patient_id, (key, full_url, resource), mine_taken, zone, (hidden, unit))
    return entries


def _prn_given(
    protocol: Protocol,
    patient_id: str,
    request: tuple[str, str, dict],
    taken: pd.DataFrame,
    zone: str,
    dose: tuple[bool, str],
) -> list:
    """A completed MedicationAdministration per logged as-needed dose: the log's time and (unless the
    blinded view hides the dose) amount, in the regimen's unit."""
    key, request_url, resource = request
    hidden, unit = dose
    entries = []
    for row in taken.itertuples(index=False):
        dose_id = f"{patient_id}.{key}.prn-line-{int(str(row.line))}"
        full_url = urn(protocol.study.id, dose_id, "given")
        given: dict = {
            "resourceType": "MedicationAdministration",
            "id": _id(full_url),
            "identifier": [{"system": f"urn:dosing:{protocol.study.id.lower()}:dose", "value": dose_id}],
            "status": "completed",
            "medicationCodeableConcept": resource["medicationCodeableConcept"],
            "subject": patient_identifier(protocol.study.id, patient_id),
            "request": {"reference": request_url},
            "effectiveDateTime": _given_instant(str(row.given_at), zone),
        }
        amount = _amount(row.dose_given)
        if amount is not None and not hidden:
            given["dosage"] = {"dose": dose_quantity(amount, unit)}
        entries.append({"fullUrl": full_url, "resource": given})
    return entries


def plan_url(protocol: Protocol) -> str:
    return f"urn:dosing:{protocol.study.id.lower()}:plandefinition"


def _dosage(sequence: int, run: Run, route: dict, instructions: str, zone: str) -> dict:
    hidden = isinstance(run.dose, str)  # a blinded dose ("1 syringe") has no amount
    dose_text = str(run.dose) if hidden else format_dose(run.dose, run.unit)
    text = f"{dose_text} {route['text']}" + (f", {instructions}" if instructions else "")
    dosage: dict = {
        "sequence": sequence,
        "text": text,
        "timing": {"extension": [{"url": TIMEZONE, "valueCode": zone}], "repeat": run.repeat()},
        "route": route,
    }
    if not hidden:
        dosage["doseAndRate"] = [{"doseQuantity": dose_quantity(float(run.dose), run.unit)}]  # type: ignore[arg-type]
    return dosage


def _administrations(protocol: Protocol, patient_id: str, judged: pd.DataFrame, requests: dict[str, str]) -> list:
    status = judged["status"].astype(str).to_numpy()
    shown = judged[np.isin(status, [*GIVEN, *NOT_DONE_REASON])]
    entries = []
    for row in shown.itertuples(index=False):
        full_url = urn(protocol.study.id, str(row.uid), "given")
        done = str(row.status) in GIVEN
        resource: dict = {
            "resourceType": "MedicationAdministration",
            "id": _id(full_url),
            "identifier": [{"system": f"urn:dosing:{protocol.study.id.lower()}:dose", "value": str(row.uid)}],
            "status": "completed" if done else "not-done",
            "medicationCodeableConcept": {"text": str(row.drug)},
            "subject": patient_identifier(protocol.study.id, patient_id),
            "request": {"reference": requests[str(row.regimen)]},
        }
        minutes = int(getattr(row, "duration_minutes", 0) or 0)
        if done:
            resource |= _effective(_given_instant(str(row.given_at), str(row.timezone)), minutes, str(row.timezone))
            amount = _amount(row.dose_given)
            if amount is not None and not isinstance(row.dose, str):  # a blinded dose text: no amount shown
                resource["dosage"] = {"dose": dose_quantity(amount, str(row.unit))}
        else:
            reason = str(getattr(row, "hold_reason", "") or "")  # the changes file's, written by blinded staff
            text = f"held: {reason}" if str(row.status) == "held" and reason else NOT_DONE_REASON[str(row.status)]
            resource["statusReason"] = [{"text": text}]
            resource |= _effective(
                _planned_instant(str(row.planned_utc), str(row.timezone)), minutes, str(row.timezone)
            )
        entries.append({"fullUrl": full_url, "resource": resource})
    return entries


def _effective(start: str, minutes: int, zone: str) -> dict:
    """``effectiveDateTime``, or for an infusion ``effectivePeriod`` from its start to its start plus its
    duration (a log records starts only; a log giving a date alone says nothing of the end)."""
    if minutes <= 0 or len(start) <= 10:
        return {"effectiveDateTime": start}
    end = (pd.Timestamp(start) + pd.Timedelta(minutes=minutes)).tz_convert(zone)
    return {"effectivePeriod": {"start": start, "end": end.isoformat()}}


def _amount(value: object) -> float | None:
    """The logged amount in the planned dose's unit, None when the log gave none."""
    if value is None or isinstance(value, str):
        return None
    amount = float(value)  # type: ignore[arg-type]
    return None if amount != amount else amount


def _given_instant(text: str, zone: str) -> str:
    """The log's time with the patient's offset (a naive time is local); a date alone stays a date."""
    stamp = pd.Timestamp(text)
    if len(text.strip()) <= 10:
        return stamp.date().isoformat()
    stamp = stamp.tz_localize(zone) if stamp.tzinfo is None else stamp.tz_convert(zone)
    return stamp.isoformat()


def _planned_instant(planned_utc: str, zone: str) -> str:
    return pd.Timestamp(planned_utc).tz_convert(zone).isoformat()


def _care_plan(protocol: Protocol, patient_id: str, visits: pd.DataFrame) -> dict:
    activities = []
    for visit in visits.itertuples(index=False):
        when = f"{visit.scheduled_date}T{visit.time}:00" if str(visit.time) else str(visit.scheduled_date)
        activities.append(
            {
                "detail": {
                    "kind": "Appointment",
                    "code": {"text": str(visit.name)},
                    "status": "scheduled",
                    "scheduledPeriod": {"start": str(visit.window_start), "end": str(visit.window_end)},
                    "description": f"{visit.name}: planned {when} (window {visit.window_start} to {visit.window_end})"
                    + (f"; procedures: {visit.procedures}" if str(visit.procedures) else ""),
                }
            }
        )
    return {
        "resourceType": "CarePlan",
        "id": _id(urn(protocol.study.id, patient_id, "visits")),
        "status": "active",
        "intent": "plan",
        "title": f"{protocol.study.id} visits",
        "subject": patient_identifier(protocol.study.id, patient_id),
        "instantiatesCanonical": [plan_url(protocol)],
        "activity": activities,
    }
