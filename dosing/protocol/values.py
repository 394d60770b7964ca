"""Small pure parsers for the values people type: durations, times, dates, weekdays.

Each returns a plain value or raises :class:`~dosing.errors.ValueParseError` whose
message says what was expected. They are shared by the protocol model, the cohort
reader and the command line (as click types).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re

from ..errors import ValueParseError

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAY_LOOKUP = {name.lower(): i for i, name in enumerate(WEEKDAYS)}
_WEEKDAY_LOOKUP.update({name[:3].lower(): i for i, name in enumerate(WEEKDAYS)})

_DURATION = re.compile(r"^\s*(\d+)\s*(d|day|days|w|wk|week|weeks)\s*$", re.IGNORECASE)
_SHORT_DURATION = re.compile(
    r"^\s*(\d+)\s*(m|min|mins|minute|minutes|h|hr|hour|hours|d|day|days|w|wk|week|weeks)\s*$", re.IGNORECASE
)
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")

#: The highest day number anything may name (ten years; ``study.last_day`` has the same limit).
MAX_DAY = 3660


def parse_days(text: object) -> int:
    """A whole number of days from "14 days", "2 weeks", "1 day", "3w" (a week is 7 days).

    >>> parse_days("2 weeks")
    14
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueParseError(f'expected a duration such as "14 days" or "2 weeks", got {text!r}')
    if isinstance(text, int):
        raise ValueParseError(f'expected a duration with a unit such as "{text} days", got the bare number {text}')
    match = _DURATION.match(text)
    if not match:
        raise ValueParseError(f'expected a duration such as "14 days" or "2 weeks", got {text!r}')
    number, unit = int(match.group(1)), match.group(2).lower()
    days = number * 7 if unit.startswith("w") else number
    if days <= 0:
        raise ValueParseError(f"a duration must be at least 1 day, got {text!r}")
    return days


_HOURS = re.compile(r"^\s*(\d+)\s*(h|hr|hrs|hour|hours)\s*$", re.IGNORECASE)
_SIGNED = re.compile(
    r"^\s*([+-]?)\s*(\d+)\s*(m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days)\s*$", re.IGNORECASE
)
#: The longest interval in hours ``every`` may give (a week).
MAX_EVERY_HOURS = 168


def parse_every(text: object) -> int | dt.timedelta:
    """An interval: whole days ("2 days", "1 week": an int, as :func:`parse_days`) or whole hours
    ("8 hours", "6h": a timedelta of 1 to 168 hours).

    >>> parse_every("8 hours")
    datetime.timedelta(seconds=28800)
    """
    if isinstance(text, str) and _HOURS.match(text):
        hours = int(_HOURS.match(text).group(1))  # type: ignore[union-attr]
        if not 1 <= hours <= MAX_EVERY_HOURS:
            raise ValueParseError(f"an interval in hours must be 1 to {MAX_EVERY_HOURS} hours, got {text!r}")
        return dt.timedelta(hours=hours)
    if isinstance(text, str) and not _DURATION.match(text):
        raise ValueParseError(f'expected an interval such as "2 days", "1 week" or "8 hours", got {text!r}')
    return parse_days(text)  # the bare-number message stays that of every duration in days


def parse_signed_duration(text: object) -> dt.timedelta:
    """A signed time offset: "-30 minutes" (before), "24 hours", "+2h", "1 day" (after)."""
    match = _SIGNED.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueParseError(f'expected a duration such as "-30 minutes" (before) or "24 hours" (after), got {text!r}')
    sign = -1 if match.group(1) == "-" else 1
    number, unit = int(match.group(2)), match.group(3).lower()
    minutes = number * (1 if unit.startswith("m") else 60 if unit.startswith("h") else 1440)
    return dt.timedelta(minutes=sign * minutes)


def parse_offset(text: str) -> dt.timedelta:
    """A reminder offset: "15m", "2 h", "1d", "1 week" (must be positive)."""
    match = _SHORT_DURATION.match(text)
    if not match:
        raise ValueParseError(f'expected a duration such as "15m", "2h" or "1d", got {text!r}')
    number, unit = int(match.group(1)), match.group(2).lower()
    if number <= 0:
        raise ValueParseError(f"a duration must be positive, got {text!r}")
    if unit.startswith("m"):
        return dt.timedelta(minutes=number)
    if unit.startswith("h"):
        return dt.timedelta(hours=number)
    if unit.startswith("w"):
        return dt.timedelta(weeks=number)
    return dt.timedelta(days=number)


def parse_time(text: object) -> dt.time:
    """A wall-clock time "HH:MM" (24-hour)."""
    if not isinstance(text, str):
        raise ValueParseError(f'expected a time of day as "HH:MM" (24-hour), got {text!r}')
    match = _TIME.match(text)
    if not match:
        raise ValueParseError(f'expected a time of day as "HH:MM" (24-hour), got {text!r}')
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueParseError(f"{text!r} is not a time of day (hours 00-23, minutes 00-59)")
    return dt.time(hour, minute)


def parse_date(text: object) -> dt.date:
    """A calendar date "YYYY-MM-DD"; impossible dates such as 2026-02-30 are refused."""
    if isinstance(text, dt.datetime):
        raise ValueParseError(f"expected a date without a time, got {text!r}")
    if isinstance(text, dt.date):
        return text
    if not isinstance(text, str) or not re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", text):
        raise ValueParseError(f"expected a date as YYYY-MM-DD, got {text!r}")
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueParseError(f"{text.strip()!r} is not a real calendar date") from None


def parse_weekday(text: object) -> int:
    """A weekday name ("Monday" or "Mon", any case) as 0 (Monday) to 6 (Sunday)."""
    if isinstance(text, str) and text.strip().lower() in _WEEKDAY_LOOKUP:
        return _WEEKDAY_LOOKUP[text.strip().lower()]
    guess = difflib.get_close_matches(text.strip().capitalize(), WEEKDAYS, n=1) if isinstance(text, str) else []
    hint = f"; did you mean {guess[0]!r}?" if guess else ""
    raise ValueParseError(
        f'expected a weekday name such as "Monday" (one of {", ".join(WEEKDAYS)}), got {text!r}{hint}'
    )


def parse_day_list(value: object) -> list[int]:
    """Cycle days: a list of day numbers ``[1, 8]`` or ranges ``"1-14"``, ``"1-14, 21"``."""
    items: list[object]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list):
        items = list(value)
    else:
        raise ValueParseError(f'expected day numbers such as [1, 8] or "1-14", got {value!r}')
    days: list[int] = []
    for item in items:
        days.extend(_day_item(item))
    if not days:
        raise ValueParseError("expected at least one day number")
    if len(set(days)) != len(days):
        raise ValueParseError(f"day numbers repeat in {value!r}")
    return sorted(days)


def _day_item(item: object) -> list[int]:
    if isinstance(item, int) and not isinstance(item, bool):
        if not 1 <= item <= MAX_DAY:
            raise ValueParseError(f"cycle days count from 1 to at most {MAX_DAY}, got {item}")
        return [item]
    if isinstance(item, str):
        match = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", item)
        if match:
            low = int(match.group(1))
            high = int(match.group(2) or low)
            if low < 1 or high < low:
                raise ValueParseError(f"{item!r} is not a range of days from 1 upwards")
            if high > MAX_DAY:
                raise ValueParseError(f"{item!r} goes beyond day {MAX_DAY}")
            return list(range(low, high + 1))
    raise ValueParseError(f'expected a day number or a range such as "1-14", got {item!r}')


def format_amount(value: object) -> str:
    """A dose amount for people: 60 -> "60", 7.5 -> "7.5", 1000000 -> "1,000,000" (one
    formatter for the whole tool: :func:`dosing.protocol.units.format_amount`)."""
    from .units import format_amount as amount

    return amount(value)


_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d*,\d+\s*(\S.*)?$")


def decimal_comma(text: str) -> str:
    """A hint for a number written with a decimal comma ("12,5"): ``" (use a dot: 12.5)"``, else ""."""
    if _DECIMAL_COMMA.match(text) is None:
        return ""
    return f" (use a dot for decimals: {text.strip().replace(',', '.', 1)!r})"
