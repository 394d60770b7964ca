"""Dates of the dose anchors of visits, per patient, vectorised. Pure.

* ``"<regimen> cycle <n> day <m>"``: day ``m`` of cycle ``n`` where the changes put it: the cycle's
  planned first day (``start_day + (n - 1) x cycle length``) plus the delays of that cycle and the
  cycles before it, plus ``m - 1`` days. Cycle day ``m`` need not carry a dose (bloods on day 8 of a
  cycle dosed on day 1). A ``stop`` does not cancel it (as for ``"<regimen> cycle <n>"``): record a
  ``reschedule``, or a ``withdraw``, for a visit that will not take place there.
* ``"last dose of <regimen>"``: the date of the patient's last dose of the regimen (or of its blinded
  twin: the patient's own regimen of that blinded group) in the dose table after the changes, not
  counting held doses (a held dose is not given). When every remaining dose is held, the last held
  dose's date stands in for it; a patient with no dose of it left at all (stopped or withdrawn before
  the first) has no such visit, unless a ``reschedule`` row places it.

The visit's ``day`` counts days after the anchor's date (0 = on it, negative = before it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..protocol.model import Protocol
from ..protocol.visit_checks import LastDoseAnchor, blinded_group
from .changes import Changes
from .cohort import Cohort


@dataclass
class AnchorDates:
    """Per patient (cohort order): the anchor's date after the changes (NaT: none), whether the
    changes moved it, and why (for ``moved_reason``)."""

    date: np.ndarray  # datetime64[D]
    moved: np.ndarray  # bool
    reason: np.ndarray  # object


class DoseTables:
    """The dose tables a last-dose anchor reads, made once per :func:`plan_visits` call and only when
    a visit needs them: ``doses`` after the changes, ``planned`` before them."""

    def __init__(
        self,
        protocol: Protocol,
        cohort: Cohort,
        changes: Changes | None,
        doses: pd.DataFrame | None,
        planned: pd.DataFrame | None,
    ) -> None:
        self.protocol, self.cohort, self.changes = protocol, cohort, changes
        self._doses, self._planned = doses, planned

    @property
    def planned(self) -> pd.DataFrame:
        if self._planned is None:
            from .expand import expand

            self._planned = expand(self.protocol, self.cohort)
        return self._planned

    @property
    def doses(self) -> pd.DataFrame:
        if self._doses is None:
            if self.changes is None:
                self._doses = self.planned
            else:
                from .apply_changes import apply_changes

                self._doses = apply_changes(self.planned, self.changes)
        return self._doses


def last_dose_dates(protocol: Protocol, anchor: LastDoseAnchor, frame: pd.DataFrame, tables: DoseTables) -> AnchorDates:
    """Each patient's last dose (not held) of the anchor's blinded group, after and before the changes."""
    group = blinded_group(protocol, anchor.regimen)
    pids = frame["patient_id"].astype(str)
    after = _last_date(tables.doses, group, pids, given=True)
    held_only = _last_date(tables.doses, group, pids, given=False)
    after = np.where(np.isnat(after), held_only, after)
    before = _last_date(tables.planned, group, pids, given=True) if tables.changes is not None else after
    moved = ~np.isnat(after) & (after != before)
    regimen = protocol.regimen(anchor.regimen)
    label = regimen.blinded_label or regimen.drug
    text = pd.Series(np.datetime_as_string(after, unit="D"), dtype=object)
    reason = np.where(moved, (f"follows the last dose of {label} (" + text + ")").to_numpy(), "").astype(object)
    return AnchorDates(after, moved, reason)


def _last_date(doses: pd.DataFrame, group: list[str], pids: pd.Series, *, given: bool) -> np.ndarray:
    """The latest ``date`` of each patient's doses of ``group`` (not held when ``given``; any otherwise)."""
    mine = doses["regimen"].astype(str).isin(group).to_numpy(dtype=bool).copy()
    if given:
        mine &= ~doses["held"].to_numpy(dtype=bool)
    picked = doses[mine]
    last = picked["date"].astype(str).groupby(picked["patient_id"].astype(str)).max()
    return pd.to_datetime(pids.map(last)).to_numpy().astype("datetime64[D]")


def change_rows_of(changes: Changes, protocol: Protocol, regimen_id: str) -> pd.DataFrame:
    """Change rows that can move a dose anchor of ``regimen_id``: the delays, holds and stops of its
    blinded group, and withdrawals."""
    rows = changes.rows
    group = blinded_group(protocol, regimen_id)
    kinds = rows["change"].isin(["delay", "hold", "stop"]) & rows["regimen"].isin(group)
    return rows[(kinds | (rows["change"] == "withdraw")).to_numpy(dtype=bool)]
