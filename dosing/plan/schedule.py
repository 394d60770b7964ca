"""Pure schedule arithmetic: a regimen's schedule becomes a patients x study-days mask.

Conventions (tested, and stated in docs/protocol-format.md):

* Study day 1 is the patient's first day; day ``d`` is ``start_date + (d - 1)`` days.
* ``start_day`` and ``end_day`` are inclusive. ``for = "14 days"`` is half-open: from
  ``start_day`` for 14 days means days ``start_day`` .. ``start_day + 13``, so "every 2 days
  for 14 days from day 1" is days 1, 3, ..., 13 (7 doses) and the next block starts on day 15.
* In a cyclic schedule cycle day 1 is the cycle's first day; the pattern inside a cycle
  (``every``, ``cycle_days``) counts from that day, and ``for``/``on`` limit it to the first
  days of the cycle.
* In a phased schedule cycles are numbered on across phases: after a phase of 2 cycles the
  next phase's first cycle is cycle 3 (``cycle_day`` still counts from each cycle's first day).
* Nothing is scheduled after ``study.last_day``; ``cycles = "until stopped"`` repeats cycles up to it
  (a stop or withdrawal in the changes file ends them).

Everything here is vectorised with numpy over all patients at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..protocol.model import Protocol, Schedule


@dataclass(frozen=True)
class Patients:
    """What schedule arithmetic needs to know of the cohort, as aligned arrays."""

    start_weekday: np.ndarray  # (n,) int, 0 = Monday, weekday of study day 1
    weekday_values: dict[str, np.ndarray]  # cohort weekday columns, (n,) int
    last_day: int

    @classmethod
    def of(cls, protocol: Protocol, frame: pd.DataFrame) -> Patients:
        """The cohort's patients (``Cohort.patients``) as schedule arithmetic sees them."""
        return cls(
            start_weekday=frame["start_date"].dt.day_of_week.to_numpy(),
            weekday_values={
                name: frame[name].fillna(-1).to_numpy(dtype=np.int64)  # -1: blank, never a weekday
                for name, spec in protocol.patient_values.items()
                if spec.type == "weekday"
            },
            last_day=protocol.study.last_day,
        )

    @property
    def n(self) -> int:
        return len(self.start_weekday)

    @property
    def days(self) -> np.ndarray:
        """Study days 1..last_day as a (1, D) row."""
        return np.arange(1, self.last_day + 1)[None, :]


@dataclass(frozen=True)
class DayPlan:
    """Which study days carry doses, per patient, and their cycle numbering (0 = no cycle)."""

    mask: np.ndarray  # (n or 1, D) bool
    cycle: np.ndarray  # (n or 1, D) int16, 0 where the day is in no cycle
    cycle_day: np.ndarray  # (n or 1, D) int16


def day_plan(schedule: Schedule, patients: Patients, others: dict[str, np.ndarray]) -> DayPlan:
    """The dosing days of one schedule; ``others`` holds the masks of regimens it refers to."""
    if schedule.phases is None:
        return _single(schedule, schedule.start_day, patients, others)
    plans = []
    start, cycles_before = schedule.start_day, 0
    for index, phase in enumerate(schedule.phases):
        plans.append(_numbered_from(_single(phase, start, patients, others), cycles_before))
        cycles_before += phase.cycle_count(patients.last_day, start) or 0
        if index < len(schedule.phases) - 1:  # the last phase may run open-ended to the study's end
            start += _length(phase)
    mask = np.logical_or.reduce(np.broadcast_arrays(*[p.mask for p in plans]))
    cycle = np.maximum.reduce(np.broadcast_arrays(*[p.cycle for p in plans]))
    cycle_day = np.maximum.reduce(np.broadcast_arrays(*[p.cycle_day for p in plans]))
    return DayPlan(mask, cycle, cycle_day)


def _numbered_from(plan: DayPlan, cycles_before: int) -> DayPlan:
    """A phase's plan with its cycles numbered on from the cycles of the phases before it."""
    if not cycles_before:
        return plan
    cycle = np.where(plan.cycle > 0, plan.cycle + cycles_before, 0).astype(np.int16)
    return DayPlan(plan.mask, cycle, plan.cycle_day)


def _length(phase: Schedule) -> int:
    if isinstance(phase.cycles, int):  # only the last phase may repeat "until stopped"
        assert phase.cycle_period is not None
        return phase.cycles * phase.cycle_period
    assert phase.for_ is not None
    return phase.for_


def window(schedule: Schedule, start: int, last_day: int) -> tuple[int, int]:
    """The half-open range of study days ``[first, stop)`` a schedule may use."""
    stop = last_day + 1
    if schedule.end_day is not None:
        stop = min(stop, schedule.end_day + 1)
    if isinstance(schedule.cycles, int):  # "until stopped": to the study's last day
        assert schedule.cycle_period is not None
        stop = min(stop, start + schedule.cycles * schedule.cycle_period)
    elif schedule.for_ is not None:
        stop = min(stop, start + schedule.for_)
    return start, stop


def _single(s: Schedule, start: int, patients: Patients, others: dict[str, np.ndarray]) -> DayPlan:
    days = patients.days
    first, stop = window(s, start, patients.last_day)
    offset = days - first
    inside = (days >= first) & (days < stop)
    period = s.cycle_period if s.cycles is not None else None
    position = offset % period if period else offset
    mask = inside & _pattern(s, position, patients, others)
    if period and s.active_days is not None:
        mask &= position < s.active_days
    for other in s.except_days_of or []:
        mask = mask & ~others[other]
    zeros = np.zeros_like(mask, dtype=np.int16)
    if not period:
        return DayPlan(mask, zeros, zeros)
    cycle = np.where(mask, offset // period + 1, 0).astype(np.int16)
    cycle_day = np.where(mask, position + 1, 0).astype(np.int16)
    return DayPlan(mask, cycle, cycle_day)


def _pattern(s: Schedule, position: np.ndarray, patients: Patients, others: dict[str, np.ndarray]) -> np.ndarray:
    if s.every_days is not None:
        return position % s.every_days == 0
    if s.weekdays is not None:
        return np.isin(_weekday(patients), s.weekdays)
    if s.weekday_from is not None:
        return _weekday(patients) == patients.weekday_values[s.weekday_from][:, None]
    if s.cycle_days is not None:
        return np.isin(position + 1, s.cycle_days)
    if s.after is not None:
        return _shift(others[s.after], s.after_days)
    if s.relative_to is not None:
        return np.zeros_like(position, dtype=bool)  # its doses follow the other regimen's (plan/relative.py)
    return np.ones_like(position, dtype=bool)  # daily, "on" days, or the days of an interval in hours


def _weekday(patients: Patients) -> np.ndarray:
    """(n, D) weekday (0 = Monday) of every study day of every patient."""
    return (patients.start_weekday[:, None] + patients.days - 1) % 7


def _shift(mask: np.ndarray, days: int) -> np.ndarray:
    if days == 0:
        return mask.copy()
    shifted = np.zeros_like(mask)
    shifted[:, days:] = mask[:, :-days]
    return shifted
