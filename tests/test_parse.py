"""The small parsers for what people type, as tables of cases: input -> value, or input -> the
words of the error message."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np
import pytest

from dosing.errors import ValueParseError
from dosing.protocol.values import (
    format_amount,
    parse_date,
    parse_day_list,
    parse_days,
    parse_offset,
    parse_time,
    parse_weekday,
)

DAYS = [
    ("14 days", 14),
    ("1 day", 1),
    ("2 weeks", 14),
    ("1 week", 7),
    ("3w", 21),
    ("3d", 3),
    ("2 wk", 14),
    (" 12 Weeks ", 84),
    ("10DAYS", 10),
]
DAYS_BAD = [
    (14, "with a unit"),
    ("14", "such as"),
    ("0 days", "at least 1 day"),
    ("-2 days", "such as"),
    ("1.5 days", "such as"),
    ("2 months", "such as"),
    ("", "such as"),
    (True, "such as"),
    (None, "such as"),
]


@pytest.mark.parametrize(("text", "days"), DAYS)
def test_parse_days(text: str, days: int) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize(("text", "message"), DAYS_BAD)
def test_parse_days_refuses(text: Any, message: str) -> None:
    with pytest.raises(ValueParseError, match=message):
        parse_days(text)


OFFSETS = [
    ("15m", dt.timedelta(minutes=15)),
    ("15 min", dt.timedelta(minutes=15)),
    ("2 h", dt.timedelta(hours=2)),
    ("2hours", dt.timedelta(hours=2)),
    ("1d", dt.timedelta(days=1)),
    ("1 week", dt.timedelta(weeks=1)),
    ("2 wk", dt.timedelta(weeks=2)),
]


@pytest.mark.parametrize(("text", "offset"), OFFSETS)
def test_parse_offset(text: str, offset: dt.timedelta) -> None:
    assert parse_offset(text) == offset


@pytest.mark.parametrize(("text", "message"), [("0m", "positive"), ("15", "such as"), ("1 month", "such as")])
def test_parse_offset_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueParseError, match=message):
        parse_offset(text)


TIMES = [("08:00", dt.time(8, 0)), ("8:05", dt.time(8, 5)), ("23:59", dt.time(23, 59)), (" 00:00 ", dt.time(0, 0))]
TIMES_BAD = [
    ("24:00", "not a time of day"),
    ("12:60", "not a time of day"),
    ("8am", "HH:MM"),
    ("08:00:00", "HH:MM"),
    ("0800", "HH:MM"),
    (800, "HH:MM"),
]


@pytest.mark.parametrize(("text", "value"), TIMES)
def test_parse_time(text: str, value: dt.time) -> None:
    assert parse_time(text) == value


@pytest.mark.parametrize(("text", "message"), TIMES_BAD)
def test_parse_time_refuses(text: Any, message: str) -> None:
    with pytest.raises(ValueParseError, match=message):
        parse_time(text)


DATES = [
    ("2027-01-04", dt.date(2027, 1, 4)),
    (" 2028-02-29 ", dt.date(2028, 2, 29)),
    (dt.date(2027, 3, 1), dt.date(2027, 3, 1)),  # a TOML date
]
DATES_BAD = [
    ("2026-02-30", "not a real calendar date"),
    ("2027-02-29", "not a real calendar date"),
    ("2027-1-4", "YYYY-MM-DD"),
    ("04/01/2027", "YYYY-MM-DD"),
    (dt.datetime(2027, 1, 4, 8, 0), "without a time"),
    (20270104, "YYYY-MM-DD"),
]


@pytest.mark.parametrize(("text", "value"), DATES)
def test_parse_date(text: Any, value: dt.date) -> None:
    assert parse_date(text) == value


@pytest.mark.parametrize(("text", "message"), DATES_BAD)
def test_parse_date_refuses(text: Any, message: str) -> None:
    with pytest.raises(ValueParseError, match=message):
        parse_date(text)


WEEKDAY_CASES = [
    ("Monday", 0),
    ("monday", 0),
    ("MON", 0),
    (" Wednesday ", 2),
    ("thu", 3),
    ("Sunday", 6),
    ("sun", 6),
]


@pytest.mark.parametrize(("text", "value"), WEEKDAY_CASES)
def test_parse_weekday(text: str, value: int) -> None:
    assert parse_weekday(text) == value


@pytest.mark.parametrize("text", ["Funday", "M", "Mo", "", 0, None, "Montag"])
def test_parse_weekday_refuses(text: Any) -> None:
    with pytest.raises(ValueParseError, match="weekday name such as"):
        parse_weekday(text)


DAY_LISTS = [
    ([1, 8], [1, 8]),
    ([8, 1], [1, 8]),
    ("1-14", list(range(1, 15))),
    ("1-3, 8", [1, 2, 3, 8]),
    (["1-3", 8], [1, 2, 3, 8]),
    ("5", [5]),
    ("21, 1 - 2", [1, 2, 21]),
]
DAY_LISTS_BAD = [
    ([], "at least one"),
    ("", "at least one"),
    ([0], "count from 1"),
    ("0-3", "from 1 upwards"),
    ("14-1", "from 1 upwards"),
    ("1-3, 2", "repeat"),
    ([1.5], "day number or a range"),
    ([True], "day number or a range"),
    ("1-3; 8", "day number or a range"),
    (8, "such as"),
    # Regression: a huge range was expanded in full before any other check (minutes of CPU, GBs).
    ("1-99999999", "goes beyond day 3660"),
    ([100000], "at most 3660"),
]


@pytest.mark.parametrize(("value", "days"), DAY_LISTS)
def test_parse_day_list(value: Any, days: list[int]) -> None:
    assert parse_day_list(value) == days


@pytest.mark.parametrize(("value", "message"), DAY_LISTS_BAD)
def test_parse_day_list_refuses(value: Any, message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueParseError, match=message):
        parse_day_list(value)
    assert time.perf_counter() - started < 1


AMOUNTS = [
    (60, "60"),
    (60.0, "60"),
    (7.5, "7.5"),
    (1_000_000, "1,000,000"),
    (1e6, "1,000,000"),
    (2250.0, "2,250"),
    (0.1 + 0.2, "0.3"),
    (0.25, "0.25"),
    # Regression: numpy integers were printed without the thousands separator.
    (np.int64(1_000_000), "1,000,000"),
    (np.float64(7.5), "7.5"),
    ("1 syringe", "1 syringe"),
    (True, "True"),
]


@pytest.mark.parametrize(("value", "text"), AMOUNTS)
def test_format_amount(value: Any, text: str) -> None:
    assert format_amount(value) == text


def test_a_misspelt_weekday_gets_a_did_you_mean() -> None:
    with pytest.raises(ValueParseError, match="got 'Mondey'; did you mean 'Monday'\\?"):
        parse_weekday("Mondey")
