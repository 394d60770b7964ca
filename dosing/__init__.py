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

from .adherence.check import AdherenceResult
from .errors import DosingError
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
