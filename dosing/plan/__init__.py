"""Protocol x cohort -> planned doses and visits (pure): the cohort, the schedule arithmetic, the dose
table, clinic days, changes and how they apply, blinding, the simulated cohort a protocol is checked with."""

from .changes import Changes
from .cohort import Cohort
from .load import protocol_from_dict
from .visits import plan_visits

__all__ = ["Changes", "Cohort", "plan_visits", "protocol_from_dict"]
