"""Read a per-patient changes file (CSV) into validated :class:`~dosing.plan.changes.Changes`."""

from __future__ import annotations

from pathlib import Path

from ...errors import ChangesError
from ...plan.changes import Changes, changes_from_rows
from ...plan.cohort import Cohort
from ...protocol.model import Protocol
from .files import MAX_PATIENTS, read_rows


def load_changes(path: str | Path, protocol: Protocol, cohort: Cohort, *, unblinded: bool = False) -> Changes:
    """Read and validate a changes file against the protocol and cohort (ChangesError names the line;
    its messages show only what blinded users see unless ``unblinded``)."""
    header, rows = read_rows(path, ChangesError, MAX_PATIENTS)
    return changes_from_rows(header, rows, protocol, cohort, source=str(path), unblinded=unblinded)
