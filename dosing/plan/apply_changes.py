"""Apply validated :class:`~dosing.plan.changes.Changes` to an expanded dose table. Pure.

Only the rows of patients named in the changes are touched (vectorised per change row);
everyone else's rows are kept as they are. Stateless and reproducible:

* a row's ``sequence`` (its iCalendar SEQUENCE) rises by one for every change row that moves
  or alters it, so appending a row to the changes file only ever raises SEQUENCE;
* ``changed_on`` (extra column, datetime64) is the latest date of those change rows, NaT
  for untouched rows: calendars use it as the changed event's DTSTAMP;
* ``uid`` never changes: it names the planned slot, so a moved dose keeps its UID;
* held doses stay in the table with ``held = True``; stopped and withdrawn doses go, and the
  last dose kept before a stop or withdrawal counts as altered (its regimen's recurring event
  now ends earlier, so its SEQUENCE must rise);
* a delayed dose keeps its planned wall-clock time (named by its uid) on its new day, localised
  as :func:`dosing.plan.expand` localises: inside a spring-forward gap 02:30 shows 03:30.

Regimens scheduled relative to a delayed regimen (``after``, ``except_days_of``) are re-derived
from its moved doses first (:mod:`dosing.plan.dependents`).
Doses fixed in elapsed time (intervals in hours on the elapsed clock, ``relative_to``) are
re-timed by :mod:`dosing.plan.timed_changes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ChangesError, SafetyError
from ..protocol.values import WEEKDAYS
from .dependents import rederive_dependents
from .dose_levels import apply_levels, changed_by_levels
from .expand import NS_PER_DAY, NS_PER_MINUTE, clock_text, planned_minutes, wall_clock_to_utc
from .timed_changes import follow, retime, timed_before

if TYPE_CHECKING:
    from .changes import Changes


class _Work:
    """The changed patients' rows as plain arrays, edited in place by each kind of change."""

    def __init__(self, sub: pd.DataFrame) -> None:
        self.patient = sub["patient_id"].astype(str).to_numpy()
        self.regimen = sub["regimen"].astype(str).to_numpy()
        self.cycle = sub["cycle"].to_numpy(dtype=float, na_value=np.nan)
        self.time = sub["time"].astype(str).to_numpy()
        self.shift = np.zeros(len(sub), dtype=np.int64)
        self.sequence = sub["sequence"].to_numpy(dtype=np.int64).copy()
        self.stamp = np.full(len(sub), np.datetime64("NaT"), dtype="datetime64[ns]")
        self.held = sub["held"].to_numpy(dtype=bool).copy()
        self.dose = sub["dose"].to_numpy().copy()
        self.keep = np.ones(len(sub), dtype=bool)
        self.dates = sub["date"].astype(str).to_numpy()
        self.basis = sub["dose_basis"].astype(str).to_numpy(dtype=object) if "dose_basis" in sub.columns else None

    def touch(self, mask: np.ndarray, when: np.datetime64) -> None:
        self.sequence[mask] += 1
        self.stamp[mask] = np.where(np.isnat(self.stamp[mask]), when, np.maximum(self.stamp[mask], when))


def apply_changes(doses: pd.DataFrame, changes: Changes) -> pd.DataFrame:
    """The dose table after the changes: delays move cycles, holds set ``held``, dose changes
    set ``dose``, stops and withdrawals remove rows. Adds column ``changed_on``."""
    picked = doses["patient_id"].isin(changes.patients).to_numpy(dtype=bool)
    if not picked.any():
        return doses.assign(changed_on=pd.Series(pd.NaT, index=doses.index, dtype="datetime64[ns]"))
    sub, moves = rederive_dependents(doses[picked].copy(), changes)  # `after` / `except_days_of` a delayed one
    work = _Work(sub)
    if moves is not None:
        work.shift += moves.shift
        work.sequence += moves.touches
        work.stamp = np.where(np.isnat(moves.stamp), work.stamp, moves.stamp)
    timed = timed_before(sub, None if changes.view is None else changes.view.protocol)
    _delay(sub, work, changes)
    retime(sub, work, timed)  # intervals in hours and relative timing: plan/timed_changes.py
    _change_dose(work, changes)
    apply_levels(work, changes)  # dose_level rows (dosing.plan.dose_levels)
    for row in changes.each("hold"):
        _hold(work, row, changes)
    _end(sub, work, changes)
    follow(work, timed)
    _check_inside_study(sub, work, changes)
    sub["dose"], sub["held"] = work.dose, work.held
    sub["sequence"] = work.sequence.astype(doses["sequence"].to_numpy().dtype)
    sub["changed_on"] = work.stamp
    rest = doses[~picked].assign(changed_on=pd.Series(pd.NaT, index=doses.index[~picked], dtype="datetime64[ns]"))
    keep = work.keep
    _check_daily_limits(sub[keep], changes)
    texts = {"date": work.dates[keep], "time": work.time[keep]}
    if work.basis is not None:
        texts["dose_basis"] = work.basis[keep]
    return _combine(doses, rest, sub[keep], texts)


def _check_daily_limits(sub: pd.DataFrame, changes: Changes) -> None:
    """A dose change that takes a patient above a maximum daily dose names its changes file and
    the patient's dose-change lines (the schedule-wide check would name neither)."""
    from ..protocol.safety import check_max_daily

    dose_rows = changes.rows[changes.rows["change"].isin(["dose", "dose_level"])]
    if changes.view is None or dose_rows.empty:
        return
    patients = sub["patient_id"].astype(str).to_numpy()
    try:  # once for every patient with a dose change; patient by patient only to name the culprit
        check_max_daily(sub[np.isin(patients, dose_rows["patient_id"].astype(str).unique())], changes.view.protocol)
        return
    except SafetyError as first:
        unnamed = first
    for pid, lines in dose_rows.groupby(dose_rows["patient_id"].astype(str), sort=False)["line"]:
        try:
            check_max_daily(sub[patients == pid], changes.view.protocol)
        except SafetyError as err:
            numbers = ", ".join(str(n) for n in lines)
            raise ChangesError(
                f"{err.message}, after a dose change",
                source=changes.source,
                where=f"line{'s' if len(lines) > 1 else ''} {numbers}",
                hint="correct the changed dose (it is in the regimen's unit unless a unit follows the number)",
            ) from None
    raise unnamed


def _iso(when: pd.Timestamp) -> str:
    return when.strftime("%Y-%m-%d")


def _of(work: _Work, row: Any) -> np.ndarray:
    """The rows of the patient and regimen a change row names."""
    return (work.patient == row.patient_id) & (work.regimen == row.regimen)


def _delay(sub: pd.DataFrame, work: _Work, changes: Changes) -> None:
    """Earlier cycles first, so that a cycle's first dose is where earlier delays put it."""
    delays: Iterable[Any] = (
        changes.of("delay").sort_values(["patient_id", "regimen", "cycle"], kind="stable").itertuples(index=False)
    )
    for row in delays:
        mask = _of(work, row) & (work.cycle >= row.cycle)
        _check_not_started(work, row, mask & (work.cycle == row.cycle), changes)
        work.shift[mask] += int(row.days)
        work.touch(mask, row.date.to_datetime64())
    if work.shift.any():
        _move(sub, work)


def _check_not_started(work: _Work, row: Any, cycle: np.ndarray, changes: Changes) -> None:
    """A delay moves a whole cycle that has not begun: it must be dated on or before the cycle's
    first dose (where earlier delays put it). Doses of a cycle already begun are held instead."""
    if not cycle.any():
        return
    first_at = np.flatnonzero(cycle)[0]
    first = pd.Timestamp(work.dates[first_at]) + pd.Timedelta(days=int(work.shift[first_at]))
    if row.date > first:
        raise ChangesError(
            f"a delay of {changes.name(row.regimen)} cycle {row.cycle} of patient {row.patient_id} "
            f"dated {_iso(row.date)} is after the cycle's first dose on {_iso(first)}: "
            "it would move doses already given",
            source=changes.source,
            where=f"line {row.line}",
            hint="date a delay on or before the cycle's first dose; for doses within a cycle already "
            "begun use hold rows (one per dose not given), or delay the next cycle",
        )


def _change_dose(work: _Work, changes: Changes) -> None:
    for row in changes.each("dose"):
        mask = _of(work, row) & (work.dates >= _iso(row.date))
        work.dose[mask] = row.dose
        work.touch(mask, row.date.to_datetime64())
        computed = mask & (work.basis != "") if work.basis is not None else mask & False
        if work.basis is not None and computed.any():  # a computed dose says it was replaced, and what was planned
            parts = np.char.partition(work.basis[computed].astype(str), "; planned ")  # a second change: once
            planned = np.where(parts[:, 1] != "", parts[:, 2], parts[:, 0]).astype(object)
            work.basis[computed] = f"set by the changes file, line {row.line}; planned " + planned


def _end(sub: pd.DataFrame, work: _Work, changes: Changes) -> None:
    """Stops and withdrawals remove doses from their date on, and touch each shortened regimen's
    last dose kept before the cut: a recurring event takes the highest SEQUENCE of its regimen's
    doses, so the run that now ends earlier rises in SEQUENCE too."""
    instant = sub["planned_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    for row in changes.each("stop"):
        _cut(work, instant, row, _of(work, row) & (work.dates >= _iso(row.date)))
    for row in changes.each("withdraw"):
        _cut(work, instant, row, (work.patient == row.patient_id) & (work.dates >= _iso(row.date)))


def _cut(work: _Work, instant: np.ndarray, row: Any, removed: np.ndarray) -> None:
    removed &= work.keep
    for regimen in np.unique(work.regimen[removed]):
        kept = np.flatnonzero((work.patient == row.patient_id) & (work.regimen == regimen) & work.keep & ~removed)
        if len(kept):
            last = np.zeros(len(work.keep), dtype=bool)
            last[kept[np.argmax(instant[kept])]] = True
            work.touch(last, row.date.to_datetime64())
    work.keep &= ~removed


def _check_inside_study(sub: pd.DataFrame, work: _Work, changes: Changes) -> None:
    """No delay may move a dose it keeps past ``study.last_day`` (stopped and withdrawn doses are gone)."""
    if changes.last_day is None:
        return
    day = sub["study_day"].to_numpy()
    late = work.keep & (work.shift != 0) & (day > changes.last_day)
    if not late.any():
        return
    first = int(np.flatnonzero(late)[0])
    delays = changes.of("delay")
    mine = delays[
        (delays["patient_id"] == work.patient[first])
        & (delays["regimen"] == work.regimen[first])
        & (delays["cycle"] <= work.cycle[first])
    ]
    row: Any = next(mine.sort_values("cycle").tail(1).itertuples(index=False))
    cut = min(work.dates[late & (work.patient == row.patient_id) & (work.regimen == row.regimen)].tolist())
    name = changes.name(row.regimen)
    written = name[1:-1] if len(name) > 1 and name[0] == name[-1] and name[0] in "'\"" else name
    raise ChangesError(
        f"the delay moves {int(late.sum())} dose(s) of patient {row.patient_id} past the study's last day "
        f"(day {changes.last_day}): {name} on {work.dates[first]} "
        f"would be study day {int(day[first])}",
        source=changes.source,
        where=f"line {row.line}",
        hint="record a stop (or withdrawal) from the first day after the study for the doses not given, e.g. the "
        f"row {row.patient_id},stop,{written},,{cut},,,,,after study end (columns patient_id, change, regimen, "
        "cycle, date, time, days, dose, visit, reason); or shorten the delay, or raise study.last_day in the protocol",
    )


def _hold(work: _Work, row: Any, changes: Changes) -> None:
    mask = _of(work, row) & (work.dates == _iso(row.date))
    at = ""
    if not pd.isna(row.time):
        clock = f"{row.time // 60:02d}:{row.time % 60:02d}"
        mask &= work.time == clock
        at = f" at {clock}"
    if not mask.any():
        raise ChangesError(
            f"no {changes.name(row.regimen)} dose of patient {row.patient_id} is planned on {_iso(row.date)}{at}",
            source=changes.source,
            where=f"line {row.line}",
            hint="hold a planned dose: use the actual date (after any delay) and time from doses.csv",
        )
    work.held |= mask
    work.touch(mask, row.date.to_datetime64())


def _move(sub: pd.DataFrame, work: _Work) -> None:
    """Shift delayed rows by whole days from their planned local wall-clock time (the regimen's
    time of day, before any daylight-saving adjustment), then localise them as :func:`dosing.plan.expand`
    does: 02:30 moved onto a spring-forward day shows 03:30, and moved off it 02:30 again."""
    moved = work.shift != 0
    utc = sub["planned_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64).copy()
    local = np.zeros(len(sub), dtype=np.int64)
    planned_day = np.array(work.dates[moved], dtype="datetime64[D]").astype("datetime64[ns]").astype(np.int64)
    wall = planned_day + planned_minutes(sub["uid"].to_numpy()[moved]) * NS_PER_MINUTE + work.shift[moved] * NS_PER_DAY
    zones = sub["timezone"].astype(str).to_numpy()[moved]
    for zone in np.unique(zones):
        pick = np.flatnonzero(moved)[zones == zone]
        utc[pick], local[pick] = wall_clock_to_utc(wall[zones == zone], str(zone))
    sub["planned_at"] = pd.DatetimeIndex(utc.astype("datetime64[ns]")).tz_localize("UTC")
    local_day = local[moved] // NS_PER_DAY
    work.dates = work.dates.astype(object)
    work.dates[moved] = np.datetime_as_string(local_day.astype("datetime64[D]"), unit="D")
    work.time = work.time.astype(object)
    work.time[moved] = clock_text((local[moved] % NS_PER_DAY) // NS_PER_MINUTE)
    weekday = sub["weekday"].astype(str).to_numpy().astype(object)
    weekday[moved] = np.array(WEEKDAYS, dtype=object)[(local_day + 3) % 7]
    sub["weekday"] = pd.Categorical(weekday, categories=list(WEEKDAYS))
    sub["study_day"] = (sub["study_day"].to_numpy() + work.shift).astype(sub["study_day"].to_numpy().dtype)


def _combine(doses: pd.DataFrame, rest: pd.DataFrame, sub: pd.DataFrame, texts: dict[str, np.ndarray]) -> pd.DataFrame:
    """Put the changed rows back, with one set of date and time categories, sorted as expand sorts."""
    for column, values in texts.items():
        union = sorted(set(doses[column].cat.categories) | set(values))
        rest = rest.assign(**{column: rest[column].cat.set_categories(union)})
        sub = sub.assign(**{column: pd.Categorical(values, categories=union, ordered=True)})
    sub = sub.assign(weekday=sub["weekday"].astype(doses["weekday"].dtype))
    position = np.concatenate([doses.index.get_indexer(rest.index), doses.index.get_indexer(sub.index)])
    out = pd.concat([rest, sub], ignore_index=True)
    instants = out["planned_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    order = np.lexsort((position, instants.astype(np.int64), out["patient_id"].cat.codes.to_numpy()))
    return out.iloc[order].reset_index(drop=True)


EFFECT_COLUMNS = ["doses_moved", "doses_held", "doses_changed", "doses_stopped", "visits_moved", "visits_cancelled"]


def change_effects(
    planned: pd.DataFrame, doses: pd.DataFrame, planned_visits: pd.DataFrame, visits: pd.DataFrame, changes: Changes
) -> pd.DataFrame:
    """Per patient named in the changes: how many doses were moved, held, changed (set by a dose
    change) and stopped (removed by a stop or withdrawal), and how many visits moved or were cancelled."""
    tables = [_by_patient(t, changes.patients) for t in (planned, doses, planned_visits, visits)]
    rows = []
    for pid in changes.patients:
        before, after, v_before, v_after = (t.get(pid, _NO_ROWS) for t in tables)
        both = before.index.intersection(after.index)
        v_both = v_before.index.intersection(v_after.index)
        rows.append(
            {
                "patient_id": pid,
                "doses_moved": _differ(before, after, both, "planned_at"),
                "doses_held": int(after["held"].sum()) if len(after) else 0,
                "doses_changed": _set_by_dose_changes(after, changes.of("dose")) + changed_by_levels(after, changes),
                "doses_stopped": len(before.index.difference(after.index)),
                "visits_moved": _differ(v_before, v_after, v_both, "scheduled_date"),
                "visits_cancelled": len(v_before.index.difference(v_after.index)),
            }
        )
    return pd.DataFrame(rows, columns=["patient_id", *EFFECT_COLUMNS])


_NO_ROWS = pd.DataFrame(index=pd.Index([], dtype=object))


def _by_patient(table: pd.DataFrame, patients: list[str]) -> dict[str, pd.DataFrame]:
    """The rows of the named patients, per patient, indexed by uid."""
    if table.empty:
        return {}
    mine = table[table["patient_id"].isin(patients).to_numpy(dtype=bool)]
    mine = mine.set_index(mine["uid"].astype(str))
    return {str(pid): rows for pid, rows in mine.groupby(mine["patient_id"].astype(str), sort=False)}


def _set_by_dose_changes(after: pd.DataFrame, rows: pd.DataFrame) -> int:
    """Doses a ``dose`` change applies to (kept after stops), whether or not the amount differs: the
    same new amount may equal one arm's dose and not another's, so comparing amounts would count
    differently per arm."""
    if not len(after):
        return 0
    regimen, dates = after["regimen"].astype(str).to_numpy(), after["date"].astype(str).to_numpy()
    hit = np.zeros(len(after), dtype=bool)
    for row in rows[rows["patient_id"] == after["patient_id"].iloc[0]].itertuples(index=False):
        hit |= (regimen == row.regimen) & (dates >= _iso(row.date))
    return int(hit.sum())


def _differ(before: pd.DataFrame, after: pd.DataFrame, both: pd.Index, column: str) -> int:
    if not len(both):
        return 0
    return int((before.loc[both, column] != after.loc[both, column]).sum())


def describe_effects(effects: pd.DataFrame) -> list[str]:
    """Lines for the command's summary: one per patient named in the changes."""
    lines = ["  changes applied:"]
    width = max((len(p) for p in effects["patient_id"]), default=0)
    for row in effects.itertuples(index=False):
        lines.append(
            f"    {row.patient_id:<{width}}  doses moved {row.doses_moved}, held {row.doses_held}, "
            f"dose changed {row.doses_changed}, stopped {row.doses_stopped}; "
            f"visits moved {row.visits_moved}, cancelled {row.visits_cancelled}"
        )
    return lines
