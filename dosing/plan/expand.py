"""Protocol x cohort -> one row per planned dose, vectorised over patients.

No Python loop runs per dose or per patient-day: each regimen's schedule becomes a
patients x days boolean mask (:mod:`dosing.plan.schedule`), and its doses are the mask's
non-zero cells repeated over the regimen's times of day. Loops run only over regimens and
over distinct time zones.

Local wall-clock times are fixed: a dose at 08:00 stays at 08:00 local across
daylight-saving changes. A time that does not exist (inside a spring-forward gap) is read
as RFC 5545 reads it, with the offset in force before the gap (02:30 becomes 03:30 on a
one-hour gap); a time that occurs twice (fall-back) is the first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import CohortError, ProtocolError
from ..protocol.checks import dependency_order
from ..protocol.formulas import absolute_doses, is_computed, values_needed
from ..protocol.model import Protocol, Regimen
from ..protocol.safety import once_weekly_regimens
from ..protocol.values import WEEKDAYS
from .cohort import Cohort
from .durations import duration_minutes
from .hourly import NO_INSTANT, PatientClock, TimedDoses, hourly_doses
from .relative import relative_doses
from .schedule import DayPlan, Patients, day_plan
from .steps import check_covered, planned_amounts

if TYPE_CHECKING:
    from .clinic_calendar import ClinicCalendar

NS_PER_MINUTE = 60_000_000_000
NS_PER_DAY = 1440 * NS_PER_MINUTE
_CLOCK = np.array([f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)], dtype=object)
_CLOCK_COMPACT = np.array([f"{m // 60:02d}{m % 60:02d}" for m in range(1440)], dtype=object)

#: Planned doses at most: a dose costs about 290 bytes of memory at its peak (10,000 seed
#: patients, 6.93 M doses: 2.0 GB for ``dosing validate``), so the limit is about 3 GiB.
MAX_PLANNED_DOSES = 10_000_000

#: Columns of the table returned by :func:`expand`, in order.
COLUMNS = [
    "patient_id",
    "arm",
    "regimen",
    "drug",
    "label",
    "dose",
    "unit",
    "route",
    "instructions",
    "date",
    "time",
    "timezone",
    "weekday",
    "study_day",
    "planned_at",
    "duration_minutes",
    "cycle",
    "cycle_day",
    "dose_number",
    "uid",
    "held",
    "sequence",
    "once_weekly",
    "in_clinic",
    "dose_basis",
]


@dataclass
class _Rows:
    """Doses of one regimen as aligned arrays (patient index, study day, time slot...)."""

    patient: np.ndarray
    day: np.ndarray
    slot: np.ndarray
    minutes: np.ndarray
    dose: np.ndarray
    cycle: np.ndarray
    cycle_day: np.ndarray
    regimen: np.ndarray
    planned_day: np.ndarray  # the day before a closed-clinic move (names the dose in its uid)
    home: np.ndarray  # an in-clinic dose given at home: the clinic is closed that day
    basis: np.ndarray  # code of the dose's dose_basis text (see :class:`_Bases`)
    instant: np.ndarray  # UTC ns of a dose fixed in elapsed time (plan/hourly.py, relative.py), else NO_INSTANT


def expand(protocol: Protocol, cohort: Cohort) -> pd.DataFrame:
    """Every planned dose of every patient, sorted by patient, time and regimen (a placebo in the
    place of its active drug, so that the order is the same in every arm).

    Columns (see :data:`COLUMNS`): ``date`` (YYYY-MM-DD) and ``time`` (HH:MM) are local to
    the patient's ``timezone``; ``planned_at`` is the same instant, zone-aware in UTC;
    ``study_day`` counts from 1 on the patient's start date; ``duration_minutes`` is the regimen's
    ``duration`` (an infusion; 0: none, see :mod:`dosing.plan.durations` for its end); ``cycle`` and
    ``cycle_day`` are <NA> for regimens without cycles; ``dose_number`` counts each patient's doses of
    one regimen as shown (per blinded label; two regimens of one drug, a bolus and an infusion, are
    counted apart) from 1; ``uid`` is stable across runs and does
    not depend on the arm; ``held`` marks doses a changes file holds (never given, not
    made up; always False here) and ``sequence`` is the iCalendar SEQUENCE of the dose's
    event (0 here; raised when a change moves or alters the dose). ``in_clinic`` is the
    regimen's ``in_clinic``, false for a dose the clinic's ``on_closed_day = "home"`` sends home;
    ``"move"`` moves a dose off a closed day (see :mod:`dosing.plan.clinic_days`) and says so in its
    ``instructions``. ``dose_basis`` (unblinded only) is how a computed dose was computed (see
    :mod:`dosing.protocol.formulas`), "" for a fixed dose.
    """
    _check_values(protocol, cohort)
    frame = cohort.patients
    patients = Patients.of(protocol, frame)
    order = {rid: i for i, rid in enumerate(protocol.regimen_ids)}
    masks: dict[str, np.ndarray] = {}
    parts: list[_Rows] = []
    by_id: dict[str, _Rows] = {}
    calendar = _clinic_calendar(protocol, frame)
    bases = _Bases(cohort.source)
    for regimen_id in dependency_order(protocol):
        regimen = protocol.regimen(regimen_id)
        if regimen.prn:  # as needed: no planned doses (dosing.protocol.prn; judged by dosing.adherence.prn)
            continue
        plan = day_plan(regimen.schedule, patients, masks)
        receives = _receives(protocol, regimen_id, frame["arm"].to_numpy())
        mask = np.broadcast_to(plan.mask, (patients.n, patients.last_day)) & receives[:, None]
        if regimen.hourly or regimen.schedule.relative_to is not None:
            parts.append(_timed_rows(protocol, regimen, order[regimen_id], (plan, mask, receives), frame, by_id, bases))
        else:
            parts.append(_regimen_rows(protocol, regimen, order[regimen_id], plan, mask, frame, bases))
        if regimen.in_clinic and calendar is not None and regimen.schedule.relative_to is None:
            _closed_days(protocol, calendar, parts[-1], frame)
        by_id[regimen_id] = parts[-1]
        _check_size(parts, cohort)
        masks[regimen_id] = _dose_days(parts[-1], mask.shape)
    return _table(protocol, frame, parts, calendar, bases.texts)


def _clinic_calendar(protocol: Protocol, frame: pd.DataFrame) -> ClinicCalendar | None:
    """The clinic's closed days over the study's dates, when a policy may move or send doses home."""
    from .clinic_calendar import ClinicCalendar

    policy = protocol.clinic
    if policy is None or policy.on_closed_day == "warn" or not any(r.in_clinic for r in protocol.regimens):
        return None
    if frame.empty:
        return None
    first, last = frame["start_date"].min().year, frame["start_date"].max().year
    return ClinicCalendar(policy, range(first - 1, last + protocol.study.last_day // 365 + 2))


def _closed_days(protocol: Protocol, calendar: ClinicCalendar, rows: _Rows, frame: pd.DataFrame) -> None:
    """Apply ``on_closed_day`` to one in-clinic regimen's rows, in place (per dosing day)."""
    from .clinic_days import DosingDays, closed_day_plan

    assert protocol.clinic is not None
    last_day = protocol.study.last_day
    key = rows.patient.astype(np.int64) * (last_day + 2) + rows.day
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    start = frame["start_date"].to_numpy().astype("datetime64[D]")
    patient, day = rows.patient[first], rows.day[first]
    cycle_day = np.where(rows.cycle[first] > 0, rows.cycle_day[first], 0)
    days = DosingDays(patient, day, start[patient] + (day - 1), cycle_day)
    new, home = closed_day_plan(protocol.clinic, calendar, days, last_day)
    shift = (new - day)[inverse]
    rows.day = rows.day + shift
    rows.instant = np.where(rows.instant != NO_INSTANT, rows.instant + shift * NS_PER_DAY, rows.instant)
    rows.cycle_day = np.where(rows.cycle > 0, rows.cycle_day + shift, rows.cycle_day)
    rows.home = home[inverse]


def _check_size(parts: list[_Rows], cohort: Cohort) -> None:
    """Refuse a plan over :data:`MAX_PLANNED_DOSES` before its table (most of the memory) is built."""
    planned = sum(len(part.patient) for part in parts)
    if planned > MAX_PLANNED_DOSES:
        raise CohortError(
            f"{len(cohort):,} patients would have more than {MAX_PLANNED_DOSES:,} planned doses, the limit that "
            "keeps memory under about 3 GiB (see the README's 'Input files and limits')",
            source=cohort.source,
            hint="split the cohort (e.g. by site) and run each part with its own --out",
        )


def _dose_days(rows: _Rows, shape: tuple[int, int]) -> np.ndarray:
    """The days that really carry a dose, after ``count`` and ``first_dose``: what ``after``
    and ``except_days_of`` of other regimens refer to."""
    days = np.zeros(shape, dtype=bool)
    days[rows.patient, rows.day - 1] = True
    return days


def _check_values(protocol: Protocol, cohort: Cohort) -> None:
    """A patient value declared ``required = false`` may be blank, but not for a patient who
    receives a regimen that needs it (for the dose, the time or the weekday)."""
    frame = cohort.patients
    for regimen in protocol.regimens:
        receives = _receives(protocol, regimen.id, frame["arm"].to_numpy())
        for name in _values_used(regimen):
            blank = receives & frame[name].isna().to_numpy()
            if blank.any():
                first = int(np.flatnonzero(blank)[0])
                raise CohortError(
                    f"patient {frame['patient_id'].iloc[first]!r} has no {name}, which regimen {regimen.id!r} needs",
                    source=cohort.source,
                    where=f"column {name!r}",
                    hint=f"fill in {name} for every patient whose arm receives {regimen.id!r}",
                )


def _values_used(regimen: Regimen) -> list[str]:
    phases = regimen.schedule.phases or [regimen.schedule]
    names = [*values_needed(regimen.dose), regimen.times_from, *(s.weekday_from for s in phases)]
    return [name for name in names if name is not None]


def _receives(protocol: Protocol, regimen_id: str, arms: np.ndarray) -> np.ndarray:
    return np.isin(arms, [a.id for a in protocol.arms if regimen_id in a.regimens])


def _regimen_rows(
    protocol: Protocol,
    regimen: Regimen,
    index: int,
    plan: DayPlan,
    mask: np.ndarray,
    frame: pd.DataFrame,
    bases: _Bases,
) -> _Rows:
    patient, day_index = np.nonzero(mask)
    cycle = np.broadcast_to(plan.cycle, mask.shape)[patient, day_index]
    cycle_day = np.broadcast_to(plan.cycle_day, mask.shape)[patient, day_index]
    clock = None if regimen.times is None else np.array([t.hour * 60 + t.minute for t in regimen.times])
    per_day = 1 if clock is None else len(clock)
    patient, day_index, cycle, cycle_day = (np.repeat(a, per_day) for a in (patient, day_index, cycle, cycle_day))
    slot = np.tile(np.arange(per_day), len(patient) // per_day)
    if regimen.first_dose is not None and clock is not None:
        first = int(np.flatnonzero(clock == regimen.first_dose.hour * 60 + regimen.first_dose.minute)[0])
        day_index, cycle_day, slot = _from_first_dose(first, per_day, day_index, cycle, cycle_day, slot)
        _check_inside(protocol, regimen, day_index)
    minutes = (
        clock[slot] if clock is not None else frame[regimen.times_from].fillna(0).to_numpy(dtype=np.int64)[patient]
    )
    dose, basis = bases.doses(protocol, regimen, frame, patient, (day_index + 1, cycle))
    rows = _Rows(
        patient,
        day_index + 1,
        slot,
        minutes,
        dose,
        cycle,
        cycle_day,
        np.full(len(patient), index, dtype=np.int16),
        (day_index + 1).astype(np.int16),
        np.zeros(len(patient), dtype=bool),
        basis,
        np.full(len(patient), NO_INSTANT, dtype=np.int64),
    )
    if regimen.schedule.count is not None:
        rows = _limit_count(rows, regimen.schedule.count)
    check_covered(protocol, regimen, rows.dose, rows.day, rows.cycle)
    return rows


def _timed_rows(
    protocol: Protocol,
    regimen: Regimen,
    index: int,
    days: tuple[DayPlan, np.ndarray, np.ndarray],
    frame: pd.DataFrame,
    by_id: dict[str, _Rows],
    bases: _Bases,
) -> _Rows:
    """The doses of a regimen given every N hours (:mod:`dosing.plan.hourly`) or relative to another
    regimen's doses (:mod:`dosing.plan.relative`)."""
    plan, mask, receives = days
    who = PatientClock(
        frame["start_date"].to_numpy().astype("datetime64[ns]").astype(np.int64),
        frame["timezone"].to_numpy(dtype=str),
    )
    s = regimen.schedule
    if s.relative_to is not None:
        anchor = by_id[s.relative_to]
        anchor_doses = TimedDoses(*(getattr(anchor, k) for k in TimedDoses.__dataclass_fields__))
        timed = relative_doses(regimen, anchor_doses, _localise(frame, anchor)[0], receives, who, protocol)
    else:
        if regimen.times is not None:
            first = np.full(len(frame), regimen.times[0].hour * 60 + regimen.times[0].minute, dtype=np.int64)
        else:
            first = frame[regimen.times_from].fillna(0).to_numpy(dtype=np.int64)
        assert s.every_hours is not None
        cells = (mask, plan.cycle, plan.cycle_day)
        timed = hourly_doses(s.every_hours, s.clock or "elapsed", cells, first, who, wall_clock_to_utc)
    n = len(timed.patient)
    dose, basis = bases.doses(protocol, regimen, frame, timed.patient, (timed.day, timed.cycle))
    rows = _Rows(
        timed.patient,
        timed.day,
        timed.slot,
        timed.minutes,
        dose,
        timed.cycle,
        timed.cycle_day,
        np.full(n, index, dtype=np.int16),
        timed.planned_day.astype(np.int16),
        np.zeros(n, dtype=bool),
        basis,
        timed.instant,
    )
    if s.count is not None:
        rows = _limit_count(rows, s.count)
    check_covered(protocol, regimen, rows.dose, rows.day, rows.cycle)
    return rows


def _from_first_dose(
    first: int, per_day: int, day_index: np.ndarray, cycle: np.ndarray, cycle_day: np.ndarray, slot: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move every dose ``first`` time slots later (the sequence starts at the ``first``-th time of
    the first day); a dose moved into the next day keeps its cycle and counts its cycle day on."""
    slot = slot + first
    moved = slot // per_day
    return day_index + moved, np.where(cycle > 0, cycle_day + moved, cycle_day), slot % per_day


def _check_inside(protocol: Protocol, regimen: Regimen, day_index: np.ndarray) -> None:
    if len(day_index) and day_index.max() >= protocol.study.last_day:
        raise ProtocolError(
            f"with first_dose, the last dose of {regimen.id!r} would fall on study day "
            f"{int(day_index.max()) + 1}, after study.last_day ({protocol.study.last_day})",
            source=protocol.source,
            hint="raise study.last_day",
        )


class _Bases:
    """The doses of each regimen's rows (:func:`dosing.protocol.formulas.absolute_doses`, computed once per
    patient who receives the regimen, then spread over the patient's rows), and their ``dose_basis`` texts,
    each kept once: rows carry codes into :attr:`texts` ("" is code 0)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.texts: dict[str, int] = {"": 0}

    def doses(
        self,
        protocol: Protocol,
        regimen: Regimen,
        frame: pd.DataFrame,
        patient: np.ndarray,
        when: tuple[np.ndarray, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's dose and basis code (rows of ``patient``, indexes into ``frame``; ``when``: each
        row's study day and cycle, for the amounts of steps and titrations)."""
        dose = regimen.dose
        if planned_amounts(regimen, patient, *when) is None and dose.patient_value is None and not is_computed(dose):
            return np.full(len(patient), dose.amount, dtype=float), np.zeros(len(patient), dtype=np.int32)
        blinds = protocol.study.blinded and regimen.blinded_label is not None
        naming = (
            repr(regimen.blinded_label if blinds else regimen.id),
            protocol.study.blinded and regimen.blinded_dose is not None,
        )
        for twin in rounding_twins(protocol, regimen):  # its dose could fail in the other arm: fail alike
            self._computed(protocol, twin, frame, patient, when, naming)
        doses, basis, position = self._computed(protocol, regimen, frame, patient, when, naming)
        texts, codes = np.unique(basis.astype(str), return_inverse=True)
        lookup = np.array([self.texts.setdefault(str(t), len(self.texts)) for t in texts], dtype=np.int32)
        return doses[position], lookup[codes.reshape(-1)][position]

    def _computed(
        self,
        protocol: Protocol,
        regimen: Regimen,
        frame: pd.DataFrame,
        patient: np.ndarray,
        when: tuple[np.ndarray, np.ndarray],
        naming: tuple[str, bool],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The doses and bases of the distinct (patient, amount) pairs, and each row's position among them."""
        dose = regimen.dose
        varying = planned_amounts(regimen, patient, *when)  # NaN where no step covers: see check_covered
        if varying is None:
            who, position = _distinct(patient, len(frame))
            rows, amount = frame.iloc[who], None
        else:  # one computation per distinct (patient, amount)
            amounts, code = np.unique(np.nan_to_num(varying, nan=-1.0), return_inverse=True)
            code = code.reshape(-1)
            pairs, position = _distinct(patient.astype(np.int64) * len(amounts) + code, len(frame) * len(amounts))
            rows, amount = frame.iloc[pairs // len(amounts)], amounts[pairs % len(amounts)]
        covered = amount is None or amount >= 0
        doses = np.full(len(rows), np.nan)
        basis = np.full(len(rows), "", dtype=object)
        if np.any(covered):
            pick = np.flatnonzero(np.broadcast_to(covered, (len(rows),)))
            doses[pick], basis[pick] = absolute_doses(
                dose,
                rows.iloc[pick],
                None if amount is None else amount[pick],
                values=protocol.patient_values,
                name=naming[0],
                source=self.source,
                hide=naming[1],
            )
        return doses, basis, position


def rounding_twins(protocol: Protocol, regimen: Regimen) -> list[Regimen]:
    """In a blinded study, the regimens of ``regimen``'s blinded label whose doses differ behind a
    blinded_dose and are rounded (the same ``round``, checked at load), in the protocol's order and
    without ``regimen``: a patient's dose must be roundable under every one of them, or a rounding
    error would happen in one arm only and tell the arm (finding 5 of issue 13)."""
    if not protocol.study.blinded or regimen.blinded_label is None or regimen.blinded_dose is None:
        return []
    if regimen.dose.round_ is None and regimen.dose.round_to is None:
        return []
    return [r for r in protocol.regimens if r.blinded_label == regimen.blinded_label and r.id != regimen.id]


def _limit_count(rows: _Rows, count: int) -> _Rows:
    """Keep each patient's first ``count`` doses (rows are ordered by patient, day, slot)."""
    rank = np.arange(len(rows.patient)) - np.searchsorted(rows.patient, rows.patient, side="left")
    keep = rank < count
    return _Rows(**{name: getattr(rows, name)[keep] for name in rows.__dataclass_fields__})


def _concat(parts: list[_Rows]) -> _Rows:
    if not parts:  # every regimen is as-needed (a rescue-medication study): no planned doses
        return _no_rows()
    return _Rows(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in _Rows.__dataclass_fields__})


def _no_rows() -> _Rows:
    """No doses, with the dtypes of the rows the regimens give."""
    i64, i16 = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int16)
    return _Rows(
        np.zeros(0, dtype=np.intp), i64, i64, i64, np.zeros(0), i16, i16, i16, i16,
        np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int32), i64,
    )  # fmt: skip


def _localise(frame: pd.DataFrame, rows: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTC instants (ns) and local wall-clock (ns) of every dose, and each row's zone index."""
    start = frame["start_date"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    wall = start[rows.patient] + (rows.day.astype(np.int64) - 1) * NS_PER_DAY + rows.minutes * NS_PER_MINUTE
    zones, zone_of_patient = np.unique(frame["timezone"].to_numpy(dtype=str), return_inverse=True)
    zone_index = zone_of_patient[rows.patient]
    utc = np.empty_like(wall)
    local = np.empty_like(wall)
    fixed = rows.instant != NO_INSTANT
    timed = bool(fixed.any())
    for z, zone in enumerate(zones):
        pick = zone_index == z
        utc[pick], local[pick] = _to_utc(wall[pick], str(zone))
        if timed:  # fixed in elapsed time (plan/hourly.py, relative.py): the local time follows from the instant
            pick &= fixed
            utc[pick] = rows.instant[pick]
            index = pd.DatetimeIndex(utc[pick].astype("datetime64[ns]")).tz_localize("UTC")
            local[pick] = index.tz_convert(str(zone)).tz_localize(None).asi8
    return utc, local, zone_index


def wall_clock_to_utc(wall: np.ndarray, zone: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC instants (ns) and the local wall-clock shown for them (ns) of local wall-clock times
    (naive ns) in ``zone``, by the rules of this module (a time in a spring-forward gap is read
    with the offset before the gap; a repeated time is its first occurrence)."""
    return _to_utc(wall, zone)


def planned_minutes(uids: np.ndarray) -> np.ndarray:
    """The planned time of day (minutes after midnight) each dose's uid names (see :func:`_uids`):
    the regimen's time before any daylight-saving adjustment (02:30 even where 02:30 does not exist)."""
    clock = pd.Series(uids, dtype=object).str.extract(r"\.d\d+\.(\d\d)(\d\d)@[^@]*$").astype(float)
    if clock.isna().any().any():
        raise ValueError("a dose uid does not name its planned time (<patient>.<drug>.d<day>.<HHMM>@...)")
    return (clock[0] * 60 + clock[1]).to_numpy(dtype=np.int64)


def clock_text(minutes: np.ndarray) -> np.ndarray:
    """``HH:MM`` of minutes after midnight, as the ``time`` column shows them."""
    return _CLOCK[minutes]


def utc_text(planned_at: pd.Series) -> pd.Categorical:
    """``planned_utc``: each dose's instant as ISO 8601 in UTC with ``Z`` (``2027-11-07T06:30:00Z``),
    never ambiguous where a local time repeats; one string is made per distinct instant."""
    instants = planned_at.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
    codes, distinct = pd.factorize(instants)
    text = np.datetime_as_string(np.asarray(distinct, dtype="datetime64[s]"), unit="s", timezone="UTC")
    return pd.Categorical.from_codes(codes, categories=pd.Index(text))


def _to_utc(wall: np.ndarray, zone: str) -> tuple[np.ndarray, np.ndarray]:
    naive = pd.DatetimeIndex(wall.astype("datetime64[ns]"))
    first = np.ones(len(naive), dtype=bool)
    aware = naive.tz_localize(zone, ambiguous=first, nonexistent="NaT")
    utc = aware.tz_convert("UTC").tz_localize(None).asi8.copy()
    gap = np.asarray(aware.isna())
    if gap.any():
        before = (naive[gap] - pd.Timedelta(days=1)).tz_localize(
            zone, ambiguous=first[gap], nonexistent="shift_forward"
        )
        offset = before.tz_localize(None).asi8 - before.tz_convert("UTC").tz_localize(None).asi8
        utc[gap] = naive[gap].asi8 - offset
    local = pd.DatetimeIndex(utc.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(zone).tz_localize(None)
    return utc, local.asi8


def _table(
    protocol: Protocol,
    frame: pd.DataFrame,
    parts: list[_Rows],
    calendar: ClinicCalendar | None = None,
    bases: dict[str, int] | None = None,
) -> pd.DataFrame:
    rows, utc, local, zone_index = _in_order(protocol, frame, parts)
    out = _what_columns(protocol, frame, rows)
    if calendar is not None:
        _closed_day_notes(out, frame, rows, calendar)
    _when_columns(out, frame, rows, utc, local, zone_index)
    out["duration_minutes"] = duration_minutes(protocol)[rows.regimen]
    shown = _categorical(rows.regimen, [r.display_key for r in protocol.regimens])  # one count per regimen as shown
    out["dose_number"] = out.groupby([out["patient_id"], shown], observed=True, sort=False).cumcount().to_numpy() + 1
    out["uid"] = _uids(protocol, frame, rows)
    out["held"] = False
    out["sequence"] = np.zeros(len(out), dtype=np.int16)
    weekly = once_weekly_regimens(protocol)
    out["once_weekly"] = np.array([r.id in weekly for r in protocol.regimens], dtype=bool)[rows.regimen]
    out["in_clinic"] = np.array([r.in_clinic for r in protocol.regimens], dtype=bool)[rows.regimen] & ~rows.home
    out["dose_basis"] = pd.Categorical.from_codes(rows.basis, categories=pd.Index(list(bases or {"": 0})))
    return out[COLUMNS]


def _closed_day_notes(out: pd.DataFrame, frame: pd.DataFrame, rows: _Rows, calendar: ClinicCalendar) -> None:
    """Doses moved off, or sent home on, a closed clinic day say so in their instructions."""
    from .clinic_days import closed_note, with_text

    pick = np.flatnonzero(rows.home | (rows.day != rows.planned_day))
    if not len(pick):
        return
    start = frame["start_date"].to_numpy().astype("datetime64[D]")
    planned = start[rows.patient[pick]] + (rows.planned_day[pick] - 1)
    note = closed_note(calendar.closed(planned), rows.home[pick], planned)
    given = out["instructions"].to_numpy(dtype=object)[pick]
    text = np.where(given == "", note, given + "; " + note)
    out["instructions"] = with_text(out["instructions"], pick, text)


def _in_order(
    protocol: Protocol, frame: pd.DataFrame, parts: list[_Rows]
) -> tuple[_Rows, np.ndarray, np.ndarray, np.ndarray]:
    """All ``parts`` sorted by patient, instant and blinded group, with their UTC and local
    instants (ns) and zone indexes. Empties ``parts`` so that each copy of the rows is freed as
    soon as the next exists (for 10,000 patients a copy is about 300 MB)."""
    rows = _concat(parts)
    parts.clear()
    utc, local, zone_index = _localise(frame, rows)
    order = np.lexsort((_blinded_rank(protocol)[rows.regimen], utc, rows.patient))
    rows = _Rows(**{name: getattr(rows, name)[order] for name in _Rows.__dataclass_fields__})
    return rows, utc[order], local[order], zone_index[order]


def _what_columns(protocol: Protocol, frame: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    """Who gets what: patient, arm, regimen, drug, label, dose, unit, route, instructions."""
    regs = protocol.regimens
    arms, arm_of_patient = np.unique(frame["arm"].to_numpy(dtype=str), return_inverse=True)
    return pd.DataFrame(
        {
            "patient_id": pd.Categorical.from_codes(rows.patient, categories=pd.Index(frame["patient_id"].astype(str))),
            "arm": pd.Categorical.from_codes(arm_of_patient[rows.patient], categories=pd.Index(arms)),
            "regimen": _categorical(rows.regimen, [r.id for r in regs]),
            "drug": _categorical(rows.regimen, [r.drug for r in regs]),
            "label": _categorical(rows.regimen, [r.blinded_label or r.drug for r in regs]),
            "dose": rows.dose,
            "unit": _categorical(rows.regimen, [r.dose.absolute_unit for r in regs]),
            "route": _categorical(rows.regimen, [r.route for r in regs]),
            "instructions": _categorical(rows.regimen, [r.instructions for r in regs]),
        }
    )


def _when_columns(
    out: pd.DataFrame, frame: pd.DataFrame, rows: _Rows, utc: np.ndarray, local: np.ndarray, zone_index: np.ndarray
) -> None:
    """When: date, time, timezone, weekday, study_day, planned_at, cycle, cycle_day."""
    local_day = local // NS_PER_DAY
    out["date"] = _day_strings(local_day)
    out["time"] = pd.Categorical.from_codes(
        (local % NS_PER_DAY) // NS_PER_MINUTE, categories=pd.Index(_CLOCK), ordered=True
    )
    out["time"] = out["time"].cat.remove_unused_categories()
    zones = np.unique(frame["timezone"].to_numpy(dtype=str))
    out["timezone"] = pd.Categorical.from_codes(zone_index, categories=pd.Index(zones))
    out["weekday"] = pd.Categorical.from_codes((local_day + 3) % 7, categories=pd.Index(list(WEEKDAYS)))
    out["study_day"] = rows.day.astype(np.int32)
    out["planned_at"] = pd.DatetimeIndex(utc.astype("datetime64[ns]")).tz_localize("UTC")
    cyclic = rows.cycle > 0
    out["cycle"] = pd.arrays.IntegerArray(rows.cycle.astype(np.int16), ~cyclic)
    out["cycle_day"] = pd.arrays.IntegerArray(rows.cycle_day.astype(np.int16), ~cyclic)


def _blinded_rank(protocol: Protocol) -> np.ndarray:
    """Per regimen, the position of the first regimen of its blinded group: doses at the same
    instant are ordered by it, so that the order of rows is the same in every arm."""
    keys = [r.display_key for r in protocol.regimens]
    return np.array([keys.index(key) for key in keys], dtype=np.int16)


def _categorical(codes: np.ndarray, values: list[str]) -> pd.Categorical:
    """Categories may repeat (two regimens of one drug): map codes onto the unique values."""
    unique, inverse = np.unique(np.array(values, dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(inverse[codes], categories=pd.Index(unique))


def _day_strings(day: np.ndarray) -> pd.Categorical:
    first = int(day.min()) if len(day) else 0
    span = np.arange(first, (int(day.max()) + 1) if len(day) else 0)
    text = np.datetime_as_string(span.astype("datetime64[D]"), unit="D")
    return pd.Categorical.from_codes(day - first, categories=pd.Index(text), ordered=True)


def _uids(protocol: Protocol, frame: pd.DataFrame, rows: _Rows) -> np.ndarray:
    """``<patient>.<drug key>.d<planned day>.<HHMM>@<study>.dosing``: stable across runs,
    independent of the arm (blinded groups share one key) and of later schedule changes.

    Only one string is made per dose, from two small tables: the prefixes of the (patient,
    regimen) pairs and the suffixes of the (study day, time of day) pairs that occur.
    """
    keys = np.array([r.display_key for r in protocol.regimens], dtype=object)
    pids = frame["patient_id"].to_numpy(dtype=object)
    pairs, head = _distinct(rows.patient.astype(np.int64) * len(keys) + rows.regimen, len(pids) * len(keys))
    prefix = pids[pairs // len(keys)] + "." + keys[pairs % len(keys)]
    days = np.array([f".d{d:03d}." for d in range(protocol.study.last_day + 2)], dtype=object)
    slots, tail = _distinct(rows.planned_day.astype(np.int64) * 1440 + rows.minutes, len(days) * 1440)
    suffix = days[slots // 1440] + _CLOCK_COMPACT[slots % 1440] + f"@{protocol.study.id.lower()}.dosing"
    return prefix[head] + suffix[tail]


def _distinct(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``codes`` (each in ``0 .. size - 1``) and every code's position
    among them: like ``np.unique(..., return_inverse=True)``, but O(n + size), without sorting."""
    present = np.flatnonzero(np.bincount(codes, minlength=size))
    position = np.zeros(size, dtype=np.int64)
    position[present] = np.arange(len(present))
    return present, position[codes]
