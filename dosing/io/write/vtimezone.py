"""``VTIMEZONE`` components built from the IANA database (zoneinfo), as RFC 5545 defines them.

icalendar's ``Timezone.from_tzid`` writes the onset of daylight saving time in the local time
*after* the change (``DTSTART:20260329T030000`` for Europe/Berlin), but RFC 5545 reads an
observance's ``DTSTART`` in the offset in force *before* it (``TZOFFSETFROM``), so the onset is
02:00 (section 3.6.5 and its examples). A client that takes the RFC literally would move the
change an hour late. Here every transition becomes one ``STANDARD``/``DAYLIGHT`` sub-component
whose ``DTSTART`` is the transition instant in the old offset's wall-clock time.

Measured (2027-03-28, Europe/Berlin; RFC 5545 and our dose table: 02:30 means 01:30 UTC): for
an event written at the non-existent 02:30, vobject gives 00:30 UTC with either VTIMEZONE,
ical.js 00:30 with this one and 01:30 with icalendar's, and ``ical`` (which uses its own
zoneinfo) 01:30. For 02:30 on the fall-back day, vobject and ``ical`` take the first instant
and ical.js the second. Clients cannot be trusted with such times whatever the VTIMEZONE says,
so :mod:`dosing.io.write.ics` never writes them (see there); with that, every parser agrees with the
dose table under either VTIMEZONE, and this one is the one the RFC describes.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

import icalendar

_DAY = dt.timedelta(days=1)
_MINUTE = dt.timedelta(minutes=1)


@functools.lru_cache(maxsize=256)
def transitions(zone_name: str, first: dt.date, last: dt.date) -> tuple[dt.datetime, ...]:
    """UTC instants (to the minute) at which the zone's offset, abbreviation or DST flag changes."""
    zone = zoneinfo.ZoneInfo(zone_name)
    day = dt.datetime.combine(first, dt.time(0, 0), tzinfo=dt.UTC)
    end = dt.datetime.combine(last, dt.time(0, 0), tzinfo=dt.UTC)
    found: list[dt.datetime] = []
    state = _state(day, zone)
    while day < end:
        following = day + _DAY
        if _state(following, zone) != state:
            found.append(_first_change(day, following, zone, state))
            state = _state(following, zone)
        day = following
    return tuple(found)


def _state(instant: dt.datetime, zone: zoneinfo.ZoneInfo) -> tuple[object, ...]:
    local = instant.astimezone(zone)
    return local.utcoffset(), local.dst(), local.tzname()


def _first_change(
    low: dt.datetime, high: dt.datetime, zone: zoneinfo.ZoneInfo, state: tuple[object, ...]
) -> dt.datetime:
    """Bisect to the first minute in (low, high] whose state differs from ``state``."""
    while high - low > _MINUTE:
        middle = low + ((high - low) // _MINUTE // 2) * _MINUTE
        if _state(middle, zone) == state:
            low = middle
        else:
            high = middle
    return high


def vtimezone(zone_name: str, first: dt.date, last: dt.date) -> icalendar.Timezone:
    """The ``VTIMEZONE`` for ``zone_name`` valid from ``first`` to ``last`` (dates, inclusive)."""
    zone = zoneinfo.ZoneInfo(zone_name)
    component = icalendar.Timezone()
    component.add("tzid", zone_name)
    begin = dt.datetime.combine(first, dt.time(0, 0), tzinfo=dt.UTC)
    start = begin.astimezone(zone)
    component.add_component(_observance(start, start.utcoffset(), start))
    for instant in transitions(zone_name, first, last + _DAY):
        before = (instant - _MINUTE).astimezone(zone)
        after = instant.astimezone(zone)
        offset_before = before.utcoffset() or dt.timedelta(0)
        onset = (instant + offset_before).replace(tzinfo=None)  # wall clock in the old offset
        component.add_component(_observance(after, offset_before, onset))
    return component


def _observance(local: dt.datetime, offset_from: dt.timedelta | None, onset: dt.datetime) -> icalendar.Component:
    daylight = bool(local.dst())
    part: icalendar.Component = icalendar.TimezoneDaylight() if daylight else icalendar.TimezoneStandard()
    part.add("dtstart", onset.replace(tzinfo=None, second=0, microsecond=0))
    part.add("tzoffsetfrom", offset_from or dt.timedelta(0))
    part.add("tzoffsetto", local.utcoffset() or dt.timedelta(0))
    part.add("tzname", local.tzname() or "")
    return part
