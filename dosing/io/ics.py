"""iCalendar (RFC 5545 / RFC 7986) calendars of planned doses, one per patient.

Each planned dose is one ``VEVENT`` (``CATEGORIES:dose``) whose ``DTSTART`` carries the
patient's ``TZID`` with a matching ``VTIMEZONE``, so clients show the dose at the same
wall-clock time across daylight-saving changes. UIDs come from the dose table (stable
across runs, independent of the arm). ``DTSTAMP`` is deterministic (the patient's start
date, 00:00 UTC) so that regenerating an unchanged schedule gives identical bytes.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable

import icalendar
import pandas as pd

from ..parse import format_amount
from ..safety import is_methotrexate

PRODID = "-//dosing//dosing 0.1//EN"
DOSE_MINUTES = 15


def dose_summary(row: pd.Series) -> str:
    """Short text for a phone: "Loxoprofen 60 mg", "Methotrexate 20 mg (Sunday)"."""
    dose = row["dose"]
    amount = f"{format_amount(dose)} {row['unit']}".strip()
    text = f"{row['drug']} {amount}".strip()
    if is_methotrexate(str(row["drug"])):
        text += f" (weekly, {row['weekday']})"
    return text


def dose_description(row: pd.Series) -> str:
    lines = [dose_summary(row), f"Route: {row['route']}"]
    if row["instructions"]:
        lines.append(f"Instructions: {row['instructions']}")
    if is_methotrexate(str(row["drug"])):
        lines.append(f"Methotrexate is taken ONCE WEEKLY, on {row['weekday']}. Never take it daily.")
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
) -> bytes:
    """One patient's calendar. ``doses`` is that patient's (blinded or unblinded) dose table;
    rows with ``held`` set are left out. ``extra_events`` (e.g. visits) are added as given."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", timezone)
    cal.add("refresh-interval", dt.timedelta(hours=12), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT12H")
    cal.add_component(
        icalendar.Timezone.from_tzid(
            timezone, first_date=first - dt.timedelta(days=366), last_date=last + dt.timedelta(days=366)
        )
    )
    zone = zoneinfo.ZoneInfo(timezone)
    given = doses[~doses["held"]] if "held" in doses.columns else doses
    for event in _dose_events(given, zone, stamp):
        cal.add_component(event)
    for event in extra_events:
        cal.add_component(event)
    return cal.to_ical()


def _dose_events(doses: pd.DataFrame, zone: zoneinfo.ZoneInfo, stamp: dt.datetime) -> Iterable[icalendar.Event]:
    for _, row in doses.iterrows():
        start = row["planned_at"].to_pydatetime().astimezone(zone)
        event = icalendar.Event()
        event.add("uid", row["uid"])
        event.add("dtstamp", stamp)
        event.add("sequence", int(row["sequence"]) if "sequence" in row else 0)
        event.add("dtstart", start)
        event.add("dtend", start + dt.timedelta(minutes=DOSE_MINUTES))
        event.add("summary", dose_summary(row))
        event.add("description", dose_description(row))
        event.add("categories", ["dose"])
        event.add("transp", "TRANSPARENT")
        yield event
