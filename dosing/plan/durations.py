"""Doses that last (infusions): the end of each dose and the check against the interval. Pure.

A regimen's ``duration`` (:mod:`dosing.protocol.durations`) is elapsed time. The dose table
carries it as ``duration_minutes`` (0: a dose without duration); the end is computed from the
start instant wherever the table is shown, so that a dose a changes file moves takes its end along:
``end_date``/``end_time`` are the end's local date and wall-clock time in the patient's zone (an
infusion across a spring-forward change ends one wall-clock hour later than without it) and
``planned_end_utc`` is the end instant in UTC, as ``planned_utc`` is the start's. All three are blank
for a dose without duration.

An infusion longer than the gap to the same regimen's next dose would run into that dose: the
protocol check refuses it, on the synthetic patients of :mod:`dosing.plan.simulation`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ProtocolError
from ..protocol.durations import duration_text
from ..protocol.model import Protocol, Regimen

if TYPE_CHECKING:
    from .simulation import Simulation

NS_PER_MINUTE = 60_000_000_000
NS_PER_DAY = 1440 * NS_PER_MINUTE
#: The columns the dose tables show for a dose's end, after ``planned_utc``.
END_COLUMNS = ["end_date", "end_time", "planned_end_utc"]


def duration_minutes(protocol: Protocol) -> np.ndarray:
    """Each regimen's duration in whole minutes (0: none), indexed like ``protocol.regimens``."""
    return np.array([_minutes(r) for r in protocol.regimens], dtype=np.int32)


def _minutes(regimen: Regimen) -> int:
    return 0 if regimen.duration is None else int(regimen.duration.total_seconds()) // 60


def end_instants(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which rows last (``duration_minutes`` > 0) and their end instants (UTC, int64 ns; 0 elsewhere)."""
    if "duration_minutes" not in table.columns or not len(table):
        return np.zeros(len(table), dtype=bool), np.zeros(len(table), dtype=np.int64)
    minutes = table["duration_minutes"].fillna(0).to_numpy(dtype=np.int64)  # NaN: a table reindexed without it
    lasts = minutes > 0
    if not lasts.any():  # most studies: no instant is converted
        return lasts, np.zeros(len(table), dtype=np.int64)
    start = table["planned_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return lasts, np.where(lasts, start.astype(np.int64) + minutes * NS_PER_MINUTE, 0)


def local_ends(table: pd.DataFrame, lasts: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The local wall-clock (naive int64 ns) of each end in the row's ``timezone`` (0 where none)."""
    local = np.zeros(len(table), dtype=np.int64)
    if not lasts.any():  # most studies: no zone is looked at
        return local
    zones = table["timezone"].astype(str).to_numpy()
    for zone in pd.unique(zones[lasts]):
        pick = lasts & (zones == zone)
        index = pd.DatetimeIndex(end[pick].astype("datetime64[ns]")).tz_localize("UTC").tz_convert(str(zone))
        local[pick] = index.tz_localize(None).asi8
    return local


def add_end_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (with ``planned_at``, ``timezone`` and ``duration_minutes``) with :data:`END_COLUMNS`
    set, in place: texts for the doses that last, "" for the others (one string per distinct value)."""
    lasts, end = end_instants(table)
    local = local_ends(table, lasts, end)
    day = local // NS_PER_DAY
    table["end_date"] = _texts(lasts, day, lambda d: np.datetime_as_string(d.astype("datetime64[D]"), unit="D"))
    table["end_time"] = _texts(lasts, (local - day * NS_PER_DAY) // NS_PER_MINUTE, _clock)
    seconds = end // 1_000_000_000
    table["planned_end_utc"] = _texts(
        lasts, seconds, lambda s: np.datetime_as_string(s.astype("datetime64[s]"), unit="s", timezone="UTC")
    )
    return table


def _clock(minutes: np.ndarray) -> np.ndarray:
    return np.array([f"{m // 60:02d}:{m % 60:02d}" for m in minutes.tolist()], dtype=object)


def _texts(lasts: np.ndarray, keys: np.ndarray, text: Callable[[np.ndarray], np.ndarray]) -> pd.Categorical[Any]:
    """A categorical of ``text`` of each distinct key where ``lasts``, else ""."""
    codes = np.zeros(len(keys), dtype=np.int64)
    if not lasts.any():
        return pd.Categorical.from_codes(codes, categories=pd.Index([""]))
    found, distinct = pd.factorize(keys[lasts])
    codes[lasts] = found + 1
    categories = pd.Index(np.array(["", *text(np.asarray(distinct, dtype=np.int64))], dtype=object))
    return pd.Categorical.from_codes(codes, categories=categories)


def check_infusion_intervals(protocol: Protocol, simulation: Simulation) -> None:
    """No synthetic patient's dose of a regimen with ``duration`` lasts past the same regimen's next
    dose (wall-clock times: the gap between 11:00 one day and 11:00 the next is 24 hours)."""
    for index, regimen in enumerate(protocol.regimens):
        minutes = _minutes(regimen)
        if not minutes:
            continue
        hours = _hourly_interval(regimen)
        if hours is not None and minutes > hours * 60:
            raise ProtocolError(
                f"an infusion longer than its interval: regimen {regimen.id!r} lasts {duration_text(minutes)} "
                f"(duration), but its doses come {duration_text(hours * 60)} apart "
                f'(every = "{hours} hour{"s" if hours > 1 else ""}"), so one dose would run into the next',
                source=protocol.source,
                where=f"regimens[{index}] (id {regimen.id!r}).duration",
                hint=f"shorten duration to at most {duration_text(hours * 60)}, or give the doses further apart",
            )
        gap, where = _shortest_gap(regimen, simulation.masks[regimen.id])
        if gap is not None and minutes > gap:
            assert where is not None
            patient, first, second = where
            raise ProtocolError(
                f"an infusion longer than its interval: regimen {regimen.id!r} lasts {duration_text(minutes)} "
                f"(duration), but its doses come {duration_text(gap)} apart (study days {first} and {second} "
                f"for a patient {simulation.describe(patient)}), so one dose would run into the next",
                source=protocol.source,
                where=f"regimens[{index}] (id {regimen.id!r}).duration",
                hint=f"shorten duration to at most {duration_text(gap)}, or give the doses further apart",
            )


def _hourly_interval(regimen: Regimen) -> int | None:
    """The shortest ``every = "N hours"`` of the regimen (or of its phases), None without one. The
    doses of such a schedule come N hours apart (on either clock, outside a daylight-saving change)."""
    hours = [p.every_hours for p in regimen.schedule.phases or [regimen.schedule] if p.every_hours]
    return min(hours) if hours else None


def _shortest_gap(regimen: Regimen, mask: np.ndarray) -> tuple[int | None, tuple[int, int, int] | None]:
    """The shortest planned gap (minutes) between two doses of ``regimen`` on the dosing days of
    ``mask`` (patients x days), and where it is (patient, study day, next study day). With ``count``
    only each patient's first ``count`` doses are given."""
    times = [t.hour * 60 + t.minute for t in regimen.times] if regimen.times else [0]
    count = regimen.schedule.count
    patient, day = np.nonzero(mask)
    best: tuple[int | None, tuple[int, int, int] | None] = (None, None)
    if len(times) > 1 and len(day) and (count is None or count > 1):
        best = (int(np.diff(times).min()), (int(patient[0]), int(day[0]) + 1, int(day[0]) + 1))
    rank = np.arange(len(patient)) - np.searchsorted(patient, patient, side="left")  # each patient's n-th day
    close = np.flatnonzero(np.diff(patient) == 0)
    if count is not None:
        close = close[(rank[close] + 1) * len(times) < count]  # the next day's first dose is still given
    if len(close):
        gaps = (day[close + 1] - day[close]) * 1440 - (times[-1] - times[0])
        i = int(np.argmin(gaps))
        if best[0] is None or int(gaps[i]) < best[0]:
            at = close[i]
            best = (int(gaps[i]), (int(patient[at]), int(day[at]) + 1, int(day[at + 1]) + 1))
    return best
