"""Regimens scheduled relative to a delayed one, re-derived from its moved doses. Pure, vectorised
(loops run over change rows and regimens, never over doses or patient-days).

When a ``delay`` moves doses of regimen X (cycle ``c`` and later by ``days``), before the delays are
applied (see :func:`dosing.plan.apply_changes.apply_changes`):

* a regimen ``after = X`` (``offset`` days after each dose of X) moves with the dose of X it follows:
  its dose on day ``d`` follows X's dose on day ``d - offset`` and moves as far (same planned wall-clock
  time, its uid kept). A dose that would leave the regimen's own days (``end_day``, ``study.last_day``)
  is not given, as :func:`dosing.plan.expand` would not plan it. Chains (``after`` a regimen that is
  itself ``after`` X) follow too.
* a regimen ``except_days_of = X`` loses its doses on the days X moved onto and gains doses on the days
  X left (where its own pattern and window have a dose): new doses are named like planned ones
  (``<patient>.<drug>.d<day>.<HHMM>@...``), with the dose and instructions of the patient's other doses
  of the regimen; the regimen's doses of that patient are numbered again (``dose_number``).
* SEQUENCE: each moved or new dependent dose counts the delay rows that moved it (``after``), or the
  delay rows of X (``except_days_of``: every dose of the dependent from the delayed cycle's planned first
  day on counts them, so the recurring events that changed rise in SEQUENCE); ``changed_on`` is the
  latest of their dates.

Holds and stops of X change nothing here: a held dose of X is still a planned day of X (its
``except_days_of`` dependent gets no dose that day), and a stop of X leaves its dependents as planned
(stop them with their own ``stop`` rows). Not re-derived: dependents inside ``phases``, an
``except_days_of`` regimen whose own pattern is ``after`` or ``weekday_from``, or which has ``count``
or ``first_dose``, and regimens relative to an ``except_days_of`` dependent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..protocol.checks import dependency_order
from ..protocol.model import Protocol, Regimen
from ..protocol.values import WEEKDAYS
from .changes import Changes, each_row
from .expand import NS_PER_DAY, NS_PER_MINUTE, clock_text, planned_minutes, wall_clock_to_utc
from .schedule import Patients, day_plan, window

NAT = np.datetime64("NaT", "ns")


@dataclass
class DependentMoves:
    """Per row of the (re-derived) changed patients' table: days to move, change rows to count, latest date."""

    shift: np.ndarray
    touches: np.ndarray
    stamp: np.ndarray


class _Days:
    """The changed patients' rows by patient and study day: lookups of shifts, counts and dates."""

    def __init__(self, sub: pd.DataFrame, last_day: int) -> None:
        pids = sub["patient_id"].astype(str).to_numpy()
        self.ids, self.patient = np.unique(pids, return_inverse=True)
        self.day = sub["study_day"].to_numpy(dtype=np.int64)
        self.width = last_day + 2

    def grid(self, rows: np.ndarray, values: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
        out = np.full((len(self.ids), self.width), fill, dtype=dtype)
        out[self.patient[rows], np.clip(self.day[rows], 0, self.width - 1)] = values
        return out


def rederive_dependents(sub: pd.DataFrame, changes: Changes) -> tuple[pd.DataFrame, DependentMoves | None]:
    """``sub`` (the changed patients' rows, before any change) with the ``except_days_of`` dependents of
    delayed regimens re-derived, and the moves of the ``after`` dependents (None: nothing to do)."""
    delays = changes.of("delay")
    if delays.empty or changes.view is None or sub.empty:
        return sub, None
    protocol = changes.view.protocol
    if not any(_depends(r) for r in protocol.regimens):
        return sub, None
    regimen = sub["regimen"].astype(str).to_numpy()
    shift, touches, stamp = _delayed(sub, delays)
    moved = set(regimen[shift != 0])
    for rid in dependency_order(protocol):
        schedule = protocol.regimen(rid).schedule
        if schedule.phases is not None:
            continue
        if schedule.after is not None and schedule.after in moved:
            _follow(sub, regimen, rid, schedule.after, schedule.after_days, (shift, touches, stamp), protocol)
            moved.add(rid)
        elif set(schedule.except_days_of or []) & moved and _rederivable(protocol.regimen(rid)):
            sub, (shift, touches, stamp) = _except_days(sub, protocol, rid, (shift, touches, stamp), delays)
            regimen = sub["regimen"].astype(str).to_numpy()
    pair = sub["patient_id"].astype(str).to_numpy() + "\x1f" + regimen  # not \0: numpy strips trailing NULs
    delayed = delays["patient_id"].astype(str) + "\x1f" + delays["regimen"].astype(str)
    mine = ~np.isin(pair, delayed.to_numpy())  # apply_changes moves the delayed regimens' own rows
    keep = ~((shift == _GONE) & mine)
    moves = DependentMoves(np.where(mine & keep, shift, 0), np.where(mine, touches, 0), np.where(mine, stamp, NAT))
    return sub[keep], DependentMoves(moves.shift[keep], moves.touches[keep], moves.stamp[keep])


_GONE = np.iinfo(np.int64).min  # a dependent dose moved outside its regimen's days: not given


def _depends(regimen: Regimen) -> bool:
    return regimen.schedule.after is not None or bool(regimen.schedule.except_days_of)


def _rederivable(regimen: Regimen) -> bool:
    s = regimen.schedule
    return s.after is None and s.weekday_from is None and s.count is None and regimen.first_dose is None


def _delayed(sub: pd.DataFrame, delays: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days each row of a delayed regimen moves (the rule of ``apply_changes``), delay rows, latest date."""
    pids = sub["patient_id"].astype(str).to_numpy()
    regimen = sub["regimen"].astype(str).to_numpy()
    cycle = sub["cycle"].to_numpy(dtype=float, na_value=np.nan)
    shift = np.zeros(len(sub), dtype=np.int64)
    touches = np.zeros(len(sub), dtype=np.int64)
    stamp = np.full(len(sub), NAT, dtype="datetime64[ns]")
    for row in each_row(delays):
        mask = (pids == row.patient_id) & (regimen == row.regimen) & (cycle >= row.cycle)
        shift[mask] += int(row.days)
        touches[mask] += 1
        stamp[mask] = _latest(stamp[mask], row.date.to_datetime64())
    return shift, touches, stamp


def _latest(current: np.ndarray, when: np.datetime64) -> np.ndarray:
    return np.where(np.isnat(current), when, np.maximum(current, when))


def _follow(
    sub: pd.DataFrame,
    regimen: np.ndarray,
    rid: str,
    source: str,
    offset: int,
    state: tuple[np.ndarray, np.ndarray, np.ndarray],
    protocol: Protocol,
) -> None:
    """``rid`` is ``after = source``: each dose moves as far as the source dose it follows (in place)."""
    shift, touches, stamp = state
    days = _Days(sub, protocol.study.last_day)
    src = np.flatnonzero(regimen == source)
    mine = np.flatnonzero(regimen == rid)
    at = (days.patient[mine], np.clip(days.day[mine] - offset, 0, days.width - 1))
    shift[mine] = days.grid(src, shift[src], 0, np.int64)[at]
    touches[mine] = days.grid(src, touches[src], 0, np.int64)[at]
    stamp[mine] = days.grid(src, stamp[src], NAT, "datetime64[ns]")[at]
    first, stop = window(protocol.regimen(rid).schedule, protocol.regimen(rid).schedule.start_day, days.width - 2)
    new = days.day[mine] + shift[mine]
    shift[mine] = np.where((new >= first) & (new < stop), shift[mine], _GONE)


def _except_days(
    sub: pd.DataFrame,
    protocol: Protocol,
    rid: str,
    state: tuple[np.ndarray, np.ndarray, np.ndarray],
    delays: pd.DataFrame,
) -> tuple[pd.DataFrame, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``rid`` is ``except_days_of`` moved regimens: drop its doses on their new days, add doses on the
    days they left (where its own pattern has one), and count the delays on its later doses."""
    shift, touches, stamp = state
    last_day = protocol.study.last_day
    days = _Days(sub, last_day)
    regimen = sub["regimen"].astype(str).to_numpy()
    schedule = protocol.regimen(rid).schedule
    before = np.zeros((len(days.ids), days.width), dtype=bool)
    after = np.zeros_like(before)
    for other in schedule.except_days_of or []:
        rows = np.flatnonzero(regimen == other)
        before[days.patient[rows], days.day[rows]] = True
        after[days.patient[rows], np.clip(days.day[rows] + shift[rows], 0, days.width - 1)] = True
    mine = np.flatnonzero(regimen == rid)
    base = _pattern_days(sub, protocol, rid, days)
    have = np.zeros_like(before)
    have[days.patient[mine], days.day[mine]] = True
    gone = mine[after[days.patient[mine], days.day[mine]]]
    added = base & before & ~after & ~have
    added[~have.any(axis=1)] = False  # no dose of the regimen to take its dose and times from
    keep = np.ones(len(sub), dtype=bool)
    keep[gone] = False
    extra = _new_rows(sub, mine, days, added, protocol)
    extra.index = pd.RangeIndex(min(int(sub.index.min()), 0) - len(extra), min(int(sub.index.min()), 0))
    out = _categories_kept(pd.concat([sub[keep], extra]) if len(extra) else sub[keep], sub)
    n = len(extra)
    shift = np.concatenate([shift[keep], np.zeros(n, dtype=np.int64)])
    touches = np.concatenate([touches[keep], np.zeros(n, dtype=np.int64)])
    stamp = np.concatenate([stamp[keep], np.full(n, NAT, dtype="datetime64[ns]")])
    _count_delays(out, rid, schedule.except_days_of or [], delays, touches, stamp)
    if len(gone) or n:
        _renumber(out, rid)
    return out, (shift, touches, stamp)


def _pattern_days(sub: pd.DataFrame, protocol: Protocol, rid: str, days: _Days) -> np.ndarray:
    """(patients, day) the regimen's own pattern and window would dose on, ignoring its exceptions,
    for the patients whose arm receives it."""
    schedule = protocol.regimen(rid).schedule.model_copy(update={"except_days_of": None})
    first = np.unique(days.patient, return_index=True)[1]
    weekday = sub["weekday"].astype(str).map({w: i for i, w in enumerate(WEEKDAYS)}).to_numpy(dtype=np.int64)
    start_weekday = (weekday[first] - (days.day[first] - 1)) % 7
    patients = Patients(start_weekday, {}, protocol.study.last_day)
    plan = day_plan(schedule, patients, {})
    mask = np.zeros((len(days.ids), days.width), dtype=bool)
    mask[:, 1 : protocol.study.last_day + 1] = np.broadcast_to(plan.mask, (len(days.ids), protocol.study.last_day))
    arms = sub["arm"].astype(str).to_numpy()[first]
    receives = np.isin(arms, [a.id for a in protocol.arms if rid in a.regimens])
    return mask & receives[:, None]


def _new_rows(sub: pd.DataFrame, mine: np.ndarray, days: _Days, added: np.ndarray, protocol: Protocol) -> pd.DataFrame:
    """Doses of ``mine``'s regimen on the ``added`` (patient, day) cells, copied from each patient's
    doses of its first day (one per time of day) and placed on the new day."""
    patient, day = np.nonzero(added)
    if not len(patient):
        return sub.iloc[:0]
    first_day = np.full(len(days.ids), np.iinfo(np.int64).max)
    np.minimum.at(first_day, days.patient[mine], days.day[mine])
    template = mine[days.day[mine] == first_day[days.patient[mine]]]
    per = template[np.argsort(days.patient[template], kind="stable")]
    counts = np.bincount(days.patient[per], minlength=len(days.ids))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    reps = counts[patient]
    rows = per[np.repeat(starts[patient], reps) + _ranks(reps)]
    new_day = np.repeat(day, reps)
    extra = sub.iloc[rows].copy()
    _place(extra, new_day, protocol)
    return extra


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0 .. n-1 for each n in ``counts``, concatenated."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def _place(extra: pd.DataFrame, new_day: np.ndarray, protocol: Protocol) -> None:
    """Put copied doses on ``new_day`` at their planned wall-clock time, named for that day."""
    old_day = extra["study_day"].to_numpy(dtype=np.int64)
    dates = extra["date"].astype(str).to_numpy().astype("datetime64[D]")
    start = dates - (old_day - 1)
    minutes = planned_minutes(extra["uid"].astype(str).to_numpy())
    wall = (start + (new_day - 1)).astype("datetime64[ns]").astype(np.int64) + minutes * NS_PER_MINUTE
    utc = np.zeros(len(extra), dtype=np.int64)
    local = np.zeros(len(extra), dtype=np.int64)
    zones = extra["timezone"].astype(str).to_numpy()
    for zone in np.unique(zones):
        pick = zones == zone
        utc[pick], local[pick] = wall_clock_to_utc(wall[pick], str(zone))
    local_day = local // NS_PER_DAY
    extra["date"] = np.datetime_as_string(local_day.astype("datetime64[D]"), unit="D")
    extra["time"] = clock_text((local % NS_PER_DAY) // NS_PER_MINUTE)
    extra["weekday"] = np.array(WEEKDAYS, dtype=object)[(local_day + 3) % 7]
    extra["planned_at"] = pd.DatetimeIndex(utc.astype("datetime64[ns]")).tz_localize("UTC")
    extra["study_day"] = new_day.astype(extra["study_day"].to_numpy().dtype)
    head = extra["uid"].astype(str).str.extract(r"^(.*)\.d\d+\.(\d{4}@[^@]*)$")  # the format planned_minutes reads
    extra["uid"] = head[0] + pd.Series([f".d{d:03d}." for d in new_day], index=extra.index) + head[1]
    extra["held"] = False
    cycle_len = protocol.regimen(str(extra["regimen"].iloc[0])).schedule.cycle_period
    if cycle_len:  # a cyclic dependent: its cycle and cycle day where the new day falls
        first = protocol.regimen(str(extra["regimen"].iloc[0])).schedule.start_day
        extra["cycle"] = pd.array((new_day - first) // cycle_len + 1, dtype="Int16")
        extra["cycle_day"] = pd.array((new_day - first) % cycle_len + 1, dtype="Int16")


def _categories_kept(out: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """The categorical columns of ``like`` stay categorical (with the new values among the categories)."""
    for column in like.columns:
        dtype = like[column].dtype
        if isinstance(dtype, pd.CategoricalDtype) and not isinstance(out[column].dtype, pd.CategoricalDtype):
            values = out[column].astype(str)
            union = list(dtype.categories) + sorted(set(values) - set(map(str, dtype.categories)))
            out[column] = pd.Categorical(values, categories=union, ordered=dtype.ordered)
    return out


def _count_delays(
    out: pd.DataFrame,
    rid: str,
    sources: list[str],
    delays: pd.DataFrame,
    touches: np.ndarray,
    stamp: np.ndarray,
) -> None:
    """Every dose of ``rid`` from a delayed cycle's planned first day on counts that delay row."""
    pids = out["patient_id"].astype(str).to_numpy()
    regimen = out["regimen"].astype(str).to_numpy()
    day = out["study_day"].to_numpy(dtype=np.int64)
    cycle = out["cycle"].to_numpy(dtype=float, na_value=np.nan)
    for row in each_row(delays[delays["regimen"].isin(sources)]):
        source = (pids == row.patient_id) & (regimen == row.regimen) & (cycle >= row.cycle)
        if not source.any():
            continue
        hit = (pids == row.patient_id) & (regimen == rid) & (day >= day[source].min())
        touches[hit] += 1
        stamp[hit] = _latest(stamp[hit], row.date.to_datetime64())


def _renumber(out: pd.DataFrame, rid: str) -> None:
    """``dose_number`` counted again (per patient and drug as shown) for the patients whose doses of
    ``rid`` were re-derived, in time order."""
    label = out.loc[out["regimen"].astype(str) == rid, "label"].astype(str)
    if label.empty:
        return
    pids = out.loc[out["regimen"].astype(str) == rid, "patient_id"].astype(str).unique()
    pick = (out["label"].astype(str).isin(label.unique()) & out["patient_id"].astype(str).isin(pids)).to_numpy()
    part = out[pick]
    instants = part["planned_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    order = np.lexsort((instants, part["label"].astype(str).to_numpy(), part["patient_id"].astype(str).to_numpy()))
    ranked = part.iloc[order]
    number = ranked.groupby([ranked["patient_id"].astype(str), ranked["label"].astype(str)]).cumcount() + 1
    values = out["dose_number"].to_numpy().copy()
    where = np.flatnonzero(pick)[order]
    values[where] = number.to_numpy()
    out["dose_number"] = values
