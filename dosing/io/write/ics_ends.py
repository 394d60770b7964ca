"""The end of a dose event: ``DTEND`` for a dose with a duration (an infusion), else the short
default ``DURATION:PT15M``.

An infusion's event lasts from its start to its end (:mod:`dosing.plan.durations`: elapsed time).
``DTEND`` is written at the end's local wall-clock time with the dose's ``TZID``; in UTC where the
start is (a start in the repeated hour of a fall-back, or a patient in UTC) or where the end's local
time itself occurs twice, so that no client has to choose between two instants.

A recurring event applies the same duration to every occurrence, and clients do not agree whether
that is the exact (elapsed) or the wall-clock difference of ``DTSTART`` and ``DTEND``. So an
infusion whose UTC offset at the end differs from the offset at its start (it spans a
daylight-saving change: its wall-clock span is an hour longer or shorter) or whose end time occurs
twice is an event of its own (:func:`irregular_ends`, used by :mod:`.ics_runs`); within a run every
occurrence spans the same wall-clock time as elapsed time, and every reading gives the same end.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ...plan.durations import end_instants, local_ends
from .ics_text import CRLF, fold_all, zone_tzid

Texts = npt.NDArray[Any]  # of str (dtype object)
#: A dose without duration: a 15-minute event (DURATION, never an end in a daylight-saving gap).
SHORT = f"DURATION:PT15M{CRLF}"


def end_lines(rows: pd.DataFrame, start_tzids: Texts) -> Texts:
    """Each row's ``DTEND`` line (with CRLF), or :data:`SHORT` for a dose without duration.
    ``start_tzids`` is the TZID each row's DTSTART names ("": DTSTART is in UTC)."""
    out = np.full(len(rows), SHORT, dtype=object)
    lasts, end = end_instants(rows)
    if not lasts.any():
        return out
    local = local_ends(rows, lasts, end)
    twice = _occurs_twice(rows, lasts, local)
    zones = rows["timezone"].astype(str).to_numpy()
    in_utc = np.full(len(rows), "", dtype=object)
    in_utc[lasts] = "DTEND:" + _basic(end[lasts]) + "Z" + CRLF
    for zone in pd.unique(zones[lasts]):
        pick = lasts & (zones == zone)
        name = zone_tzid(str(zone))
        utc = twice[pick] | (np.asarray(start_tzids, dtype=object)[pick] == "") | (name == "UTC")
        wall = fold_all("DTEND;TZID=" + str(name) + ":" + _basic(local[pick])) + CRLF
        out[pick] = np.where(utc, in_utc[pick], wall)
    return out


def irregular_ends(rows: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Rows whose event must stand alone in a recurring calendar: a duration across a change of UTC
    offset (its wall-clock span is not its elapsed time), or an end whose local time occurs twice."""
    lasts, end = end_instants(rows)
    if not lasts.any():
        return lasts
    local_end = local_ends(rows, lasts, end)
    start = rows["planned_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    start_ns = np.where(lasts, start.astype(np.int64), 0)
    local_start = local_ends(rows, lasts, start_ns)
    crosses = lasts & ((local_end - end) != (local_start - start_ns))
    return crosses | _occurs_twice(rows, lasts, local_end)


def _occurs_twice(rows: pd.DataFrame, lasts: np.ndarray, local: np.ndarray) -> npt.NDArray[np.bool_]:
    """Whether each end's local wall-clock time occurs twice in its zone (the repeated hour of a fall-back)."""
    out = np.zeros(len(rows), dtype=bool)
    zones = rows["timezone"].astype(str).to_numpy()
    for zone in pd.unique(zones[lasts]):
        pick = lasts & (zones == zone)
        wall = pd.DatetimeIndex(local[pick].astype("datetime64[ns]"))
        out[pick] = np.asarray(wall.tz_localize(str(zone), ambiguous="NaT", nonexistent="NaT").isna())
    return out


def _basic(ns: np.ndarray) -> Texts:
    """``20270322T080000`` for each int64 nanosecond value."""
    iso = np.datetime_as_string(ns.astype("datetime64[ns]").astype("datetime64[s]"), unit="s")
    return np.strings.replace(np.strings.replace(iso, "-", ""), ":", "").astype(object)
