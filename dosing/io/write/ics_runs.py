"""Regular runs of doses, for calendars with one recurring event per run.

A *run* is a stretch of one patient's doses of one regimen at one wall-clock time (and with
the same dose and text) whose dates step by a constant number of days. Loxoprofen at 13:00
on days 1-168 is one run (``FREQ=DAILY;COUNT=168``); hrIL-2 every other day within a cycle
is one run per cycle (``FREQ=DAILY;INTERVAL=2;COUNT=7``). Doses on fixed weekdays that no
constant step covers (every Monday and Thursday) become one weekly run
(``FREQ=WEEKLY;BYDAY=MO,TH;COUNT=48``).

Held doses stay in their run and become ``EXDATE``\\ s. A single missing step (folic acid
"daily except the methotrexate day") is bridged with an ``EXDATE`` too, unless the missing
wall-clock time does not exist on that date (inside a spring-forward gap) or exists twice
(inside the repeated hour of a fall-back): such a date ends the run, and a dose at a
repeated local time is a run of its own, so that no calendar ever asks a client to resolve
an ambiguous or non-existent local time (clients differ there: ical.js takes the second of
two equal wall-clock times, RFC 5545 and the Python parsers the first). Likewise an infusion
(a dose with a duration) across a daylight-saving change is an event of its own, so that every
occurrence of a run lasts the same wall-clock time as elapsed time (see :mod:`.ics_ends`).

The detection is vectorised: one sort, a few ``groupby`` reductions, no loop per dose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .ics_ends import irregular_ends

#: At most this many missing steps between two doses are bridged with EXDATEs.
MAX_BRIDGED = 1
#: Doses in one run share all of these columns (those present in the table).
RUN_KEY = (
    *("patient_id", "regimen", "drug", "time", "timezone", "dose", "unit", "route", "instructions", "in_clinic"),
    "duration_minutes",
)


@dataclass(frozen=True)
class Runs:
    """Runs of a dose table: ``first`` holds the position (``iloc``) of each run's first dose; ``sequence``
    is the highest SEQUENCE of any dose of the run's patient and regimen (see
    :func:`_regimen_sequence`), ``changed`` the latest ``changed_on`` among them (NaT: none)."""

    first: np.ndarray
    step: np.ndarray
    count: np.ndarray
    sequence: np.ndarray
    exdates: list[list[str]]
    weekdays: np.ndarray  # bit w (0 = Monday) set: FREQ=WEEKLY;BYDAY on those days; 0: every ``step`` days
    changed: np.ndarray  # datetime64[ns]


def find_runs(doses: pd.DataFrame) -> Runs:
    """The runs of ``doses`` (any number of patients; held rows included, as exclusions)."""
    if doses.empty:
        empty = np.array([], dtype=np.int64)
        return Runs(empty, empty, empty, empty, [], empty, empty.astype("datetime64[ns]"))
    frame = _ordered(doses)
    day = frame["_day"].to_numpy()
    group = frame["_group"].to_numpy()
    new_group = np.r_[True, group[1:] != group[:-1]]
    gap = np.r_[0, np.diff(day)]
    step = frame.groupby("_group", sort=False)["_gap"].transform("min").fillna(1).to_numpy().astype(np.int64)
    missing = np.where(new_group, 0, gap // np.maximum(step, 1) - 1)
    bridged_day = day - step
    bridgeable = (gap > 0) & (gap % np.maximum(step, 1) == 0) & (missing <= MAX_BRIDGED)
    bridgeable &= ~((missing == 1) & ~_unique_time(frame, bridged_day))
    alone = ~_unique_time(frame, day) | irregular_ends(frame)  # an infusion across a clock change: see .ics_ends
    starts = new_group | ~bridgeable | alone | np.r_[False, alone[:-1]]
    bits = _weekly_pattern(day, group, new_group, starts, alone)
    starts = np.where(bits > 0, new_group, starts)
    run = np.cumsum(starts) - 1
    held = frame["held"].to_numpy(dtype=bool) if "held" in frame.columns else np.zeros(len(frame), bool)
    return _summarise(frame, run, starts, step, day, held, np.where(starts | (bits > 0), 0, missing), bits)


def _weekly_pattern(
    day: np.ndarray, group: np.ndarray, new_group: np.ndarray, starts: np.ndarray, alone: np.ndarray
) -> np.ndarray:
    """Per row, the weekday bitmask of its group when the group is exactly "every Monday and
    Thursday from its first to its last dose" (and is more than one constant-step run); else 0."""
    weekday = (day + 3) % 7  # day 0 (1970-01-01) was a Thursday
    groups = int(group.max()) + 1
    bits = np.zeros(groups, dtype=np.int64)
    np.bitwise_or.at(bits, group, 1 << weekday)
    first = day[new_group]
    last = day[np.r_[np.flatnonzero(new_group)[1:] - 1, len(day) - 1]]
    expected = np.zeros(groups, dtype=np.int64)
    for w in range(7):
        in_range = (last + 3 - w) // 7 - (first - 1 + 3 - w) // 7
        expected += ((bits >> w) & 1) * in_range
    rows = np.bincount(group, minlength=groups)
    several_runs = np.bincount(group, weights=starts, minlength=groups) > 1
    clean = np.bincount(group, weights=alone, minlength=groups) == 0
    days = np.array([bin(b).count("1") for b in bits.tolist()])
    use = (expected == rows) & several_runs & clean & (days >= 2)
    return np.where(use, bits, 0)[group]


#: Besides the run key, the columns the runs are summarised from.
_USED = ("date", "held", "sequence", "changed_on", "planned_at", "end_date", "end_time")


def _ordered(doses: pd.DataFrame) -> pd.DataFrame:
    """The columns runs are found from, sorted by group and day (stably), with ``_position`` (the
    row's ``iloc`` in ``doses``), ``_day`` (days since 1970), ``_group`` and ``_gap`` (days since the
    group's previous dose; NaN for the first and for a second dose on one day)."""
    keys = [c for c in RUN_KEY if c in doses.columns]
    frame = doses[[*keys, *(c for c in _USED if c in doses.columns and c not in keys)]]
    group = _groups(frame, keys)
    day = _days(frame["date"])
    order = np.lexsort([day, group])
    frame = frame.iloc[order].assign(_position=order, _day=day[order], _group=group[order])
    gaps = frame.groupby("_group", sort=False)["_day"].diff()
    frame["_gap"] = gaps.where(gaps > 0)
    return frame


def _days(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of each ISO date text (each distinct text parsed once)."""
    codes, distinct = pd.factorize(dates, use_na_sentinel=False)
    parsed = pd.to_datetime(pd.Index([str(v) for v in distinct])).to_numpy().astype("datetime64[D]")
    return parsed.astype(np.int64)[codes]


def _groups(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Group number of each row by the text of its ``keys`` (numbered in order of first
    appearance): each column is factorized, its distinct values compared as text."""
    combined = np.zeros(len(frame), dtype=np.int64)
    for key in keys:
        codes = _text_codes(frame[key])
        size = int(codes.max()) + 1 if len(codes) else 1
        if int(combined.max(initial=0)) >= np.iinfo(np.int64).max // size:  # renumber before it could overflow
            combined = pd.factorize(combined)[0].astype(np.int64)
        combined = combined * size + codes
    return pd.factorize(combined)[0].astype(np.int64)


def _text_codes(column: pd.Series) -> np.ndarray:
    """Codes of a column's values such that equal codes mean equal ``str`` (NaN too)."""
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    texts = pd.factorize(np.array([str(v) for v in distinct], dtype=object))[0]
    return texts[codes]


def _minutes(clock: pd.Series) -> np.ndarray:
    """Minutes after midnight of each "HH:MM" value, parsed once per distinct value."""
    codes, distinct = pd.factorize(clock, use_na_sentinel=False)
    return np.array([int(str(v)[0:2]) * 60 + int(str(v)[3:5]) for v in distinct], dtype=np.int64)[codes]


def _unique_time(frame: pd.DataFrame, day: np.ndarray) -> np.ndarray:
    """Whether the wall-clock ``time`` on ``day`` names exactly one instant in the row's zone
    (False inside a spring-forward gap and inside the repeated hour of a fall-back); each distinct
    (zone, wall-clock minute) looked up once."""
    wall = day * 1440 + _minutes(frame["time"])
    zone_codes, zones = pd.factorize(frame["timezone"], use_na_sentinel=False)
    out = np.zeros(len(frame), dtype=bool)
    for code, zone in enumerate(zones):
        pick = zone_codes == code
        minutes, where = np.unique(wall[pick], return_inverse=True)
        local = pd.DatetimeIndex(minutes.astype("datetime64[m]")).tz_localize(
            str(zone), ambiguous="NaT", nonexistent="NaT"
        )
        out[pick] = ~np.asarray(local.isna())[where]
    return out


def _regimen_sequence(frame: pd.DataFrame) -> np.ndarray:
    """Each row's highest SEQUENCE among all doses of its patient's regimen: a dose moved out of
    a run (to another time or day) shortens that run, so the run's event must rise too."""
    if "sequence" not in frame.columns or not frame["sequence"].to_numpy().any():
        return np.zeros(len(frame), dtype=np.int64)
    keys = [c for c in ("patient_id", "regimen", "drug") if c in frame.columns]
    highest = frame.groupby(keys, observed=True, sort=False)["sequence"].transform("max")
    return highest.to_numpy(dtype=np.int64)


def _regimen_changed(frame: pd.DataFrame) -> np.ndarray:
    """Each row's latest ``changed_on`` among all doses of its patient's regimen, as int64
    nanoseconds (NaT is the smallest int64, so "latest" is a plain maximum)."""
    never = np.full(len(frame), np.datetime64("NaT", "ns").astype(np.int64))
    if "changed_on" not in frame.columns or frame["changed_on"].isna().all():
        return never
    keys = [c for c in ("patient_id", "regimen", "drug") if c in frame.columns]
    when = pd.to_datetime(frame["changed_on"]).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    latest = frame[keys].assign(_changed=when).groupby(keys, observed=True, sort=False)["_changed"].transform("max")
    return latest.to_numpy(dtype=np.int64)


def _summarise(
    frame: pd.DataFrame,
    run: np.ndarray,
    starts: np.ndarray,
    step: np.ndarray,
    day: np.ndarray,
    held: np.ndarray,
    missing: np.ndarray,
    bits: np.ndarray,
) -> Runs:
    first_day = day[starts]
    last_day = np.zeros(len(first_day), dtype=np.int64)
    np.maximum.at(last_day, run, day)
    run_step = step[starts]
    weekdays = bits[starts]
    count = np.where(weekdays > 0, np.bincount(run), (last_day - first_day) // np.maximum(run_step, 1) + 1)
    seq = _regimen_sequence(frame)
    sequence = np.zeros(len(count), dtype=np.int64)
    np.maximum.at(sequence, run, seq)
    changed = np.full(len(count), np.datetime64("NaT", "ns").astype(np.int64))
    np.maximum.at(changed, run, _regimen_changed(frame))
    excluded = np.r_[day[held], (day - step)[missing == 1]]
    owner = np.r_[run[held], run[missing == 1]]
    exdates: list[list[str]] = [[] for _ in range(len(count))]
    for r, d in sorted(zip(owner.tolist(), excluded.tolist(), strict=True)):
        exdates[r].append(str(np.datetime64(d, "D")))
    all_held = np.bincount(run, weights=held.astype(float), minlength=len(count)) == np.bincount(run)
    keep = ~all_held
    return Runs(
        frame["_position"].to_numpy()[starts][keep],
        run_step[keep],
        count[keep],
        sequence[keep],
        [e for e, k in zip(exdates, keep, strict=True) if k],
        weekdays[keep],
        changed[keep].astype("datetime64[ns]"),
    )
