"""Checks on a synthetic cohort, before any real cohort exists.

``dosing validate PROTOCOL`` has no patients yet, but the dangers it must catch depend on
them: on which weekday a patient starts and which weekday values they bring. So every
regimen is expanded for one synthetic patient per combination of first weekday (7) and value
of up to two weekday columns (7 each), with the largest dose each per-patient value allows:

* all methotrexate regimens together must never give two doses less than 7 days apart
  (phase changes, cycle ends and a second methotrexate regimen included);
* no arm may give more of a drug in one day than its maximum daily dose;
* no infusion (a regimen with ``duration``) lasts past the regimen's next dose
  (:func:`dosing.plan.durations.check_infusion_intervals`).

(Two regimens of one drug on the same day are checked on real schedules only: property tests
build such protocols on purpose and expand them directly.)

The same rules are checked again, dose by dose, on every real expanded schedule
(:mod:`dosing.protocol.safety`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import ProtocolError
from ..protocol.checks import dependency_order
from ..protocol.dose_steps import largest_amount
from ..protocol.formulas import largest_dose, values_needed
from ..protocol.model import Protocol, Regimen
from ..protocol.safety import (
    daily_limits,
    daily_methotrexate_allowed,
    drug_key,
    is_methotrexate,
    limit_factors,
)
from ..protocol.units import format_dose
from ..protocol.values import WEEKDAYS
from .hourly import most_doses_a_day
from .relative import relative_days
from .schedule import Patients, day_plan
from .steps import daily_amounts, raise_uncovered, uncovered, varies


@dataclass(frozen=True)
class Simulation:
    """Dosing days (patients x study days) of every regimen for the synthetic patients."""

    patients: Patients
    masks: dict[str, np.ndarray]
    describe: Callable[[int], str]  # "whose study day 1 is a Monday, mtx_weekday Friday"
    cycles: dict[str, np.ndarray] = field(default_factory=dict)  # cycle numbers (0: none), as masks


def check_simulated(protocol: Protocol) -> None:
    """Run every check of this module (see the module docstring)."""
    from .durations import check_infusion_intervals
    from .relative import check_relative_inside

    simulation = simulate(protocol)
    check_methotrexate_weeks(protocol, simulation)
    check_steps_cover(protocol, simulation)
    check_daily_limits(protocol, simulation)
    check_infusion_intervals(protocol, simulation)
    check_relative_inside(protocol, simulation.masks, simulation.describe)


def simulate(protocol: Protocol) -> Simulation:
    patients, describe = _synthetic_patients(protocol)
    masks: dict[str, np.ndarray] = {}
    cycles: dict[str, np.ndarray] = {}
    for regimen_id in dependency_order(protocol):
        schedule = protocol.regimen(regimen_id).schedule
        plan = day_plan(schedule, patients, masks)
        masks[regimen_id] = np.broadcast_to(plan.mask, (patients.n, patients.last_day))
        if schedule.relative_to is not None:  # on (about) the days of the other regimen's doses
            masks[regimen_id] = relative_days(masks[schedule.relative_to], schedule.relative_offset)
        cycles[regimen_id] = np.broadcast_to(plan.cycle, (patients.n, patients.last_day))
    return Simulation(patients, masks, describe, cycles)


def check_steps_cover(protocol: Protocol, simulation: Simulation) -> None:
    """Every dose a synthetic patient is scheduled falls in one of its regimen's steps."""
    for regimen in protocol.regimens:
        mask, cycle = simulation.masks[regimen.id], simulation.cycles[regimen.id]
        hole = uncovered(regimen, mask, cycle)
        if hole is not None:
            patient, index = hole
            number = int(np.broadcast_to(cycle, mask.shape)[patient, index])
            raise_uncovered(protocol, regimen, index + 1, number, f" for a patient {simulation.describe(patient)}")


def _synthetic_patients(protocol: Protocol) -> tuple[Patients, Callable[[int], str]]:
    """Every first weekday x every value of (up to two) weekday columns used by schedules."""
    used = sorted(
        {p.weekday_from for r in protocol.regimens for p in (r.schedule.phases or [r.schedule]) if p.weekday_from}
    )
    varied = used[:2]
    grid = np.array(list(itertools.product(range(7), repeat=1 + len(varied))), dtype=np.int64)
    values = {name: grid[:, 1 + i] if i < len(varied) else np.zeros(len(grid), np.int64) for i, name in enumerate(used)}

    def describe(i: int) -> str:
        own = "".join(f", {name} {WEEKDAYS[values[name][i]]}" for name in varied)
        return f"whose study day 1 is a {WEEKDAYS[grid[i, 0]]}{own}"

    return Patients(grid[:, 0], values, protocol.study.last_day), describe


def check_methotrexate_weeks(protocol: Protocol, simulation: Simulation) -> None:
    """No synthetic patient gets two methotrexate doses less than 7 days apart."""
    risky = [r.id for r in protocol.regimens if is_methotrexate(r.drug) and not daily_methotrexate_allowed(protocol, r)]
    if not risky:
        return
    patient, day = np.nonzero(np.logical_or.reduce([simulation.masks[r] for r in risky]))
    close = np.flatnonzero((np.diff(patient) == 0) & (np.diff(day) < 7))
    if len(close):
        i = close[0]
        raise ProtocolError(
            f"methotrexate doses ({', '.join(risky)}) would come {day[i + 1] - day[i]} day(s) apart, on study days "
            f"{day[i] + 1} and {day[i + 1] + 1} for a patient {simulation.describe(patient[i])}. Methotrexate for "
            "non-cancer uses is taken ONCE WEEKLY; daily dosing in error has caused deaths",
            source=protocol.source,
            where="regimens",
            hint="give each patient one methotrexate day a week across all phases and regimens",
        )


def check_daily_limits(protocol: Protocol, simulation: Simulation) -> None:
    """No arm gives more of a drug in a day than its maximum, with the largest per-patient doses."""
    limits = daily_limits(protocol)
    factors = limit_factors(protocol, limits)
    for arm in protocol.arms:
        by_drug: dict[str, list[Regimen]] = {}
        for regimen in (protocol.regimen(r) for r in arm.regimens):
            if regimen.id in factors and _largest_daily(protocol, regimen) is not None:
                by_drug.setdefault(drug_key(regimen.drug), []).append(regimen)
        for drug, regimens in by_drug.items():
            total = np.zeros((simulation.patients.n, simulation.patients.last_day))
            for regimen in regimens:
                total += _daily(protocol, regimen, simulation) * factors[regimen.id]
            limit, unit = limits[drug]
            if float(total.max(initial=0.0)) > limit + 1e-9:
                patient, day = np.unravel_index(int(np.argmax(total)), total.shape)
                _daily_limit_fail(protocol, arm.id, regimens, drug, (float(total[patient, day]), limit, unit), int(day))


def _daily_limit_fail(
    protocol: Protocol, arm: str, regimens: list[Regimen], drug: str, amounts: tuple[float, float, str], day: int
) -> None:
    total, limit, unit = amounts
    own = [name for r in regimens for name in values_needed(r.dose)]
    largest = f" with the largest {', '.join(sorted(set(own)))} the protocol allows" if own else ""
    if any(r.dose.formula == "calvert" for r in regimens):  # the largest Calvert dose is at the GFR cap
        largest = " with the largest dose its formula allows (Calvert at the GFR cap)"
    index = protocol.regimen_ids.index(regimens[0].id)
    raise ProtocolError(
        f"patients of arm {arm!r} would receive {format_dose(total, unit)} of {drug} on study day {day + 1}"
        f"{largest}, above the maximum daily dose of {format_dose(limit, unit)}",
        source=protocol.source,
        where=f"regimens[{index}] (id {regimens[0].id!r})",
        hint="lower the dose or the number of times a day (as_needed.max_per_24h for an as-needed regimen), lower "
        "the patient value's max, or correct max_daily_dose",
    )


def _daily(protocol: Protocol, regimen: Regimen, simulation: Simulation) -> np.ndarray:
    """Patients x days: the most this regimen can give a synthetic patient on each day; for steps and
    titrations each day's own amount (a loading day counts at its loading dose)."""
    mask = simulation.masks[regimen.id]
    if not varies(regimen):
        return mask * (_largest_daily(protocol, regimen) or 0.0)
    amounts = daily_amounts(regimen, mask, simulation.cycles[regimen.id])
    distinct = np.unique(amounts)
    largest = np.array([_largest_daily(protocol, regimen, float(a)) or 0.0 for a in distinct])
    return largest[np.searchsorted(distinct, amounts)]


def _largest_daily(protocol: Protocol, regimen: Regimen, amount_in_unit: float | None = None) -> float | None:
    """The most one day of this regimen can give one patient (None: no declared maximum), for its
    largest amount (a step, titration bound or dose level above 0 included) or the given
    ``amount_in_unit``, through the dose's formula, cap and rounding (Calvert: at the GFR cap)."""
    dose = regimen.dose
    unit_amount = largest_amount(regimen) if amount_in_unit is None else amount_in_unit
    if unit_amount is not None and dose.patient_value is None:
        dose = dose.model_copy(update={"auc" if dose.formula == "calvert" else "amount": unit_amount})
    amount = largest_dose(dose, protocol.patient_values)
    if amount is None:
        return None
    if regimen.as_needed is not None:  # the most an as-needed regimen allows in a day
        return amount * regimen.as_needed.max_per_24h
    return amount * most_doses_a_day(protocol, regimen)
