"""Calendars of infusions (regimen key ``duration``): each dose event lasts from the dose's start to its
end, and every independent parser reads the same start and end as the dose table.

The mFOLFOX6-like fixture (tests/fixtures/mfolfox6-infusion.toml): oxaliplatin and leucovorin over
2 hours from 09:00, a fluorouracil bolus at 11:00 (no duration: the 15-minute default) and a 46-hour
fluorouracil infusion from 11:00 on day 1 of each 14-day cycle. FOX-002 (Europe/Berlin) starts on
Saturday 2027-03-13: cycle 2's infusion starts on 2027-03-27 at 11:00 CET (10:00 UTC) and ends
46 hours later, 2027-03-29 08:00 UTC, which is 10:00 CEST (the clocks went forward on 2027-03-28),
not the 09:00 of every other cycle.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections import Counter
from pathlib import Path

import icalendar
import pandas as pd
import pytest
import recurring_ical_events
import vobject
from ical.calendar_stream import IcsCalendarStream

import dosing
from dosing.io.write.ics import STYLES, calendar_for_patient, staff_calendar
from dosing.plan.durations import end_instants
from tests.builders import expand_for, protocol, regimen
from tests.conftest import FIXTURES
from tests.test_ics_parsers import JS, NODE, _install_icaljs

STAMP = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
Span = tuple[str, str]  # start and end, UTC, "YYYY-MM-DDTHH:MM"
MINUTE = "%Y-%m-%dT%H:%M"


@pytest.fixture(scope="module")
def fox() -> tuple[dosing.Protocol, dosing.Cohort]:
    proto = dosing.load_protocol(FIXTURES / "mfolfox6-infusion.toml")
    return proto, dosing.load_cohort(FIXTURES / "mfolfox6-infusion-cohort.csv", proto)


@pytest.fixture(scope="module")
def doses(fox: tuple[dosing.Protocol, dosing.Cohort]) -> pd.DataFrame:
    return dosing.expand(*fox)


def wanted(table: pd.DataFrame) -> Counter[Span]:
    """Each dose's (start, end): its end, or 15 minutes after a dose without duration."""
    lasts, end = end_instants(table)
    start = table["planned_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    ends = pd.Series(pd.to_datetime(end), index=table.index).where(lasts, start + pd.Timedelta(minutes=15))
    return Counter(zip(start.dt.strftime(MINUTE), ends.dt.strftime(MINUTE), strict=True))


def _utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime(MINUTE)


def with_ical(text: str) -> Counter[Span]:
    calendar = IcsCalendarStream.calendar_from_ics(text)
    return Counter((_utc(e.dtstart), _utc(e.end)) for e in calendar.timeline if "dose" in (e.categories or []))


def with_recurring_ical_events(text: str) -> Counter[Span]:
    events = recurring_ical_events.of(icalendar.Calendar.from_ical(text)).all()
    return Counter((_utc(e.DTSTART), _utc(e.DTEND)) for e in events if "dose" in [str(c) for c in e.categories])


def with_vobject(text: str) -> Counter[Span]:
    """vobject gives the occurrences' starts; each lasts DTEND - DTSTART (or DURATION) in wall-clock time,
    as Python's arithmetic of aware datetimes has it: equal to the elapsed time only because no
    occurrence of a run spans a change of the clocks (those are events of their own)."""
    found: Counter[Span] = Counter()
    for event in vobject.readOne(text, validate=True).contents.get("vevent", []):
        if "dose" not in event.categories.value:
            continue
        start = event.dtstart.value
        length = event.dtend.value - start if hasattr(event, "dtend") else event.duration.value
        rules = event.getrruleset(addRDate=True)
        for when in rules if rules is not None else [start]:
            found[(_utc(when), _utc((when.replace(tzinfo=None) + length).replace(tzinfo=when.tzinfo)))] += 1
    return found


def with_icaljs(texts: dict[str, str], tmp: Path) -> dict[str, Counter[Span]]:
    if NODE is None:
        pytest.skip("node is not installed: the ical.js (Mozilla) checks need Node.js and `npm ci --prefix tests/js`")
    _install_icaljs()
    paths = {}
    for i, (name, text) in enumerate(texts.items()):
        paths[name] = tmp / f"cal-{i}.ics"
        paths[name].write_text(text, encoding="utf-8", newline="")
    run = subprocess.run([NODE, str(JS / "spans.mjs"), *map(str, paths.values())], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    parsed = json.loads(run.stdout)
    return {
        name: Counter((s[:16], e[:16]) for _, cats, s, e in parsed[str(path)] if "dose" in cats.split(","))
        for name, path in paths.items()
    }


def patient_calendars(table: pd.DataFrame) -> dict[str, str]:
    out = {}
    for pid, mine in table.groupby(table["patient_id"].astype(str), sort=True):
        zone = str(mine["timezone"].iloc[0])
        first = dt.date.fromisoformat(str(mine["date"].iloc[0]))
        for style in STYLES:
            ics = calendar_for_patient(
                mine,
                name=pid,
                timezone=zone,
                stamp=STAMP,
                first=first,
                last=first + dt.timedelta(days=200),
                style=style,
            )
            out[f"{pid}/{style}"] = ics.decode("utf-8")
    return out


def unfolded(text: str) -> str:
    return text.replace("\r\n ", "")


def events_of(text: str) -> list[str]:
    return unfolded(text).split("BEGIN:VEVENT\r\n")[1:]


# --- what the events say ---------------------------------------------------------------------


def test_an_infusion_event_ends_with_the_dose_in_the_patients_zone(doses: pd.DataFrame) -> None:
    text = patient_calendars(doses)["FOX-001/expanded"]
    first = next(e for e in events_of(text) if "fluorouracil-infusion.d001.1100@" in e)
    assert "DTSTART;TZID=Europe/Berlin:20270104T110000\r\n" in first
    assert "DTEND;TZID=Europe/Berlin:20270106T090000\r\n" in first  # 46 hours: Wednesday 09:00
    assert "DURATION" not in first
    bolus = next(e for e in events_of(text) if "fluorouracil-bolus.d001.1100@" in e)
    assert "DURATION:PT15M\r\n" in bolus and "DTEND" not in bolus
    oxaliplatin = next(e for e in events_of(text) if "oxaliplatin.d001.0900@" in e)
    assert "DTEND;TZID=Europe/Berlin:20270104T110000\r\n" in oxaliplatin


def test_the_infusion_across_the_spring_change_ends_an_hour_later_and_stands_alone(doses: pd.DataFrame) -> None:
    """Recurring style: cycle 1 alone (the next cycle differs), cycle 2 (across 2027-03-28) alone with
    its own DTEND at 10:00 CEST, cycles 3-12 one run whose DTEND is 09:00."""
    text = patient_calendars(doses)["FOX-002/recurring"]
    infusions = [e for e in events_of(text) if ".fluorouracil-infusion." in e]
    starts_ends = [
        (line_of(e, "DTSTART"), line_of(e, "DTEND"), line_of(e, "RRULE")) for e in infusions
    ]  # fmt: skip
    assert starts_ends == [
        ("DTSTART;TZID=Europe/Berlin:20270313T110000", "DTEND;TZID=Europe/Berlin:20270315T090000", ""),
        ("DTSTART;TZID=Europe/Berlin:20270327T110000", "DTEND;TZID=Europe/Berlin:20270329T100000", ""),
        (
            "DTSTART;TZID=Europe/Berlin:20270410T110000",
            "DTEND;TZID=Europe/Berlin:20270412T090000",
            "RRULE:FREQ=WEEKLY;COUNT=10;INTERVAL=2",
        ),
    ]


def line_of(event: str, name: str) -> str:
    return next((line for line in event.split("\r\n") if line.startswith((name + ":", name + ";"))), "")


def test_an_end_in_the_repeated_hour_is_written_in_utc() -> None:
    """New York, 2027-11-07: 01:30 happens twice. A 24-hour infusion from 01:30 EDT on Saturday
    2027-11-06 (05:30 UTC) ends at 05:30 UTC on Sunday, the first 01:30: DTEND is given in UTC."""
    proto = protocol([regimen("drip", {"every": "2 days"}, ["01:30"], duration="24 hours")], last_day=7)
    table = expand_for(proto, "2027-11-06", "America/New_York")
    text = calendar_for_patient(
        table, name="P1", timezone="America/New_York", stamp=STAMP, first=dt.date(2027, 11, 6),
        last=dt.date(2027, 11, 14), style="recurring",
    )  # fmt: skip
    first = next(e for e in events_of(text.decode()) if ".d001." in e)
    assert line_of(first, "DTSTART") == "DTSTART;TZID=America/New_York:20271106T013000"
    assert line_of(first, "DTEND") == "DTEND:20271107T053000Z"
    assert line_of(first, "RRULE") == ""  # alone: the run of the later doses starts on day 3
    assert with_recurring_ical_events(text.decode()) == wanted(table)


def test_the_staff_calendar_says_how_long(doses: pd.DataFrame) -> None:
    mine = doses[doses["patient_id"] == "FOX-001"]
    text = staff_calendar(mine, name="clinic", stamp=STAMP, first=dt.date(2027, 1, 4), last=dt.date(2027, 7, 1))
    infusion = next(e for e in events_of(text.decode()) if ".fluorouracil-infusion." in e)
    assert "SUMMARY:FOX-001: Fluorouracil 4\\,320 mg over 46 hours\r\n" in infusion
    assert "DESCRIPTION:Take: Fluorouracil\\, 4\\,320 mg\\nRoute: intravenous\\nDuration: 46 hours" in infusion


def test_the_patient_reads_an_infusion_not_an_injection(fox: tuple[dosing.Protocol, dosing.Cohort]) -> None:
    proto, cohort = fox
    from dosing.io.write.ics_cohort import calendars_for_cohort

    table = dosing.expand(proto, cohort)
    texts = dict(calendars_for_cohort(proto, cohort.patients, table, blinded=False))
    summaries = [line_of(e, "SUMMARY") for e in events_of(texts["FOX-001"].decode())]
    assert summaries[:4] == [
        "SUMMARY:Infusion at the clinic\\, 09:00",
        "SUMMARY:Infusion at the clinic\\, 09:00",
        "SUMMARY:Injection at the clinic\\, 11:00",  # the bolus
        "SUMMARY:Infusion at the clinic\\, 11:00",
    ]


# --- every parser reads the same starts and ends ---------------------------------------------


@pytest.mark.parametrize("parser", [with_ical, with_recurring_ical_events, with_vobject], ids=lambda f: f.__name__)
def test_python_parsers_read_every_start_and_end(doses: pd.DataFrame, parser: object) -> None:
    assert callable(parser)
    for name, text in patient_calendars(doses).items():
        mine = doses[doses["patient_id"] == name.split("/")[0]]
        assert parser(text) == wanted(mine), name


def test_icaljs_reads_every_start_and_end(doses: pd.DataFrame, tmp_path: Path) -> None:
    for name, got in with_icaljs(patient_calendars(doses), tmp_path).items():
        assert got == wanted(doses[doses["patient_id"] == name.split("/")[0]]), name


def test_the_hand_checked_spans_are_what_the_parsers_read(doses: pd.DataFrame) -> None:
    got = with_recurring_ical_events(patient_calendars(doses)["FOX-003/recurring"])
    # New York, Saturday 2027-11-06 11:00 EDT (15:00 UTC) + 46 h = Monday 13:00 UTC (08:00 EST)
    assert ("2027-11-06T15:00", "2027-11-08T13:00") in got
    got = with_recurring_ical_events(patient_calendars(doses)["FOX-002/recurring"])
    assert ("2027-03-27T10:00", "2027-03-29T08:00") in got
