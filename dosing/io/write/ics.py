"""iCalendar (RFC 5545 / RFC 7986) calendars of planned doses: one per patient, one per clinic.

Two styles give the same doses. ``recurring`` (the default) writes one recurring event per
regular run of doses (:mod:`dosing.io.write.ics_runs`), with held doses as ``EXDATE``; ``expanded``
writes one ``VEVENT`` per dose. Every dose event carries ``CATEGORIES:dose``, a ``DTSTART``
with the patient's ``TZID`` (and a matching ``VTIMEZONE`` from :mod:`dosing.io.write.vtimezone`),
and ``DURATION`` rather than ``DTEND`` (an end time could fall into a daylight-saving gap), except
for a dose with a duration (an infusion): its event ends with the dose (``DTEND``, see :mod:`.ics_ends`).
UIDs come from the dose table (stable across runs, independent of the arm); a recurring
event's UID is its first dose's UID with ``.run`` before the ``@``. ``DTSTAMP`` is
deterministic (passed in by the caller) so that regenerating an unchanged schedule gives
identical bytes; an event whose doses a changes file touched (``sequence`` > 0) is stamped
with the date of the latest such change instead (``changed_on``, see :func:`change_stamp`).
No event is ever written at a local time that does not exist; a dose at a local time that
occurs twice (the repeated hour of a fall-back, which the dose table reads as the first
occurrence, as RFC 5545 does) is written in UTC, because ical.js (Thunderbird) reads such a
local time as the second occurrence.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, Literal

import icalendar
import numpy as np
import numpy.typing as npt
import pandas as pd

from .ics_doses import DoseEvents, dose_event_texts
from .ics_text import EventText, alarm_block, calendar_text
from .ics_wording import STAFF, Wording, dose_description, dose_summary

__all__ = ["dose_description", "dose_summary"]  # re-exported: the staff wording

Extra = icalendar.Event | EventText | str  # an object, a visit as text, or a whole event as text
DOSE_MINUTES = 15
REFRESH = dt.timedelta(hours=12)
Style = Literal["recurring", "expanded"]
STYLES: tuple[Style, ...] = ("recurring", "expanded")


def calendar_for_patient(
    doses: pd.DataFrame,
    *,
    name: str,
    timezone: str,
    stamp: dt.datetime,
    first: dt.date,
    last: dt.date,
    extra_events: Iterable[Extra] = (),
    style: Style = "recurring",
    remind: dt.timedelta | None = None,
    remind_visits: dt.timedelta | None = None,
    wording: Wording = STAFF,
) -> bytes:
    """One patient's calendar. ``doses`` is that patient's (blinded or unblinded) dose table;
    held rows are left out (``EXDATE`` in a recurring run). ``extra_events`` (e.g. visits)
    are added as given, with a ``remind_visits`` alarm when their CATEGORIES include visit.
    ``wording`` is how the doses read (see :mod:`.ics_wording`: the patient's, from
    :func:`~dosing.io.write.ics_wording.patient_text`, or by default the staff wording)."""
    events = dose_events(doses, stamp, style=style, remind=remind, wording=wording)
    extra = extra_texts(extra_events, remind_visits)
    return calendar_bytes(name, {timezone, *events.tzids}, (first, last), [*events.texts], extra, timezone)


def staff_calendar(
    doses: pd.DataFrame,
    *,
    name: str,
    stamp: dt.datetime,
    first: dt.date,
    last: dt.date,
    extra_events: Iterable[Extra] = (),
    style: Style = "recurring",
    remind: dt.timedelta | None = None,
    remind_visits: dt.timedelta | None = None,
    timezone: str | None = None,
) -> bytes:
    """A clinic's shared calendar: the given doses of many patients, each summary starting
    with the patient id, UIDs prefixed ``staff.`` so they never clash with a patient feed.
    ``timezone`` (the study's) adds its VTIMEZONE, so that a calendar without events still
    holds the one component RFC 5545 requires."""
    events = dose_events(doses, stamp, style=style, remind=remind, staff=True)
    extra = extra_texts(extra_events, remind_visits)
    zones = {*events.tzids, *([timezone] if timezone else [])}
    return calendar_bytes(name, zones, (first, last), [*events.texts], extra, None)


def dose_events(
    doses: pd.DataFrame,
    stamp: dt.datetime | npt.NDArray[np.datetime64],
    *,
    style: Style = "recurring",
    remind: dt.timedelta | None = None,
    staff: bool = False,
    wording: Wording = STAFF,
) -> DoseEvents:
    """The ``VEVENT``\\ s of a dose table in the given style, as text (see :mod:`.ics_doses`);
    ``stamp`` is the DTSTAMP of unchanged events, one for all rows or one per row."""
    if style not in STYLES:
        raise ValueError(f"unknown calendar style {style!r}; use one of {', '.join(STYLES)}")
    stamps = stamp if isinstance(stamp, np.ndarray) else np.full(len(doses), utc64(stamp))
    return dose_event_texts(doses, stamps, wording, style=style, remind=remind, staff=staff)


def dose_texts(doses: pd.DataFrame, stamp: dt.datetime, *, style: Style = "recurring", **options: Any) -> list[str]:
    """The text of :func:`dose_events`, one string per event."""
    return [*dose_events(doses, stamp, style=style, **options).texts]


def utc64(stamp: dt.datetime) -> np.datetime64:
    """An aware datetime as a datetime64 in UTC (seconds)."""
    return np.datetime64(stamp.astimezone(dt.UTC).replace(tzinfo=None), "s")


def change_stamp(stamp: dt.datetime, changed_on: Any) -> dt.datetime:
    """DTSTAMP of a changed event: the change's date, 00:00 UTC, never before ``stamp``."""
    if changed_on is None or pd.isna(changed_on):
        return stamp
    when = dt.datetime.combine(pd.Timestamp(changed_on).date(), dt.time(0, 0), tzinfo=dt.UTC)
    return max(stamp, when)


def unambiguous(when: dt.datetime) -> dt.datetime:
    """``when`` (aware, in its zone) as a time every client reads alike: a wall-clock time that
    does not exist (spring-forward gap) becomes the existing local time of the instant RFC 5545
    gives it (the offset before the gap); one that occurs twice (fall-back) is given in UTC,
    because clients disagree on which of the two instants it means."""
    instant = when.astimezone(dt.UTC)
    local = instant.astimezone(when.tzinfo)
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return instant
    return local


def categories(event: icalendar.Component) -> set[str]:
    """The event's CATEGORIES values, lower-cased (one or several CATEGORIES lines)."""
    value = event.get("categories")
    items = value if isinstance(value, list) else [value] if value is not None else []
    return {str(cat).lower() for item in items for cat in getattr(item, "cats", [item])}


def extra_texts(events: Iterable[Extra], remind_visits: dt.timedelta | None) -> list[str]:
    """Extra events as text, a visit (CATEGORIES include visit) with a ``remind_visits`` alarm."""
    return [_extra_text(event, remind_visits) for event in events]


def _extra_text(event: Extra, before: dt.timedelta | None) -> str:
    if isinstance(event, str):
        return event
    if isinstance(event, EventText):
        return event.text(before if "visit" in event.categories else None)
    if before is None or "visit" not in categories(event) or event.walk("VALARM"):
        return event.to_ical().decode("utf-8")
    text = event.to_ical().decode("utf-8")
    alarm = alarm_block(before, str(event.get("summary", "Study visit")))
    cut = text.index("BEGIN:VALARM") if "BEGIN:VALARM" in text else text.rindex("END:VEVENT")
    return text[:cut] + alarm + text[cut:]


#: Date-time properties whose TZID needs a VTIMEZONE.
_ZONED = re.compile(r"^(?:DTSTART|DTEND|DUE|EXDATE|RDATE|RECURRENCE-ID);TZID=([^:;\r\n]+)[:;]", re.MULTILINE)


def calendar_bytes(
    name: str,
    zones: set[str],
    days: tuple[dt.date, dt.date],
    events: list[str],
    extra: list[str],
    home_zone: str | None,
) -> bytes:
    """The calendar of ``events`` then ``extra`` (text): a VTIMEZONE for each of ``zones`` (those
    of ``events``; "" is none) and each TZID the ``extra`` events name, valid from a year before
    ``days`` (first, last) to a year after."""
    first, last = days
    span = (dt.date(first.year - 1, 1, 1), dt.date(last.year + 1, 12, 31))
    used = set(_ZONED.findall("".join(extra))) if extra else set()
    return calendar_text(name, (zones | used) - {""}, span, [*events, *extra], home_zone)
