"""Changes to doses fixed in elapsed time (intervals in hours, relative timing). Pure.

:mod:`dosing.plan.apply_changes` moves a delayed dose to its planned wall-clock time on its new day.
Two kinds of doses are timed otherwise, and are re-timed here after the other changes:

* a delayed cycle of an interval in hours on the elapsed clock starts again at its first dose's local
  time on its new first day, and its doses stay exactly N hours apart from there (as if expanded there);
* a dose scheduled relative to another regimen (``relative_to``) follows its anchor dose: at the
  anchor's (possibly moved) instant + offset, held when the anchor is held, removed when the anchor
  is stopped or withdrawn; its SEQUENCE rises with the anchor's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..protocol.checks import dependency_order
from ..protocol.values import WEEKDAYS
from .expand import wall_clock_to_utc
from .hourly import NS_PER_DAY, NS_PER_MINUTE, utc_to_local, wall_to_utc
from .relative import anchor_links, anchors_of

if TYPE_CHECKING:
    from ..protocol.model import Protocol


@dataclass(frozen=True)
class Timed:
    """What the re-timing needs of the rows before any change (positions within the changed rows)."""

    protocol: Protocol
    utc: np.ndarray  # planned instants (ns) before changes
    day: np.ndarray  # local dates (days since 1970) before changes
    link: np.ndarray  # each relative dose's anchor row, -1 for others
    sequence: np.ndarray  # SEQUENCE before changes


def timed_before(sub: pd.DataFrame, protocol: Protocol | None) -> Timed | None:
    """The rows' timing before changes; None when no regimen is fixed in elapsed time."""
    if protocol is None or not any(_elapsed(r) or r.schedule.relative_to for r in protocol.regimens):
        return None
    utc = sub["planned_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64).copy()
    day = pd.to_datetime(sub["date"].astype(str)).to_numpy().astype("datetime64[D]").astype(np.int64)
    link = anchor_links(sub, anchors_of(protocol))
    return Timed(protocol, utc, day, link, sub["sequence"].to_numpy(dtype=np.int64).copy())


def _elapsed(regimen: Any) -> bool:
    return bool(regimen.hourly) and (regimen.schedule.clock or "elapsed") == "elapsed"


def retime(sub: pd.DataFrame, work: Any, timed: Timed | None) -> None:
    """After delays: re-time, in place, the elapsed-clock doses a delay moved and every relative
    dose (at its anchor's instant + offset). ``work`` is apply_changes' ``_Work``."""
    if timed is None:
        return
    utc = sub["planned_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64).copy()
    regimen = work.regimen
    elapsed = np.isin(regimen, [r.id for r in timed.protocol.regimens if _elapsed(r)]) & (work.shift != 0)
    utc[elapsed] = _delayed_cycles(sub, work, timed, np.flatnonzero(elapsed))
    retimed = elapsed.copy()
    for mine, of, offset in _relative_rows(work, timed):
        utc[mine] = utc[of] + offset
        retimed[mine] = True
    _set_instants(sub, work, timed, utc, retimed)


def _delayed_cycles(sub: pd.DataFrame, work: Any, timed: Timed, rows: np.ndarray) -> np.ndarray:
    """New instants of delayed elapsed-clock doses: each cycle's first dose at its local time on the
    new day, the others at their planned distance (in real hours) from it."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    old = timed.utc[rows]
    codes = pd.factorize(pd.MultiIndex.from_arrays([work.patient[rows], work.regimen[rows], work.cycle[rows]]))[0]
    order = np.lexsort((old, codes))
    heads = order[np.r_[True, codes[order][1:] != codes[order][:-1]]]  # the first dose of each cycle
    zones = sub["timezone"].astype(str).to_numpy()[rows]
    first_wall = utc_to_local(old[heads], zones[heads]) + work.shift[rows][heads] * NS_PER_DAY
    first = np.empty(len(heads), dtype=np.int64)
    first[codes[heads]] = wall_to_utc(first_wall, zones[heads], wall_clock_to_utc)
    old_first = np.empty(len(heads), dtype=np.int64)
    old_first[codes[heads]] = old[heads]
    return first[codes] + (old - old_first[codes])


def _relative_rows(work: Any, timed: Timed) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Per relative regimen (anchors first): its rows, their anchor rows and the offset (ns)."""
    anchors = anchors_of(timed.protocol)
    out = []
    for rid in dependency_order(timed.protocol):  # an anchor before the doses that follow it
        if rid in anchors:
            mine = np.flatnonzero((work.regimen == rid) & (timed.link >= 0))
            out.append((mine, timed.link[mine], anchors[rid][1]))
    return out


def follow(work: Any, timed: Timed | None) -> None:
    """After holds, stops and withdrawals: a relative dose is held with its anchor dose, removed with
    it, and its SEQUENCE (and change date) rises with the anchor's."""
    if timed is None:
        return
    for mine, of, _offset in _relative_rows(work, timed):
        work.keep[mine] &= work.keep[of]
        work.held[mine] |= work.held[of]
        rises = work.sequence[of] - timed.sequence[of]
        work.sequence[mine] = np.maximum(work.sequence[mine], timed.sequence[mine] + rises)
        stamp = work.stamp[of]
        later = ~np.isnat(stamp) & (np.isnat(work.stamp[mine]) | (stamp > work.stamp[mine]))
        work.stamp[mine] = np.where(later, stamp, work.stamp[mine])


def _set_instants(sub: pd.DataFrame, work: Any, timed: Timed, utc: np.ndarray, pick: np.ndarray) -> None:
    """Rows ``pick`` at the instants ``utc``: planned_at, local date, time, weekday and study day."""
    if not pick.any():
        return
    local = utc_to_local(utc[pick], sub["timezone"].astype(str).to_numpy()[pick])
    local_day = local // NS_PER_DAY
    sub["planned_at"] = pd.DatetimeIndex(utc.astype("datetime64[ns]")).tz_localize("UTC")
    work.dates = work.dates.astype(object)
    work.dates[pick] = np.datetime_as_string(local_day.astype("datetime64[D]"), unit="D")
    work.time = work.time.astype(object)
    minutes = (local % NS_PER_DAY) // NS_PER_MINUTE
    work.time[pick] = np.array([f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)], dtype=object)[minutes]
    weekday = sub["weekday"].astype(str).to_numpy().astype(object)
    weekday[pick] = np.array(WEEKDAYS, dtype=object)[(local_day + 3) % 7]
    sub["weekday"] = pd.Categorical(weekday, categories=list(WEEKDAYS))
    study_day = sub["study_day"].to_numpy().copy()
    before = study_day[pick] - work.shift[pick]  # _move added the shift to every delayed row
    study_day[pick] = before + (local_day - timed.day[pick])
    sub["study_day"] = study_day.astype(sub["study_day"].to_numpy().dtype)
