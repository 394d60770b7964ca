"""Visits and changes in the calendars, proven with the independent parsers of test_ics_parsers.

With the shipped changes file (delay, hold, dose change, withdrawal) every parser shows exactly
doses.csv minus the held doses (the worklist marks them) and exactly visits.csv (which no longer
lists the cancelled visits), in both calendar styles. Timed visits (clinic hours) are shown at
their time in the patient's zone, in the patient's calendar and in the staff calendar alike.
Alarms: ``remind`` on every dose event (changed ones too), ``remind_visits`` on every visit.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections import Counter
from pathlib import Path

import icalendar
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, PROTOCOLS, SHIPPED, shipped
from test_ics import check_feed
from test_ics_parsers import ByCategory, Written, each_parser, held_uids, local_only, wanted_visits, written_calendars

import dosing
from dosing.cli import main
from dosing.io.write.ics import STYLES, categories
from dosing.io.write.ics_visits import visit_events
from dosing.plan.load import protocol_from_dict
from dosing.plan.visits import plan_visits

SEED = "nct02467504"
CHANGES = PROTOCOLS / f"{SEED}-changes.csv"
#: The patients the shipped changes file names, and one it leaves alone.
CHANGED = ["RA-001", "RA-002", "RA-004", "RA-005"]
UNTOUCHED = "RA-003"
REMIND, REMIND_VISITS = dt.timedelta(minutes=15), dt.timedelta(days=1)


def seed_subset(tmp: Path) -> tuple[dosing.Protocol, dosing.Cohort]:
    """The seed protocol with the shipped cohort's rows of the changed patients and one more
    (the full cohort in the expanded style takes 10 s to write; these five show every change)."""
    protocol = dosing.load_protocol(PROTOCOLS / f"{SEED}.toml")
    rows = pd.read_csv(PROTOCOLS / f"{SEED}-cohort.csv", dtype=str, keep_default_na=False)
    path = tmp / "cohort.csv"
    rows[rows["patient_id"].isin([*CHANGED, UNTOUCHED])].to_csv(path, index=False)
    return protocol, dosing.load_cohort(path, protocol)


@pytest.fixture(scope="module", params=STYLES)
def changed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Written]:
    """Both styles, with the shipped changes, ``--remind 15m`` and ``--remind-visits 1d``."""
    style = request.param
    root = tmp_path_factory.mktemp(f"changed-{style}")
    protocol, cohort = seed_subset(root)
    changes = dosing.load_changes(CHANGES, protocol, cohort)
    folder = dosing.generate(
        protocol,
        cohort,
        root / "out",
        changes=changes,
        ics_style=style,
        remind=REMIND,
        remind_visits=REMIND_VISITS,
        feeds=False,
    ).folder
    return style, folder, written_calendars(folder, cohort.patients)


def test_changed_calendars_expand_to_doses_not_held_and_visits_not_cancelled(
    changed: tuple[str, Path, Written], tmp_path: Path
) -> None:
    _, folder, written = changed
    held = held_uids(folder)
    assert len(held) == 1 and next(iter(held)).startswith("RA-004.")  # the shipped hold
    assert written.visits["RA-005"].total() == 6 and written.visits[UNTOUCHED].total() == 7  # withdrawal
    each_parser(written.texts, tmp_path, written.check)


def test_changes_really_move_hold_and_cancel(changed: tuple[str, Path, Written], tmp_path: Path) -> None:
    """What the parsers are checked against differs from the unchanged plan where the changes say."""
    written = changed[2]
    protocol, cohort = seed_subset(tmp_path)
    plain = written_calendars(
        dosing.generate(protocol, cohort, tmp_path / "plain", feeds=False).folder, cohort.patients
    )
    assert plain.doses[UNTOUCHED] == written.doses[UNTOUCHED]
    assert plain.visits[UNTOUCHED] == written.visits[UNTOUCHED]
    assert (plain.doses["RA-004"] - written.doses["RA-004"]).total() == 1  # held
    assert plain.doses["RA-001"] != written.doses["RA-001"]  # cycle 2 a week later
    assert (plain.visits["RA-001"] - written.visits["RA-001"]).total() == 2  # week-4, week-8 moved
    assert (plain.visits["RA-005"] - written.visits["RA-005"]).total() == 1  # cancelled
    amounts = {e["summary"] for e in calendar_events(written.texts["RA-002"]) if "dose" in categories(e)}
    assert any("12.5 mg" in str(s) for s in amounts)  # the raised methotrexate dose is shown


def calendar_events(text: str | bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(text).walk("VEVENT"))


def triggers(event: icalendar.Event) -> list[bytes]:
    return [alarm["trigger"].to_ical() for alarm in event.walk("VALARM")]


def test_remind_is_on_every_dose_and_remind_visits_on_every_visit(changed: tuple[str, Path, Written]) -> None:
    folder = changed[1]
    paths = [*folder.glob("patients/*/calendar.ics"), *folder.glob("staff/*.ics")]
    seen: Counter[str] = Counter()
    for path in paths:
        for event in calendar_events(path.read_bytes()):
            kind = "visit" if "visit" in categories(event) else "dose"
            assert categories(event) == {kind}
            assert triggers(event) == ([b"-P1D"] if kind == "visit" else [b"-PT15M"]), f"{path.name}: {event['uid']}"
            seen[kind + (" changed" if int(event.get("sequence", 0)) else "")] += 1
    assert seen["visit"] and seen["dose"] and seen["dose changed"]  # changed doses: own events or runs


def test_every_dose_event_lasts_fifteen_minutes_and_has_no_dtend(changed: tuple[str, Path, Written]) -> None:
    _, folder, _ = changed
    for path in [*folder.glob("patients/*/calendar.ics"), *folder.glob("staff/*.ics")]:
        for event in calendar_events(path.read_bytes()):
            if "dose" in categories(event):
                assert "DTEND" not in event and event["duration"].to_ical() == b"PT15M"


def test_changed_dose_events_carry_the_change_date_and_sequence(changed: tuple[str, Path, Written]) -> None:
    style, folder, _ = changed
    doses = [
        e for e in calendar_events((folder / "patients" / "RA-002" / "calendar.ics").read_bytes()) if e.get("sequence")
    ]
    assert doses and all(e["dtstamp"].dt == dt.datetime(2027, 1, 17, tzinfo=dt.UTC) for e in doses)
    if style == "expanded":  # one event per changed dose, each with the UID of its planned slot
        assert len(doses) == 19 and all(".run@" not in str(e["uid"]) for e in doses)


def test_changed_calendars_follow_the_rules(changed: tuple[str, Path, Written]) -> None:
    _, folder, _ = changed
    for path in [*folder.glob("patients/*/calendar.ics"), *folder.glob("staff/*.ics")]:
        check_feed(path.read_bytes())


# --- staff calendars: the site's visits, once each --------------------------------------------


def staff_visits(folder: Path, patients: pd.DataFrame) -> None:
    """Every staff/<site>.ics holds each visit of its site's patients once (UID ``staff.`` + the
    visit's UID, summary led by the patient id) and no visit of another site's patients."""
    visits = pd.read_csv(folder / "visits.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    sites = patients.set_index("patient_id")["site"].astype(str).str.strip().replace("", "all")
    visits["site"] = visits["patient_id"].map(sites)
    assert {p.stem for p in (folder / "staff").glob("*.ics")} == {s.replace(" ", "-") for s in sites}
    for site, mine in visits.groupby("site"):
        raw = (folder / "staff" / f"{str(site).replace(' ', '-')}.ics").read_bytes()
        check_feed(raw)
        found = [e for e in calendar_events(raw) if "visit" in categories(e)]
        uids = Counter(str(e["uid"]) for e in found)
        assert uids == Counter("staff." + mine["uid"]), f"{site}: visits differ from visits.csv"
        pid_of = dict(zip("staff." + mine["uid"], mine["patient_id"], strict=True))
        assert all(str(e["summary"]).startswith(f"{pid_of[str(e['uid'])]}: Clinic visit: ") for e in found)


@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "capecitabine"])  # capecitabine has no visits
def test_shipped_staff_calendars_hold_each_visit_of_their_site_once(name: str, tmp_path: Path) -> None:
    protocol, cohort = shipped(name)
    folder = dosing.generate(protocol, cohort, tmp_path, feeds=False).folder
    staff_visits(folder, cohort.patients)


def test_changed_staff_calendars_hold_each_visit_not_cancelled_once(changed: tuple[str, Path, Written]) -> None:
    _, folder, written = changed
    staff_visits(folder, pd.DataFrame({"patient_id": list(written.zones), "site": "PKUPH"}))


# --- timed visits, patients in three zones ------------------------------------------------------


def timed_protocol() -> dosing.Protocol:
    """The seed protocol with clinic hours for two visits."""
    data = tomllib.loads((PROTOCOLS / f"{SEED}.toml").read_text(encoding="utf-8"))
    data["visits"][2] |= {"time": "09:30", "duration": "2h"}
    data["visits"][3] |= {"time": "14:00"}
    return protocol_from_dict(data)


@pytest.mark.parametrize("style", STYLES)
def test_timed_visits_are_at_their_time_in_the_patients_zone(style: str, tmp_path: Path) -> None:
    protocol = timed_protocol()
    cohort = dosing.load_cohort(FIXTURES / "ics-three-sites.csv", protocol)  # Berlin, New York, Shanghai
    folder = dosing.generate(protocol, cohort, tmp_path / "out", ics_style=style, feeds=False).folder
    written = written_calendars(folder, cohort.patients)
    assert Counter(clock for c in written.visits.values() for _, clock, _ in c.elements())["09:30"] == 3
    each_parser(written.texts, tmp_path, written.check)
    staff_visits(folder, cohort.patients)
    sites = cohort.patients.set_index("patient_id")["site"].replace("", "all")
    staff = {}
    for pid, zone in written.zones.items():
        path = folder / "staff" / f"{str(sites[pid]).replace(' ', '-')}.ics"
        staff[pid] = (path.read_text(encoding="utf-8"), wanted_visits(folder / "patients" / pid / "visits.csv", zone))

    def same(pid: str, parser: str, got: ByCategory) -> None:
        assert local_only(got["visit"], written.zones[pid]) == staff[pid][1], f"{parser}: staff visits of {pid}"

    each_parser({pid: text for pid, (text, _) in staff.items()}, tmp_path, same)


@pytest.mark.parametrize(
    ("day", "clock", "start", "end"),
    [
        ("2027-03-28", "02:30", ";TZID=Europe/Berlin:20270328T033000", ";TZID=Europe/Berlin:20270328T053000"),
        ("2027-10-31", "02:30", ":20271031T003000Z", ";TZID=Europe/Berlin:20271031T033000"),
        ("2027-10-31", "01:30", ";TZID=Europe/Berlin:20271031T013000", ":20271031T013000Z"),
    ],
)
def test_a_timed_visit_never_starts_or_ends_at_a_missing_or_repeated_local_time(
    day: str, clock: str, start: str, end: str
) -> None:
    """02:30 on the spring-forward day is read as RFC 5545 reads it (01:30 UTC = 03:30 CEST); a
    time of the repeated fall-back hour is given in UTC (its first occurrence); 2 h visits."""
    protocol = timed_protocol()
    cohort = dosing.load_cohort(FIXTURES / "ics-three-sites.csv", protocol)
    visits = plan_visits(protocol, cohort)
    row = visits[(visits["patient_id"] == "RA-101") & (visits["visit"] == "week-2")]
    row = row.assign(scheduled_date=day, time=clock)
    (event,) = visit_events(row, "Europe/Berlin", dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    lines = event.to_ical().decode().split("\r\n")
    assert "DTSTART" + start in lines and "DTEND" + end in lines
    assert event.decoded("dtend") - event.decoded("dtstart") == dt.timedelta(hours=2)


def test_cli_remind_options_put_alarms_on_doses_and_visits(tmp_path: Path) -> None:
    """``dosing generate --changes --ics-style expanded --remind 15m --remind-visits 1d``."""
    seed_subset(tmp_path)
    args = ["generate", str(PROTOCOLS / f"{SEED}.toml"), "--cohort", str(tmp_path / "cohort.csv")]
    options = ["--changes", str(CHANGES), "--ics-style", "expanded", "--remind", "15m", "--remind-visits", "1d"]
    done = CliRunner().invoke(main, [*args, *options, "--out", str(tmp_path / "out"), "--no-feeds"])
    assert done.exit_code == 0, done.output
    found = calendar_events((tmp_path / "out" / SEED / "patients" / "RA-002" / "calendar.ics").read_bytes())
    alarms = Counter((min(categories(e)), bool(e.get("sequence")), tuple(triggers(e))) for e in found)
    assert set(alarms) == {("dose", False, (b"-PT15M",)), ("dose", True, (b"-PT15M",)), ("visit", False, (b"-P1D",))}
    assert alarms[("dose", True, (b"-PT15M",))] == 19  # the raised methotrexate doses
