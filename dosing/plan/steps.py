"""Amounts that change within a regimen (``steps``, ``titrate``), vectorised over doses; and the
per-patient conversion of an amount in the regimen's dose unit into the dose a patient receives.

Two stages, kept apart on purpose:

1. :func:`planned_amounts`: per dose, the amount *in the regimen's dose unit* (``mg``, or ``mg/kg``
   for a per-size dose) from the step covering the dose's study day or cycle, or from the titration
   period it falls in. Pure numpy over all doses.
2. the per-patient conversion of those amounts into the doses patients receive is
   :func:`dosing.protocol.formulas.absolute_doses` (per size or by formula, capped and rounded), called
   once per distinct (patient, amount) by :mod:`dosing.plan.expand`.

Titrations count periods from each patient's first dose of the regimen: with ``every = "2 weeks"``
the first two weeks (from that day) give ``start``, the next two ``start + by``, and so on, holding at
``up_to`` (or ``down_to``) once it is reached.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..errors import ProtocolError
from ..protocol.dose_steps import Titrate
from ..protocol.model import Protocol, Regimen
from ..protocol.units import exact


def varies(regimen: Regimen) -> bool:
    return regimen.steps is not None or regimen.titrate is not None


def planned_amounts(
    regimen: Regimen, patient: np.ndarray, day: np.ndarray, cycle: np.ndarray
) -> npt.NDArray[np.float64] | None:
    """Per dose (aligned arrays: patient index, study day, cycle number or 0; rows ordered by patient
    and day), the amount in the regimen's dose unit; NaN where no step covers the dose. None when the
    regimen's amount does not vary (no steps, no titrate)."""
    if regimen.steps is not None:
        by_cycles = regimen.steps[0].cycles is not None
        return _step_table(regimen, int(max(day.max(initial=0), cycle.max(initial=0))))[cycle if by_cycles else day]
    if regimen.titrate is not None:
        first = day[np.searchsorted(patient, patient, side="left")] if len(day) else day
        return titrated(regimen.titrate, day - first)
    return None


def _step_table(regimen: Regimen, highest: int) -> npt.NDArray[np.float64]:
    """Amount by day (or cycle) number 0..highest (NaN where no step covers it)."""
    assert regimen.steps is not None
    table = np.full(highest + 1, np.nan)
    for step in regimen.steps:
        low, high = step.span
        table[low : high + 1] = step.amount
    return table


def titrated(titrate: Titrate, days_since_first: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The titrated amount after ``days_since_first`` days (0 on the first dose day), exact in decimal:
    ``start + by * period``, held at the bound."""
    period = np.asarray(days_since_first) // titrate.every
    highest = int(period.max(initial=0))
    start, by, bound = exact(titrate.start), exact(titrate.by), exact(titrate.bound)
    rising = titrate.by > 0
    table = np.array(
        [float(min(start + by * k, bound) if rising else max(start + by * k, bound)) for k in range(highest + 1)]
    )
    return table[period]


def check_covered(
    protocol: Protocol, regimen: Regimen, amounts: np.ndarray, day: np.ndarray, cycle: np.ndarray
) -> None:
    """Every scheduled dose falls in a step (the expanded schedule's check, on each dose's amount, NaN
    where no step covers it; the simulated cohort's is :func:`uncovered`)."""
    if regimen.steps is None:
        return
    missing = np.flatnonzero(np.isnan(amounts))
    if len(missing):
        raise_uncovered(protocol, regimen, int(day[missing[0]]), int(cycle[missing[0]]), "")


def uncovered(regimen: Regimen, mask: np.ndarray, cycle: np.ndarray) -> tuple[int, int] | None:
    """(patient, study day index) of the first dosing day (patients x days ``mask``) in no step. Not
    for a schedule with ``count`` (the mask does not know which doses it keeps: expansion checks)."""
    if regimen.steps is None or regimen.schedule.count is not None:
        return None
    mask, cycle = _after_first_dose(regimen, mask, np.broadcast_to(cycle, mask.shape))
    by_cycles = regimen.steps[0].cycles is not None
    days = np.broadcast_to(np.arange(1, mask.shape[1] + 1)[None, :], mask.shape)
    numbers = np.broadcast_to(cycle, mask.shape) if by_cycles else days
    table = _step_table(regimen, int(numbers.max(initial=0)))
    holes = mask & np.isnan(table[numbers])
    if not holes.any():
        return None
    patient, index = np.unravel_index(int(np.argmax(holes)), holes.shape)
    return int(patient), int(index)


def _after_first_dose(regimen: Regimen, mask: np.ndarray, cycle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """With ``first_dose`` after the first time of day, the last doses of each dosing day move to the
    next day (keeping their cycle, see :mod:`dosing.plan.expand`): the days that may carry a dose are
    the dosing days and the days after them."""
    times = regimen.times
    if regimen.first_dose is None or not times or regimen.first_dose == times[0]:
        return mask, cycle
    later = np.zeros_like(mask)
    later[:, 1:] = mask[:, :-1]
    carried = np.zeros_like(cycle)
    carried[:, 1:] = cycle[:, :-1]
    return mask | later, np.where(mask, cycle, carried)


def raise_uncovered(protocol: Protocol, regimen: Regimen, day: int, cycle: int, who: str) -> None:
    assert regimen.steps is not None
    index = protocol.regimen_ids.index(regimen.id)
    by_cycles = regimen.steps[0].cycles is not None
    what = f"study day {day} (cycle {cycle})" if by_cycles else f"study day {day}"
    listed = ", ".join(step.describe() for step in regimen.steps)
    raise ProtocolError(
        f"a dose of {regimen.id!r} is scheduled on {what}{who}, which no step covers (steps: {listed})",
        source=protocol.source,
        where=f"regimens[{index}] (id {regimen.id!r}).steps",
        hint=f"give every scheduled {'cycle' if by_cycles else 'day'} a step, or end the schedule where the steps end",
    )


def daily_amounts(regimen: Regimen, mask: np.ndarray, cycle: np.ndarray) -> npt.NDArray[np.float64]:
    """Patients x days: the amount (dose unit) of each dose on each dosing day, 0 elsewhere (for the
    maximum-daily-dose check of the simulated cohort)."""
    shape = mask.shape
    patient, index = np.nonzero(mask)
    numbers = np.broadcast_to(cycle, shape)[patient, index]
    amounts = planned_amounts(regimen, patient, index + 1, numbers.astype(np.int64))
    out = np.zeros(shape)
    if amounts is not None:
        out[patient, index] = np.nan_to_num(amounts)
    return out
