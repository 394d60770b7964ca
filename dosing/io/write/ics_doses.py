"""The dose events of calendars, built as text from the dose table in whole columns.

One ``VEVENT`` per dose (``expanded``) or per regular run of doses (``recurring``, see
:mod:`.ics_runs`), for any number of patients at once: every field is a column of strings, and
an event is the sum of its columns (numpy adds object arrays element-wise in C). Texts that many
doses share (the summary, the description's first lines, the reminder) are written once per
distinct value with :func:`dosing.io.write.ics.dose_summary` and
:func:`~dosing.io.write.ics.dose_description`, so the per-row functions stay the one definition of
the wording. Property order, escaping and folding are icalendar's (see :mod:`.ics_text`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import string
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from .ics_ends import SHORT, end_lines
from .ics_runs import find_runs
from .ics_text import CRLF, alarm_block, escape_all, escape_text, fold, fold_all, text_line, zone_tzid
from .ics_wording import Wording

Texts = npt.NDArray[Any]  # of str (dtype object)
#: The columns the summary and the first lines of the description depend on.
WORDING = ("drug", "dose", "unit", "route", "instructions", "once_weekly", "weekday")
DURATION = SHORT  # a dose without duration; an infusion's event has DTEND (see .ics_ends)


class DoseEvents(NamedTuple):
    """Dose events as text: ``rows`` the position (``iloc``) in the dose table each event was
    written from, ``texts`` the events, ``tzids`` the TZID each one names ("" for none)."""

    rows: npt.NDArray[np.int64]
    texts: Texts
    tzids: Texts


TAIL = f"CATEGORIES:dose{CRLF}"


def dose_event_texts(
    doses: pd.DataFrame,
    stamps: npt.NDArray[np.datetime64],
    wording: Wording,
    *,
    style: str,
    remind: dt.timedelta | None = None,
    staff: bool = False,
) -> DoseEvents:
    """The events of ``doses`` in the order of the icalendar writer (see :class:`DoseEvents`).
    ``stamps`` holds each row's DTSTAMP (datetime64, UTC) before changes; ``wording`` is
    (summary, description) of one row."""
    if style == "expanded":
        held = doses["held"].to_numpy(dtype=bool) if "held" in doses.columns else np.zeros(len(doses), bool)
        rows = np.flatnonzero(~held)
        picked = doses.iloc[rows]
        sequence = _column(picked, "sequence", 0).astype(np.int64)
        changed = _changed_on(picked)
        extra = np.full(len(rows), "", dtype=object)
        starts = _dtstart(picked)
        texts = _events(picked, starts, stamps[rows], sequence, changed, extra, True, wording, remind, staff)
        return DoseEvents(rows, texts, starts[1])
    runs = find_runs(doses)
    rows = runs.first.astype(np.int64)
    picked = doses.iloc[rows]
    single = (runs.count == 1) & np.array([not e for e in runs.exdates], dtype=bool)
    starts = _dtstart(picked)
    extra = _recurrence(starts[0], runs.step, runs.count, runs.weekdays, runs.exdates, single)
    changed = runs.changed.astype("datetime64[ns]")
    sequence = runs.sequence.astype(np.int64)
    texts = _events(picked, starts, stamps[rows], sequence, changed, extra, single, wording, remind, staff)
    return DoseEvents(rows, texts, starts[1])


def _column(frame: pd.DataFrame, name: str, default: Any) -> np.ndarray:
    if name in frame.columns:
        return frame[name].fillna(default).to_numpy()
    return np.full(len(frame), default)


def _changed_on(frame: pd.DataFrame) -> npt.NDArray[np.datetime64]:
    if "changed_on" not in frame.columns:
        return np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
    return pd.to_datetime(frame["changed_on"]).to_numpy(dtype="datetime64[ns]")


def _events(
    rows: pd.DataFrame,
    starts: tuple[Texts, Texts],
    stamps: npt.NDArray[np.datetime64],
    sequence: npt.NDArray[np.int64],
    changed: npt.NDArray[np.datetime64],
    recurrence: Texts,
    per_dose: npt.NDArray[np.bool_] | bool,
    wording: Wording,
    remind: dt.timedelta | None,
    staff: bool,
) -> Texts:
    if not len(rows):
        return np.array([], dtype=object)
    summary, description = _wording(rows, wording)
    uid = rows["uid"].astype(str).to_numpy(dtype=object)
    per_dose = np.broadcast_to(np.asarray(per_dose, dtype=bool), (len(rows),))
    run_uid = np.array([u.replace("@", ".run@", 1) for u in uid[~per_dose]], dtype=object)
    uid = uid.copy()
    uid[~per_dose] = run_uid
    if staff:
        uid = "staff." + uid
        summary = rows["patient_id"].astype(str).to_numpy(dtype=object) + ": " + summary
    lines = _distinct_lines(summary, remind, wording.reminder)
    parts: list[Texts | str] = [
        "BEGIN:VEVENT" + CRLF, lines[0], starts[0], end_lines(rows, starts[1]), "DTSTAMP:",
        _stamps(stamps, sequence, changed),
        CRLF, fold_all("UID:" + escape_all(uid)), CRLF + "SEQUENCE:", sequence.astype(str).astype(object), CRLF,
        recurrence, TAIL,
        fold_all("DESCRIPTION:" + np.where(per_dose, description + _where(rows, wording.per_dose), description)),
        CRLF, _location(rows, wording.location), "TRANSP:TRANSPARENT" + CRLF, lines[1], "END:VEVENT" + CRLF,
    ]  # fmt: skip
    return joined(parts, len(rows))


def _location(rows: pd.DataFrame, address: str) -> Texts | str:
    """LOCATION of in-clinic doses: ``address`` ("" writes none)."""
    if not address or "in_clinic" not in rows.columns:
        return ""
    return np.where(rows["in_clinic"].to_numpy(dtype=bool), text_line("LOCATION", address), "").astype(object)


def joined(parts: list[Texts | str], n: int) -> Texts:
    """Element-wise concatenation of columns (arrays of ``n`` strings, or one string for all)."""
    columns = [itertools.repeat(p, n) if isinstance(p, str) else p for p in parts]
    return np.fromiter(map("".join, zip(*columns, strict=False)), dtype=object, count=n)  # repeat() is endless


def _distinct_lines(summary: Texts, remind: dt.timedelta | None, reminder: str) -> tuple[Texts, Texts]:
    """The SUMMARY line and the alarm ("" without ``remind``) of each event, each written once
    per distinct summary."""
    codes, distinct = pd.factorize(pd.Series(summary, dtype=object))
    lines = np.array([text_line("SUMMARY", str(s)) for s in distinct], dtype=object)
    alarms = np.array([alarm_block(remind, str(s), reminder) if remind else "" for s in distinct], dtype=object)
    return lines[codes], alarms[codes]


def _wording(rows: pd.DataFrame, wording: Wording) -> tuple[Texts, Texts]:
    """Summary and (escaped) general description of each row, written once per distinct wording."""
    keys = [c for c in wording.keys if c in rows.columns]
    group = rows.groupby(keys, observed=True, sort=False, dropna=False).ngroup().to_numpy()
    first = np.unique(group, return_index=True)[1]
    records = [{str(k): v for k, v in r.items()} for r in rows.iloc[first].to_dict("records")]
    summaries = np.array([wording.summary(r) for r in records], dtype=object)
    descriptions = escape_all(np.array([wording.description(r) for r in records], dtype=object))
    return summaries[group], descriptions[group]


def _where(rows: pd.DataFrame, templates: tuple[str, str]) -> Texts:
    """The per-dose end of the description, escaped: "\\nStudy day 3\\, cycle 1 day 3\\, dose 2 of
    this drug" from ``templates`` (with a cycle, without one: ``str.format`` fields of the table)."""
    with_cycle = _filled(rows, templates[0])
    if "cycle" not in rows.columns:
        return with_cycle
    known = ~rows["cycle"].isna().to_numpy(dtype=bool)
    return np.where(known, with_cycle, _filled(rows, templates[1]))


def _filled(rows: pd.DataFrame, template: str) -> Texts:
    """``"\\n" + template`` filled in for each row, escaped (column values are numbers, or escaped)."""
    out: Texts | str = r"\n"
    for text, name, _, _ in string.Formatter().parse(template):
        out = out + escape_text(text)
        if name is not None:
            if name not in rows.columns:
                continue
            numeric = pd.api.types.is_numeric_dtype(rows[name].dtype)  # digits need no escaping
            out = out + (_strings(rows[name]) if numeric else escape_all(_strings(rows[name])))
    return np.broadcast_to(np.asarray(out, dtype=object), (len(rows),))


def _strings(values: pd.Series) -> Texts:
    """``str`` of each value, as an f-string writes it, once per distinct value."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return np.array([str(v) for v in distinct], dtype=object)[codes]


def _stamps(
    stamps: npt.NDArray[np.datetime64], sequence: npt.NDArray[np.int64], changed: npt.NDArray[np.datetime64]
) -> Texts:
    """DTSTAMP values: the row's stamp, or for a changed event (sequence > 0) the day of its
    latest change, 00:00 UTC, when that is later (see :func:`dosing.io.write.ics.change_stamp`)."""
    base = stamps.astype("datetime64[s]")
    day = changed.astype("datetime64[D]").astype("datetime64[s]")
    later = (sequence > 0) & ~np.isnat(day) & (day > base)
    return _basic(np.where(later, day, base)) + "Z"


def _basic(when: npt.NDArray[np.datetime64]) -> Texts:
    """``20270322T080000`` for each datetime64 value."""
    iso = np.datetime_as_string(when.astype("datetime64[s]"), unit="s")
    return np.strings.replace(np.strings.replace(iso, "-", ""), ":", "").astype(object)


def _dtstart(rows: pd.DataFrame) -> tuple[Texts, Texts]:
    """Each dose's DTSTART line: its local time with TZID, or in UTC where that local time occurs
    twice (see :func:`dosing.io.write.ics.unambiguous`); and the TZID it names ("": none)."""
    planned = pd.to_datetime(rows["planned_at"], utc=True)
    zones = rows["timezone"].astype(str).to_numpy()
    out = np.empty(len(rows), dtype=object)
    named = np.empty(len(rows), dtype=object)
    for zone in pd.unique(zones):
        pick = zones == zone
        wall = planned[pick].dt.tz_convert(str(zone)).dt.tz_localize(None)
        twice = wall.dt.tz_localize(str(zone), ambiguous="NaT", nonexistent="NaT").isna().to_numpy(dtype=bool)
        name = zone_tzid(str(zone))
        digits = _basic(wall.to_numpy(dtype="datetime64[s]"))
        local = digits + "Z" if name == "UTC" else fold_all("DTSTART;TZID=" + str(name) + ":" + digits)
        local = "DTSTART:" + local if name == "UTC" else local
        instant = "DTSTART:" + _basic(planned[pick].dt.tz_localize(None).to_numpy(dtype="datetime64[s]")) + "Z"
        out[pick] = np.where(twice, instant, local)
        named[pick] = np.where(twice | (name == "UTC"), "", str(name))
    return out + CRLF, named


def _recurrence(
    starts: Texts,
    step: np.ndarray,
    count: np.ndarray,
    weekdays: np.ndarray,
    exdates: list[list[str]],
    single: npt.NDArray[np.bool_],
) -> Texts:
    """RRULE and EXDATE lines of each run ("" for a run of one dose without exclusions)."""
    rules = np.array([rrule_text(int(s), int(c), int(w)) for s, c, w in zip(step, count, weekdays, strict=True)])
    out = np.where(single, "", "RRULE:" + rules.astype(object) + CRLF).astype(object)
    for i in np.flatnonzero(np.array([bool(e) for e in exdates], dtype=bool)):
        out[i] += _exdate(str(starts[i]), exdates[i])
    return out


def _exdate(dtstart: str, days: list[str]) -> str:
    """EXDATE at the run's own wall-clock time (and TZID, or UTC), on each excluded day."""
    head, value = dtstart.rstrip(CRLF).replace(CRLF + " ", "").split(":", 1)
    clock = value[8:]  # "T080000" or "T053000Z"
    values = ",".join(day.replace("-", "") + clock for day in days)
    return fold(head.replace("DTSTART", "EXDATE", 1) + ":" + values) + CRLF


DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def rrule_text(step: int, count: int, weekdays: int) -> str:
    """The RRULE value of a run: on the weekdays in the bitmask, or every ``step`` days (parts in
    the order of RFC 5545 3.3.10, as icalendar writes them)."""
    if weekdays:
        return f"FREQ=WEEKLY;COUNT={count};BYDAY=" + ",".join(DAY_CODES[w] for w in range(7) if weekdays >> w & 1)
    if step % 7 == 0:
        return f"FREQ=WEEKLY;COUNT={count}" + (f";INTERVAL={step // 7}" if step > 7 else "")
    return f"FREQ=DAILY;COUNT={count}" + (f";INTERVAL={step}" if step > 1 else "")
