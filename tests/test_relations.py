"""Relations between regimens ("the day after X", "every day except X days") follow the days
on which X really has a dose, after X's ``count`` and ``first_dose`` are applied.

Regression: they used to follow X's schedule pattern before ``count`` and ``first_dose``, so
"the day after a 3-dose loading course" went on to the end of the study.
"""

from __future__ import annotations

from tests.builders import days_of, expand_for, protocol, regimen


def test_after_a_regimen_limited_by_count_follows_only_its_doses() -> None:
    doses = expand_for(
        protocol([regimen("loading", {"daily": True, "count": 3}), regimen("follow", {"after": "loading"})])
    )
    assert days_of(doses, "loading") == [1, 2, 3]
    assert days_of(doses, "follow") == [2, 3, 4]


def test_except_days_of_a_regimen_limited_by_count() -> None:
    doses = expand_for(
        protocol(
            [
                regimen("loading", {"daily": True, "count": 3}),
                regimen("gap", {"daily": True, "except_days_of": "loading", "end_day": 6}),
            ]
        )
    )
    assert days_of(doses, "gap") == [4, 5, 6]


def test_after_a_regimen_whose_first_dose_moves_its_last_dose_a_day_later() -> None:
    # twice daily for 2 days from the evening of day 1: day 1 20:00, day 2 08:00 and 20:00, day 3 08:00
    twice = regimen("twice", {"daily": True, "for": "2 days"}, times=["08:00", "20:00"], first_dose="20:00")
    doses = expand_for(protocol([twice, regimen("same-day", {"after": "twice", "offset": 0})]))
    assert days_of(doses, "twice") == [1, 2, 2, 3]
    assert days_of(doses, "same-day") == [1, 2, 3]


def test_day_after_a_weekly_regimen() -> None:
    doses = expand_for(
        protocol(
            [regimen("weekly", {"weekdays": ["Wednesday"]}), regimen("next", {"after": "weekly", "offset": 1})],
            last_day=21,
        )
    )
    # 2027-01-04 is a Monday: Wednesdays are study days 3, 10, 17
    assert days_of(doses, "weekly") == [3, 10, 17]
    assert days_of(doses, "next") == [4, 11, 18]


def test_last_phase_without_a_length_runs_to_the_end_of_the_study() -> None:
    """Regression: an open-ended last phase (allowed by validation) crashed with an AssertionError."""
    doses = expand_for(
        protocol([regimen("r", {"phases": [{"every": "2 days", "for": "6 days"}, {"every": "7 days"}]})], last_day=30)
    )
    assert days_of(doses, "r") == [1, 3, 5, 7, 14, 21, 28]
