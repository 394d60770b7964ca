"""Calendar text written directly (dosing.io.write.ics_text) is what icalendar writes, byte for byte,
and the cohort-level writer gives every patient the calendar written for that patient alone.

(That the text writer changed no calendar by a byte was checked when it replaced the icalendar
writer: 676 calendars of every shipped protocol, both styles, with and without reminders and
changes, blinded and unblinded, compared to those of the icalendar writer; see the report of
branch ``calendar``. The hard-case golden files in test_ics.py keep it.)"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from conftest import PROTOCOLS
from icalendar.parser import _escape_char, _foldline

import dosing
from dosing.io.write.ics import calendar_for_patient
from dosing.io.write.ics_cohort import calendars_for_cohort, patient_texts
from dosing.io.write.ics_text import escape_text, fold
from dosing.io.write.ics_visits import calendar_extras, hide_changed
from dosing.plan.apply_changes import apply_changes
from dosing.plan.blinding import blind
from dosing.plan.clinic_days import home_after_changes
from dosing.plan.columns import CALENDAR_ONLY, DOSE_COLUMNS
from dosing.plan.expand import utc_text

AWKWARD = [
    "",
    "plain",
    "a,b;c\\d",
    "line one\nline two\r\nthree\rfour",
    r"already \N escaped",
    "trailing backslash \\",
    "甲氨蝶呤 每周一次, 不要每天服用",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_escape_text_is_icalendars_escaping(text: str) -> None:
    assert escape_text(text) == _escape_char(text)


def test_escape_text_by_hand() -> None:
    # RFC 5545 3.3.11: backslash first, then ; and , ; every line end becomes \n
    assert escape_text("Take: Drug, 1 mg;\nnow\\") == "Take: Drug\\, 1 mg\\;\\nnow\\\\"


def test_fold_by_hand() -> None:
    # 74 octets stay on one line; the 75th moves to a continuation line after CRLF + space.
    assert fold("x" * 74) == "x" * 74
    assert fold("x" * 75) == "x" * 74 + "\r\n x"
    assert fold("x" * 149) == "x" * 74 + "\r\n " + "x" * 74 + "\r\n x"
    # a backslash never ends a physical line: it moves to the next with its escaped character
    assert fold("x" * 73 + "\\,yz") == "x" * 73 + "\r\n \\,yz"
    # a 3-octet character that would straddle octet 74 starts the next line
    assert fold("x" * 73 + "甲乙") == "x" * 73 + "\r\n 甲乙"


def _lines() -> list[str]:
    """Lines around every fold boundary: ASCII, escapes, 2-, 3- and 4-octet characters."""
    pieces = ["x", "\\", "^", ",", "é", "甲", "💊", " "]
    rng = random.Random(20261201)
    lines = ["DESCRIPTION:" + "".join(rng.choice(pieces) for _ in range(n)) for n in range(50, 260, 3)]
    lines += ["x" * n + tail for n in range(70, 77) for tail in ("\\n", "^^", "甲", "💊x", "\\\\")]
    return lines


@pytest.mark.parametrize("line", _lines())
def test_fold_is_icalendars_folding(line: str) -> None:
    folded = fold(line)
    assert folded == _foldline(line)
    physical = folded.encode("utf-8").split(b"\r\n")
    assert all(len(p) <= 75 for p in physical)
    assert all(p.decode("utf-8") for p in physical)  # never splits a UTF-8 sequence
    assert folded.replace("\r\n ", "") == line


@pytest.mark.parametrize("style", ["recurring", "expanded"])
def test_cohort_calendars_are_the_per_patient_calendars(style: str) -> None:
    """Seed cohort (Chinese and English patients) with its changes file, reminders on, in chunks of 7
    patients (47 = 6 x 7 + 5): each calendar is the one calendar_for_patient writes for that patient
    alone, with the same words and extra events."""
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    cohort = dosing.load_cohort(PROTOCOLS / "nct02467504-cohort-zh.csv", protocol)
    patients = cohort.patients.assign(language=["zh", "en"] * 23 + ["zh"])
    changes = dosing.load_changes(PROTOCOLS / "nct02467504-changes.csv", protocol, cohort)
    doses = home_after_changes(apply_changes(dosing.expand(protocol, cohort), changes), protocol)
    table = blind(doses, protocol)
    table["planned_utc"] = utc_text(table["planned_at"])
    table["status"] = "planned"
    mine = table.reindex(columns=[*DOSE_COLUMNS, *CALENDAR_ONLY])
    visits = dosing.plan_visits(protocol, cohort, changes)
    remind = {"remind": dt.timedelta(minutes=30), "remind_visits": dt.timedelta(days=1)}
    written = dict(calendars_for_cohort(protocol, patients, mine, visits, style=style, chunk=7, **remind))  # type: ignore[arg-type]
    texts = patient_texts(protocol, patients, blinded=True)
    expanded = style == "expanded"
    extras = calendar_extras(mine, visits, patients, changed_doses=expanded, remind=remind["remind"], wordings=texts)
    assert list(written) == [str(p) for p in patients["patient_id"]]
    for patient in patients.itertuples():
        pid, start = str(patient.patient_id), patient.start_date.date()
        own = mine[mine["patient_id"].astype(str) == pid]
        alone = calendar_for_patient(
            hide_changed(own) if expanded else own, name=texts[pid].name, timezone=str(patient.timezone),
            stamp=dt.datetime.combine(start, dt.time(0, 0), tzinfo=dt.UTC), first=start,
            last=start + dt.timedelta(days=protocol.study.last_day), extra_events=extras[pid], style=style,
            wording=texts[pid].doses, **remind,
        )  # fmt: skip
        assert written[pid] == alone, pid
    assert "研究用药".encode() in written["RA-001"] and b"Study medicines" in written["RA-002"]
