"""What a protocol may say (pure): the pydantic model, its field values and units, the checks across
fields, safety limits and messages. Imports nothing of dosing but :mod:`dosing.errors`."""

from .model import (
    AdherenceBand,
    AdherenceRule,
    Arm,
    ClinicPolicy,
    DailyLimit,
    Dose,
    PatientValue,
    Protocol,
    Regimen,
    Schedule,
    Study,
    Visit,
    VisitWindow,
)

__all__ = [
    "AdherenceBand",
    "AdherenceRule",
    "Arm",
    "ClinicPolicy",
    "DailyLimit",
    "Dose",
    "PatientValue",
    "Protocol",
    "Regimen",
    "Schedule",
    "Study",
    "Visit",
    "VisitWindow",
]
