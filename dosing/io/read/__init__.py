"""Reading input files: protocol TOML, cohort CSV, changes CSV, administration logs (bounded text reads)."""

from .changes import load_changes
from .files import load_cohort, load_protocol
from .log import read_log

__all__ = ["load_changes", "load_cohort", "load_protocol", "read_log"]
