"""One patient's doses of one regimen as FHIR ``Timing`` runs (a run = one ``dosageInstruction``).

The runs are read off the dose table (no schedule is derived twice): the dosing dates are split where
the gap between dates, the times of day or the dose change, so a delayed cycle, a dose change or a
switch from every other day to weekly starts a new run. A run is

* every ``gap`` days (``period`` = gap, ``periodUnit`` = "d"), or every ``gap / 7`` weeks on one weekday
  (``periodUnit`` = "wk" with ``dayOfWeek``), with ``frequency`` = the number of ``timeOfDay`` entries; or
* daily on some weekdays (``dayOfWeek``), when the dates are exactly those weekdays between the first
  and the last date ("daily except the methotrexate day").

``boundsPeriod`` runs from the first dose to the last dose (instants with the patient's UTC offset), and
its ends clip the first and last day: capecitabine's "evening of day 1 to morning of day 15" is one run
of ``timeOfDay`` [08:00, 19:00] bounded by day 1 19:00 and day 15 08:00. Rebuilding: every date from the
start date in steps of the period (or every date on ``dayOfWeek``) at every ``timeOfDay``, inside the
bounds (both ends included), gives back the doses exactly (tests/test_export_fhir.py does this for every
shipped protocol). Loops run over the runs, not over the doses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .codes import WEEKDAY_CODES


@dataclass(frozen=True)
class Run:
    """Doses on ``dates`` (day numbers) at ``times``, from instant ``start`` to ``end`` (ISO with offset)."""

    start: str
    end: str
    gap: int  # days between dates; 0 with ``weekdays``
    times: tuple[str, ...]
    dose: object
    unit: str
    weekdays: tuple[int, ...] = ()
    minutes: int = 0  # an infusion's duration (0: a dose at a point in time)

    def repeat(self) -> dict:
        """The ``Timing.repeat`` element (with ``duration``/``durationUnit`` for an infusion)."""
        repeat: dict = {"boundsPeriod": {"start": self.start, "end": self.end}, "frequency": len(self.times)}
        if self.weekdays:
            repeat |= {"period": 1, "periodUnit": "d", "dayOfWeek": [WEEKDAY_CODES[d] for d in self.weekdays]}
        elif self.gap % 7 == 0:
            first = pd.Timestamp(self.start[:10]).weekday()
            repeat |= {"period": self.gap // 7, "periodUnit": "wk", "dayOfWeek": [WEEKDAY_CODES[first]]}
        else:
            repeat |= {"period": self.gap, "periodUnit": "d"}
        return repeat | duration(self.minutes) | {"timeOfDay": [f"{t}:00" for t in self.times]}


def duration(minutes: int) -> dict:
    """``duration``/``durationUnit`` of a dose lasting ``minutes`` (hours when whole); {} for none."""
    if minutes <= 0:
        return {}
    if minutes % 60 == 0:
        return {"duration": minutes // 60, "durationUnit": "h"}
    return {"duration": minutes, "durationUnit": "min"}


def runs(doses: pd.DataFrame) -> list[Run]:
    """The runs of one patient's doses of one regimen (``date``, ``time``, ``dose``, ``unit``,
    ``planned_at`` in UTC, ``timezone`` and ``duration_minutes``, the same for every dose of a
    regimen), in time order."""
    if doses.empty:
        return []
    doses = doses.sort_values("planned_at", kind="stable")
    local = doses["planned_at"].dt.tz_convert(str(doses["timezone"].iloc[0]))
    days = local.dt.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)
    dates = _Days.of(doses, days)
    spans = _merge_partial_days(_weekday_span(dates) or _arithmetic_spans(dates))
    minutes = int(doses["duration_minutes"].iloc[0]) if "duration_minutes" in doses.columns else 0  # per regimen
    first_row = np.searchsorted(days, [s.first for s in spans], side="left")
    last_row = np.searchsorted(days, [s.last for s in spans], side="right") - 1
    return [
        Run(
            local.iloc[a].isoformat(),
            local.iloc[b].isoformat(),
            span.gap,
            span.times,
            doses["dose"].iloc[a],
            str(doses["unit"].iloc[a]),
            span.weekdays,
            minutes,
        )
        for span, a, b in zip(spans, first_row, last_row, strict=True)
    ]


@dataclass(frozen=True)
class _Days:
    """The dosing dates (day numbers, ascending) with each date's times ("08:00|13:00|") and dose
    key, and whether a date has more than one dose amount (such a date never joins a run)."""

    day: np.ndarray
    times: np.ndarray
    dose: np.ndarray
    mixed: np.ndarray

    @classmethod
    def of(cls, doses: pd.DataFrame, days: np.ndarray) -> _Days:
        day, starts, inverse = np.unique(days, return_index=True, return_inverse=True)
        times = np.add.reduceat(doses["time"].astype(str).to_numpy(dtype=object) + "|", starts)
        dose = (doses["dose"].astype(str) + " " + doses["unit"].astype(str)).to_numpy(dtype=object)
        mixed = np.zeros(len(day), dtype=bool)
        np.logical_or.at(mixed, inverse, dose != dose[starts][inverse])
        return cls(day, times, dose[starts], mixed)

    def times_at(self, i: int) -> tuple[str, ...]:
        return tuple(str(self.times[i]).rstrip("|").split("|"))


@dataclass
class _Span:
    first: int  # day number of the first date
    last: int
    gap: int
    times: tuple[str, ...]
    dose: str
    weekdays: tuple[int, ...] = ()
    dates: int = 1

    def takes_prefix(self, other: _Span) -> bool:
        """``other`` is one later date with the first of this span's times (the morning of day 15)."""
        return (
            other.dates == 1
            and other.dose == self.dose
            and not self.weekdays
            and other.first - self.last == self.gap
            and self.times[: len(other.times)] == other.times
        )


def _weekday_span(d: _Days) -> list[_Span] | None:
    """One span when the dates are exactly some (2 to 6) weekdays between the first and last date."""
    days = d.day
    if len(days) < 3 or d.mixed.any() or len(set(d.times)) != 1 or len(set(d.dose)) != 1:
        return None
    weekday = (days + 3) % 7  # day 0 (1970-01-01) was a Thursday
    chosen = np.unique(weekday)
    if not 2 <= len(chosen) <= 6:
        return None
    every = np.arange(days[0], days[-1] + 1)
    if np.isin((every + 3) % 7, chosen).sum() != len(days):
        return None
    weekdays = tuple(int(w) for w in chosen)
    return [_Span(int(days[0]), int(days[-1]), 0, d.times_at(0), str(d.dose[0]), weekdays, len(days))]


def _arithmetic_spans(d: _Days) -> list[_Span]:
    """Greedy: from each date, as many dates as keep the same gap, times and dose."""
    days = d.day
    gaps = np.diff(days)
    same = (d.times[1:] == d.times[:-1]) & (d.dose[1:] == d.dose[:-1]) & ~d.mixed[1:] & ~d.mixed[:-1]
    spans, i = [], 0
    while i < len(days):
        if i == len(days) - 1 or not same[i]:
            end, gap = i, 1
        else:
            gap = int(gaps[i])
            breaks = np.flatnonzero((gaps[i:] != gap) | ~same[i:])
            end = i + (int(breaks[0]) if len(breaks) else len(gaps) - i)
        spans.append(_Span(int(days[i]), int(days[end]), gap, d.times_at(i), str(d.dose[i]), dates=end - i + 1))
        i = end + 1
    return spans


def _merge_partial_days(spans: list[_Span]) -> list[_Span]:
    """A first date with only the last times of the next span, or a last date with only its first
    times, joins that span (its bounds clip the day)."""
    merged: list[_Span] = []
    for span in spans:
        prev = merged[-1] if merged else None
        if prev is not None and prev.dates == 1 and _takes_suffix(span, prev):
            span.first, span.dates = prev.first, span.dates + 1
            merged[-1] = span
        elif prev is not None and prev.takes_prefix(span):
            prev.last, prev.dates = span.last, prev.dates + 1
        else:
            merged.append(span)
    return merged


def _takes_suffix(span: _Span, before: _Span) -> bool:
    """``before`` is one earlier date with the last of ``span``'s times (the evening of day 1)."""
    if span.weekdays or before.dose != span.dose or span.dates < 2:
        return False
    return span.first - before.last == span.gap and span.times[len(span.times) - len(before.times) :] == before.times
