"""dosing: clinical dosing protocols to dose tables, worklists, calendars and adherence checks.

The public API (each command line command calls the function of the same name)::

    protocol = dosing.load_protocol("protocols/nct02467504.toml")
    cohort = dosing.load_cohort("protocols/nct02467504-cohort.csv", protocol)
    doses = dosing.expand(protocol, cohort)          # pandas DataFrame, one row per planned dose
    dosing.generate(protocol, cohort, "output")      # files on disk
    result = dosing.check_adherence(protocol, cohort, "worklist.csv")  # tables of what was given
"""

from .adherence import AdherenceResult, check_adherence
from .adherence import adherence as adherence
from .cohort import Cohort
from .errors import DosingError
from .expand import expand
from .generate import GenerateResult, generate
from .io.readers import load_cohort, load_protocol
from .protocol import Protocol
from .show import show
from .validate import validate

__all__ = [
    "AdherenceResult",
    "Cohort",
    "DosingError",
    "GenerateResult",
    "Protocol",
    "adherence",
    "check_adherence",
    "expand",
    "generate",
    "load_cohort",
    "load_protocol",
    "show",
    "validate",
]
__version__ = "0.1.0"
