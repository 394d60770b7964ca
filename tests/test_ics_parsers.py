"""Every generated calendar expands, in parsers nobody on this team wrote, to exactly our doses.

Parsers: the strict ``ical`` package, vobject (``validate=True``; it builds its time zones from
the calendar's own VTIMEZONE), recurring-ical-events (on icalendar) and Mozilla's ical.js under
Node (Thunderbird's parser; also uses only the calendar's VTIMEZONE). Each parser reports the
occurrences of every event by category; those of the dose events (CATEGORIES:dose) must equal
the dose table: local date, local time, time zone, UTC instant, and count. Visit events
(CATEGORIES:visit) are checked against visits.csv in ``test_ics_visits.py``. The ical.js tests
skip only when ``node`` is missing.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import re
import shutil
import subprocess
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import dateutil.tz
import icalendar
import pandas as pd
import pytest
import recurring_ical_events
import vobject
from conftest import SHIPPED, shipped
from ical.calendar_stream import IcsCalendarStream

import dosing
from dosing.io.write.ics import STYLES, calendar_for_patient, staff_calendar
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from tests.builders import UTC_ALLOWED

JS = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")
STAMP = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
Occurrence = tuple[str, str, str, str]  # local date, local time, TZID, UTC minute ("", "", "" all-day)
ByCategory = defaultdict[str, Counter[Occurrence]]
UTC_MINUTE = "%Y-%m-%dT%H:%M"


def expected(doses: pd.DataFrame) -> Counter[Occurrence]:
    """The doses a calendar must show: every row not held."""
    given = doses[~doses["held"]]
    utc = given["planned_at"].dt.strftime(UTC_MINUTE)
    rows = zip(given["date"].astype(str), given["time"].astype(str), given["timezone"].astype(str), utc, strict=True)
    return Counter(rows)


def in_zones(got: Counter[Occurrence], zone_at: dict[str, str]) -> Counter[Occurrence]:
    """Occurrences a parser reports in UTC, shown in the zone of the dose at that instant.

    A dose at a local time that occurs twice (fall-back) is written in UTC (see
    :mod:`dosing.io.write.ics`); recurring-ical-events shows it in X-WR-TIMEZONE, the others in UTC.
    """
    out: Counter[Occurrence] = Counter()
    for (date, clock, zone, utc), n in got.items():
        if zone == "UTC" and utc in zone_at:
            local = dt.datetime.fromisoformat(utc + "+00:00").astimezone(zoneinfo.ZoneInfo(zone_at[utc]))
            date, clock, zone = local.strftime("%Y-%m-%d"), local.strftime("%H:%M"), zone_at[utc]
        out[(date, clock, zone, utc)] += n
    return out


def _aware(when: dt.date) -> Occurrence:
    if not isinstance(when, dt.datetime):  # an all-day event (VALUE=DATE)
        return (when.isoformat(), "", "", "")
    zone = getattr(when.tzinfo, "key", None) or str(getattr(when.tzinfo, "_tzid", None) or when.tzname())
    zone = "UTC" if when.utcoffset() == dt.timedelta(0) and zone in ("UTC", "Z", "tzutc()") else zone
    utc = when.astimezone(dt.UTC).strftime(UTC_MINUTE)
    return (when.strftime("%Y-%m-%d"), when.strftime("%H:%M"), zone, utc)


def _tzid(prop: object) -> str:
    return str(getattr(prop, "params", {}).get("TZID", ""))


def by_category(found: Iterable[tuple[Iterable[str], Occurrence]]) -> ByCategory:
    """Occurrences counted under each of their event's categories."""
    out: ByCategory = defaultdict(Counter)
    for cats, occurrence in found:
        for cat in cats:
            out[str(cat)][occurrence] += 1
    return out


def with_ical(text: str) -> ByCategory:
    calendar = IcsCalendarStream.calendar_from_ics(text)
    return by_category((e.categories or [], _aware(e.dtstart)) for e in calendar.timeline)


def _register_own_zones(text: str) -> None:
    """Make vobject use the calendar's own VTIMEZONEs.

    vobject registers a VTIMEZONE only if its offsets from 2000 to 2020 differ from UTC's. Ours start
    in the year of the first dose, so a zone whose standard offset is 0 (Europe/London, Europe/Lisbon)
    looks like UTC there and is skipped; vobject then falls back to pytz, whose zones keep the offset of
    DTSTART in every occurrence of a rule (a run from GMT into BST comes out an hour late). vobject
    also keeps the first definition of a TZID it ever saw; each calendar here brings its own."""
    for block in re.findall(r"BEGIN:VTIMEZONE\r?\n.*?END:VTIMEZONE", text.replace("\r\n ", ""), re.S):
        zones = dateutil.tz.tzical(io.StringIO(block))
        for key in zones.keys():  # noqa: SIM118 (a dateutil tzical, not a dict: it cannot be iterated)
            vobject.icalendar.registerTzid(key, zones.get(key))


def with_vobject(text: str) -> ByCategory:
    found = []
    _register_own_zones(text)
    calendar = vobject.readOne(text, validate=True)
    for event in calendar.contents.get("vevent", []):
        start = event.dtstart.value
        zone = getattr(getattr(start, "tzinfo", None), "_tzid", "UTC")
        rules = event.getrruleset(addRDate=True)
        for when in rules if rules is not None else [start]:
            date, clock, _, utc = _aware(when)
            found.append((event.categories.value, (date, clock, zone if clock else "", utc)))
    return by_category(found)


def with_recurring_ical_events(text: str) -> ByCategory:
    calendar = icalendar.Calendar.from_ical(text)
    events = recurring_ical_events.of(calendar).all()
    return by_category(([str(c) for c in e.categories], _aware(e.DTSTART)) for e in events)


@functools.cache
def _install_icaljs() -> None:
    """``npm ci --prefix tests/js`` once, when .ci/run has not done it (e.g. the README's command)."""
    if (JS / "node_modules" / "ical.js").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("ical.js is missing and npm is not installed: install npm, then `npm ci --prefix tests/js`")
    done = subprocess.run([npm, "ci", "--prefix", str(JS), "--no-audit", "--no-fund"], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"`npm ci --prefix tests/js` failed:\n{done.stderr[-2000:]}")


def with_icaljs(texts: dict[str, str], tmp: Path) -> dict[str, ByCategory]:
    """One Node process expands many calendars (written to ``tmp``)."""
    if NODE is None:
        pytest.skip("node is not installed: the ical.js (Mozilla) checks need Node.js and `npm ci --prefix tests/js`")
    _install_icaljs()
    paths = {}
    for i, (name, text) in enumerate(texts.items()):
        paths[name] = tmp / f"cal-{i}.ics"
        paths[name].write_text(text, encoding="utf-8", newline="")
    run = subprocess.run(
        [NODE, str(JS / "expand.mjs"), *map(str, paths.values())], capture_output=True, text=True, check=True
    )
    parsed = json.loads(run.stdout)
    return {
        name: by_category(
            (cats.split(","), (d, "", "", "") if all_day else (d, t, z, u[:16]))
            for _, cats, d, t, z, u, all_day in parsed[str(path)]
        )
        for name, path in paths.items()
    }


PYTHON_PARSERS: dict[str, Callable[[str], ByCategory]] = {
    "ical": with_ical,
    "vobject": with_vobject,
    "recurring-ical-events": with_recurring_ical_events,
}


def each_parser(texts: dict[str, str], tmp: Path, check: Callable[[str, str, ByCategory], None]) -> None:
    """``check(name, parser, occurrences by category)`` for every calendar in every parser: the
    Python parsers first, then ical.js (so that a machine without Node still runs the rest)."""
    for name, text in texts.items():
        for parser, expand in PYTHON_PARSERS.items():
            check(name, parser, expand(text))
    for name, got in with_icaljs(texts, tmp).items():
        check(name, "ical.js", got)


def assert_same(name: str, parser: str, got: Counter[Occurrence], want: Counter[Occurrence]) -> None:
    got = in_zones(got, {utc: zone for _, _, zone, utc in want})
    missing, extra = want - got, got - want
    assert not missing and not extra, (
        f"{parser} expands {name} differently: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    )


# --- the hard cases -------------------------------------------------------------------------


def daily(
    times: list[str], last_day: int, text: str = "", every: str | None = None, weekdays: list[str] | None = None
) -> dosing.Protocol:
    schedule: dict[str, object] = {"every": every} if every else {"weekdays": weekdays} if weekdays else {"daily": True}
    return protocol_from_dict(
        {
            "study": {
                "id": "DST",
                "title": "t",
                "blinding": "open",
                "timezone": "UTC",
                **UTC_ALLOWED,
                "last_day": last_day,
            },
            "arms": [{"id": "a", "label": "A", "regimens": ["d"]}],
            "regimens": [
                {
                    "id": "d",
                    "drug": "Drug",
                    "dose": {"amount": 1, "unit": "mg"},
                    "route": "oral",
                    "times": times,
                    "instructions": text,
                    "schedule": schedule,
                }
            ],
        }
    )


def table(protocol: dosing.Protocol, patients: list[tuple[str, str, str]]) -> pd.DataFrame:
    rows = [(i + 2, [pid, "a", start, zone]) for i, (pid, start, zone) in enumerate(patients)]
    cohort = cohort_from_rows(["patient_id", "arm", "start_date", "timezone"], rows, protocol)
    return dosing.expand(protocol, cohort)


#: Patients across spring-forward and fall-back in both zones (EU: 2027-03-28, 2027-10-31;
#: US: 2027-03-14, 2027-11-07); times inside the skipped hour and inside the repeated hour.
DST_PATIENTS = [
    ("BER-SPRING", "2027-03-20", "Europe/Berlin"),
    ("BER-FALL", "2027-10-25", "Europe/Berlin"),
    ("NYC-SPRING", "2027-03-08", "America/New_York"),
    ("NYC-FALL", "2027-11-01", "America/New_York"),
]
DST_TIMES = ["01:30", "02:00", "02:30", "03:00", "08:00"]


def hard_cases() -> dict[str, pd.DataFrame]:
    """Named dose tables, one patient each."""
    dst = table(daily(DST_TIMES, 21), DST_PATIENTS)
    cases = {pid: dst[dst["patient_id"] == pid] for pid, _, _ in DST_PATIENTS}
    held = table(daily(["08:00", "20:00"], 28), [("HELD", "2027-03-22", "Europe/Berlin")])
    held.loc[held["date"].astype(str).isin(["2027-03-24", "2027-03-28", "2027-03-29"]), "held"] = True
    held.loc[held.index[0], "held"] = True  # the run's first dose (its DTSTART) is held too
    cases["HELD"] = held
    alternate = table(daily(["02:30"], 28, every="2 days"), [("ALT", "2027-03-26", "Europe/Berlin")])
    cases["ALT"] = alternate
    twice = table(daily(["07:30"], 56, weekdays=["Monday", "Thursday"]), [("TWICE", "2027-03-01", "Europe/Berlin")])
    twice.loc[twice["date"].astype(str) == "2027-03-25", "held"] = True
    cases["TWICE"] = twice
    # every 8 hours on the elapsed clock across both changes: the wall-clock times shift an hour
    q8h = table(daily(["22:00"], 6, every="8 hours"), [("Q8H-SPRING", "2027-03-26", "Europe/Berlin")])
    cases["Q8H-SPRING"] = q8h
    cases["Q8H-FALL"] = table(daily(["22:00"], 6, every="8 hours"), [("Q8H-FALL", "2027-11-05", "America/New_York")])
    # a weekly run from GMT into BST: a zone whose standard offset is 0 (vobject used to skip its VTIMEZONE)
    cases["LONDON"] = table(daily(["10:00"], 21, every="7 days"), [("LONDON", "2027-03-15", "Europe/London")])
    text = "Nach dem Frühstück, mit Wasser; nicht mit Milch \\ 牛奶 — " * 4
    cases["TEXT"] = table(daily(["08:00"], 10, text), [("TEXT", "2027-05-01", "Asia/Shanghai")])
    return cases


def hard_calendars() -> dict[str, str]:
    out = {}
    for name, doses in hard_cases().items():
        zone = str(doses["timezone"].iloc[0])
        first = dt.date.fromisoformat(str(doses["date"].iloc[0]))
        for style in STYLES:
            ics = calendar_for_patient(
                doses,
                name=name,
                timezone=zone,
                stamp=STAMP,
                first=first,
                last=first + dt.timedelta(days=40),
                style=style,
            )
            out[f"{name}/{style}"] = ics.decode("utf-8")
    return out


def test_skipped_hour_dose_is_in_the_table_as_the_rfc_reads_it() -> None:
    doses = hard_cases()["BER-SPRING"]
    on_the_day = doses[doses["date"].astype(str) == "2027-03-28"]
    # 02:30 does not exist on 2027-03-28 in Berlin: RFC 5545 reads it with the offset before
    # the gap (+01:00), i.e. 01:30 UTC = 03:30 CEST; 02:00 likewise becomes 03:00.
    assert on_the_day["time"].astype(str).tolist() == ["01:30", "03:00", "03:00", "03:30", "08:00"]
    assert on_the_day["planned_at"].dt.strftime("%H:%M").tolist() == ["00:30", "01:00", "01:00", "01:30", "06:00"]


@pytest.mark.parametrize("parser", sorted(PYTHON_PARSERS))
def test_python_parsers_expand_the_hard_cases_to_our_doses(parser: str) -> None:
    cases = hard_cases()
    for name, text in hard_calendars().items():
        assert_same(name, parser, PYTHON_PARSERS[parser](text)["dose"], expected(cases[name.split("/")[0]]))


def test_icaljs_expands_the_hard_cases_to_our_doses(tmp_path: Path) -> None:
    cases = hard_cases()
    for name, got in with_icaljs(hard_calendars(), tmp_path).items():
        assert_same(name, "ical.js", got["dose"], expected(cases[name.split("/")[0]]))


def test_every_hour_through_a_fall_back_writes_both_0230_doses_in_utc() -> None:
    """Every hour on the elapsed clock has two doses at 02:30 local on 2027-10-31 in Berlin (00:30Z and
    01:30Z): both are written in UTC, and the parsers that keep the instant (ical, vobject) read every
    dose back. recurring-ical-events shows a UTC time in X-WR-TIMEZONE and loses Python's ``fold``
    there (it reads the second 02:30 back as the first), so it is left out of this case."""
    doses = table(daily(["18:30"], 2, every="1 hour"), [("Q1H", "2027-10-30", "Europe/Berlin")])
    at_0230 = doses[(doses["date"].astype(str) == "2027-10-31") & (doses["time"].astype(str) == "02:30")]
    assert at_0230["planned_at"].dt.strftime("%H:%M").tolist() == ["00:30", "01:30"]
    assert doses["uid"].is_unique
    first = dt.date(2027, 10, 30)
    for style in STYLES:
        ics = calendar_for_patient(
            doses,
            name="Q1H",
            timezone="Europe/Berlin",
            stamp=STAMP,
            first=first,
            last=first + dt.timedelta(days=3),
            style=style,
        ).decode("utf-8")
        assert "DTSTART:20271031T003000Z" in ics and "DTSTART:20271031T013000Z" in ics
        for parser in ("ical", "vobject"):
            assert_same(f"Q1H/{style}", parser, PYTHON_PARSERS[parser](ics)["dose"], expected(doses))


def test_a_held_dose_inside_a_run_is_an_exdate_not_a_gap_in_the_rule() -> None:
    text = hard_calendars()["HELD/recurring"]
    calendar = icalendar.Calendar.from_ical(text)
    events = [e for e in calendar.walk("VEVENT")]
    assert len(events) == 2  # 08:00 and 20:00, each one run of 28 days
    morning = next(e for e in events if e.DTSTART.hour == 8)
    assert morning["rrule"].to_ical() == b"FREQ=DAILY;COUNT=28"
    unfolded = text.replace("\r\n ", "")
    assert "EXDATE;TZID=Europe/Berlin:20270322T080000,20270324T080000,20270328T080000,20270329T080000\r\n" in unfolded


def test_fixed_weekdays_are_one_weekly_event() -> None:
    (event,) = icalendar.Calendar.from_ical(hard_calendars()["TWICE/recurring"]).walk("VEVENT")
    assert event["rrule"].to_ical() == b"FREQ=WEEKLY;COUNT=16;BYDAY=MO,TH"
    assert [d.dt.date() for d in event["exdate"].dts] == [dt.date(2027, 3, 25)]


# --- every shipped protocol, both styles, every patient, staff calendars too ---------------------


Local = tuple[str, str, str]  # (date, time, zone) as the CSV files show them; ("", "") for all-day


@dataclass
class Written:
    """Every patient's calendar text and what it must show, read back from the CSV files."""

    texts: dict[str, str]
    doses: dict[str, Counter[Local]]
    visits: dict[str, Counter[Local]]
    zones: dict[str, str]

    def check(self, pid: str, parser: str, got: ByCategory) -> None:
        """The parser's dose and visit occurrences equal doses.csv (not held) and visits.csv."""
        zone = self.zones[pid]
        assert local_only(got["dose"], zone) == self.doses[pid], f"{parser}: {pid}'s doses differ from doses.csv"
        assert local_only(got["visit"], zone) == self.visits[pid], f"{parser}: {pid}'s visits differ from visits.csv"


def held_uids(folder: Path) -> set[str]:
    """The doses the nurses' worklist marks "HELD: do not give" (doses.csv lists them unmarked)."""
    sheet = pd.read_csv(folder / "worklist.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    return set(sheet.loc[sheet["notes"].str.startswith("HELD"), "uid"])


def written_calendars(folder: Path, patients: pd.DataFrame) -> Written:
    """The calendars under ``folder/patients`` and the doses and visits their CSV files give."""
    zones = dict(zip(patients["patient_id"].astype(str), patients["timezone"].astype(str), strict=True))
    held = held_uids(folder)
    out = Written({}, {}, {}, zones)
    for home in sorted((folder / "patients").iterdir()):
        out.texts[home.name] = (home / "calendar.ics").read_text(encoding="utf-8")
        csv = pd.read_csv(home / "doses.csv", dtype=str, encoding="utf-8-sig")
        csv = csv[~csv["uid"].isin(held)]
        out.doses[home.name] = Counter(zip(csv["date"], csv["time"], csv["timezone"], strict=True))
        out.visits[home.name] = wanted_visits(home / "visits.csv", zones[home.name])
    return out


def wanted_visits(path: Path, zone: str) -> Counter[Local]:
    """visits.csv as (scheduled date, time, zone): all-day visits have no time and no zone."""
    if not path.exists():
        return Counter()
    csv = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    return Counter(
        (day, clock, zone if clock else "") for day, clock in zip(csv["scheduled_date"], csv["time"], strict=True)
    )


def shipped_calendars(name: str, style: str, tmp: Path) -> Written:
    protocol, cohort = shipped(name)
    result = dosing.generate(protocol, cohort, tmp / style, ics_style=style, feeds=False)
    return written_calendars(result.folder, cohort.patients)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_staff_calendars_expand_to_the_in_clinic_doses(name: str, tmp_path: Path) -> None:
    protocol, cohort = shipped(name)
    folder = dosing.generate(protocol, cohort, tmp_path / "out", feeds=False).folder
    doses = dosing.plan.blinding.blind(dosing.expand(protocol, cohort), protocol)
    in_clinic = {r.display_key for r in protocol.regimens if r.in_clinic}
    sites = cohort.patients.set_index("patient_id")["site"].replace("", "all")
    # doses given at home because the clinic is closed (on_closed_day = "home") are not the staff's
    doses = doses[doses["regimen"].astype(str).isin(in_clinic) & doses["in_clinic"]]
    site_of = doses["patient_id"].astype(str).map(sites)
    texts = {path.stem: path.read_text(encoding="utf-8") for path in (folder / "staff").glob("*.ics")}
    assert set(texts) == set(sites)
    each_parser(
        texts,
        tmp_path,
        lambda site, parser, got: assert_same(site, parser, got["dose"], expected(doses[site_of == site])),
    )


def local_only(found: Counter[Occurrence], home: str) -> Counter[Local]:
    """(date, time, zone) as doses.csv shows them; UTC events are shown in the patient's zone."""
    out: Counter[Local] = Counter()
    for (date, clock, zone, utc), n in found.items():
        if zone == "UTC":
            local = dt.datetime.fromisoformat(utc + "+00:00").astimezone(zoneinfo.ZoneInfo(home))
            date, clock, zone = local.strftime("%Y-%m-%d"), local.strftime("%H:%M"), home
        out[(date, clock, zone)] += n
    return out


def _shipped_params() -> list[object]:
    """Every shipped protocol in both styles. The 47-patient seed cohort in the recurring style
    has its own test below; expanded (about 33,000 events per parser) runs only in the slow run."""
    return [
        pytest.param((n, s), id=f"{n}-{s}", marks=[pytest.mark.slow] if n == "nct02467504" else [])
        for n in SHIPPED
        for s in STYLES
        if (n, s) != ("nct02467504", "recurring")
    ]


@pytest.fixture(scope="module", params=_shipped_params())
def shipped_case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Written:
    name, style = request.param
    return shipped_calendars(name, style, tmp_path_factory.mktemp(f"{name}-{style}"))


def test_shipped_calendars_expand_to_doses_and_visits_csv_in_every_parser(
    shipped_case: Written, tmp_path: Path
) -> None:
    each_parser(shipped_case.texts, tmp_path, shipped_case.check)


def test_seed_recurring_calendars_expand_to_doses_and_visits_csv_in_every_parser(tmp_path: Path) -> None:
    """The 47-patient seed cohort, recurring style (the default), in all four parsers."""
    written = shipped_calendars("nct02467504", "recurring", tmp_path)
    assert len(written.texts) == 47 and all(v.total() == 7 for v in written.visits.values())
    each_parser(written.texts, tmp_path, written.check)


def test_staff_calendar_expands_to_the_in_clinic_doses(tmp_path: Path) -> None:
    doses = table(daily(["02:30", "09:00"], 21), DST_PATIENTS)
    first, last = dt.date(2027, 3, 1), dt.date(2027, 12, 1)
    texts = {
        style: staff_calendar(doses, name="staff", stamp=STAMP, first=first, last=last, style=style).decode()
        for style in STYLES
    }
    each_parser(
        texts, tmp_path, lambda style, parser, got: assert_same(f"staff/{style}", parser, got["dose"], expected(doses))
    )
