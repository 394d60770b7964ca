"""How long one dose lasts: the regimen key ``duration`` (an infusion, e.g. ``"46 hours"``).

Pure: the parser the protocol model uses. A duration is elapsed time: a dose that starts at 11:00
and lasts 46 hours ends 46 real hours later, whatever the clocks do meanwhile (see
:mod:`dosing.plan.durations` for the dose table's end columns and the check against the interval).
"""

from __future__ import annotations

import datetime as dt

from ..errors import ValueParseError
from .values import parse_offset

#: The longest duration a dose may have (a 46-hour pump, a 7-day continuous infusion, a 14-day patch).
MAX_DURATION = dt.timedelta(days=14)

_EXAMPLES = '"46 hours", "30 minutes", "2h" or "90m"'


def parse_duration(value: object) -> dt.timedelta:
    """A dose's duration, written like other offsets (:func:`~dosing.protocol.values.parse_offset`):
    "46 hours", "30 minutes", "2h", "90m", "1 day"; more than 0 and at most :data:`MAX_DURATION`."""
    if isinstance(value, dt.timedelta):
        return _bounded(value, str(value))
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueParseError(f"expected a duration such as {_EXAMPLES}, got {value!r}")
    if not isinstance(value, str):
        raise ValueParseError(
            f'a duration needs its unit: write duration = "{value} hours" or "{value} minutes", '
            f"not the bare number {value}"
        )
    try:
        duration = parse_offset(value)
    except ValueParseError as err:
        if "positive" in err.message:
            raise ValueParseError(f"a duration must be longer than 0, got {value!r}") from None
        raise ValueParseError(
            f"expected a duration such as {_EXAMPLES} (whole minutes, hours or days), got {value!r}"
        ) from None
    return _bounded(duration, value)


def _bounded(duration: dt.timedelta, text: str) -> dt.timedelta:
    if duration <= dt.timedelta(0):
        raise ValueParseError(f"a duration must be longer than 0, got {text!r}")
    if duration > MAX_DURATION:
        raise ValueParseError(
            f"a duration of {text!r} is longer than {MAX_DURATION.days} days, the longest a dose may last; "
            "a longer treatment is a schedule of repeated doses (e.g. a 7-day infusion every 7 days)"
        )
    if duration % dt.timedelta(minutes=1):
        raise ValueParseError(f"a duration is a whole number of minutes, got {text!r}")
    return duration


def duration_text(minutes: int) -> str:
    """A duration for people: "46 hours", "30 minutes", "1 hour 30 minutes", "24 hours", "14 days"
    (whole days from 2 days up)."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days >= 2 and not (hours or mins):
        return f"{days} day{'s' * (days != 1)}"
    hours += 24 * days
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    parts += [f"{mins} minute{'s' * (mins != 1)}"] if mins else []
    return " ".join(parts)
