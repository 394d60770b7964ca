"""Administration log x plan -> judgements (pure): matching what was given to what was planned, the
rules, extra administrations, the measures, and what blinded readers may see of them."""

from .check import AdherenceResult, judge_adherence
from .log import AdministrationLog

__all__ = ["AdherenceResult", "AdministrationLog", "judge_adherence"]
