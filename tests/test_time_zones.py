"""Wall-clock times stay fixed across daylight-saving changes; every instant carries its zone."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import dosing
from dosing.plan.cohort import cohort_from_rows
from dosing.protocol.zones import is_geographic
from tests.builders import daily_drug


def one_drug(times: list[str], zone: str) -> dosing.Protocol:
    return daily_drug(zone, times, study_id="TZ", last_day=10)


def expand_one(protocol: dosing.Protocol, start: str, zone: str) -> pd.DataFrame:
    cohort = cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone"], [(2, ["P1", "a", start, zone])], protocol
    )
    return dosing.expand(protocol, cohort)


def test_berlin_spring_forward_keeps_0800_local() -> None:
    # DST starts in the EU on Sunday 2027-03-28.
    doses = expand_one(one_drug(["08:00"], "Europe/Berlin"), "2027-03-26", "Europe/Berlin")
    assert doses["time"].astype(str).unique().tolist() == ["08:00"]
    utc = doses.set_index(doses["date"].astype(str))["planned_at"]
    assert utc["2027-03-27"] == pd.Timestamp("2027-03-27 07:00", tz="UTC")
    assert utc["2027-03-28"] == pd.Timestamp("2027-03-28 06:00", tz="UTC")


def test_new_york_fall_back_keeps_0800_local() -> None:
    # DST ends in the US on Sunday 2027-11-07.
    doses = expand_one(one_drug(["08:00"], "America/New_York"), "2027-11-05", "America/New_York")
    utc = doses.set_index(doses["date"].astype(str))["planned_at"]
    assert utc["2027-11-06"] == pd.Timestamp("2027-11-06 12:00", tz="UTC")
    assert utc["2027-11-07"] == pd.Timestamp("2027-11-07 13:00", tz="UTC")


def test_time_in_the_skipped_hour_moves_forward_by_the_gap() -> None:
    # 2027-03-14 02:30 does not exist in New York; read as RFC 5545 does: 03:30 EDT (07:30 UTC).
    doses = expand_one(one_drug(["02:30"], "America/New_York"), "2027-03-13", "America/New_York")
    on_the_day = doses[doses["date"].astype(str) == "2027-03-14"].iloc[0]
    assert on_the_day["time"] == "03:30"
    assert on_the_day["planned_at"] == pd.Timestamp("2027-03-14 07:30", tz="UTC")
    other = doses[doses["date"].astype(str) == "2027-03-15"].iloc[0]
    assert other["time"] == "02:30"


def test_repeated_hour_uses_first_occurrence() -> None:
    # 2027-11-07 01:30 happens twice in New York: the first (EDT, 05:30 UTC) is used.
    doses = expand_one(one_drug(["01:30"], "America/New_York"), "2027-11-06", "America/New_York")
    on_the_day = doses[doses["date"].astype(str) == "2027-11-07"].iloc[0]
    assert on_the_day["planned_at"] == pd.Timestamp("2027-11-07 05:30", tz="UTC")


def test_patients_in_different_zones_keep_their_own_wall_clock() -> None:
    protocol = one_drug(["09:00"], "Asia/Shanghai")
    rows = [(2, ["P1", "a", "2027-01-04", "Asia/Shanghai"]), (3, ["P2", "a", "2027-01-04", "Europe/Berlin"])]
    cohort = cohort_from_rows(["patient_id", "arm", "start_date", "timezone"], rows, protocol)
    doses = dosing.expand(protocol, cohort)
    first = doses.groupby("patient_id", observed=True).first()
    assert first.loc["P1", "planned_at"] == pd.Timestamp("2027-01-04 01:00", tz="UTC")
    assert first.loc["P2", "planned_at"] == pd.Timestamp("2027-01-04 08:00", tz="UTC")


#: The zones a patient may have (see dosing.protocol.zones): the geographic names of the tz database.
ALL_ZONES = sorted(z for z in zoneinfo.available_timezones() if is_geographic(z))


def offset_changes(zone: str, year: int) -> list[dt.date]:
    """The dates in ``year`` on which ``zone``'s UTC offset changes (found by walking the days)."""
    tz = zoneinfo.ZoneInfo(zone)
    noon = [dt.datetime(year, 1, 1, 12, tzinfo=tz) + dt.timedelta(days=d) for d in range(366)]
    return [b.date() for a, b in itertools.pairwise(noon) if a.utcoffset() != b.utcoffset()]


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[str, dt.date, int]:
    """A zone, a start date a few days before one of its offset changes, and a minute of the day
    usually close to the change (inside a gap or an overlap more often than not)."""
    zone = draw(st.sampled_from(ALL_ZONES))
    year = draw(st.integers(2000, 2037))
    changes = offset_changes(zone, year)
    if not changes:
        return zone, dt.date(year, 6, 1), draw(st.integers(0, 1439))
    day = draw(st.sampled_from(changes))
    tz = zoneinfo.ZoneInfo(zone)
    hours = [dt.datetime.combine(day, dt.time(h), tzinfo=tz).utcoffset() for h in range(24)]
    hour = next((h for h in range(23) if hours[h] != hours[h + 1]), 0)
    minute = draw(st.one_of(st.integers(0, 1439), st.integers(hour * 60 - 30, hour * 60 + 150)))
    return zone, day - dt.timedelta(days=draw(st.integers(1, 5))), min(max(minute, 0), 1439)


@settings(max_examples=200, deadline=None)
@given(where=near_a_change())
def test_any_zone_any_time_is_read_as_rfc5545_reads_it(where: tuple[str, dt.date, int]) -> None:
    """Python's zoneinfo with fold=0 reads a local time as RFC 5545 does: in a spring-forward gap
    with the offset before the gap, in a fall-back overlap as the first occurrence. Ten daily doses
    across an offset change of any zone must agree with it."""
    zone, start, minute = where
    clock = f"{minute // 60:02d}:{minute % 60:02d}"
    doses = expand_one(one_drug([clock], zone), start.isoformat(), zone)
    rows = zip(doses["planned_at"], doses["date"].astype(str), doses["time"].astype(str), strict=True)
    for i, (planned_at, date, time) in enumerate(rows):
        wall = dt.datetime.combine(start + dt.timedelta(days=i), dt.time(minute // 60, minute % 60))
        expected = pd.Timestamp(wall.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC))
        assert planned_at == expected, (zone, wall)
        shown = expected.tz_convert(zone)
        assert (date, time) == (shown.strftime("%Y-%m-%d"), shown.strftime("%H:%M"))
