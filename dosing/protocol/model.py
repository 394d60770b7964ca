"""The protocol model: what a protocol file may say, validated strictly with pydantic.

This module is pure: the models and their field validators. The whole check of parsed TOML data
(these models, the checks across fields, a simulated cohort, visits, study zone) is
:func:`dosing.plan.load.protocol_from_dict`; reading the file is :mod:`dosing.io.read.files`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from ..errors import ValueParseError
from .banding import MAX_STRENGTHS, parse_percent
from .dose_steps import Step, Titrate, check_regimen, with_level_zero
from .durations import parse_duration
from .formula_rules import bsa_formula_name, dose_formula_name, dose_shape_problem, gfr_formula_name
from .languages import check_names
from .units import canonical, lookup
from .values import (
    parse_day_list,
    parse_days,
    parse_every,
    parse_offset,
    parse_signed_duration,
    parse_time,
    parse_weekday,
)
from .zones import zone_problem

_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def _wrap(parser: Any) -> Any:
    """Turn one of our parsers into a pydantic before-validator."""

    def validate(value: Any) -> Any:
        if value is None:
            return None
        try:
            return parser(value)
        except ValueParseError as err:
            raise ValueError(err.message) from None

    return BeforeValidator(validate)


def _check_zone(value: Any) -> str:
    """A name the tz database knows; whether it names a place is checked with the whole study
    (``allow_fixed_offset_zones``) by :func:`dosing.protocol.zones.check_study_zone`."""
    if not isinstance(value, str):
        raise ValueError(f'expected an IANA time zone name such as "Asia/Shanghai", got {value!r}')
    problem = zone_problem(value, allow_fixed=True)
    if problem is not None:
        raise ValueError(problem.text())
    return value


Days = Annotated[int, _wrap(parse_days)]
#: ``every``: whole days (an int, "2 days") or whole hours (a timedelta, "8 hours").
Every = Annotated[int | dt.timedelta, _wrap(parse_every)]
#: ``cycles = "until stopped"``: cycles repeat to study.last_day (ended by a stop in the changes file).
UNTIL_STOPPED = "until stopped"
TimeOfDay = Annotated[dt.time, _wrap(parse_time)]
Weekday = Annotated[int, _wrap(parse_weekday)]
DayList = Annotated[list[int], _wrap(parse_day_list)]
Zone = Annotated[str, BeforeValidator(_check_zone)]
Ident = Annotated[str, Field(pattern=_ID, max_length=64)]
#: A dose unit from the registry (dosing/protocol/units.py), stored as its symbol ("µg" for "mcg").
UnitSymbol = Annotated[str, _wrap(canonical)]


def _offset(value: Any) -> dt.timedelta:
    """A lead time such as "30m" (:func:`parse_offset`); any other type is refused the same way."""
    if isinstance(value, dt.timedelta):
        return value
    if not isinstance(value, str):
        raise ValueParseError(f'expected a duration such as "15m", "2h" or "1d", got {value!r}')
    return parse_offset(value)


Offset = Annotated[dt.timedelta, _wrap(_offset)]


def _schedule_offset(value: Any) -> int | dt.timedelta:
    """``offset``: a whole number of days (with ``after``) or a signed duration string (with
    ``relative_to``); which one fits the pattern is checked by the schedule."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueParseError(
            f'expected a number of days (with after, e.g. offset = 1) or a duration such as "-30 minutes" '
            f"(with relative_to), got {value!r}"
        )
    if isinstance(value, int):
        if not 0 <= value <= 366:
            raise ValueParseError(f"with after, offset is 0 to 366 days, got {value}")
        return value
    return parse_signed_duration(value)


ScheduleOffset = Annotated[int | dt.timedelta, _wrap(_schedule_offset)]
#: A text in the patients' languages, ``{ zh = "甲氨蝶呤" }``: shipped language codes only, non-empty texts.
Names = Annotated[dict[str, str], BeforeValidator(check_names)]


def _in(language: str, names: dict[str, str], default: str) -> str:
    """The text in ``language`` when the protocol gives one, else the protocol's own (English) text."""
    return names.get(language, default)


class Strict(BaseModel):
    """Every model refuses unknown keys: a typo is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, populate_by_name=False)


class AdherenceBand(Strict):
    low: float = Field(default=80, ge=0, le=100)
    high: float = Field(default=120, ge=100)


class Study(Strict):
    id: Ident
    title: str = Field(min_length=1)
    registry: str | None = None
    blinding: Literal["open", "single", "double", "triple", "quadruple"]
    timezone: Zone
    allow_fixed_offset_zones: bool = Field(
        False, strict=True, description="accept zone names that are not a place (UTC, Etc/GMT-8, EST); needs a reason"
    )
    fixed_offset_zones_reason: str | None = Field(None, min_length=1)
    last_day: int = Field(ge=1, le=3660, description="last study day, inclusive")
    end_date: dt.date | None = Field(None, description="no patient may start after this date")
    indication: str | None = None
    oncology: bool = Field(False, strict=True, description="declares an oncology use (non-weekly methotrexate)")
    adherence_band: AdherenceBand = AdherenceBand()
    max_days_in_past: int = Field(
        7, ge=0, le=3660, description="warn when a patient's first day is more than this many days before today"
    )
    contact: str | None = Field(None, min_length=1, description="the study's contact line for patients")
    translated_contact: Names = Field({}, description="the contact line in the patients' languages")

    @model_validator(mode="after")
    def _contact(self) -> Study:
        if self.translated_contact and self.contact is None:
            raise ValueError('translated_contact needs contact = "..." (the line in English)')
        return self

    @property
    def blinded(self) -> bool:
        return self.blinding != "open"

    def contact_in(self, language: str) -> str | None:
        """The contact line in ``language`` (the English line where no translation is given)."""
        return None if self.contact is None else _in(language, self.translated_contact, self.contact)


class PatientValue(Strict):
    type: Literal["number", "weekday", "time", "text"]
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    description: str | None = None
    required: bool = True

    @model_validator(mode="after")
    def _range(self) -> PatientValue:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.type != "number" and (self.min is not None or self.max is not None):
            raise ValueError('min and max apply only to values of type "number"')
        return self


_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class BsaFormula(Strict):
    """How a dose per m2 computes the body-surface area from height (cm) and weight (kg): ``dose.bsa``."""

    formula: Annotated[str, _wrap(bsa_formula_name)] = Field("mosteller", description="mosteller, dubois, haycock")
    cap: float | None = Field(None, gt=0, le=4, allow_inf_nan=False, description="at most this many m2")


class Rounding(Strict):
    """Dose banding: ``round = { to = 50 }`` or ``{ tablets = [150, 500] }``, a direction and ``within``."""

    to: float | None = Field(None, gt=0, allow_inf_nan=False, description="to a multiple of this (absolute unit)")
    tablets: list[_Positive] | None = Field(None, min_length=1, max_length=MAX_STRENGTHS)
    direction: Literal["nearest", "down", "up"] = "nearest"
    within: Annotated[float, _wrap(parse_percent)] = Field(10.0, description='e.g. "10%" of the computed dose')

    @model_validator(mode="after")
    def _one_way(self) -> Rounding:
        if (self.to is None) == (self.tablets is None):
            raise ValueError("give to = <step> or tablets = [<strengths>] (exactly one)")
        if self.tablets is not None and len(set(self.tablets)) != len(self.tablets):
            raise ValueError("tablets must list each strength once")
        return self


class Dose(Strict):
    """A fixed amount, an amount from the cohort file, an amount per patient value (with a BSA
    formula), or a dose formula (Calvert); optionally capped and rounded. See
    :mod:`dosing.protocol.formulas`."""

    amount: float | None = Field(None, gt=0)
    unit: UnitSymbol
    patient_value: str | None = Field(None, description="take the amount from this cohort column")
    per: str | None = Field(None, description="amount is per unit of this patient value (e.g. bsa)")
    round_to: float | None = Field(None, gt=0)
    bsa: BsaFormula | None = Field(None, description="compute the BSA from height and weight")
    cap: DoseCap | None = Field(None, description="the most one computed dose may be")
    formula: Annotated[str | None, _wrap(dose_formula_name)] = Field(None, description='"calvert"')
    auc: float | None = Field(None, gt=0, le=10, allow_inf_nan=False, description="Calvert: target AUC, mg/mL·min")
    gfr: Annotated[str | None, _wrap(gfr_formula_name)] = Field(None, description='"cockcroft-gault" (the default)')
    gfr_cap: float | None = Field(None, gt=0, le=250, allow_inf_nan=False, description="mL/min; default 125")
    round_: Rounding | None = Field(None, alias="round")

    @model_validator(mode="after")
    def _one_source(self) -> Dose:
        if self.patient_value is not None and (self.amount is not None or self.per is not None):
            raise ValueError("give either patient_value or amount (optionally with per), not both")
        # a missing amount is checked with the regimen, which may give it in steps, titrate or levels
        # (dosing.protocol.dose_steps.check_regimen); a Calvert dose gives auc instead
        if self.formula == "calvert" and self.auc is None:
            raise ValueError('formula = "calvert" needs auc = <target AUC in mg/mL·min> (e.g. auc = 5)')
        problem = dose_shape_problem(self)
        if problem is not None:
            raise ValueError(problem)
        _check_per_unit(self)
        return self

    @property
    def absolute_unit(self) -> str:
        """The unit of the dose a patient receives: "mg" for a dose of mg/m2 per bsa."""
        return lookup(self.unit).absolute


def _check_per_unit(dose: Dose) -> None:
    size = lookup(dose.unit).per
    if dose.per is not None and lookup(dose.unit).kind == "count":
        raise ValueError(f'{dose.unit!r} cannot be per size: with per, use a unit such as "mg/m2" or "mg/kg"')
    if dose.per is not None and size is None:
        raise ValueError(
            f'with per = "{dose.per}" the amount is per unit of size: write unit = "{dose.unit}/m2" '
            f'(per m2 of body-surface area) or "{dose.unit}/kg" (per kg of body weight)'
        )
    if dose.per is None and size is not None:
        raise ValueError(
            f'unit {dose.unit!r} is per {size}: say of what with per = "<patient value>" '
            f'(e.g. per = "{"bsa" if size == "m2" else "weight"}"), or give an absolute unit'
        )


class DailyLimit(Strict):
    """A maximum daily dose with its unit: ``{ amount = 180, unit = "mg" }``."""

    amount: float = Field(gt=0)
    unit: UnitSymbol

    @field_validator("unit")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if lookup(value).per is not None:
            raise ValueError(f"a daily limit is an absolute amount: use {lookup(value).absolute!r}, not {value!r}")
        return value


class DoseCap(DailyLimit):
    """The most one computed dose may be, with its unit: ``cap = { amount = 1000, unit = "mg" }``."""


def _limit_needs_unit(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError('write the limit as a table with its unit: max_daily_dose = { amount = 180, unit = "mg" }')
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f'max_daily_dose needs its unit: write max_daily_dose = {{ amount = {value}, unit = "mg" }} '
            "(with the unit the limit is in)"
        )
    return value


class Schedule(Strict):
    """When a regimen is given, in study days. See docs/protocol-format.md."""

    daily: bool | None = None
    every: Every | None = None
    clock: Literal["elapsed", "wall"] | None = Field(
        None, description='with every = "N hours": "elapsed" (default, N real hours apart) or "wall"'
    )
    weekdays: list[Weekday] | None = None
    weekday_from: str | None = None
    cycle_days: DayList | None = None
    after: str | None = None
    relative_to: str | None = Field(None, description="one dose per dose of this regimen, at its instant + offset")
    offset: ScheduleOffset | None = Field(
        None, description='with after: days after (default 1); with relative_to: "-30 minutes", "24 hours"'
    )
    for_: Days | None = Field(None, alias="for")
    rest: Days | None = None
    on: Days | None = None
    off: Days | None = None
    cycle_length: Days | None = None
    cycles: Annotated[int, Field(ge=1, le=1000)] | Literal["until stopped"] | None = None
    start_day: int = Field(1, ge=1)
    end_day: int | None = Field(None, ge=1)
    count: int | None = Field(None, ge=1)
    except_days_of: list[str] | None = None
    phases: list[Schedule] | None = None

    @field_validator("cycles", mode="before")
    @classmethod
    def _until_stopped(cls, value: Any) -> Any:
        """``cycles = "until stopped"``: cycles repeat to study.last_day, ended by a stop in the changes."""
        if isinstance(value, str):
            if " ".join(value.lower().split()) != UNTIL_STOPPED:
                raise ValueError(
                    f'cycles = {value!r}: give a number of cycles (cycles = 6) or cycles = "{UNTIL_STOPPED}" '
                    "(cycles repeat to study.last_day, ended by a stop or withdrawal in the changes file)"
                )
            return UNTIL_STOPPED
        return value

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("except_days_of", "weekdays"):
                if isinstance(data.get(key), str):
                    data = {**data, key: [data[key]]}
        return data

    @model_validator(mode="after")
    def _shape(self) -> Schedule:
        if self.phases is not None:
            _check_phases(self)
            return self
        patterns = [
            name
            for name in ("daily", "every", "weekdays", "weekday_from", "cycle_days", "after", "relative_to", "on")
            if getattr(self, name) not in (None, False)
        ]
        if len(patterns) != 1:
            raise ValueError(
                'give exactly one pattern: daily = true, every = "2 days", weekdays = ["Monday"], '
                'weekday_from = "<cohort column>", cycle_days = [1, 8], after = "<regimen id>", '
                'relative_to = "<regimen id>", on = "14 days" (with off), or phases = [...]; '
                f"got {patterns or 'none'}"
            )
        if self.daily is False:
            raise ValueError("daily = false means nothing; leave it out and give another pattern")
        _check_timing(self)
        _check_cycles(self)
        if self.end_day is not None and self.end_day < self.start_day:
            raise ValueError(f"end_day ({self.end_day}) is before start_day ({self.start_day})")
        if self.weekdays is not None and (not self.weekdays or len(set(self.weekdays)) != len(self.weekdays)):
            raise ValueError('weekdays must name each day once, e.g. ["Monday", "Thursday"]')
        return self

    @property
    def is_cyclic(self) -> bool:
        return self.cycles is not None

    @property
    def every_days(self) -> int | None:
        """``every`` in whole days (None when it is in hours or absent)."""
        return self.every if isinstance(self.every, int) else None

    @property
    def every_hours(self) -> int | None:
        """``every`` in whole hours (None when it is in days or absent)."""
        return None if not isinstance(self.every, dt.timedelta) else int(self.every.total_seconds()) // 3600

    @property
    def after_days(self) -> int:
        """With ``after``: days after the other regimen's dose (default 1)."""
        return self.offset if isinstance(self.offset, int) else 1

    @property
    def relative_offset(self) -> dt.timedelta:
        """With ``relative_to``: the signed time from the other regimen's dose."""
        return self.offset if isinstance(self.offset, dt.timedelta) else dt.timedelta(0)

    @property
    def until_stopped(self) -> bool:
        """``cycles = "until stopped"``: open-ended cycles, to study.last_day."""
        return self.cycles == UNTIL_STOPPED

    def cycle_count(self, last_day: int, start_day: int | None = None) -> int | None:
        """The number of cycles: ``cycles``, or with "until stopped" the cycles that begin on or
        before ``last_day`` (from ``start_day``, default the schedule's own). None when not cyclic."""
        if self.cycles is None or isinstance(self.cycles, int):
            return self.cycles
        assert self.cycle_period is not None
        first = self.start_day if start_day is None else start_day
        return max(0, -(-(last_day - first + 1) // self.cycle_period))

    @property
    def cycle_period(self) -> int | None:
        """Days in one cycle (cycle day 1 is the cycle's first day)."""
        if self.cycle_length is not None:
            return self.cycle_length
        if self.on is not None and self.off is not None:
            return self.on + self.off
        if self.for_ is not None and self.rest is not None:
            return self.for_ + self.rest
        return None

    @property
    def active_days(self) -> int | None:
        """Within a cycle: the first N days that may carry doses (None: the whole cycle)."""
        if self.on is not None:
            return self.on
        if self.cycles is not None and self.for_ is not None:
            return self.for_
        return None


#: The largest ``offset`` of a ``relative_to`` schedule, before or after.
MAX_RELATIVE_OFFSET = dt.timedelta(days=7)


def _check_timing(s: Schedule) -> None:
    """``clock`` only with hours (and a wall clock only with hours that divide a day); ``offset`` a
    number of days with ``after``, a signed duration of at most 7 days with ``relative_to``."""
    hours = s.every_hours
    if s.clock is not None and hours is None:
        raise ValueError('clock applies only to an interval in hours (every = "8 hours"); leave it out')
    if s.clock == "wall" and hours is not None and 24 % hours:
        raise ValueError(
            f'clock = "wall" repeats the same times every day, so the interval must divide 24 hours '
            f'(1, 2, 3, 4, 6, 8, 12 or 24); {hours} hours does not: use clock = "elapsed"'
        )
    if s.relative_to is not None:
        if s.offset is None:
            raise ValueError('relative_to needs offset, e.g. offset = "-30 minutes" (before) or "24 hours" (after)')
        if isinstance(s.offset, int):
            raise ValueError(
                f'with relative_to, offset is a duration with its unit, e.g. offset = "{s.offset} day'
                f'{"" if s.offset == 1 else "s"}" '
                'or "-30 minutes"'
            )
        if abs(s.offset) > MAX_RELATIVE_OFFSET:
            raise ValueError("offset of relative_to may be at most 7 days before or after the other regimen's dose")
        bad = [
            k
            for k in ("for_", "rest", "cycle_length", "cycles", "start_day", "end_day", "count", "except_days_of")
            if k in s.model_fields_set
        ]
        if bad:
            names = ", ".join(k.rstrip("_") for k in bad)
            raise ValueError(f"relative_to follows every dose of the other regimen: leave out {names}")
    elif isinstance(s.offset, dt.timedelta):
        raise ValueError(
            'a duration offset belongs with relative_to = "<regimen id>"; with after, offset is a number of days'
        )


def _check_cycles(s: Schedule) -> None:
    if s.on is not None and s.off is None:
        raise ValueError('on = "N days" needs off = "M days" (N days on, M days off)')
    if s.off is not None and s.on is None:
        raise ValueError("off needs on (N days on, M days off)")
    if s.rest is not None and s.for_ is None:
        raise ValueError('rest needs for (e.g. for = "14 days", rest = "14 days", cycles = 3)')
    cyclic_keys = [k for k in ("rest", "on", "cycle_length", "cycle_days") if getattr(s, k) is not None]
    if s.cycles is None and cyclic_keys:
        raise ValueError(f"{', '.join(cyclic_keys)} describe a cycle: add cycles = <number of cycles>")
    if s.cycles is not None:
        if s.cycle_period is None:
            raise ValueError('a cyclic schedule needs its length: cycle_length = "21 days", or for + rest, or on + off')
        if s.cycle_length is not None and (s.rest is not None or s.off is not None):
            raise ValueError("give the cycle length once: cycle_length, or for + rest, or on + off")
        if s.cycle_days is not None and max(s.cycle_days) > s.cycle_period:
            raise ValueError(f"cycle day {max(s.cycle_days)} is beyond the {s.cycle_period}-day cycle")
        if s.for_ is not None and s.cycle_length is not None and s.for_ > s.cycle_length:
            raise ValueError(f"for ({s.for_} days) is longer than the cycle ({s.cycle_length} days)")


def _check_phases(s: Schedule) -> None:
    other = [k for k in Schedule.model_fields if k not in ("phases", "start_day") and k in s.model_fields_set]
    if other:
        raise ValueError(f"with phases, put {', '.join(other)} inside each phase; only start_day may stand beside")
    if not s.phases:
        raise ValueError("phases must list at least one phase")
    for i, phase in enumerate(s.phases[:-1]):
        if phase.until_stopped:
            raise ValueError(
                f'phase {i + 1} repeats "until stopped": only the last phase may, as no phase can follow it'
            )
        if phase.for_ is None and phase.cycles is None:
            raise ValueError(
                f'phase {i + 1} needs a length (for = "12 weeks" or cycles) so the next phase knows where to start'
            )
    for phase in s.phases:
        if phase.phases is not None:
            raise ValueError("phases cannot be nested")
        if phase.relative_to is not None:
            raise ValueError("relative_to is a whole schedule: it cannot be one phase of several")
        if phase.every_hours is not None:
            raise ValueError('an interval in hours (every = "8 hours") cannot be one phase of several')
        if "start_day" in phase.model_fields_set or phase.count is not None:
            raise ValueError("a phase starts where the previous one ends: leave out start_day and count")


class AdherenceRule(Strict):
    match_window_hours: float | None = Field(default=None, gt=0, description="default: half the dosing interval")
    on_time_hours: float | None = Field(default=None, ge=0, description="default: 2 hours")


class AsNeeded(Strict):
    """An as-needed (PRN) regimen's limits: ``{ max_per_24h = 3, min_interval = "4 hours" }``.
    Checked across fields by :func:`dosing.protocol.prn.check_as_needed`."""

    max_per_24h: int = Field(ge=1, le=48, strict=True, description="doses at most in any rolling 24 hours")
    min_interval: Offset | None = Field(None, description="at least this long between two doses")


class Regimen(Strict):
    id: Ident
    drug: str = Field(min_length=1)
    dose: Dose
    route: str = Field(min_length=1)
    dose_form: str | None = Field(None, min_length=1, description='e.g. "injection", "tablet" (SDTM --DOSFRM)')
    times: list[TimeOfDay] | None = None
    times_from: str | None = None
    first_dose: TimeOfDay | None = None
    duration: Annotated[dt.timedelta | None, _wrap(parse_duration)] = Field(
        None, description='how long each dose lasts (an infusion): "46 hours", "30 minutes"; see durations.py'
    )
    instructions: str = ""
    schedule: Schedule
    blinded_label: str | None = None
    blinded_dose: str | None = None
    placebo_for: str | None = None
    max_daily_dose: Annotated[DailyLimit | None, BeforeValidator(_limit_needs_unit)] = None
    acknowledge_limit_above_label: str | None = Field(
        None, min_length=1, description="why max_daily_dose may exceed the tool's built-in limit for this drug"
    )
    allow_same_drug: bool = False
    acknowledge_daily_methotrexate: bool = Field(False, strict=True)
    in_clinic: bool = False
    adherence: AdherenceRule = AdherenceRule()
    names: Names = Field({}, description='the drug in the patients\' languages, e.g. { zh = "甲氨蝶呤" }')
    blinded_names: Names = Field({}, description="the blinded label in the patients' languages")
    translated_instructions: Names = Field({}, description="the instructions in the patients' languages")
    steps: list[Step] | None = Field(None, description="amounts by study day or cycle (dose.amount left out)")
    titrate: Titrate | None = Field(None, description="a titration or taper (dose.amount left out)")
    levels: dict[str, float] | None = Field(None, description='dose levels, { "0" = 1250, "-1" = 950 }')
    lowest_level: int | None = Field(
        None, strict=True, description="the floor of the dose levels (default: the lowest)"
    )
    reescalation: bool = Field(False, strict=True, description="a dose_level change may raise the level")

    @model_validator(mode="before")
    @classmethod
    def _level_zero(cls, data: Any) -> Any:
        return with_level_zero(data)

    @model_validator(mode="after")
    def _steps(self) -> Regimen:
        check_regimen(self)
        return self

    as_needed: AsNeeded | None = Field(None, description="an as-needed (PRN) regimen: no planned doses, limits")

    @property
    def prn(self) -> bool:
        """An as-needed regimen: taken when needed within its limits, never planned, never missed."""
        return self.as_needed is not None

    @model_validator(mode="after")
    def _translations(self) -> Regimen:
        if self.translated_instructions and not self.instructions:
            raise ValueError('translated_instructions need instructions = "..." (the text in English)')
        return self

    def drug_in(self, language: str) -> str:
        """The drug's name in ``language`` (the protocol's ``drug`` where no name is given): unblinded."""
        return _in(language, self.names, self.drug)

    def label_in(self, language: str) -> str:
        """What a blinded output calls this regimen in ``language``: the blinded label where there is
        one (never the true drug), else the drug."""
        if self.blinded_label is not None:
            return _in(language, self.blinded_names, self.blinded_label)
        return self.drug_in(language)

    def instructions_in(self, language: str) -> str:
        return _in(language, self.translated_instructions, self.instructions)

    @model_validator(mode="after")
    def _times(self) -> Regimen:
        if self.schedule.relative_to is not None:
            if self.times is not None or self.times_from is not None or self.first_dose is not None:
                raise ValueError(
                    "a regimen with relative_to takes its times from the other regimen's doses: leave out times"
                )
            return self
        _check_hourly_times(self)
        if self.as_needed is not None:
            from .prn import check_as_needed

            check_as_needed(self)
            return self
        if (self.times is None) == (self.times_from is None):
            raise ValueError('give times = ["08:00", ...] or times_from = "<cohort column>" (exactly one)')
        if self.times is not None:
            if not self.times:
                raise ValueError("times must list at least one time of day")
            if sorted(self.times) != self.times or len(set(self.times)) != len(self.times):
                raise ValueError('times must be distinct and in order through the day, e.g. ["08:00", "20:00"]')
            if self.first_dose is not None and self.first_dose not in self.times:
                raise ValueError("first_dose must be one of times")
        elif self.first_dose is not None:
            raise ValueError("first_dose needs a fixed list of times")
        return self

    @property
    def hourly(self) -> bool:
        """Whether any part of the schedule is an interval in hours."""
        return any(p.every_hours is not None for p in self.schedule.phases or [self.schedule])

    @property
    def display_key(self) -> str:
        """The key used in UIDs and blinded outputs: the same for every arm of a blinded group."""
        if self.blinded_label is not None:
            return "b-" + _slug(self.blinded_label)
        return self.id


def _check_hourly_times(regimen: Regimen) -> None:
    """With ``every = "N hours"`` the regimen gives the first dose's time: one time (or times_from)."""
    if not regimen.hourly:
        return
    if regimen.times is not None and len(regimen.times) != 1:
        raise ValueError(
            f'with every = "{regimen.schedule.every_hours or "N"} hours", times gives the first dose\'s time only: '
            f'list exactly one time, e.g. times = ["06:00"] (got {len(regimen.times)})'
        )
    if regimen.first_dose is not None:
        raise ValueError('with every = "N hours", times gives the first dose: leave out first_dose')


def _slug(text: str) -> str:
    """A short key for a blinded label; a label whose slug is over 40 characters keeps the first
    31 and a hash of the whole label, so that two long labels never share a key."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "drug"
    if len(slug) <= 40:
        return slug
    return f"{slug[:31].rstrip('-')}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


class Arm(Strict):
    id: Ident
    label: str = Field(min_length=1)
    regimens: list[str] = Field(min_length=1)


class VisitWindow(Strict):
    """How many days before (early) and after (late) its target a visit may take place."""

    early: int = Field(0, ge=0, le=366)
    late: int = Field(0, ge=0, le=366)


class Visit(Strict):
    """A clinic visit. See docs/visits-and-changes.md.

    The target is a study ``day`` (negative days are before day 1; there is no day 0), a
    ``week`` (week N is study day 7N + 1, the first day after N complete weeks: week 12 is
    day 85), or a ``days`` range ``[first, last]`` (e.g. screening, days -28 to -1: the
    target is the last day and the window reaches back to the first). ``anchor`` is "day1",
    another visit's id (the visit keeps its planned distance from that visit's scheduled
    date), or "<regimen id> cycle <n>" (it keeps its distance from that cycle's first day).
    With a dose anchor, "last dose of <regimen id>" or "<regimen id> cycle <n> day <m>", ``day``
    is the days after the anchor's date (0 = on it, negative = before it) and is the only target.
    """

    id: Ident
    name: str = Field(min_length=1)
    day: int | None = Field(None, ge=-3660, le=3660)
    week: int | None = Field(None, ge=1, le=520)
    days: list[int] | None = Field(None, min_length=2, max_length=2)
    window: VisitWindow = VisitWindow(early=0, late=0)
    anchor: str = "day1"
    time: TimeOfDay | None = None
    duration: Annotated[dt.timedelta | None, _wrap(parse_offset)] = None
    procedures: list[str] = []
    follow_up_after_withdrawal: bool = False
    after_last_dose_of: str | None = Field(
        None, description="an end-of-treatment visit: warn when it falls before this regimen's last dose"
    )
    names: Names = Field({}, description="the visit's name in the patients' languages")

    def name_in(self, language: str) -> str:
        return _in(language, self.names, self.name)

    @model_validator(mode="after")
    def _target(self) -> Visit:
        given = [k for k in ("day", "week", "days") if getattr(self, k) is not None]
        if self.dose_anchored:
            if given != ["day"]:
                raise ValueError(
                    f"anchor = {self.anchor!r} is a dose date: give day = <days after it> (0 = on that date, "
                    f"negative = before it), not {' and '.join(given) or 'no day'}"
                )
            if self.duration is not None and self.time is None:
                raise ValueError('duration needs a start time, e.g. time = "09:00"')
            return self
        if len(given) != 1:
            raise ValueError(f"give exactly one target: day = 15, week = 2 or days = [-28, -1]; got {given or 'none'}")
        if self.day == 0 or (self.days is not None and 0 in self.days):
            raise ValueError("there is no study day 0: day -1 is the day before day 1")
        if self.days is not None:
            if self.days[0] > self.days[1]:
                raise ValueError(f"days = {self.days}: the first day comes after the last")
            if "window" in self.model_fields_set:
                raise ValueError("a days range is its own window: leave out window")
        if self.duration is not None and self.time is None:
            raise ValueError('duration needs a start time, e.g. time = "09:00"')
        return self

    @property
    def dose_anchored(self) -> bool:
        """Anchored to a dose date ("last dose of X", "X cycle N day M"): ``day`` counts days after it."""
        from .visit_checks import is_dose_anchor

        return is_dose_anchor(self.anchor)

    @property
    def target_day(self) -> int:
        """The planned study day (for a range, its last day); for a dose-anchored visit, the days
        after its anchor's date (see :attr:`dose_anchored`)."""
        if self.week is not None:
            return 7 * self.week + 1
        if self.days is not None:
            return self.days[1]
        assert self.day is not None
        return self.day

    @property
    def early(self) -> int:
        if self.days is not None:
            return _day_gap(self.days[0], self.days[1])
        return self.window.early

    @property
    def late(self) -> int:
        return 0 if self.days is not None else self.window.late


def _country_codes() -> set[str]:
    """The country codes the holidays package knows (aliases such as UK too), read from its registry:
    ``holidays.list_supported_countries()`` would import every country's module (0.2 s) to list
    subdivisions the check does not need."""
    from holidays.registry import EntityLoader

    return set(EntityLoader.get_country_codes())


def _day_gap(first: int, last: int) -> int:
    """Calendar days from study day ``first`` to ``last`` (there is no day 0)."""
    return last - first - (1 if first < 0 < last else 0)


class ClinicPolicy(Strict):
    """Days the clinic is closed: named weekdays and the public holidays of a country (or region)."""

    closed_weekdays: list[Weekday] = []
    holidays: str | None = Field(None, description='ISO 3166 country code for public holidays, e.g. "CN"')
    subdivision: str | None = Field(None, description="region code within the country, e.g. a state")
    on_closed_day: Literal["warn", "move", "home"] = Field(
        "warn", description="what happens to an in-clinic dose on a closed day (see docs/visits-and-changes.md)"
    )
    move_window: VisitWindow | None = Field(None, description='with on_closed_day = "move": days a dose may move')
    min_days_between_doses: int = Field(
        1, ge=0, le=366, description="a moved dose keeps at least this many days from the regimen's other doses"
    )
    address: str | None = Field(None, min_length=1, max_length=200, description="the clinic's address, for patients")
    addresses: dict[str, Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        {}, description="per site (the cohort's site column): its address, where it differs from address"
    )

    def address_of(self, site: str) -> str | None:
        """The address of ``site`` (the clinic's address where the site has none of its own)."""
        return self.addresses.get(site, self.address)

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("closed_weekdays"), str):
            data = {**data, "closed_weekdays": [data["closed_weekdays"]]}
        return data

    @field_validator("holidays")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value not in _country_codes():
            raise ValueError(f'country {value!r} is not known to the holidays package; use a code such as "CN"')
        return value

    @model_validator(mode="after")
    def _subdivision(self) -> ClinicPolicy:
        if self.subdivision is not None:
            import holidays

            if self.holidays is None:
                raise ValueError("subdivision needs holidays = <country code>")
            known = list(getattr(holidays, self.holidays).subdivisions)
            if self.subdivision not in known:
                raise ValueError(f"{self.holidays} has no subdivision {self.subdivision!r} (known: {', '.join(known)})")
        if (self.on_closed_day == "move") != (self.move_window is not None):
            raise ValueError(
                'on_closed_day = "move" needs move_window = { early = 1, late = 1 } (days a dose may move), '
                'and move_window needs on_closed_day = "move"'
            )
        return self


class CalendarSettings(Strict):
    """How the patients' calendars read (``[calendar]``): their name and reminders."""

    name: str | None = Field(default=None, min_length=1, max_length=80, description='e.g. "Study medicines"')
    names: Names = Field(default={}, description="the calendar's name in the patients' languages")
    reminders: bool = Field(default=True, strict=True, description="alarms on the patients' calendars")
    remind: Offset = Field(default=dt.timedelta(minutes=30), description="alarm this long before each dose")
    remind_visits: Offset = Field(default=dt.timedelta(days=1), description="alarm this long before each visit")

    @model_validator(mode="after")
    def _named(self) -> CalendarSettings:
        if self.names and self.name is None:
            raise ValueError('names translate the calendar\'s name: give name = "..." too')
        return self

    def name_in(self, language: str) -> str | None:
        return None if self.name is None else _in(language, self.names, self.name)


class Protocol(Strict):
    study: Study
    patient_values: dict[str, PatientValue] = {}
    arms: list[Arm] = Field(min_length=1)
    regimens: list[Regimen] = Field(min_length=1)
    visits: list[Visit] = []
    clinic: ClinicPolicy | None = None
    calendar: CalendarSettings = CalendarSettings()
    source: str = Field("<protocol>", exclude=True)
    _by_id: tuple[list[Regimen], dict[str, Regimen]] | None = PrivateAttr(None)

    def regimen(self, regimen_id: str) -> Regimen:
        """The regimen with this id (a dict lookup, not a scan: checks call this once per regimen)."""
        if self._by_id is None or self._by_id[0] is not self.regimens:  # built for this very list
            self._by_id = (self.regimens, {r.id: r for r in reversed(self.regimens)})  # the first of a twice-used id
        return self._by_id[1][regimen_id]

    def arm(self, arm_id: str) -> Arm:
        for arm in self.arms:
            if arm.id == arm_id:
                return arm
        raise KeyError(arm_id)

    @property
    def regimen_ids(self) -> list[str]:
        return [r.id for r in self.regimens]
