"""dosing: clinical dosing protocols to dose tables, worklists, calendars and adherence checks.

The public API (each command line command calls the function of the same name)::

    protocol = dosing.load_protocol("protocols/nct02467504.toml")
    cohort = dosing.load_cohort("protocols/nct02467504-cohort.csv", protocol)
    doses = dosing.expand(protocol, cohort)          # pandas DataFrame, one row per planned dose
    dosing.generate(protocol, cohort, "output")      # files on disk
    visits = dosing.plan_visits(protocol, cohort)    # one row per clinic visit
    changes = dosing.load_changes("protocols/nct02467504-changes.csv", protocol, cohort)
    doses = dosing.apply_changes(doses, changes)     # delays, holds, stops, dose changes, withdrawals
    dosing.rotate_feed(protocol, cohort, "RA-001", "output")  # a new feed URL for one patient
    dosing.diary(protocol, cohort, "output")          # each patient's printable diary (PDF)
    result = dosing.check_adherence(protocol, cohort, "worklist.csv")  # tables of what was given
    print(dosing.status("output/nct02467504").summary())  # what made the outputs, what changed since
    dosing.export_sdtm(protocol, cohort, "output", log="worklist.csv")  # CDISC SDTM datasets
    dosing.export_fhir(protocol, cohort, "output")   # FHIR R4 JSON in output/nct02467504/fhir/
    dosing.export_redcap(protocol, cohort, "output") # REDCap dictionary and import in .../redcap/
    dosing.worklist(protocol, cohort, "output", site="PKUPH")  # the nurses' sheets, CSV and PDF
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import DosingError

if TYPE_CHECKING:  # the names for type checkers; at run time __getattr__ imports each on first use
    from .adherence.check import AdherenceResult
    from .io.read.changes import load_changes
    from .io.read.files import load_cohort, load_protocol
    from .jobs.adherence import adherence as write_adherence
    from .jobs.adherence import check_adherence
    from .jobs.diary import DiaryResult, diary
    from .jobs.export_fhir import export_fhir
    from .jobs.export_redcap import export_redcap
    from .jobs.export_sdtm import SdtmResult, export_sdtm
    from .jobs.generate import GenerateResult, generate
    from .jobs.show import show
    from .jobs.status import status
    from .jobs.validate import validate
    from .jobs.worklist import WorklistResult, worklist
    from .plan.apply_changes import apply_changes
    from .plan.changes import Changes
    from .plan.cohort import Cohort
    from .plan.expand import expand
    from .plan.visits import plan_visits
    from .protocol.model import Protocol
    from .serve.feeds import rotate_feed

__all__ = [
    "AdherenceResult",
    "Changes",
    "Cohort",
    "DiaryResult",
    "DosingError",
    "GenerateResult",
    "Protocol",
    "SdtmResult",
    "WorklistResult",
    "apply_changes",
    "check_adherence",
    "diary",
    "expand",
    "export_fhir",
    "export_redcap",
    "export_sdtm",
    "generate",
    "load_changes",
    "load_cohort",
    "load_protocol",
    "plan_visits",
    "rotate_feed",
    "show",
    "status",
    "validate",
    "worklist",
    "write_adherence",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """The public API, imported on first use: ``import dosing`` (and so ``dosing --help``) loads
    neither pandas nor pydantic, icalendar or matplotlib until a function that needs them is used."""
    found = _public(name)
    if name not in found:
        raise AttributeError(f"module 'dosing' has no attribute {name!r}")
    globals().update(found)
    return found[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _public(name: str) -> dict[str, object]:
    """The public names of the module that defines ``name`` (empty if none does)."""
    if name in ("AdherenceResult",):
        from .adherence.check import AdherenceResult

        return {"AdherenceResult": AdherenceResult}
    if name in ("load_changes",):
        from .io.read.changes import load_changes

        return {"load_changes": load_changes}
    if name in ("load_cohort", "load_protocol"):
        from .io.read.files import load_cohort, load_protocol

        return {"load_cohort": load_cohort, "load_protocol": load_protocol}
    if name in ("check_adherence", "write_adherence"):
        from .jobs.adherence import adherence, check_adherence

        return {"check_adherence": check_adherence, "write_adherence": adherence}
    if name in ("GenerateResult", "generate"):
        from .jobs.generate import GenerateResult, generate

        return {"GenerateResult": GenerateResult, "generate": generate}
    return _public_plan(name) or _public_other(name)


def _public_other(name: str) -> dict[str, object]:
    return _public_outputs(name) or _public_rest(name)


def _public_outputs(name: str) -> dict[str, object]:
    """The printable outputs and the exports."""
    if name in ("DiaryResult", "diary"):
        from .jobs.diary import DiaryResult, diary

        return {"DiaryResult": DiaryResult, "diary": diary}
    if name in ("WorklistResult", "worklist"):
        from .jobs.worklist import WorklistResult, worklist

        return {"WorklistResult": WorklistResult, "worklist": worklist}
    if name in ("SdtmResult", "export_sdtm"):
        from .jobs.export_sdtm import SdtmResult, export_sdtm

        return {"SdtmResult": SdtmResult, "export_sdtm": export_sdtm}
    if name == "export_fhir":
        from .jobs.export_fhir import export_fhir

        return {"export_fhir": export_fhir}
    if name == "export_redcap":
        from .jobs.export_redcap import export_redcap

        return {"export_redcap": export_redcap}
    return {}


def _public_rest(name: str) -> dict[str, object]:
    if name == "show":
        from .jobs.show import show

        return {"show": show}
    if name == "status":
        from .jobs.status import status

        return {"status": status}
    if name == "validate":
        from .jobs.validate import validate

        return {"validate": validate}
    if name == "rotate_feed":
        from .serve.feeds import rotate_feed

        return {"rotate_feed": rotate_feed}
    if name == "Protocol":
        from .protocol.model import Protocol

        return {"Protocol": Protocol}
    return {}


def _public_plan(name: str) -> dict[str, object]:
    if name == "apply_changes":
        from .plan.apply_changes import apply_changes

        return {"apply_changes": apply_changes}
    if name == "Changes":
        from .plan.changes import Changes

        return {"Changes": Changes}
    if name == "Cohort":
        from .plan.cohort import Cohort

        return {"Cohort": Cohort}
    if name == "expand":
        from .plan.expand import expand

        return {"expand": expand}
    if name == "plan_visits":
        from .plan.visits import plan_visits

        return {"plan_visits": plan_visits}
    return {}
