"""HL7 FHIR R4 JSON: the protocol as a PlanDefinition, each patient as a Bundle (see the modules)."""

from .as_needed import prn_windows
from .bundle import patient_bundle
from .plan_definition import plan_definition

__all__ = ["patient_bundle", "plan_definition", "prn_windows"]
