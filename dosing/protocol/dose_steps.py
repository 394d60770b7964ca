"""Doses that change within one regimen: ``steps`` (a loading dose, then maintenance; by study day or
by cycle), ``titrate`` (start, a step every period, up to or down to a bound: a titration or a taper)
and ``levels`` (named dose levels for dose reductions recorded in the changes file).

What a protocol may say, validated strictly (pure; no schedule arithmetic: whether every scheduled dose
falls in a step is checked on the simulated cohort by :mod:`dosing.plan.simulation`, the amounts per dose
are :mod:`dosing.plan.steps`).
"""

from __future__ import annotations

import itertools
import math
import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ..errors import ValueParseError
from .units import format_amount, format_dose
from .values import MAX_DAY, parse_days

if TYPE_CHECKING:
    from .model import Regimen

#: The same strictness as :class:`dosing.protocol.model.Strict` (unknown keys are errors).
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=False, populate_by_name=False)


def parse_range(value: object) -> tuple[int, int]:
    """A step's days or cycles: ``"2-28"`` (inclusive), ``"1"`` or ``1`` -> (first, last)."""
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, str) and (match := re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", value)):
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
    else:
        raise ValueParseError(f'expected a number or an inclusive range such as "2-28", got {value!r}')
    if low < 1 or high < low:
        raise ValueParseError(f"{value!r} is not a range counting from 1 upwards (first-last, first <= last)")
    if high > MAX_DAY:
        raise ValueParseError(f"{value!r} goes beyond {MAX_DAY}")
    return low, high


def _range(value: Any) -> Any:
    if value is None:
        return None
    try:
        return parse_range(value)
    except ValueParseError as err:
        raise ValueError(err.message) from None


def _days(value: Any) -> Any:
    try:
        return parse_days(value)
    except ValueParseError as err:
        raise ValueError(err.message) from None


Range = Annotated[tuple[int, int], BeforeValidator(_range)]


class Step(BaseModel):
    """One step: ``{ days = "2-28", amount = 1 }`` (study days) or ``{ cycles = "2-17", amount = 6 }``."""

    model_config = _STRICT

    days: Range | None = None
    cycles: Range | None = None
    amount: float = Field(gt=0)

    @model_validator(mode="after")
    def _one(self) -> Step:
        if (self.days is None) == (self.cycles is None):
            raise ValueError('give days = "2-28" (study days) or cycles = "2-17" (cycle numbers), exactly one')
        if not math.isfinite(self.amount):
            raise ValueError(f"amount: expected a finite number, got {self.amount}")
        return self

    @property
    def span(self) -> tuple[int, int]:
        span = self.days if self.days is not None else self.cycles
        assert span is not None
        return span

    def describe(self) -> str:
        """ "days 2-28", "day 1", "cycles 2-17", "cycle 1"."""
        low, high = self.span
        what = "day" if self.days is not None else "cycle"
        return f"{what} {low}" if high == low else f"{what}s {low}-{high}"


class Titrate(BaseModel):
    """``{ start = 7.5, by = 2.5, every = "2 weeks", up_to = 25 }`` or a taper with ``by < 0`` and ``down_to``."""

    model_config = _STRICT

    start: float = Field(gt=0)
    by: float
    every: Annotated[int, BeforeValidator(_days)]
    up_to: float | None = Field(None, gt=0)
    down_to: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _direction(self) -> Titrate:
        numbers = [self.start, self.by, self.up_to, self.down_to]
        if not all(math.isfinite(n) for n in numbers if n is not None):
            raise ValueError("start, by, up_to and down_to must be finite numbers")
        if (self.up_to is None) == (self.down_to is None):
            raise ValueError("give up_to (a titration, by > 0) or down_to (a taper, by < 0), exactly one")
        if self.up_to is not None and not (self.by > 0 and self.up_to >= self.start):
            raise ValueError(
                f"a titration up to {self.up_to:g} needs by > 0 (got {self.by:g}) and up_to >= start ({self.start:g})"
            )
        if self.down_to is not None and not (self.by < 0 and self.down_to <= self.start):
            raise ValueError(
                f"a taper down to {self.down_to:g} needs by < 0 (got {self.by:g}) and down_to <= start ({self.start:g})"
            )
        return self

    @property
    def bound(self) -> float:
        bound = self.up_to if self.up_to is not None else self.down_to
        assert bound is not None
        return bound

    @property
    def periods(self) -> int:
        """Periods until the bound is reached (from then on the amount holds at it)."""
        return math.ceil(round((self.bound - self.start) / self.by, 9))


def level_number(key: str) -> int:
    """A dose level's key: "0", "-1", "1" (an integer written plainly)."""
    if not re.fullmatch(r"-?\d+", key) or str(int(key)) != key:
        raise ValueError(f'dose level {key!r}: name levels by whole numbers written plainly, e.g. "0", "-1", "-2"')
    return int(key)


def with_level_zero(data: Any) -> Any:
    """Before validation: a regimen with ``levels`` whose dose has no ``amount`` takes level 0 as its dose."""
    if not isinstance(data, dict):
        return data
    levels, dose = data.get("levels"), data.get("dose")
    missing = isinstance(dose, dict) and "amount" not in dose and "patient_value" not in dose
    if isinstance(levels, dict) and isinstance(dose, dict) and missing and _usable(levels.get("0")):
        return {**data, "dose": {**dose, "amount": levels["0"]}}
    return data


def _usable(amount: object) -> bool:
    """A level 0 that can be the dose's amount: any other (nan, 0, a text) is refused as the level it is,
    by :func:`_check_levels`, not as a ``dose.amount`` the protocol does not have."""
    return isinstance(amount, int | float) and not isinstance(amount, bool) and math.isfinite(amount) and amount > 0


def check_regimen(regimen: Regimen) -> None:
    """The regimen-level rules of steps, titrate and levels (a ValueError says which)."""
    dose = regimen.dose
    varying = [k for k in ("steps", "titrate") if getattr(regimen, k) is not None]
    if not varying:
        _check_levels(regimen)  # first: without dose.amount, a missing level 0 is the problem
        if dose.amount is None and dose.patient_value is None and dose.formula is None:
            raise ValueError(
                "dose: give amount (e.g. amount = 60) or patient_value (a cohort column), "
                "or give the amounts in steps = [...] or titrate = {...} beside the dose"
            )
    elif len(varying) > 1:
        raise ValueError("give steps or titrate, not both")
    else:
        if dose.amount is not None or dose.patient_value is not None:
            raise ValueError(
                f"with {varying[0]}, leave out dose.amount and dose.patient_value: the amounts are in "
                f'{varying[0]} (in the dose\'s unit); keep unit (and per) in dose, e.g. dose = {{ unit = "mg" }}'
            )
        if regimen.levels is not None:
            raise ValueError(f"levels cannot be combined with {varying[0]}")
        _check_levels(regimen)  # only lowest_level or reescalation without levels are left to refuse
    if regimen.steps is not None:
        _check_steps(regimen)


def _check_steps(regimen: Regimen) -> None:
    steps = regimen.steps
    assert steps is not None
    if not steps:
        raise ValueError("steps must list at least one step")
    kinds = {"days" if s.days is not None else "cycles" for s in steps}
    if len(kinds) > 1:
        raise ValueError("steps count either study days or cycles: give every step days, or every step cycles")
    schedule = regimen.schedule
    if kinds == {"cycles"} and not any(p.cycles is not None for p in schedule.phases or [schedule]):
        raise ValueError("steps by cycles need a cyclic schedule (cycles = N); use days for a schedule without cycles")
    order = sorted(range(len(steps)), key=lambda i: steps[i].span)
    for before, after in itertools.pairwise(order):
        if steps[after].span[0] <= steps[before].span[1]:
            raise ValueError(
                f"steps[{before}] ({steps[before].describe()}) and steps[{after}] ({steps[after].describe()}) "
                "overlap: each day (or cycle) may belong to one step only"
            )


def _check_levels(regimen: Regimen) -> None:
    levels = regimen.levels
    if levels is None:
        for key in ("lowest_level", "reescalation"):
            if key in regimen.model_fields_set:
                raise ValueError(f'{key} needs levels = {{ "0" = <amount>, "-1" = <amount>, ... }}')
        return
    if regimen.dose.patient_value is not None:
        raise ValueError("levels need a dose amount (fixed or per size), not a patient_value")
    numbers = {level_number(key): amount for key, amount in levels.items()}
    for key, amount in levels.items():
        if not (math.isfinite(amount) and amount > 0):
            raise ValueError(f"dose level {key}: the amount must be a finite number above 0, got {amount}")
    if 0 not in numbers:
        raise ValueError('levels must list level "0" (the starting dose, equal to dose.amount)')
    if regimen.dose.amount is not None and regimen.dose.amount != numbers[0]:
        raise ValueError(
            f"level 0 ({numbers[0]:g}) differs from dose.amount ({regimen.dose.amount:g}): level 0 is the starting "
            "dose; make them equal, or leave out dose.amount"
        )
    ranked = sorted(numbers)
    for low, high in itertools.pairwise(ranked):
        if not numbers[low] < numbers[high]:
            raise ValueError(
                f"dose level {low} ({numbers[low]:g}) is not below level {high} ({numbers[high]:g}): a lower level "
                "gives a smaller dose"
            )
    if regimen.lowest_level is not None and regimen.lowest_level not in numbers:
        raise ValueError(
            f"lowest_level = {regimen.lowest_level} is not one of the levels ({', '.join(map(str, ranked))})"
        )


def lowest_level(regimen: Regimen) -> int:
    """The floor: ``lowest_level``, or the lowest listed level."""
    assert regimen.levels is not None
    if regimen.lowest_level is not None:
        return regimen.lowest_level
    return min(int(key) for key in regimen.levels)


def level_amount(regimen: Regimen, level: int) -> float:
    """The amount of a listed level, in the regimen's dose unit."""
    assert regimen.levels is not None
    return regimen.levels[str(level)]


def largest_amount(regimen: Regimen) -> float | None:
    """The largest amount (in the dose unit) any dose of the regimen may have: the highest step,
    titration bound or start, or dose level (None for a dose from a patient value)."""
    if regimen.steps is not None:
        return max(step.amount for step in regimen.steps)
    if regimen.titrate is not None:
        return max(regimen.titrate.start, regimen.titrate.bound)
    if regimen.levels is not None:
        return max(regimen.levels.values())
    return regimen.dose.amount


def same_in_blinded_group(first: Regimen, other: Regimen) -> str | None:
    """What of steps, titrate and levels may not differ within a blinded group even with a blinded
    dose: the step boundaries and the level names, floor and re-escalation (a changes file names
    levels in every arm alike). None when nothing differs that way."""
    for name in ("lowest_level", "reescalation"):
        if getattr(first, name) != getattr(other, name):
            return name
    if (first.levels is None) != (other.levels is None) or set(first.levels or {}) != set(other.levels or {}):
        return "levels (their names)"
    if (first.titrate is None) != (other.titrate is None):
        return "titrate"
    spans = [None if r.steps is None else [(s.days, s.cycles) for s in r.steps] for r in (first, other)]
    if spans[0] != spans[1]:
        return "steps (their days or cycles)"
    return None


def amounts_differ(first: Regimen, other: Regimen) -> bool:
    """True when the two regimens' step, titration or level amounts differ."""
    return (first.steps, first.titrate, first.levels) != (other.steps, other.titrate, other.levels)


def describe_amounts(regimen: Regimen) -> str | None:
    """The amounts of a regimen with steps, a titration or levels, for people (``dosing validate``, the
    FHIR plan): "2 mg (day 1), 1 mg (days 2-28)"; "7.5 mg, +2.5 mg every 14 days up to 25 mg";
    "1,250 mg/m2 (dose levels 0, -1, -2)". None for any other dose."""
    unit = regimen.dose.unit
    if regimen.steps is not None:
        return ", ".join(f"{format_dose(step.amount, unit)} ({step.describe()})" for step in regimen.steps)
    if regimen.titrate is not None:
        t = regimen.titrate
        sign = "+" if t.by > 0 else "-"
        bound = "up to" if t.up_to is not None else "down to"
        return (
            f"{format_dose(t.start, unit)}, {sign}{format_amount(abs(t.by))} {unit} every {t.every} days "
            f"{bound} {format_dose(t.bound, unit)}"
        )
    if regimen.levels is not None:
        names = ", ".join(str(n) for n in sorted((int(k) for k in regimen.levels), reverse=True))
        return f"{format_dose(regimen.dose.amount, unit)} (dose levels {names})"
    return None
