"""Intervals in hours (``every = "8 hours"``): the doses of a regimen inside its dosing days. Pure.

The schedule's days (``for``, ``rest``, ``cycles``, ``start_day``, ``end_day``, ``except_days_of``)
come from :mod:`dosing.plan.schedule` as for a daily regimen; here each *block* of consecutive
dosing days of one cycle gets its doses. The block's first dose is at the regimen's time on the
block's first day, local to the patient; then

* ``clock = "elapsed"`` (the default): every N real hours (UTC instants ``first + k * N h``), so
  across a daylight-saving change the wall-clock times shift by an hour;
* ``clock = "wall"``: at the same local wall-clock times every day (N divides 24; the same as listing
  the times), read as every wall-clock time is read (:func:`dosing.plan.expand.wall_clock_to_utc`).

A dose belongs to the block when its local date is one of the block's days (``for`` is half-open
from the first day's start). Its study day is its local date - start date + 1. Its uid names the
*planned* slot: the block's first local time plus k * N hours of wall-clock arithmetic, before any
daylight-saving adjustment (as the uid of an 02:30 dose shown at 03:30 names 02:30), so that two
doses of one regimen never share a uid, not even every hour through the repeated hour of a fall-back.

Vectorised over all patients' blocks at once; loops run only over distinct time zones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..protocol.model import Protocol, Regimen

NS_PER_MINUTE = 60_000_000_000
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR
#: ``instant`` of a dose whose UTC instant follows from its local day and time (not fixed in UTC).
NO_INSTANT = np.iinfo(np.int64).min
#: Wall clock (naive ns) -> (UTC ns, local ns) in one zone, as :mod:`dosing.plan.expand` reads it.
ToUtc = Callable[[np.ndarray, str], tuple[np.ndarray, np.ndarray]]


@dataclass
class TimedDoses:
    """Doses as aligned arrays: ``day`` the study day of the local date, ``planned_day`` and
    ``minutes`` the planned slot (named by the uid), ``instant`` UTC ns or :data:`NO_INSTANT`."""

    patient: np.ndarray
    day: np.ndarray
    minutes: np.ndarray
    planned_day: np.ndarray
    instant: np.ndarray
    cycle: np.ndarray
    cycle_day: np.ndarray
    slot: np.ndarray


@dataclass(frozen=True)
class PatientClock:
    """Per patient (aligned with the cohort): start date at midnight (naive ns) and time zone."""

    start: np.ndarray  # (n,) int64
    zone: np.ndarray  # (n,) str


def utc_to_local(utc: np.ndarray, zones: np.ndarray) -> np.ndarray:
    """Local wall-clock (naive ns) of UTC instants (ns), each in its own zone."""
    local = np.empty_like(utc)
    for zone in np.unique(zones):
        pick = zones == zone
        index = pd.DatetimeIndex(utc[pick].astype("datetime64[ns]")).tz_localize("UTC")
        local[pick] = index.tz_convert(str(zone)).tz_localize(None).asi8
    return local


def wall_to_utc(wall: np.ndarray, zones: np.ndarray, to_utc: ToUtc) -> np.ndarray:
    """UTC instants (ns) of local wall-clock times (naive ns), each in its own zone."""
    utc = np.empty_like(wall)
    for zone in np.unique(zones):
        pick = zones == zone
        utc[pick] = to_utc(wall[pick], str(zone))[0]
    return utc


def hourly_doses(
    hours: int,
    clock: str,
    days: tuple[np.ndarray, np.ndarray, np.ndarray],
    first: np.ndarray,
    who: PatientClock,
    to_utc: ToUtc,
) -> TimedDoses:
    """The doses of a regimen given every ``hours`` hours on its dosing days.

    ``days`` is the (n, D) mask of dosing days (already limited to the patients who receive the
    regimen) and its cycle and cycle-day numbers (0: no cycle); ``first`` the first dose's minutes
    after midnight per patient."""
    mask, cycle, cycle_day = days
    patient, index = np.nonzero(mask)
    cycle = np.broadcast_to(cycle, mask.shape)[patient, index].astype(np.int64)
    cycle_day = np.broadcast_to(cycle_day, mask.shape)[patient, index].astype(np.int64)
    day = index + 1
    begins = np.r_[True, (patient[1:] != patient[:-1]) | (day[1:] != day[:-1] + 1) | (cycle[1:] != cycle[:-1])]
    block = np.cumsum(begins) - 1
    starts = np.flatnonzero(begins)
    b_patient, b_first, b_cycle, b_cycle_day = patient[starts], day[starts], cycle[starts], cycle_day[starts]
    b_last = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(b_last, block, day)
    step = hours * NS_PER_HOUR
    span = (b_last - b_first + 1) * NS_PER_DAY - first[b_patient] * NS_PER_MINUTE + 2 * NS_PER_HOUR  # DST slack
    per_block = span // step + 1
    owner = np.repeat(np.arange(len(starts)), per_block)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(per_block) - per_block, per_block)
    p = b_patient[owner]
    first_wall = who.start[p] + (b_first[owner] - 1) * NS_PER_DAY + first[p] * NS_PER_MINUTE
    nominal = first_wall + k * step
    zones = who.zone[p]
    if clock == "wall":
        instant = np.full(len(k), NO_INSTANT, dtype=np.int64)
        local = nominal
    else:
        first_utc = wall_to_utc(
            who.start[b_patient] + (b_first - 1) * NS_PER_DAY + first[b_patient] * NS_PER_MINUTE,
            who.zone[b_patient],
            to_utc,
        )
        instant = first_utc[owner] + k * step
        local = utc_to_local(instant, zones)
    local_day = (local - who.start[p]) // NS_PER_DAY + 1
    keep = (local_day >= b_first[owner]) & (local_day <= b_last[owner])
    planned_day = (nominal - who.start[p]) // NS_PER_DAY + 1
    minutes = (nominal - who.start[p]) % NS_PER_DAY // NS_PER_MINUTE
    cyclic = b_cycle[owner] > 0
    out = TimedDoses(
        p,
        local_day,
        minutes,
        planned_day,
        instant,
        np.where(cyclic, b_cycle[owner], 0),
        np.where(cyclic, b_cycle_day[owner] + local_day - b_first[owner], 0),
        k,
    )
    return _distinct_slots(_pick(out, keep))


def _distinct_slots(doses: TimedDoses) -> TimedDoses:
    """Two blocks back to back across a fall-back night can plan the same slot (a block's last dose
    at 23:30 local is planned at 00:30, the next block's first dose at 00:30): the later one is
    named a minute on, so that no two doses of one regimen share a uid."""
    for _ in range(60):
        key = (doses.patient * 4000 + doses.planned_day) * 1440 + doses.minutes
        order = np.argsort(key, kind="stable")
        twice = np.flatnonzero(key[order][1:] == key[order][:-1]) + 1
        if not len(twice):
            return doses
        later = order[twice]
        total = doses.minutes[later] + 1
        doses.planned_day[later] += total // 1440
        doses.minutes[later] = total % 1440
    return doses


def _pick(doses: TimedDoses, keep: np.ndarray) -> TimedDoses:
    return TimedDoses(**{name: getattr(doses, name)[keep] for name in TimedDoses.__dataclass_fields__})


def most_doses_a_day(protocol: Protocol, regimen: Regimen) -> int:
    """The doses of ``regimen`` on a usual local date, for the checks of a simulated cohort: its
    times, 24 / N rounded up, or a relative regimen's anchor's. (The expanded table is checked date by
    date too: there a 25-hour fall-back date, or an offset bringing two anchor days' doses onto one
    date, counts every dose.)"""
    s = regimen.schedule
    if s.relative_to is not None:
        return most_doses_a_day(protocol, protocol.regimen(s.relative_to))
    hours = max((p.every_hours or 0 for p in s.phases or [s]), default=0)
    if hours:
        return -(-24 // hours)
    return len(regimen.times) if regimen.times is not None else 1
