"""The Time column of the nurses' sheet: a dose's time, or an infusion's start and end.

A dose with a duration shows "09:00 → 11:00" when it ends on the day it starts, and "11:00 → 09:00"
with the end's weekday and date below ("Wed 06 Jan") when it ends on a later day, in the patient's
zone (the worklist's ``end_date`` and ``end_time``); an infusion across a daylight-saving change says
so under its end ("(clocks changed: UTC+02:00)"). Sheets with such a dose get a wider Time column.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pandas as pd

from ...protocol.values import WEEKDAYS

#: The Time column's width (points) when a row shows an end: "11:00 → 09:00" on one line.
WIDE = 112.0
_TIME = 1  # the Time column's position in sheet_pdf.COLUMNS


def time_cell(row: Any) -> str:
    """The Time cell of one worklist row (a named tuple with ``time``, ``date``, ``end_date``, ``end_time``)."""
    end_time = str(getattr(row, "end_time", "") or "")
    if not end_time or end_time == "nan":
        return str(row.time)
    end_date = str(row.end_date)
    text = f"{row.time} → {end_time}"
    if end_date != str(row.date):
        text += "\n" + day_text(dt.date.fromisoformat(end_date))
    changed = _offset_at_end(row)
    return text if changed is None else f"{text}\n(clocks changed: UTC{changed})"


def duration_note(row: Any) -> str | None:
    """Under the drug of a dose that lasts: "infusion over 46 h" (elapsed time from the start to the
    end, so a bolus and a pump of one drug are told apart), else None."""
    end_time = str(getattr(row, "end_time", "") or "")
    if not end_time or end_time == "nan":
        return None
    start = dt.datetime.fromisoformat(str(row.planned_utc).replace("Z", "+00:00"))
    utc = str(getattr(row, "planned_end_utc", "") or "")
    if utc and utc != "nan":  # exact, also for an end in the repeated hour of a fall-back night
        end = dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
    else:
        zone = zoneinfo.ZoneInfo(str(row.timezone))
        end = dt.datetime.fromisoformat(f"{row.end_date}T{end_time}").replace(tzinfo=zone)
    hours, minutes = divmod(int((end - start).total_seconds()) // 60, 60)
    parts = ([f"{hours} h"] if hours else []) + ([f"{minutes} min"] if minutes else [])
    return "infusion over " + " ".join(parts)


def _offset_at_end(row: Any) -> str | None:
    """The UTC offset at the end ("+02:00") when it differs from the offset at the start, else None."""
    zone = zoneinfo.ZoneInfo(str(row.timezone))
    start = dt.datetime.fromisoformat(str(row.planned_utc).replace("Z", "+00:00")).astimezone(zone)
    end = dt.datetime.fromisoformat(f"{row.end_date}T{row.end_time}").replace(tzinfo=zone)
    if end.utcoffset() == start.utcoffset():
        return None
    offset = end.strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(day: dt.date) -> str:
    """ "Wed 06 Jan" (English, whatever the machine's locale)."""
    return f"{WEEKDAYS[day.weekday()][:3]} {day.day:02d} {_MONTHS[day.month - 1]}"


def with_time_width(widths: list[float], rows: pd.DataFrame, shared: list[int]) -> list[float]:
    """``widths`` with the Time column at :data:`WIDE` when a row has an end, the room taken from the
    ``shared`` columns (those that share the space left: Drug and Notes), in proportion."""
    if "end_time" not in rows.columns or not (rows["end_time"].astype(str).replace("nan", "") != "").any():
        return widths
    extra = WIDE - widths[_TIME]
    if extra <= 0:
        return widths
    total = sum(widths[i] for i in shared)
    out = list(widths)
    out[_TIME] = WIDE
    for i in shared:
        out[i] -= extra * widths[i] / total
    return out
