"""The codes a FHIR export uses: SNOMED CT routes, UCUM units, FHIR weekday codes, the URLs of the
extensions, and one identifier system per study (patients are named by identifier only).

A route the table does not know is an error naming the regimen's ``route`` field, never a free-text
guess: a receiving hospital system files the dose under the code it is given.
"""

from __future__ import annotations

from ....errors import ProtocolError
from ....protocol.model import Protocol
from ....protocol.units import lookup

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
DAYS_OF_CYCLE = "http://hl7.org/fhir/StructureDefinition/timing-daysOfCycle"
TIMEZONE = "http://hl7.org/fhir/StructureDefinition/timezone"
PLAN_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
#: FHIR's dayOfWeek codes, Monday first (the index is Python's weekday()).
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: SNOMED CT route of administration codes (the FHIR R4 "SNOMED CT Route Codes" value set).
_ROUTES = {
    "subcutaneous": ("34206005", "Subcutaneous route"),
    "oral": ("26643006", "Oral route"),
    "intravenous": ("47625008", "Intravenous route"),
    "intramuscular": ("78421000", "Intramuscular route"),
}
_ROUTE_SPELLINGS = {
    "subcutaneous": "subcutaneous",
    "s.c.": "subcutaneous",
    "sc": "subcutaneous",
    "oral": "oral",
    "po": "oral",
    "p.o.": "oral",
    "by mouth": "oral",
    "intravenous": "intravenous",
    "i.v.": "intravenous",
    "iv": "intravenous",
    "intramuscular": "intramuscular",
    "i.m.": "intramuscular",
    "im": "intramuscular",
}


def route_coding(route: str, protocol: Protocol, regimen_id: str) -> dict:
    """``{"coding": [SNOMED CT], "text": route}`` for a protocol's route, or a :class:`ProtocolError`."""
    key = _ROUTE_SPELLINGS.get(route.strip().lower())
    if key is None:
        index = protocol.regimen_ids.index(regimen_id)
        raise ProtocolError(
            f"route {route!r} has no SNOMED CT code in the FHIR export (known: {', '.join(sorted(_ROUTES))})",
            source=protocol.source,
            where=f"regimens[{index}].route",
            hint='write the route as "subcutaneous", "oral", "intravenous" or "intramuscular"',
        )
    code, display = _ROUTES[key]
    return {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": key}


def dose_quantity(amount: float, unit: str) -> dict:
    """A UCUM quantity (a count unit such as "tablet" has no UCUM code: unit text only)."""
    value: float | int = int(amount) if float(amount).is_integer() else float(amount)
    quantity: dict = {"value": value, "unit": unit}
    ucum = lookup(unit).ucum
    if ucum is not None:
        quantity |= {"system": UCUM, "code": ucum}
    return quantity


def patient_identifier(study_id: str, patient_id: str) -> dict:
    """The patient as a logical reference: study-scoped identifier, no name, no birth date."""
    return {"identifier": {"system": f"urn:dosing:{study_id.lower()}:patient", "value": patient_id}}
