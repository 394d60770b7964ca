"""iCalendar text written directly: escaping, folding and content lines (RFC 5545 3.1, 3.3.11).

The calendar writer builds its text from the dose table with these functions rather than one
icalendar object per event (about a hundred times faster). They write exactly the bytes that
icalendar 7 writes for the same values (``tests/test_ics_text.py`` compares them on awkward
text), so that calendars did not change by a byte when the writer moved over:

- TEXT values escape ``\\``, ``;``, ``,`` and line ends (``\\n``); a CR LF, a lone LF or a lone CR
  is one line end;
- a content line longer than 74 octets is folded: CRLF and one space before every further
  74 octets; a fold never splits a UTF-8 sequence, and never leaves a ``\\`` or ``^`` at the end
  of a physical line (clients differ on escapes split across a fold);
- every line ends in CRLF.

icalendar stays where it is right: the ``VTIMEZONE`` components (:mod:`.vtimezone`), extra events
a caller builds as objects, and reading calendars in the tests.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import icalendar
import numpy as np
import numpy.typing as npt
import pandas as pd
from icalendar.timezone.tzid import tzid_from_tzinfo

CRLF = "\r\n"
PRODID = "-//dosing//dosing 0.1//EN"
#: A physical line holds at most this many octets (the continuation's leading space not counted).
OCTETS = 74
_ESCAPES_AT_END = ("\\", "^")
_NUL = "\x00"


def escape_text(value: str) -> str:
    """A TEXT value as written on a content line (the same replacements, in the same order, as
    icalendar's ``_escape_char``)."""
    return (
        value.replace(r"\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", r"\;")
        .replace(",", r"\,")
        .replace("\r\n", r"\n")
        .replace("\n", r"\n")
        .replace("\r", r"\n")
    )


def fold(line: str) -> str:
    """One content line folded at :data:`OCTETS` octets (no CRLF at the end)."""
    if line.isascii():
        return line if len(line) <= OCTETS else _fold_ascii(line)
    pieces: list[str] = []
    current: list[str] = []
    octets = 0
    for char in line:
        size = 1 if char.isascii() else len(char.encode("utf-8"))
        if current and octets + size > OCTETS:
            carried = current.pop() if len(current) > 1 and current[-1] in _ESCAPES_AT_END else ""
            pieces.append("".join(current))
            current = [carried] if carried else []
            octets = len(carried)
        current.append(char)
        octets += size
    pieces.append("".join(current))
    return "\r\n ".join(pieces)


def _fold_ascii(line: str) -> str:
    """:func:`fold` where every character is one octet: slices of :data:`OCTETS`."""
    pieces = []
    start = 0
    while len(line) - start > OCTETS:
        end = start + OCTETS
        if line[end - 1] in _ESCAPES_AT_END:
            end -= 1
        pieces.append(line[start:end])
        start = end
    pieces.append(line[start:])
    return "\r\n ".join(pieces)


def text_line(name: str, value: str) -> str:
    """``NAME:value`` with the value escaped, folded, ending in CRLF."""
    return fold(f"{name}:{escape_text(value)}") + CRLF


def fold_all(lines: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """:func:`fold` over an array of lines; only the long or non-ASCII ones are looked at."""
    if not len(lines):
        return lines
    if "".join(lines).isascii():
        long = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)) > OCTETS
    else:
        long = np.ones(len(lines), dtype=bool)
    out = lines.copy()
    picked = np.flatnonzero(long)
    codes, distinct = pd.factorize(lines[picked])  # many events share a line (a description): fold it once
    out[picked] = np.array([fold(line) for line in distinct], dtype=object)[codes]
    return out


def escape_all(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """:func:`escape_text` over an array of strings: the replacements run once over the values
    joined by NUL (which escaping leaves alone and no TEXT value holds), then split again."""
    joined = _NUL.join(map(str, values))
    if joined.count(_NUL) != len(values) - 1:  # a NUL in a value (or no values)
        return np.array([escape_text(str(v)) for v in values], dtype=object)
    return np.array(escape_text(joined).split(_NUL), dtype=object)


def tzid(tzinfo: dt.tzinfo | None) -> str | None:
    """The TZID icalendar writes for a zone ("UTC" for UTC and every zone it counts as UTC)."""
    return _tzid(tzinfo) if isinstance(tzinfo, zoneinfo.ZoneInfo) else tzid_from_tzinfo(tzinfo)


@functools.lru_cache(maxsize=1024)
def _tzid(tzinfo: zoneinfo.ZoneInfo) -> str | None:
    return tzid_from_tzinfo(tzinfo)


def zone_tzid(zone: str) -> str | None:
    """:func:`tzid` of a zone name."""
    return tzid(zoneinfo.ZoneInfo(zone))


def basic(when: dt.datetime) -> str:
    """A DATE-TIME value's wall-clock digits: ``20270322T080000``."""
    return when.strftime("%Y%m%dT%H%M%S")


def utc_stamp(when: dt.datetime) -> str:
    """DTSTAMP's value: the instant in UTC (``20270101T000000Z``)."""
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def date_time_line(name: str, when: dt.datetime | dt.date) -> str:
    """``DTSTART;TZID=Europe/Berlin:20270322T080000``, ``...:20271107T053000Z`` (UTC) or
    ``DTSTART;VALUE=DATE:20270412`` (a date), ending in CRLF."""
    if not isinstance(when, dt.datetime):
        return f"{name};VALUE=DATE:{when.strftime('%Y%m%d')}{CRLF}"
    zone = tzid(when.tzinfo)
    if zone == "UTC":
        return f"{name}:{basic(when)}Z{CRLF}"
    return fold(f"{name};TZID={zone}:{basic(when)}") + CRLF


def duration(offset: dt.timedelta) -> str:
    """A DURATION value as icalendar writes it (``PT15M``, ``-P1D``)."""
    return icalendar.vDuration(offset).to_ical().decode("ascii")


def alarm_block(before: dt.timedelta, text: str, reminder: str = "Reminder: {text}") -> str:
    """A display alarm ``before`` the event, saying "Reminder: <text>" (``reminder``, translated)."""
    return (
        f"BEGIN:VALARM{CRLF}ACTION:DISPLAY{CRLF}"
        + text_line("DESCRIPTION", reminder.format(text=text))
        + f"TRIGGER:{duration(-before)}{CRLF}END:VALARM{CRLF}"
    )


@functools.lru_cache(maxsize=256)
def vtimezone_text(zone: str, first: dt.date, last: dt.date) -> str:
    """The ``VTIMEZONE`` of :func:`dosing.io.write.vtimezone.vtimezone`, serialised once."""
    from .vtimezone import vtimezone

    return vtimezone(zone, first, last).to_ical().decode("utf-8")


def calendar_text(
    name: str,
    zones: Iterable[str],
    span: tuple[dt.date, dt.date],
    events: Iterable[str],
    home_zone: str | None,
) -> bytes:
    """A whole ``VCALENDAR``: the header icalendar writes (its property order), a ``VTIMEZONE``
    per zone (sorted), then the events as given."""
    head = [
        f"BEGIN:VCALENDAR{CRLF}VERSION:2.0{CRLF}PRODID:{PRODID}{CRLF}CALSCALE:GREGORIAN{CRLF}",
        text_line("NAME", name),
        text_line("X-WR-CALNAME", name),
        f"REFRESH-INTERVAL;VALUE=DURATION:PT12H{CRLF}X-PUBLISHED-TTL:PT12H{CRLF}",
    ]
    if home_zone is not None:
        head.append(text_line("X-WR-TIMEZONE", home_zone))
    head += [vtimezone_text(zone, *span) for zone in sorted(zones)]
    return "".join([*head, *events, f"END:VCALENDAR{CRLF}"]).encode("utf-8")


@dataclass(frozen=True)
class EventText:
    """One ``VEVENT`` written as text: ``body`` holds its lines from BEGIN:VEVENT to its last
    property (CRLF-ended); ``summary`` and ``categories`` are what a visit reminder needs."""

    body: str
    summary: str
    categories: frozenset[str]
    reminder: str = "Reminder: {text}"

    def text(self, alarm: dt.timedelta | None = None) -> str:
        """The whole event, with a display alarm ``alarm`` before it if given (saying ``reminder``)."""
        block = "" if alarm is None else alarm_block(alarm, self.summary, self.reminder)
        return self.body + block + f"END:VEVENT{CRLF}"
