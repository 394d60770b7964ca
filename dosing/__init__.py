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
    result = dosing.check_adherence(protocol, cohort, "worklist.csv")  # tables of what was given
    print(dosing.status("output/nct02467504").summary())  # what made the outputs, what changed since
"""

from .adherence import AdherenceResult, check_adherence
from .changes import Changes
from .changes_apply import apply_changes
from .cohort import Cohort
from .errors import DosingError
from .expand import expand
from .feeds import rotate_feed
from .generate import GenerateResult, generate
from .io.adherence_out import adherence as adherence
from .io.changes_file import load_changes
from .io.readers import load_cohort, load_protocol
from .io.study_status import status
from .protocol import Protocol
from .show import show
from .validate import validate
from .visits import plan_visits

__all__ = [
    "AdherenceResult",
    "Changes",
    "Cohort",
    "DosingError",
    "GenerateResult",
    "Protocol",
    "adherence",
    "apply_changes",
    "check_adherence",
    "expand",
    "generate",
    "load_changes",
    "load_cohort",
    "load_protocol",
    "plan_visits",
    "rotate_feed",
    "show",
    "status",
    "validate",
]
__version__ = "0.1.0"
