"""Calendar events for clinic visits, and for doses a changes file moved or altered.

Visits are all-day events (``VALUE=DATE``, exclusive ``DTEND``) or, when the protocol gives
clinic hours, timed events in the patient's zone (never at a local time that does not exist or
occurs twice: see :func:`dosing.io.write.ics.unambiguous`); ``CATEGORIES:visit``; the window, the
procedures and any move are in the ``DESCRIPTION``. They are handed to
:func:`dosing.io.write.ics.calendar_for_patient` as ``extra_events``.

Subscribed calendars update in place: every event keeps its UID; an unchanged event keeps its
bytes (``DTSTAMP`` is the patient's start date, 00:00 UTC, as for doses); a changed event
(``sequence`` > 0) gets that SEQUENCE and, as ``DTSTAMP``, the date of the latest change that
touched it (never before the patient's start). In one-event-per-dose calendars, changed doses
are built here (:func:`changed_dose_events`, with the same :func:`~dosing.io.write.ics.dose_event` as
every dose) and :func:`hide_changed` keeps them out of the dose writer's own events.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Any

import icalendar
import numpy as np
import pandas as pd

from ...plan.changes import each_row
from .ics import Extra, change_stamp, dose_texts, unambiguous
from .ics_text import CRLF, EventText, date_time_line, text_line, utc_stamp
from .ics_wording import STAFF, STAFF_VISITS, PatientText, VisitWording, Wording


def patient_stamp(start: dt.date) -> dt.datetime:
    """The DTSTAMP of unchanged events: the patient's start date, 00:00 UTC."""
    return dt.datetime.combine(start, dt.time(0, 0), tzinfo=dt.UTC)


def visit_description(row: Mapping[Any, Any]) -> str:
    """The staff wording of a visit's description (window, procedures, study day, move, warning)."""
    return STAFF_VISITS.description(row)


def visit_event_texts(visits: pd.DataFrame, timezone: str, stamp: dt.datetime, staff: bool = False) -> list[EventText]:
    """One event per visit row of one patient, as text (for the clinic's calendar with ``staff``:
    the patient id leads the summary and the UID starts with ``staff.``)."""
    zone = zoneinfo.ZoneInfo(timezone)
    return [visit_event_text(row, zone, stamp, staff) for row in visits.to_dict("records")]


def visit_event_text(
    row: Mapping[Any, Any],
    zone: zoneinfo.ZoneInfo,
    stamp: dt.datetime,
    staff: bool,
    wording: VisitWording = STAFF_VISITS,
) -> EventText:
    """The event of one visit row (see :func:`visit_event_texts`), in ``wording`` (the staff's by
    default; a patient's gives the visit's LOCATION and the patient's language)."""
    summary = (f"{row['patient_id']}: " if staff else "") + wording.summary(row)
    location = text_line("LOCATION", wording.location) if wording.location else ""
    body = (
        f"BEGIN:VEVENT{CRLF}"
        + text_line("SUMMARY", summary)
        + _when(row, zone)
        + "DTSTAMP:" + utc_stamp(change_stamp(stamp, row["changed_on"]) if row["sequence"] else stamp) + CRLF
        + text_line("UID", ("staff." if staff else "") + str(row["uid"]))
        + f"SEQUENCE:{int(row['sequence'])}{CRLF}CATEGORIES:visit{CRLF}"
        + text_line("DESCRIPTION", wording.description(row))
        + location
        + f"TRANSP:OPAQUE{CRLF}"
    )  # fmt: skip
    return EventText(body, summary, frozenset({"visit"}), wording.translate("Reminder: {text}"))


def _when(row: Mapping[Any, Any], zone: zoneinfo.ZoneInfo) -> str:
    """DTSTART and DTEND: all day (exclusive end), or at the visit's time for its duration."""
    day = dt.date.fromisoformat(str(row["scheduled_date"]))
    if not row["time"]:
        return date_time_line("DTSTART", day) + date_time_line("DTEND", day + dt.timedelta(days=1))
    begin = dt.datetime.combine(day, dt.time.fromisoformat(str(row["time"])), tzinfo=zone)
    end = begin.astimezone(dt.UTC) + dt.timedelta(minutes=int(row["duration_minutes"]))
    return date_time_line("DTSTART", unambiguous(begin)) + date_time_line("DTEND", unambiguous(end.astimezone(zone)))


def visit_events(visits: pd.DataFrame, timezone: str, stamp: dt.datetime) -> list[icalendar.Event]:
    """:func:`visit_event_texts` as icalendar objects (for callers that inspect them)."""
    events = []
    for text in visit_event_texts(visits, timezone, stamp):
        event = icalendar.Event.from_ical(text.text())
        assert isinstance(event, icalendar.Event)
        events.append(event)
    return events


def staff_visit_events(visits: pd.DataFrame, zones: Mapping[Any, str], stamp: dt.datetime) -> list[EventText]:
    """Visit events for the clinic's shared calendar: the patient id leads each summary, and a
    timed visit is at its time in the patient's zone (``zones``: patient id -> TZID), as in the
    patient's own calendar."""
    if not len(visits):
        return []
    pids = visits["patient_id"].astype(str).to_numpy(dtype=object)
    order = np.argsort(pd.factorize(pids, sort=False)[0], kind="stable")  # by patient, as first seen
    rows = visits.iloc[order].to_dict("records")  # once: a call per patient cost 3 ms
    return [
        visit_event_text(row, zoneinfo.ZoneInfo(zones[pid]), stamp, staff=True)
        for row, pid in zip(rows, pids[order], strict=True)
    ]


def changed_dose_events(
    doses: pd.DataFrame, stamp: dt.datetime, remind: dt.timedelta | None = None, wording: Wording = STAFF
) -> list[str]:
    """Events (text) for one patient's doses that changes moved or altered (``sequence`` > 0, not
    held), each stamped with its latest change and carrying the ``remind`` alarm like every dose."""
    changed = doses[(doses["sequence"] > 0) & ~doses["held"].astype(bool)]
    return dose_texts(changed, stamp, style="expanded", remind=remind, wording=wording)


def hide_changed(doses: pd.DataFrame) -> pd.DataFrame:
    """The dose rows with changed ones marked held, so the dose writer leaves them to us."""
    if not (doses["sequence"] > 0).any():
        return doses
    return doses.assign(held=doses["held"] | (doses["sequence"] > 0))


def calendar_extras(
    doses: pd.DataFrame,
    visits: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    changed_doses: bool = True,
    remind: dt.timedelta | None = None,
    wordings: Mapping[str, PatientText] | None = None,
) -> dict[str, list[Extra]]:
    """Per patient id: visit events and (with ``changed_doses``, for one-event-per-dose
    calendars) changed-dose events, with the dose alarm ``remind``, for ``calendar_for_patient``.
    Recurring calendars keep changed doses in their runs instead, so that each run keeps its UID.
    ``wordings`` (per patient id) words the events for the patient (default: the staff wording)."""
    changed = doses[doses["sequence"] > 0] if len(doses) and changed_doses else doses.iloc[0:0]
    by_patient_doses = dict(tuple(changed.groupby(changed["patient_id"].astype(str), sort=False)))
    extras: dict[str, list[Extra]] = {}
    where: dict[str, tuple[zoneinfo.ZoneInfo, dt.datetime]] = {}
    words: dict[str, tuple[Wording, VisitWording]] = {}
    for patient in each_row(patients):
        pid = str(patient.patient_id)
        stamp = patient_stamp(pd.Timestamp(patient.start_date).date())
        where[pid] = (zoneinfo.ZoneInfo(str(patient.timezone)), stamp)
        wording = wordings.get(pid) if wordings is not None else None
        words[pid] = (wording.doses, wording.visits) if wording is not None else (STAFF, STAFF_VISITS)
        changed_here = by_patient_doses.get(pid)
        extras[pid] = [] if changed_here is None else [*changed_dose_events(changed_here, stamp, remind, words[pid][0])]
    for row in visits.to_dict("records") if len(visits) else ():
        pid = str(row["patient_id"])
        if pid in where:
            extras[pid].append(visit_event_text(row, *where[pid], staff=False, wording=words[pid][1]))
    return extras
