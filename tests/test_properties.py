"""Property tests: generated schedules against a slow, independent reference.

The reference below walks the study days one by one with plain ``datetime`` arithmetic and
the rules of docs/protocol-format.md; ``dosing.expand`` must give exactly its doses, in
order, at the right wall-clock time and UTC instant, for random start dates and time zones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dosing
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from dosing.protocol.values import WEEKDAYS
from tests.builders import UTC_ALLOWED

ZONES = ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
CLOCK = ["06:00", "08:00", "12:30", "20:00", "23:45"]  # never inside a daylight-saving gap in ZONES
PATTERNS = ["daily", "every", "weekdays", "weekday_from", "cycle_days", "on"]


@dataclass
class Plan:
    """One generated schedule, as the protocol dict and as numbers for the reference."""

    toml: dict[str, Any]
    pattern: str
    every: int = 0
    weekdays: list[int] = field(default_factory=list)
    cycle_days: list[int] = field(default_factory=list)
    period: int | None = None
    active: int | None = None
    cycles: int | None = None
    for_: int | None = None
    end_day: int | None = None


def duration(days: int) -> str:
    return f"{days // 7} weeks" if days % 7 == 0 else f"{days} days"


@st.composite
def single(draw: st.DrawFn, last_day: int, in_phase: bool = False, needs_length: bool = False) -> Plan:
    pattern = draw(st.sampled_from(PATTERNS))
    cyclic = pattern in ("cycle_days", "on") or draw(st.booleans())
    plan = Plan({}, pattern)
    if pattern == "daily":
        plan.toml["daily"] = True
    elif pattern == "every":
        plan.every = draw(st.integers(1, 10))
        plan.toml["every"] = duration(plan.every)
    elif pattern == "weekdays":
        plan.weekdays = sorted(draw(st.sets(st.integers(0, 6), min_size=1, max_size=7)))
        plan.toml["weekdays"] = [WEEKDAYS[w] for w in plan.weekdays]
    elif pattern == "weekday_from":
        plan.toml["weekday_from"] = "day"
    if cyclic:
        _cycle(draw, plan, min(last_day, 40))
    elif needs_length or draw(st.booleans()):
        plan.for_ = draw(st.integers(1, 60))
        plan.toml["for"] = duration(plan.for_)
    if not in_phase and draw(st.booleans()):
        plan.end_day = draw(st.integers(1, last_day))
        plan.toml["end_day"] = plan.end_day
    return plan


def _cycle(draw: st.DrawFn, plan: Plan, longest: int) -> None:
    plan.cycles = draw(st.integers(1, 6))
    plan.toml["cycles"] = plan.cycles
    if plan.pattern == "on":
        on = draw(st.integers(1, longest - 1))
        off = draw(st.integers(1, longest - on))
        plan.toml.update(on=duration(on), off=duration(off))
        plan.period, plan.active = on + off, on
    elif draw(st.booleans()):
        plan.for_ = draw(st.integers(1, longest - 1))
        rest = draw(st.integers(1, longest - plan.for_))
        plan.toml.update({"for": duration(plan.for_), "rest": duration(rest)})
        plan.period, plan.active = plan.for_ + rest, plan.for_
    else:
        plan.period = draw(st.integers(1, longest))
        plan.toml["cycle_length"] = duration(plan.period)
        if draw(st.booleans()):
            plan.active = plan.for_ = draw(st.integers(1, plan.period))
            plan.toml["for"] = duration(plan.for_)
    if plan.pattern == "cycle_days":
        assert plan.period is not None
        plan.cycle_days = sorted(draw(st.sets(st.integers(1, plan.period), min_size=1, max_size=plan.period)))
        plan.toml["cycle_days"] = plan.cycle_days


def length(plan: Plan) -> int:
    if plan.cycles is not None:
        assert plan.period is not None
        return plan.cycles * plan.period
    assert plan.for_ is not None
    return plan.for_


# ---- the slow reference -------------------------------------------------------------------


def reference_days(plan: Plan, start: int, last_day: int, first_date: dt.date, weekday: int) -> dict[int, int]:
    """Study day -> cycle day (0 without cycles) of one schedule, by walking the days."""
    stop = last_day + 1
    if plan.end_day is not None:
        stop = min(stop, plan.end_day + 1)
    if plan.cycles is not None or plan.for_ is not None:
        stop = min(stop, start + length(plan))
    found = {}
    for day in range(start, stop):
        offset = day - start
        position = offset % plan.period if plan.period else offset
        if plan.active is not None and position >= plan.active:
            continue
        date_weekday = (first_date + dt.timedelta(days=day - 1)).weekday()
        takes = {
            "daily": True,
            "on": True,
            "every": position % plan.every == 0 if plan.every else False,
            "weekdays": date_weekday in plan.weekdays,
            "weekday_from": date_weekday == weekday,
            "cycle_days": position + 1 in plan.cycle_days,
        }[plan.pattern]
        if takes:
            found[day] = position + 1 if plan.period else 0
    return found


def cycle_of(plans: list[Plan], start: int, day: int) -> int:
    """The cycle number of a study day, counted on across phases (0 outside any cycle)."""
    cycles_before = 0
    for plan in plans:
        if plan.cycles is not None and start <= day < start + length(plan):
            assert plan.period is not None
            return cycles_before + (day - start) // plan.period + 1
        start += length(plan) if plan.cycles is not None or plan.for_ is not None else 0
        cycles_before += plan.cycles or 0
    return 0


@dataclass
class Expected:
    day: int
    time: dt.time
    cycle: int
    cycle_day: int


def reference(case: Case, first_date: dt.date, weekday: int) -> list[Expected] | None:
    """Every dose of the case's regimen for one patient, in order; None if first_dose would
    move a dose past the study's last day (a protocol error)."""
    days: dict[int, int] = {}
    start = case.start_day
    for plan in case.plans:
        days.update(reference_days(plan, start, case.last_day, first_date, weekday))
        if plan is not case.plans[-1]:
            start += length(plan)
    times = [dt.time.fromisoformat(t) for t in case.times]
    shift = times.index(dt.time.fromisoformat(case.first_dose)) if case.first_dose else 0
    doses = []
    for day in sorted(days):
        for slot in range(len(times)):
            moved, new_slot = divmod(slot + shift, len(times))
            cycle = cycle_of(case.plans, case.start_day, day)
            cycle_day = days[day] + moved if cycle else 0
            doses.append(Expected(day + moved, times[new_slot], cycle, cycle_day))
    if doses and doses[-1].day > case.last_day:
        return None
    return doses[: case.count] if case.count else doses


# ---- generated cases ----------------------------------------------------------------------


@dataclass
class Case:
    last_day: int
    start_day: int
    plans: list[Plan]
    times: list[str]
    first_dose: str | None
    count: int | None

    def schedule(self) -> dict[str, Any]:
        if len(self.plans) == 1:
            body = dict(self.plans[0].toml)
            if self.count:
                body["count"] = self.count
        else:
            body = {"phases": [p.toml for p in self.plans]}
        return {**body, "start_day": self.start_day}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    last_day = draw(st.integers(20, 120))
    phased = draw(st.booleans())
    if phased:
        n = draw(st.integers(2, 3))
        plans = [draw(single(last_day, in_phase=True, needs_length=i < n - 1)) for i in range(n)]
    else:
        plans = [draw(single(last_day))]
    start_day = draw(st.integers(1, min(30, plans[0].end_day or last_day)))
    times = sorted(draw(st.sets(st.sampled_from(CLOCK), min_size=1, max_size=3)))
    first_dose = draw(st.sampled_from(times)) if len(times) > 1 and draw(st.booleans()) else None
    count = None if phased or draw(st.booleans()) else draw(st.integers(1, 40))
    return Case(last_day, start_day, plans, times, first_dose, count)


patients = st.lists(
    st.tuples(st.dates(dt.date(2024, 1, 1), dt.date(2030, 12, 31)), st.sampled_from(ZONES), st.integers(0, 6)),
    min_size=1,
    max_size=3,
)


def build(case: Case, *more: tuple[str, str, Case]) -> dosing.Protocol:
    """The case's regimen "drug" of Drug 5 mg; ``more`` adds (id, drug, case) regimens."""
    regimens = [_regimen("drug", "Drug", case)] + [_regimen(rid, drug, other) for rid, drug, other in more]
    last_day = max(c.last_day for c in [case, *(m[2] for m in more)])
    return protocol_from_dict(
        {
            "study": {
                "id": "P",
                "title": "p",
                "blinding": "open",
                "timezone": "UTC",
                **UTC_ALLOWED,
                "last_day": last_day,
            },
            "patient_values": {"day": {"type": "weekday"}},
            "arms": [{"id": "a", "label": "A", "regimens": [r["id"] for r in regimens]}],
            "regimens": regimens,
        }
    )


def _regimen(regimen_id: str, drug: str, case: Case) -> dict[str, Any]:
    regimen = {
        "id": regimen_id,
        "drug": drug,
        "dose": {"amount": 5, "unit": "mg"},
        "route": "oral",
        "times": case.times,
        "schedule": case.schedule(),
    }
    if case.first_dose:
        regimen["first_dose"] = case.first_dose
    return regimen


def cohort_of(protocol: dosing.Protocol, people: list[tuple[dt.date, str, int]]) -> dosing.Cohort:
    rows = [
        (i + 2, [f"P{i}", "a", start.isoformat(), zone, WEEKDAYS[weekday]])
        for i, (start, zone, weekday) in enumerate(people)
    ]
    return cohort_from_rows(["patient_id", "arm", "start_date", "timezone", "day"], rows, protocol)


def local_instant(date: dt.date, time: dt.time, zone: str) -> pd.Timestamp:
    aware = dt.datetime.combine(date, time, tzinfo=zoneinfo.ZoneInfo(zone))
    return pd.Timestamp(aware.astimezone(dt.UTC))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), people=patients)
def test_expansion_matches_the_slow_reference(case: Case, people: list[tuple[dt.date, str, int]]) -> None:
    protocol = build(case)
    cohort = cohort_of(protocol, people)
    expected = {f"P{i}": reference(case, start, weekday) for i, (start, _, weekday) in enumerate(people)}
    if any(doses is None for doses in expected.values()):
        with pytest.raises(dosing.DosingError, match="first_dose"):
            dosing.expand(protocol, cohort)
        return
    table = dosing.expand(protocol, cohort)
    for i, (start, zone, _) in enumerate(people):
        mine = table[table["patient_id"] == f"P{i}"]
        want = expected[f"P{i}"]
        assert want is not None
        assert len(mine) == len(want)
        assert mine["study_day"].tolist() == [e.day for e in want]
        dates = [start + dt.timedelta(days=e.day - 1) for e in want]
        assert mine["date"].astype(str).tolist() == [d.isoformat() for d in dates]
        assert mine["time"].astype(str).tolist() == [e.time.strftime("%H:%M") for e in want]
        assert mine["weekday"].astype(str).tolist() == [WEEKDAYS[d.weekday()] for d in dates]
        assert mine["planned_at"].tolist() == [local_instant(d, e.time, zone) for d, e in zip(dates, want, strict=True)]
        assert mine["cycle"].fillna(0).tolist() == [e.cycle for e in want]
        assert mine["cycle_day"].fillna(0).tolist() == [e.cycle_day for e in want]
        assert mine["dose_number"].tolist() == list(range(1, len(want) + 1))
        assert (mine["timezone"] == zone).all()


@settings(max_examples=150, deadline=None)
@given(case=cases(), people=patients)
def test_invariants_of_every_expansion(case: Case, people: list[tuple[dt.date, str, int]]) -> None:
    protocol = build(case)
    try:
        table = dosing.expand(protocol, cohort_of(protocol, people))
    except dosing.DosingError:
        assert case.first_dose is not None  # only first_dose can push a dose past the last day
        return
    assert table["study_day"].between(case.start_day, case.last_day).all()
    assert table["uid"].is_unique
    for _, mine in table.groupby("patient_id", observed=True):
        assert mine["planned_at"].is_monotonic_increasing
        assert mine["dose_number"].tolist() == list(range(1, len(mine) + 1))
    if case.count is not None:
        assert (table.groupby("patient_id", observed=True).size() <= case.count).all()
    if case.first_dose is None:
        _no_dose_after_the_windows(case, table)


@settings(max_examples=100, deadline=None)
@given(first=cases(), second=cases(), same_drug=st.booleans(), people=patients)
def test_two_regimens_number_each_regimen_from_1_in_time_order(
    first: Case, second: Case, same_drug: bool, people: list[tuple[dt.date, str, int]]
) -> None:
    """dose_number counts a patient's doses of one regimen (two regimens of the same drug, a bolus and
    an infusion, are numbered apart) from 1 in time order; each regimen keeps the doses it has alone;
    uids are unique."""
    protocol = build(first, ("two", "Drug" if same_drug else "Other", second))
    cohort = cohort_of(protocol, people)
    try:
        table = dosing.expand(protocol, cohort)
    except dosing.DosingError:
        assert first.first_dose or second.first_dose
        return
    assert table["uid"].is_unique
    for (_, regimen_id), mine in table.groupby(["patient_id", "regimen"], observed=True):
        assert mine["planned_at"].is_monotonic_increasing
        assert mine["dose_number"].tolist() == list(range(1, len(mine) + 1)), regimen_id
    for _, mine in table.groupby("patient_id", observed=True):
        assert mine["planned_at"].is_monotonic_increasing
    alone = build(dataclasses.replace(second, last_day=protocol.study.last_day))
    expected = dosing.expand(alone, cohort_of(alone, people))
    got = table[table["regimen"] == "two"]
    assert got["study_day"].tolist() == expected["study_day"].tolist()
    assert got["planned_at"].tolist() == expected["planned_at"].tolist()


def _no_dose_after_the_windows(case: Case, table: pd.DataFrame) -> None:
    """ "for N days" from day s is half-open: nothing on day s + N (unless a later phase starts there)."""
    days = set(table["study_day"])
    start = case.start_day
    for index, plan in enumerate(case.plans):
        if plan.cycles is None and plan.for_ is not None:
            end = start + plan.for_
            later_phase = index < len(case.plans) - 1
            if not later_phase:
                assert end not in days
                assert all(d < end for d in days)
        if plan.end_day is not None:
            assert all(d <= plan.end_day for d in days)
        if index < len(case.plans) - 1:
            start += length(plan)


HAND_COMPUTED = [
    # (schedule, its Plan for the reference, study days computed by hand)
    ({"every": "2 days", "for": "14 days"}, Plan({}, "every", every=2, for_=14), list(range(1, 14, 2))),
    (
        {"every": "2 days", "for": "14 days", "rest": "14 days", "cycles": 2},
        Plan({}, "every", every=2, period=28, active=14, cycles=2, for_=14),
        [*range(1, 14, 2), *range(29, 42, 2)],
    ),
    ({"daily": True, "end_day": 5}, Plan({}, "daily", end_day=5), [1, 2, 3, 4, 5]),
    ({"daily": True, "for": "3 days"}, Plan({}, "daily", for_=3), [1, 2, 3]),
    ({"on": "2 days", "off": "3 days", "cycles": 2}, Plan({}, "on", period=5, active=2, cycles=2), [1, 2, 6, 7]),
    (
        {"cycle_days": [1, 8], "cycle_length": "21 days", "cycles": 2},
        Plan({}, "cycle_days", cycle_days=[1, 8], period=21, cycles=2),
        [1, 8, 22, 29],
    ),
    # 2027-01-04 is a Monday: Tuesdays and Fridays are days 2, 5, 9, 12
    ({"weekdays": ["Tue", "Friday"], "end_day": 12}, Plan({}, "weekdays", weekdays=[1, 4], end_day=12), [2, 5, 9, 12]),
]


@pytest.mark.parametrize(("schedule", "plan", "expected"), HAND_COMPUTED)
def test_reference_and_expand_agree_with_hand_computed_days(
    schedule: dict[str, Any], plan: Plan, expected: list[int]
) -> None:
    from tests.builders import days_of, expand_for, protocol, regimen

    assert sorted(reference_days(plan, 1, 60, dt.date(2027, 1, 4), 0)) == expected
    assert days_of(expand_for(protocol([regimen("r", schedule)], last_day=60)), "r") == expected


def test_cycles_are_numbered_on_across_phases() -> None:
    """Two 14-day cycles on days 1 and 8, then two 14-day cycles on day 1: cycles 1, 1, 2, 2, 3, 4
    (not 1, 1, 2, 2, 1, 2); cycle_day counts within each cycle."""
    from tests.builders import expand_for, protocol, regimen

    phases = [
        {"cycle_days": [1, 8], "cycle_length": "14 days", "cycles": 2},
        {"cycle_days": [1], "cycle_length": "14 days", "cycles": 2},
    ]
    doses = expand_for(protocol([regimen("r", {"phases": phases})], last_day=60))
    assert doses["study_day"].tolist() == [1, 8, 15, 22, 29, 43]
    assert doses["cycle"].tolist() == [1, 1, 2, 2, 3, 4]
    assert doses["cycle_day"].tolist() == [1, 8, 1, 8, 1, 1]
    plan = Plan({}, "cycle_days", cycle_days=[1], period=14, cycles=2)
    assert [cycle_of([Plan({}, "daily", for_=10), plan], 1, day) for day in (11, 25)] == [1, 2]
    first = Plan({}, "cycle_days", cycle_days=[1, 8], period=14, cycles=2)
    assert [cycle_of([first, plan], 1, day) for day in (1, 15, 29, 43)] == [1, 2, 3, 4]
