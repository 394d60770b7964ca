"""Feed correctness: every rule of DOMAIN.md section 6, checked on every calendar we write.

:func:`check_feed` reads the raw bytes (CRLF, folding, properties as written) and is applied to
the calendars of every shipped protocol in both styles, the staff calendars and the hard cases.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import Counter
from pathlib import Path

import icalendar
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, PROTOCOLS, SHIPPED, shipped
from test_ics_parsers import STAMP, hard_calendars, hard_cases

import dosing
from dosing.cli import main
from dosing.io.write.ics import STYLES, calendar_for_patient, staff_calendar
from dosing.io.write.ics_runs import find_runs
from dosing.io.write.vtimezone import vtimezone

MAX_SUMMARY = 50


def unfold(raw: bytes) -> list[str]:
    """Content lines, after checking CRLF, the 75-octet limit and UTF-8 of each physical line."""
    assert raw.endswith(b"\r\n")
    physical = raw[:-2].split(b"\r\n")
    assert not any(b"\n" in line or b"\r" in line for line in physical), "bare LF or CR"
    for line in physical:
        assert len(line) <= 75, f"line longer than 75 octets: {line!r}"
        line.decode("utf-8")  # folding never splits a UTF-8 sequence
    lines: list[str] = []
    for line in physical:
        if line.startswith(b" "):
            lines[-1] += line[1:].decode()
        else:
            lines.append(line.decode())
    return lines


def _blocks(lines: list[str], name: str) -> list[list[str]]:
    found, current, depth = [], None, 0
    for line in lines:
        if line == f"BEGIN:{name}":
            current, depth = [], depth + 1
        elif line == f"END:{name}":
            found.append(current)
            current, depth = None, depth - 1
        elif current is not None:
            current.append(line)
    return found


def _props(lines: list[str], name: str) -> list[str]:
    return [line for line in lines if re.match(rf"{name}[;:]", line)]


def _top_level(lines: list[str]) -> list[str]:
    out, depth = [], 0
    for line in lines:
        if line.startswith("BEGIN:"):
            depth += 1
        elif line.startswith("END:"):
            depth -= 1
        elif depth == 1:
            out.append(line)
    return out


def check_feed(raw: bytes) -> None:
    """Every rule of DOMAIN.md section 6 that can be read from one calendar's bytes."""
    lines = unfold(raw)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert any(re.fullmatch(r"BEGIN:(VEVENT|VTIMEZONE|VTODO|VJOURNAL)", line) for line in lines[1:])
    top = _top_level(lines)
    assert _props(top, "VERSION") == ["VERSION:2.0"]
    assert len(_props(top, "PRODID")) == 1
    assert not _props(top, "METHOD")
    assert len(_props(top, "NAME")) == 1 and len(_props(top, "X-WR-CALNAME")) == 1
    assert _props(top, "REFRESH-INTERVAL") == ["REFRESH-INTERVAL;VALUE=DURATION:PT12H"]
    assert _props(top, "X-PUBLISHED-TTL") == ["X-PUBLISHED-TTL:PT12H"]
    zones = {p.split(":", 1)[1] for z in _blocks(lines, "VTIMEZONE") for p in _props(z, "TZID")}
    used = set(re.findall(r";TZID=([^:;]+)[:;]", "\n".join(lines)))
    assert used <= zones, f"TZID without VTIMEZONE: {used - zones}"
    uids = []
    for event in _blocks(lines, "VEVENT"):
        own = [line for line in event if not line.startswith(("ACTION", "TRIGGER"))]
        uids += [p.split(":", 1)[1] for p in _props(own, "UID")]
        assert len(_props(own, "UID")) == 1
        assert re.fullmatch(r"DTSTAMP:\d{8}T\d{6}Z", _props(own, "DTSTAMP")[0])
        if "CATEGORIES:dose" in own:  # our dose events always say SEQUENCE (RFC default: 0)
            assert len(_props(own, "SEQUENCE")) == 1
        _check_times(event)
    assert len(uids) == len(set(uids)), "UIDs repeat"


def _check_times(event: list[str]) -> None:
    (start,) = _props(event, "DTSTART")
    params, value = start.removeprefix("DTSTART").split(":", 1)
    if params == ";VALUE=DATE":  # all-day: DATE values with an exclusive DTEND (or DURATION)
        ends = [e.split(":", 1) for e in _props(event, "DTEND")]
        assert all(p == "DTEND;VALUE=DATE" and v > value for p, v in ends), f"all-day DTEND: {ends}"
    else:
        assert params.startswith(";TZID=") or value.endswith("Z"), f"floating time: {start}"
    for rule in _props(event, "RRULE"):
        until = re.search(r"UNTIL=([^;]+)", rule)
        assert until is None or until.group(1).endswith("Z") or params == ";VALUE=DATE", f"UNTIL not UTC: {rule}"
    for exdate in _props(event, "EXDATE"):
        prefix, values = exdate.split(":", 1)
        assert prefix == "EXDATE" + params, f"EXDATE type/zone differs from DTSTART: {exdate}"
        assert all(len(v) == len(value) for v in values.split(","))


# --- every calendar we write passes the checks --------------------------------------------


def _shipped_params() -> list[object]:
    """Every shipped protocol in both styles, except the 47-patient seed cohort expanded (about
    33,000 events, 15 s to write): its events are checked event by event in the slow parser test,
    and the expanded style is checked here on the other protocols and the hard cases."""
    return [(n, s) for n in SHIPPED for s in STYLES if (n, s) != ("nct02467504", "expanded")]


@pytest.fixture(scope="module", params=_shipped_params(), ids=lambda p: f"{p[0]}-{p[1]}")
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    name, style = request.param
    protocol, cohort = shipped(name)
    root = tmp_path_factory.mktemp(f"{name}-{style}")
    result = dosing.generate(
        protocol, cohort, root / "out", ics_style=style, remind=dt.timedelta(minutes=15), key_file=root / "k" / "key"
    )
    return name, style, result.folder


def test_every_shipped_calendar_follows_the_rules(written: tuple[str, str, Path]) -> None:
    folder = written[2]
    calendars = [*folder.glob("patients/*/calendar.ics"), *folder.glob("staff/*.ics"), *folder.glob("feeds/*.ics")]
    assert calendars
    for path in calendars:
        check_feed(path.read_bytes())


def test_every_hard_case_follows_the_rules() -> None:
    for text in hard_calendars().values():
        check_feed(text.encode("utf-8"))


def test_regenerating_gives_identical_bytes(written: tuple[str, str, Path], tmp_path: Path) -> None:
    name, style, folder = written
    protocol, cohort = shipped(name)
    again = dosing.generate(protocol, cohort, tmp_path, ics_style=style, remind=dt.timedelta(minutes=15), feeds=False)
    for path in folder.glob("patients/*/calendar.ics"):
        assert path.read_bytes() == (again.folder / path.relative_to(folder)).read_bytes()


# --- the rules, one by one, on small calendars -------------------------------------------


def seed(style: str = "recurring", **options: object) -> tuple[pd.DataFrame, bytes]:
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    cohort = dosing.load_cohort(FIXTURES / "ics-three-sites.csv", protocol)
    doses = dosing.plan.blinding.blind(dosing.expand(protocol, cohort), protocol)
    mine = doses[doses["patient_id"] == "RA-101"]
    ics = calendar_for_patient(
        mine,
        name="NCT02467504 RA-101",
        timezone="Europe/Berlin",
        stamp=STAMP,
        first=dt.date(2027, 3, 15),
        last=dt.date(2027, 9, 1),
        style=style,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    return mine, ics


def events(ics: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(ics).walk("VEVENT"))


def test_recurring_style_is_one_event_per_regular_run() -> None:
    _, ics = seed()
    rules = Counter((str(e["summary"]), e["rrule"].to_ical().decode()) for e in events(ics))
    assert rules == {
        ("Loxoprofen 60 mg", "FREQ=DAILY;COUNT=168"): 3,  # 08:00, 13:00, 19:00
        ("Folic acid 1 mg", "FREQ=DAILY;COUNT=167"): 1,  # days 2-168; the Mondays are EXDATEs
        ("Methotrexate 15 mg (weekly, Monday)", "FREQ=WEEKLY;COUNT=24"): 1,
        # one per cycle: days 1-11 of each cycle, the Sunday (cycle day 7) an EXDATE; the clinic is closed
        # on weekends, so (on_closed_day = "home") the Sunday and the Saturday (cycle day 13) injections
        # are given at home: one weekly run each, every 4 weeks (days 7, 35, 63 and 13, 41, 69)
        ("hrIL-2 or placebo 1,000,000 IU", "FREQ=DAILY;COUNT=6;INTERVAL=2"): 3,
        ("hrIL-2 or placebo 1,000,000 IU", "FREQ=WEEKLY;COUNT=3;INTERVAL=4"): 2,
    }
    folic = next(e for e in events(ics) if str(e["summary"]).startswith("Folic"))
    excluded = [d.dt for d in folic["exdate"].dts]
    assert len(excluded) == 23 and {d.strftime("%A") for d in excluded} == {"Monday"}


def test_both_styles_hold_the_same_doses() -> None:
    doses, recurring = seed("recurring")
    _, expanded = seed("expanded")
    assert len(events(expanded)) == len(doses)
    assert len(events(recurring)) == 10  # 3 loxoprofen, folic acid, methotrexate, 3 + 2 hrIL-2 runs
    assert len(recurring) < len(expanded) / 20


def test_uids_are_stable_and_do_not_reveal_the_arm() -> None:
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    header = ["patient_id", "arm", "start_date", "timezone", "site", "mtx_dose", "mtx_weekday"]
    calendars = []
    for arm in ("active", "placebo"):
        rows = [(2, ["RA-1", arm, "2027-03-15", "Europe/Berlin", "X", "15", "Monday"])]
        cohort = dosing.plan.cohort.cohort_from_rows(header, rows, protocol)
        doses = dosing.plan.blinding.blind(dosing.expand(protocol, cohort), protocol)
        for style in STYLES:
            calendars.append(
                calendar_for_patient(
                    doses,
                    name="n",
                    timezone="Europe/Berlin",
                    stamp=STAMP,
                    first=dt.date(2027, 3, 15),
                    last=dt.date(2027, 9, 1),
                    style=style,
                )
            )
    assert calendars[0] == calendars[2] and calendars[1] == calendars[3]  # blinded: active == placebo
    uids = {str(e["uid"]) for e in events(calendars[0])}
    assert "RA-1.b-hril-2-or-placebo.d001.0900.run@nct02467504.dosing" in uids
    assert not any("active" in u or "placebo@" in u for u in uids)


def test_dtstamp_is_the_given_stamp_in_utc() -> None:
    _, ics = seed()
    assert {e["dtstamp"].to_ical() for e in events(ics)} == {b"20270101T000000Z"}


def test_sequence_of_a_run_rises_when_any_dose_of_its_regimen_changes() -> None:
    doses = hard_cases()["HELD"].copy()
    calendar = {"name": "n", "timezone": "Europe/Berlin", "stamp": STAMP}
    span = {"first": dt.date(2027, 3, 22), "last": dt.date(2027, 5, 1)}
    before = events(calendar_for_patient(doses, **calendar, **span))  # type: ignore[arg-type]
    assert sorted(int(e["sequence"]) for e in before) == [0, 0]
    # The changes file moves the 08:00 dose of 2027-04-05 to 10:00 and raises its SEQUENCE.
    moved = doses.index[(doses["date"].astype(str) == "2027-04-05") & (doses["time"].astype(str) == "08:00")]
    doses.loc[moved, "sequence"] = 1
    doses.loc[moved, "planned_at"] = doses.loc[moved, "planned_at"] + pd.Timedelta(hours=2)
    doses["time"] = doses["time"].astype(str)
    doses.loc[moved, "time"] = "10:00"
    after = events(calendar_for_patient(doses, **calendar, **span))  # type: ignore[arg-type]
    by_uid = {str(e["uid"]): int(e["sequence"]) for e in after}
    # The 08:00 run keeps its UID and gains an EXDATE; the moved dose is an event of its own.
    assert len(after) == 3 and set(by_uid.values()) == {1}
    morning = next(e for e in after if str(e["uid"]) == "HELD.d.d001.0800.run@dst.dosing")
    assert dt.date(2027, 4, 5) in {d.dt.date() for d in morning["exdate"].dts}
    assert by_uid["HELD.d.d015.0800@dst.dosing"] == 1


def test_vtimezone_onsets_are_the_local_time_before_the_change() -> None:
    """RFC 5545 3.6.5: an observance's DTSTART is local time in TZOFFSETFROM (its examples use
    02:00 for the US spring change). icalendar's Timezone.from_tzid writes 03:00 for Berlin."""
    berlin = vtimezone("Europe/Berlin", dt.date(2027, 1, 1), dt.date(2027, 12, 31)).to_ical().decode()
    assert (
        "BEGIN:DAYLIGHT\r\nDTSTART:20270328T020000\r\nTZNAME:CEST\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200" in berlin
    )
    assert "BEGIN:STANDARD\r\nDTSTART:20271031T030000\r\nTZNAME:CET\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100" in berlin
    york = vtimezone("America/New_York", dt.date(2027, 1, 1), dt.date(2027, 12, 31)).to_ical().decode()
    assert "DTSTART:20270314T020000\r\nTZNAME:EDT" in york and "DTSTART:20271107T020000\r\nTZNAME:EST" in york


def test_a_dose_at_a_repeated_local_time_is_written_in_utc() -> None:
    text = hard_calendars()["BER-FALL/recurring"]
    # 02:30 on 2027-10-31 occurs twice in Berlin; the table means the first (CEST, 00:30 UTC).
    assert "DTSTART:20271031T003000Z" in text
    assert "DTSTART;TZID=Europe/Berlin:20271031T023000" not in text


def test_no_event_starts_at_a_local_time_that_does_not_exist() -> None:
    text = hard_calendars()["BER-SPRING/recurring"] + hard_calendars()["BER-SPRING/expanded"]
    assert not re.search(r"TZID=Europe/Berlin:20270328T02\d{4}", text.replace("\r\n ", ""))


def test_text_is_escaped_and_survives_a_round_trip() -> None:
    text = hard_calendars()["TEXT/expanded"]
    assert "\\;" in text and "\\," in text and "\\\\" in text
    (event, *_) = events(text.encode())
    assert "mit Wasser; nicht mit Milch \\ 牛奶 — " in str(event["description"])
    check_feed(text.encode())


def test_methotrexate_names_the_weekday_in_full() -> None:
    _, ics = seed()
    mtx = next(e for e in events(ics) if "Methotrexate" in str(e["summary"]))
    assert "Once weekly, on Monday. Never take it daily." in str(mtx["description"])
    assert "Route: oral" in str(mtx["description"])


def test_summaries_are_short_enough_for_a_phone(written: tuple[str, str, Path]) -> None:
    for path in written[2].glob("patients/*/calendar.ics"):
        for event in events(path.read_bytes()):
            assert len(str(event["summary"])) <= MAX_SUMMARY


def test_remind_adds_a_display_alarm_to_every_dose() -> None:
    _, ics = seed(remind=dt.timedelta(minutes=15))
    for event in events(ics):
        (alarm,) = event.walk("VALARM")
        assert alarm["action"] == "DISPLAY" and alarm["trigger"].to_ical() == b"-PT15M"
        assert str(alarm["description"]).startswith("Reminder: ")
    _, plain = seed()
    assert b"VALARM" not in plain


def visit(summary: str, category: str) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"{summary}@test")
    event.add("dtstamp", STAMP)
    event.add("dtstart", dt.date(2027, 4, 12))
    event.add("dtend", dt.date(2027, 4, 13))
    event.add("summary", summary)
    event.add("categories", [category])
    return event


def test_remind_visits_adds_alarms_to_visit_events_only() -> None:
    extra = [visit("Week 4 visit", "visit"), visit("Something else", "note")]
    _, ics = seed(extra_events=extra, remind_visits=dt.timedelta(days=1))
    found = {str(e["summary"]): e.walk("VALARM") for e in events(ics)}
    assert found["Something else"] == [] and found["Loxoprofen 60 mg"] == []
    (alarm,) = found["Week 4 visit"]
    assert alarm["trigger"].to_ical() == b"-P1D"
    assert extra[0].walk("VALARM") == []  # the caller's event is not changed
    check_feed(ics)


def test_staff_calendar_has_in_clinic_doses_with_patient_ids(tmp_path: Path) -> None:
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    cohort = dosing.load_cohort(FIXTURES / "ics-three-sites.csv", protocol)
    folder = dosing.generate(protocol, cohort, tmp_path / "out", feeds=False).folder
    assert sorted(p.name for p in (folder / "staff").iterdir()) == ["Charité-Mitte.ics", "MSK.ics", "all.ics"]
    everything = events((folder / "staff" / "Charité-Mitte.ics").read_bytes())
    assert all(str(e["uid"]).startswith("staff.RA-101.") for e in everything)
    berlin = [e for e in everything if "dose" in str(e["categories"].to_ical())]
    assert {str(e["summary"]) for e in berlin} == {"RA-101: hrIL-2 or placebo 1,000,000 IU"}
    assert len(berlin) == 3  # one recurring event per cycle
    visits = [str(e["summary"]) for e in everything if "visit" in str(e["categories"].to_ical())]
    assert "RA-101: Clinic visit: Baseline" in visits and len(visits) == 7  # the seed plan has 7 visits


def test_staff_calendar_can_mix_time_zones() -> None:
    doses = pd.concat([hard_cases()["BER-SPRING"], hard_cases()["NYC-FALL"].reset_index(drop=True)])
    assert not doses.index.is_unique  # row labels need not be unique
    ics = staff_calendar(doses, name="all", stamp=STAMP, first=dt.date(2027, 1, 1), last=dt.date(2027, 12, 1))
    check_feed(ics)
    assert ics.count(b"BEGIN:VTIMEZONE") == 2


def test_runs_bridge_one_missing_step_but_not_more() -> None:
    doses = hard_cases()["HELD"]
    keep = ~doses["date"].astype(str).isin(["2027-03-25", "2027-04-01", "2027-04-02"])
    runs = find_runs(doses[keep & (doses["time"].astype(str) == "08:00")])
    # 03-25 missing: bridged; 04-01 and 04-02 missing: two steps, the run ends.
    assert runs.count.tolist() == [10, 16] and runs.step.tolist() == [1, 1]
    assert runs.exdates[0] == ["2027-03-22", "2027-03-24", "2027-03-25", "2027-03-28", "2027-03-29"]


def test_remind_option_is_parsed_and_bad_values_are_usage_errors(tmp_path: Path) -> None:
    args = ["generate", str(PROTOCOLS / "nct02467504.toml"), "--cohort", str(FIXTURES / "ics-three-sites.csv")]
    bad = CliRunner().invoke(main, [*args, "--remind", "soon", "--out", str(tmp_path), "--no-feeds"])
    assert bad.exit_code == 2 and "--remind" in bad.output and "15m" in bad.output
    good = CliRunner().invoke(
        main, [*args, "--remind", "30m", "--ics-style", "expanded", "--out", str(tmp_path), "--no-feeds"]
    )
    assert good.exit_code == 0, good.output
    ics = (tmp_path / "nct02467504" / "patients" / "RA-101" / "calendar.ics").read_bytes()
    assert b"TRIGGER:-PT30M" in ics and b"RRULE" not in ics


#: Golden files: the calendars of the hard cases exactly as users get them. After an intended
#: change, rewrite them with DOSING_UPDATE_GOLDEN=1 and review the diff.
GOLDEN = {
    "HELD/recurring": "ics-held-doses-in-a-run.ics",
    "BER-SPRING/recurring": "ics-berlin-spring-forward.ics",
    "NYC-FALL/recurring": "ics-new-york-fall-back.ics",
    "TEXT/expanded": "ics-long-utf8-text.ics",
}


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_hard_case_calendars_match_their_golden_files(case: str) -> None:
    path = FIXTURES / GOLDEN[case]
    written = hard_calendars()[case].encode("utf-8")
    if os.environ.get("DOSING_UPDATE_GOLDEN"):
        path.write_bytes(written)
    assert written == path.read_bytes(), f"{case} differs from {path.name}"
