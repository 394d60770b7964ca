"""iCalendar (RFC 5545 / RFC 7986) calendars of planned doses: one per patient, one per clinic.

Two styles give the same doses. ``recurring`` (the default) writes one recurring event per
regular run of doses (:mod:`dosing.io.write.ics_runs`), with held doses as ``EXDATE``; ``expanded``
writes one ``VEVENT`` per dose. Every dose event carries ``CATEGORIES:dose``, a ``DTSTART``
with the patient's ``TZID`` (and a matching ``VTIMEZONE`` from :mod:`dosing.io.write.vtimezone`),
and ``DURATION`` rather than ``DTEND`` (an end time could fall into a daylight-saving gap).
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
import zoneinfo
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import icalendar
import pandas as pd

from ...protocol.safety import is_methotrexate
from ...protocol.units import format_dose
from .ics_runs import find_runs
from .vtimezone import vtimezone

PRODID = "-//dosing//dosing 0.1//EN"
DOSE_MINUTES = 15
REFRESH = dt.timedelta(hours=12)
Style = Literal["recurring", "expanded"]
STYLES: tuple[Style, ...] = ("recurring", "expanded")
DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _once_weekly(row: Any) -> bool:
    """The dose table says so (``once_weekly``: methotrexate and its blinded placebo); a table
    without that column falls back on the drug's name."""
    flag = row.get("once_weekly")
    return bool(flag) if flag is not None else is_methotrexate(str(row["drug"]))


def dose_summary(row: Any) -> str:
    """Short text for a phone: "Loxoprofen 60 mg", "Methotrexate 20 mg (weekly, Sunday)"."""
    amount = format_dose(row["dose"], row["unit"])
    text = f"{row['drug']} {amount}".strip()
    if _once_weekly(row):
        text += f" (weekly, {row['weekday']})"
    return text


def dose_description(row: Any, *, per_dose: bool = True) -> str:
    """What to take, how, and (for methotrexate) the named weekday written in full."""
    amount = format_dose(row["dose"], row["unit"])
    lines = [f"Take: {row['drug']}, {amount}", f"Route: {row['route']}"]
    if row["instructions"]:
        lines.append(f"Instructions: {row['instructions']}")
    if _once_weekly(row):
        lines.append(f"Once weekly, on {row['weekday']}. Never take it daily.")
    if per_dose:
        where = f"Study day {row['study_day']}"
        if not pd.isna(row["cycle"]):
            where += f", cycle {row['cycle']} day {row['cycle_day']}"
        lines.append(where + f", dose {row['dose_number']} of this drug")
    return "\n".join(lines)


def calendar_for_patient(
    doses: pd.DataFrame,
    *,
    name: str,
    timezone: str,
    stamp: dt.datetime,
    first: dt.date,
    last: dt.date,
    extra_events: Iterable[icalendar.Event] = (),
    style: Style = "recurring",
    remind: dt.timedelta | None = None,
    remind_visits: dt.timedelta | None = None,
) -> bytes:
    """One patient's calendar. ``doses`` is that patient's (blinded or unblinded) dose table;
    held rows are left out (``EXDATE`` in a recurring run). ``extra_events`` (e.g. visits)
    are added as given, with a ``remind_visits`` alarm when their CATEGORIES include visit."""
    events = dose_events(doses, stamp, style=style, remind=remind)
    return _calendar(name, {timezone}, first, last, events, extra_events, remind_visits, timezone)


def staff_calendar(
    doses: pd.DataFrame,
    *,
    name: str,
    stamp: dt.datetime,
    first: dt.date,
    last: dt.date,
    extra_events: Iterable[icalendar.Event] = (),
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
    zones = {timezone} if timezone else set()
    return _calendar(name, zones, first, last, events, extra_events, remind_visits, None)


def dose_events(
    doses: pd.DataFrame,
    stamp: dt.datetime,
    *,
    style: Style = "recurring",
    remind: dt.timedelta | None = None,
    staff: bool = False,
) -> list[icalendar.Event]:
    """The ``VEVENT``\\ s of a dose table in the given style."""
    if style not in STYLES:
        raise ValueError(f"unknown calendar style {style!r}; use one of {', '.join(STYLES)}")
    if style == "expanded":
        given = doses[~doses["held"].astype(bool)] if "held" in doses.columns else doses
        return [
            dose_event(
                row,
                stamp=change_stamp(stamp, row.get("changed_on")) if row.get("sequence") else stamp,
                sequence=int(row.get("sequence", 0)),
                remind=remind,
                staff=staff,
            )
            for row in map(_record, given.to_dict("records"))
        ]
    runs = find_runs(doses)
    rows = [_record(row) for row in doses.iloc[runs.first].to_dict("records")]
    out = []
    for row, step, count, sequence, exdates, weekdays, changed in zip(
        rows, runs.step, runs.count, runs.sequence, runs.exdates, runs.weekdays, runs.changed, strict=True
    ):
        row["sequence"] = int(sequence)
        rule = _rule(int(step), int(count), int(weekdays))
        run_stamp = change_stamp(stamp, changed) if sequence else stamp
        out.append(_run_event(row, rule, int(count), exdates, run_stamp, remind, staff))
    return out


def change_stamp(stamp: dt.datetime, changed_on: Any) -> dt.datetime:
    """DTSTAMP of a changed event: the change's date, 00:00 UTC, never before ``stamp``."""
    if changed_on is None or pd.isna(changed_on):
        return stamp
    when = dt.datetime.combine(pd.Timestamp(changed_on).date(), dt.time(0, 0), tzinfo=dt.UTC)
    return max(stamp, when)


def _rule(step: int, count: int, weekdays: int) -> dict[str, Any]:
    """The RRULE of a run: on the weekdays in the bitmask, or every ``step`` days."""
    if weekdays:
        return {"freq": "weekly", "byday": [DAY_CODES[w] for w in range(7) if weekdays >> w & 1], "count": count}
    if step % 7 == 0:
        return {"freq": "weekly", "count": count, **({"interval": step // 7} if step > 7 else {})}
    return {"freq": "daily", "count": count, **({"interval": step} if step > 1 else {})}


def _record(row: dict[Any, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in row.items()}


def dose_event(
    row: dict[str, Any],
    *,
    stamp: dt.datetime,
    sequence: int,
    remind: dt.timedelta | None = None,
    staff: bool = False,
) -> icalendar.Event:
    """One dose's ``VEVENT`` (``DURATION``, never ``DTEND``), with the given ``DTSTAMP`` and
    ``SEQUENCE``; ``row`` is a dose-table record (``planned_at`` and ``timezone`` give the start)."""
    event = icalendar.Event()
    event.add("uid", ("staff." if staff else "") + str(row["uid"]))
    event.add("dtstamp", stamp)
    event.add("sequence", sequence)
    event.add("dtstart", _local_start(row))
    event.add("duration", dt.timedelta(minutes=DOSE_MINUTES))
    summary = (f"{row['patient_id']}: " if staff else "") + dose_summary(row)
    event.add("summary", summary)
    event.add("description", dose_description(row, per_dose=True))
    event.add("categories", ["dose"])
    event.add("transp", "TRANSPARENT")
    if remind is not None:
        event.add_component(_alarm(remind, summary))
    return event


def _run_event(
    row: dict[str, Any],
    rule: dict[str, Any],
    count: int,
    exdates: list[str],
    stamp: dt.datetime,
    remind: dt.timedelta | None,
    staff: bool,
) -> icalendar.Event:
    event = dose_event(row, stamp=stamp, sequence=int(row["sequence"]), remind=remind, staff=staff)
    if count == 1 and not exdates:
        return event
    event["uid"] = icalendar.vText(str(event["uid"]).replace("@", ".run@", 1))
    event["description"] = icalendar.vText(dose_description(row, per_dose=False))
    event.add("rrule", rule)
    if exdates:
        start = _local_start(row)
        event.add("exdate", [dt.datetime.combine(dt.date.fromisoformat(d), start.timetz()) for d in exdates])
    return event


def _local_start(row: dict[str, Any]) -> dt.datetime:
    """The dose's start in its zone (see :func:`unambiguous`)."""
    zone = zoneinfo.ZoneInfo(str(row["timezone"]))
    return unambiguous(pd.Timestamp(row["planned_at"]).to_pydatetime().astimezone(zone))


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


def _alarm(before: dt.timedelta, text: str) -> icalendar.Alarm:
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Reminder: {text}")
    alarm.add("trigger", -before)
    return alarm


def categories(event: icalendar.Component) -> set[str]:
    """The event's CATEGORIES values, lower-cased (one or several CATEGORIES lines)."""
    value = event.get("categories")
    items = value if isinstance(value, list) else [value] if value is not None else []
    return {str(cat).lower() for item in items for cat in getattr(item, "cats", [item])}


def _with_visit_alarm(event: icalendar.Event, before: dt.timedelta | None) -> icalendar.Event:
    if before is None or "visit" not in categories(event) or event.walk("VALARM"):
        return event
    copy = icalendar.Event.from_ical(event.to_ical())
    assert isinstance(copy, icalendar.Event)
    copy.add_component(_alarm(before, str(event.get("summary", "Study visit"))))
    return copy


def _zones_of(events: Iterable[icalendar.Component]) -> set[str]:
    """Every TZID that the events' date-time properties refer to."""
    found: set[str] = set()
    for event in events:
        for key in ("dtstart", "dtend", "due", "exdate", "rdate", "recurrence-id"):
            values = event.get(key)
            for value in values if isinstance(values, list) else [values]:
                params = getattr(value, "params", {})
                if "TZID" in params:
                    found.add(str(params["TZID"]))
    return found


def _calendar(
    name: str,
    zones: set[str],
    first: dt.date,
    last: dt.date,
    events: list[icalendar.Event],
    extra_events: Iterable[icalendar.Event],
    remind_visits: dt.timedelta | None,
    home_zone: str | None,
) -> bytes:
    extra = [_with_visit_alarm(e, remind_visits) for e in extra_events]
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    if home_zone is not None:
        cal.add("x-wr-timezone", home_zone)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT12H")
    span = (dt.date(first.year - 1, 1, 1), dt.date(last.year + 1, 12, 31))
    for zone in sorted(zones | _zones_of([*events, *extra])):
        cal.add_component(vtimezone(zone, *span))
    for event in _iter(events, extra):
        cal.add_component(event)
    return cal.to_ical()


def _iter(*groups: Iterable[icalendar.Event]) -> Iterator[icalendar.Event]:
    for group in groups:
        yield from group
