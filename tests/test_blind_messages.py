"""The blind holds in every message and every judgement, tested as an attacker would.

For every shipped blinded protocol, each case below (a changes file given to ``dosing generate``, or a
log, with or without changes, given to ``dosing adherence``) is run once per arm, with a one-patient
cohort whose only difference is the arm. A blinded run must give byte-identical exit status, stdout,
stderr and output files in every arm (the run's own folder in paths is masked; the patient id is the
same in every run, so no other masking is needed), and print no arm, true drug or blinded regimen id
that the case's own input does not contain.

The cases are not hand-picked: :mod:`tests.blind_sites` walks the source of the changes reader and
applier, the log reader and adherence with ``ast`` and lists every message site (every error raised,
bad row reported, reason or flag written, summary line printed); :func:`test_every_message_site_is_run`
fails when a site's text is produced by no case (a new message without a twin case), and when a site
relays text it cannot follow and is not in :data:`RELAYS`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

import dosing
import dosing.plan.blind_view
from dosing.cli import main
from dosing.errors import DosingError
from dosing.io.read.files import load_protocol
from tests.blind_sites import Site, message_sites, pattern
from tests.conftest import FIXTURES, PROTOCOLS
from tests.test_blinding import leaks

BLINDED = [p for p in sorted(PROTOCOLS.glob("*.toml")) if load_protocol(p).study.blinded]
#: A blinded study whose study drug has dose levels that differ in amount by arm, beside open-label
#: capecitabine with levels: the dose_level cases run on it (and only they).
LEVELS = FIXTURES / "blinded-levels.toml"
PATIENT = "PX-001"
START = "2027-01-04"  # a Monday: study drug on 01-04, 01-06, ..., 01-16 (day 13); cycle 2 from 02-01
AS_OF = "2027-03-15"
RUN = "<RUN>"
CHANGES = "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n"
LOG = "patient_id,drug,given_at,dose_given\n"

#: Sites whose text is made elsewhere (and enumerated there) or names nothing about a regimen.
RELAYS = {
    ("dosing/plan/changes.py", "_record", "err.message"): "ValueParseError texts of _values, _cycle, _whole, _dose, "
    "resolve_regimen (enumerated) and of dosing.protocol.values (the user's own date or time text)",
    (
        "dosing/adherence/check.py",
        "_judge",
        "extra_reasons(",
    ): "the texts of adherence_extra.extra_reasons (enumerated)",
    ("dosing/adherence/check.py", "summary_text", 'f"  report: '): "the report's path",
    ("dosing/plan/changes.py", "_check_header", "f'{hint}columns: "): "a did-you-mean and the changes file's columns",
    ("dosing/plan/dose_levels.py", "level_values", "err.message"): "dosing.protocol.formulas._refuse, naming the "
    "regimen as the view does and hiding the amounts where the view hides the dose",
}
#: Texts no blinded run can produce, and why (each reason is checked by a test below).
UNREACHABLE = {
    "the patient does not receive {}": "every arm of a blinded protocol receives one regimen of each blinded label "
    "and every unlabelled regimen (check_blinding), so every name resolves for every patient",
    "no dose of this drug is planned for this patient": "likewise every patient has every drug as shown",
}


@dataclass(frozen=True)
class Case:
    """``changes`` / ``log``: file texts with ``{P}`` (the patient), ``{DRUG}`` (the blinded label),
    ``{PV}`` (a regimen dosed by a patient value; the case is skipped where there is none) and
    ``{BDOSE}`` (the dose as the blinded worklist shows it); ``bytes`` are written as they are."""

    name: str
    changes: str | bytes | None = None
    log: str | bytes | None = None
    strict: bool = False
    folder_log: bool = False  # the log path is a folder (checked through the Python API: click refuses it)
    missing_log: bool = False
    levels: bool = False  # runs on LEVELS only (and not on the shipped protocols)
    table_format: str | None = None  # adherence through the Python API with this format (click refuses others)


def rows(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


def study_drug_log(*entries: str) -> str:
    return LOG + rows(*(f"{{P}},{entry}" for entry in entries))


ELEVEN_BAD = LOG + rows(*(f"ZZ-{i:03d},{{DRUG}},2027-01-04 09:00," for i in range(11)))
LEVEL_CHANGES = CHANGES.replace("reason\n", "reason,dose_level\n")
LEVEL_CASES = [
    Case("dose level", LEVEL_CHANGES + rows("{P},dose_level,{DRUG},,2027-01-20,,,,,toxicity,-1"), levels=True),
    Case(
        "dose level from a cycle",
        LEVEL_CHANGES + rows("{P},dose_level,capecitabine,3,2027-02-10,,,,,neutropenia,-2"),
        levels=True,
    ),
    Case("dose level not listed", LEVEL_CHANGES + rows("{P},dose_level,{DRUG},,2027-01-20,,,,,x,1"), levels=True),
    Case("dose level below the floor", LEVEL_CHANGES + rows("{P},dose_level,{DRUG},,2027-01-20,,,,,x,-3"), levels=True),
    Case("dose level not a number", LEVEL_CHANGES + rows("{P},dose_level,{DRUG},,2027-01-20,,,,,x,low"), levels=True),
    Case(
        "dose level re-escalated",
        LEVEL_CHANGES + rows("{P},dose_level,{DRUG},,2027-01-20,,,,,x,-1", "{P},dose_level,{DRUG},,2027-02-01,,,,,y,0"),
        levels=True,
    ),
    Case(
        "dose level from a cycle of a drug without cycles",
        LEVEL_CHANGES + rows("{P},dose_level,{DRUG},2,2027-01-20,,,,,x,-1"),
        levels=True,
    ),
    Case(
        "dose level from a cycle out of range",
        LEVEL_CHANGES + rows("{P},dose_level,capecitabine,9,2027-01-20,,,,,x,-1"),
        levels=True,
    ),
    Case(
        "dose level from a cycle already begun",
        LEVEL_CHANGES + rows("{P},dose_level,capecitabine,2,2027-01-30,,,,,x,-1"),
        levels=True,
    ),
    Case(
        "dose change beside dose levels",
        LEVEL_CHANGES
        + rows("{P},dose_level,capecitabine,,2027-01-20,,,,,x,-1", "{P},dose,capecitabine,,2027-02-01,,,1000,,y,"),
        levels=True,
    ),
]
CHANGE_CASES = [
    Case(
        "dose level of a drug without levels",
        CHANGES.replace("reason\n", "reason,dose_level\n") + rows("{P},dose_level,{DRUG},,2027-01-10,,,,,x,-1"),
    ),
    Case("hold on a day without a dose", CHANGES + rows("{P},hold,{DRUG},,2027-01-05,,,,,fever")),
    Case("hold at a time without a dose", CHANGES + rows("{P},hold,{DRUG},,2027-01-06,10:00,,,,fever")),
    Case("hold", CHANGES + rows("{P},hold,{DRUG},,2027-01-06,,,,,fever")),
    Case("delay after the cycle began", CHANGES + rows("{P},delay,{DRUG},2,2027-02-10,,7,,,x")),
    Case("delay past the last day", CHANGES + rows("{P},delay,{DRUG},3,2027-02-01,,120,,,x")),
    Case("delay", CHANGES + rows("{P},delay,{DRUG},2,2027-01-20,,7,,,x")),
    Case("delay of a drug without cycles", CHANGES + rows("{P},delay,{PV},1,2027-01-20,,7,,,x")),
    Case("delay cycle not a number", CHANGES + rows("{P},delay,{DRUG},two,2027-01-20,,7,,,x")),
    Case("delay cycle out of range", CHANGES + rows("{P},delay,{DRUG},9,2027-01-20,,7,,,x")),
    Case("delay days out of range", CHANGES + rows("{P},delay,{DRUG},2,2027-01-20,,999,,,x")),
    Case("dose not a number", CHANGES + rows("{P},dose,{DRUG},,2027-01-10,,,abc,,x")),
    Case("dose not positive", CHANGES + rows("{P},dose,{DRUG},,2027-01-10,,,-5,,x")),
    Case("dose change", CHANGES + rows("{P},dose,{DRUG},,2027-01-10,,,500000,,x")),
    Case("dose change to a dose of one arm", CHANGES + rows("{P},dose,{DRUG},,2027-01-10,,,200000,,x")),
    Case("dose with a unit", CHANGES + rows("{P},dose,{DRUG},,2027-01-10,,,0.5 MIU,,x")),
    Case("dose in exponent notation", CHANGES + rows("{P},dose,{DRUG},,2027-01-10,,,1e6,,x")),
    Case("dose in an unknown unit", CHANGES + rows("{P},dose,{DRUG},,2027-01-10,,,5 mgs,,x")),
    Case("dose in an incomparable unit", CHANGES + rows("{P},dose,{DRUG},,2027-01-10,,,5 mL,,x")),
    Case("dose over ten times the planned dose", CHANGES + rows("{P},dose,{DRUG},,2027-01-10,,,20 MIU,,x")),
    Case("dose change above a daily limit", CHANGES + rows("{P},dose,loxoprofen,,2027-01-10,,,100,,x")),
    Case("dose outside the patient value's range", CHANGES + rows("{P},dose,{PV},,2027-01-10,,,100,,x")),
    Case("unknown regimen", CHANGES + rows("{P},stop,aspirin,,2027-01-10,,,,,x")),
    Case("stop", CHANGES + rows("{P},stop,{DRUG},,2027-01-10,,,,,x")),
    Case("withdraw", CHANGES + rows("{P},withdraw,,,2027-02-15,,,,,withdrew consent")),
    Case("unknown visit", CHANGES + rows("{P},reschedule,,,2027-01-10,,,,week-99,x")),
    Case("reschedule", CHANGES + rows("{P},reschedule,,,2027-02-03,,,,week-4,x")),
    Case("unknown change", CHANGES + rows("{P},postpone,{DRUG},,2027-01-10,,,,,x")),
    Case("unknown patient", CHANGES + rows("ZZ-999,withdraw,,,2027-02-15,,,,,x")),
    Case("a value missing", CHANGES + rows("{P},hold,,,2027-01-10,,,,,x")),
    Case("a value that does not apply", CHANGES + rows("{P},withdraw,{DRUG},,2027-02-15,,,,,x")),
    Case("no reason", CHANGES + rows("{P},withdraw,,,2027-02-15,,,,,")),
    Case("impossible date", CHANGES + rows("{P},withdraw,,,2027-02-30,,,,,x")),
    Case("bad time", CHANGES + rows("{P},hold,{DRUG},,2027-01-06,25:00,,,,x")),
    Case("before the first day", CHANGES + rows("{P},withdraw,,,2026-12-01,,,,,x")),
    Case("recorded twice", CHANGES + rows("{P},withdraw,,,2027-02-15,,,,,x", "{P},withdraw,,,2027-02-20,,,,,y")),
    Case("after a stop", CHANGES + rows("{P},stop,{DRUG},,2027-01-10,,,,,x", "{P},hold,{DRUG},,2027-01-12,,,,,y")),
    Case("a cell too many", CHANGES + rows("{P},withdraw,,,2027-02-15,,,,,x,more")),
    Case("quote left open", CHANGES + rows('{P},withdraw,,,2027-02-15,,,,,"x', "{P},stop,{DRUG},,2027-01-10,,,,,y")),
    Case("eleven problems", CHANGES + rows(*(f"ZZ-{i:03d},withdraw,,,2027-02-15,,,,,x" for i in range(11)))),
    Case("no rows", CHANGES),
    Case("unknown column", rows("patient_id,change,date,reason,dayz", "{P},withdraw,2027-02-15,x,")),
    Case("missing column", rows("patient_id,change,date", "{P},withdraw,2027-02-15")),
    Case("column twice", rows("patient_id,change,date,reason,reason", "{P},withdraw,2027-02-15,x,y")),
    Case("empty changes file", ""),
    Case("binary changes file", b"patient_id\x00\x01"),
    Case("changes file not UTF-8", CHANGES.encode() + b"{P},withdraw,,,2027-02-15,,,,,caf\xe9\n"),
]
HOLD_STOP_WITHDRAW = CHANGES + rows(
    "{P},hold,{DRUG},,2027-01-16,,,,,fever",
    "{P},stop,{DRUG},,2027-02-03,,,,,adverse event",
    "{P},withdraw,,,2027-03-01,,,,,withdrew consent",
)
LOG_CASES = [
    Case(
        "blinded and true doses",
        log=study_drug_log(
            "{DRUG},2027-01-04 09:00,{BDOSE}",
            "{DRUG},2027-01-06 09:00,200000 IU",
            "{DRUG},2027-01-08 09:00,500000 IU",
            "{DRUG},2027-01-10 09:00,1000000 IU",
            "{DRUG},2027-01-12 09:00,1 mL",
            "hrIL-2,2027-01-14 09:00,200000",
            "Placebo,2027-01-16 09:00,1",
            "{DRUG},2027-01-16 10:00,2",
            "{DRUG},2027-01-02 09:00,",
            "{DRUG},2027-02-01 09:00,1 syringe",
            "{DRUG},2027-02-03 09:00,1",
        ),
    ),
    Case(
        "every dose twice",
        log=study_drug_log(
            *(f"{{DRUG}},2027-01-{d:02d} {t},{{BDOSE}}" for d in range(4, 17, 2) for t in ("09:00", "09:30"))
        ),
    ),
    Case(
        "given during a hold, after a stop and after withdrawal",
        changes=HOLD_STOP_WITHDRAW,
        log=study_drug_log("{DRUG},2027-01-16 09:00,", "{DRUG},2027-02-05 09:00,", "{DRUG},2027-03-03 09:00,"),
    ),
    Case(
        "bad rows",
        log=LOG
        + rows(
            "ZZ-999,{DRUG},2027-01-04 09:00,",
            "{P},aspirin,2027-01-04 09:00,",
            "{P},{DRUG},yesterday,",
            "{P},{DRUG},1800-01-04 09:00,",
            "{P},{DRUG},2027-01-04 09:00,abc",
            "{P},{DRUG},2027-01-04 09:00,-1",
            "{P},{DRUG},2027-01-04 09:00,1 mg",
            '{P},{DRUG},2027-01-04 09:00,"12,5"',
            "{P},{DRUG},2027-01-04 09:00,1 MG",
            "{P},{DRUG},2027-01-04 09:00,1 Syringe",
        ),
    ),
    Case(
        "doses in other units",
        log=study_drug_log(
            "{DRUG},2027-01-04 09:00,1 MIU",
            "{DRUG},2027-01-06 09:00,200 kIU",
            "{DRUG},2027-01-08 09:00,1 × 10⁶ IU",
            "{DRUG},2027-01-10 09:00,2 x 10^5 IU",
            "{DRUG},2027-01-12 09:00,0.001 L",
            "{DRUG},2027-01-14 09:00,2 syringes",
            "{DRUG},2027-01-16 09:00,1 syringes",
        ),
    ),
    Case("a bad row, strict", log=LOG + rows("{P},{DRUG},2027-01-04 09:00,1 mg"), strict=True),
    Case("eleven bad rows, strict", log=ELEVEN_BAD, strict=True),
    Case("log not found", missing_log=True),
    Case("log is a folder", folder_log=True),
    Case("adherence tables in an unknown format", log=LOG, table_format="xlsx"),
    Case("binary log", log=b"patient_id\x00"),
    Case("log not UTF-8", log=LOG.encode() + b"{P},caf\xe9,2027-01-04 09:00,\n"),
    Case("empty log", log=""),
    Case("log quote left open", log=LOG + rows('{P},"{DRUG},2027-01-04 09:00,')),
    Case("log row with a cell too many", log=LOG + rows("{P},{DRUG},2027-01-04 09:00,,x")),
    Case("log column misspelt", log=rows("patient_id,drug,given_at,dose_givn", "{P},{DRUG},2027-01-04 09:00,")),
    Case("log column missing", log=rows("patient_id,given_at", "{P},2027-01-04 09:00")),
    Case("log not CSV", log=rows("name,note", "{P},{DRUG}", "{P},{DRUG},2027-01-04 09:00,")),
    Case(  # REDCap's export of the dose_administration instrument (dosing export redcap), read as a log
        "REDCap export as the log",
        log=rows(
            "record_id,redcap_repeat_instrument,redcap_repeat_instance,dose_uid,dose_drug,dose_status,"
            "dose_given_date,dose_given_time,dose_given_amount,dose_planned_unit,dose_given_by,dose_notes",
            "{P},,,,,,,,,,,",
            "{P},dose_administration,1,,{DRUG},3,2027-01-04,09:00,1,,RN,",
            "{P},dose_administration,2,,{DRUG},3,2027-01-06,25:00,,,RN,",
            "{P},dose_administration,3,,{DRUG},3,,,,,,",
            "{P},dose_administration,4,,{DRUG},4,,,,,,",
            "{P},dose_administration,5,,{DRUG},3,2027-01-10,09:00,200000,IU,RN,",
            '{P},dose_administration,6,,{DRUG},3,2027-01-12,09:00,,,RN,"two\nlines"',
            "{P},dose_administration,7,,aspirin,3,2027-01-14,09:00,,,RN,",
        ),
    ),
    Case(  # REDCap's export with labels instead of raw data: the instrument is "Dose Administration"
        "REDCap export with the instrument's label",
        log=rows(
            "record_id,redcap_repeat_instrument,redcap_repeat_instance,dose_uid,dose_drug,dose_status,dose_given_date",
            "{P},Dose Administration,1,,{DRUG},3,2027-01-04",
        ),
    ),
    Case(
        "REDCap export without the given date",
        log=rows(
            "record_id,redcap_repeat_instrument,dose_uid,dose_drug,dose_status", "{P},dose_administration,,{DRUG},3"
        ),
    ),
]
CASES = CHANGE_CASES + LOG_CASES + LEVEL_CASES
assert len({case.name for case in CASES}) == len(CASES), "each case runs in a folder named after it"
#: The seed protocol with loxoprofen as needed (days 1-56; a test fixture): the PRN cases run on it alone.
PRN_PROTOCOL = Path(__file__).parent / "fixtures" / "blind-prn" / "nct02467504-prn.toml"
PRN_CASES = [
    Case(
        "as-needed doses: over-use, too close, outside the days",
        log=study_drug_log(
            "Loxoprofen,2027-01-04 08:00,60 mg",
            "Loxoprofen,2027-01-04 13:00,60 mg",
            "Loxoprofen,2027-01-04 18:00,60 mg",
            "Loxoprofen,2027-01-05 07:00,60 mg",
            "Loxoprofen,2027-01-05 09:00,60",
            "loxoprofen,2027-03-05 09:00,",
            "{DRUG},2027-01-04 09:00,{BDOSE}",
        ),
    ),
    Case(
        "as-needed doses after a stop and after withdrawal",
        changes=CHANGES + rows("{P},stop,loxoprofen,,2027-01-20,,,,,x", "{P},withdraw,,,2027-03-01,,,,,y"),
        log=study_drug_log("Loxoprofen,2027-01-19 08:00,", "Loxoprofen,2027-01-21 08:00,", "Loxoprofen,2027-03-02,"),
    ),
    Case("as-needed doses, none logged", log=study_drug_log("{DRUG},2027-01-04 09:00,{BDOSE}")),
    Case(
        "a hold, delay or dose change of an as-needed regimen",
        CHANGES
        + rows(
            "{P},hold,loxoprofen,,2027-01-06,,,,,x",
            "{P},delay,Loxoprofen,1,2027-01-06,,7,,,x",
            "{P},dose,loxoprofen,,2027-01-06,,,30,,x",
        ),
    ),
]
RUNS = [(p, c) for p in [*BLINDED, LEVELS] for c in CASES] + [(PRN_PROTOCOL, c) for c in PRN_CASES]


@cache
def values(protocol_path: Path) -> dict[str, str | None]:
    protocol = load_protocol(protocol_path)
    labelled = [r for r in protocol.regimens if r.blinded_label is not None]
    dosed_by_value = [r.id for r in protocol.regimens if r.dose.patient_value is not None]
    shown = labelled[0].blinded_dose or f"{labelled[0].dose.amount:g} {labelled[0].dose.unit}"
    return {"P": PATIENT, "DRUG": labelled[0].blinded_label, "PV": (dosed_by_value or [None])[0], "BDOSE": shown}


def fill(text: str | bytes, protocol_path: Path) -> bytes | None:
    given = values(protocol_path)
    raw = text.encode() if isinstance(text, str) else text
    for key, value in given.items():
        if f"{{{key}}}".encode() in raw:
            if value is None:
                return None
            raw = raw.replace(f"{{{key}}}".encode(), value.encode())
    return raw


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    files: tuple[tuple[str, str], ...]
    inputs: str

    def text(self) -> str:
        return "\n".join([self.stdout, self.stderr, *(f"{name}\n{content}" for name, content in self.files)])


def cohort_file(folder: Path, protocol_path: Path, arm: str) -> Path:
    source = protocol_path.with_name(protocol_path.stem + "-cohort.csv")
    with source.open(encoding="utf-8-sig", newline="") as handle:
        row = next(csv.DictReader(handle))
    path = folder / "cohort.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow({**row, "patient_id": PATIENT, "arm": arm, "start_date": START})
    return path


def run(case: Case, protocol_path: Path, arm: str, folder: Path) -> Outcome | None:
    """One blinded run of the case for a patient in ``arm`` (None: the case does not apply)."""
    folder.mkdir(parents=True)
    cohort = cohort_file(folder, protocol_path, arm)
    files: dict[str, bytes] = {}
    for name, text in (("changes.csv", case.changes), ("log.csv", case.log)):
        if text is not None:
            content = fill(text, protocol_path)
            if content is None:
                return None
            (folder / name).write_bytes(content)
            files[name] = content
    out = folder / "out"
    if case.log is None and not (case.missing_log or case.folder_log):
        args = ["generate", str(protocol_path), "--cohort", str(cohort), "--out", str(out)]
    else:
        log = folder / ("log.csv" if case.log is not None else "missing.csv")
        args = ["adherence", str(protocol_path), "--cohort", str(cohort), "--log", str(log)]
        args += ["--out", str(out), "--as-of", AS_OF, *(["--strict"] if case.strict else [])]
    if case.changes is not None:
        args += ["--changes", str(folder / "changes.csv")]
    if case.folder_log:
        exit_code, stdout, stderr = _api_on_a_folder(protocol_path, cohort, folder)
    elif case.table_format is not None:
        exit_code, stdout, stderr = _api_in_format(protocol_path, cohort, folder, case.table_format)
    else:
        result = CliRunner().invoke(main, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        exit_code, stdout, stderr = result.exit_code, result.stdout, result.stderr
    written = sorted(p for p in out.rglob("*") if p.is_file()) if out.exists() else []
    mask = _masker(folder)
    return Outcome(
        exit_code,
        mask(stdout),
        mask(stderr),
        tuple((str(p.relative_to(out)), mask(p.read_bytes().decode("utf-8", "surrogateescape"))) for p in written),
        b"\n".join(files.values()).decode("utf-8", "surrogateescape"),
    )


def _api_in_format(protocol_path: Path, cohort: Path, folder: Path, table_format: str) -> tuple[int, str, str]:
    protocol = dosing.load_protocol(protocol_path)
    try:
        dosing.write_adherence(
            protocol,
            dosing.load_cohort(cohort, protocol),
            folder / "log.csv",
            folder / "out",
            table_format=table_format,
        )
    except DosingError as err:
        return 2, "", f"Error: {err}\n"
    return 0, "", ""


def _api_on_a_folder(protocol_path: Path, cohort: Path, folder: Path) -> tuple[int, str, str]:
    protocol = dosing.load_protocol(protocol_path)
    try:
        dosing.check_adherence(protocol, dosing.load_cohort(cohort, protocol), folder)
    except DosingError as err:
        return 2, "", f"Error: {err}\n"
    return 0, "", ""


WRITTEN_AT = re.compile(r'"written_at": "[^"]*"')


def _masker(folder: Path) -> Callable[[str], str]:
    """The run's folder, and the time a manifest was written, are all that may differ between twins."""
    return lambda text: WRITTEN_AT.sub('"written_at": "<time>"', text.replace(str(folder), RUN))


@cache
def outcomes(protocol_path: Path, case: Case, base: Path) -> dict[str, Outcome] | None:
    if case.levels != (protocol_path == LEVELS):
        return None
    protocol = load_protocol(protocol_path)
    found = {}
    for i, arm in enumerate(protocol.arms):
        outcome = run(case, protocol_path, arm.id, base / protocol_path.stem / re.sub(r"\W+", "-", case.name) / f"r{i}")
        if outcome is None:
            return None
        found[arm.id] = outcome
    return found


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("blind")


@pytest.mark.parametrize(("protocol_path", "case"), RUNS, ids=[f"{c.name}-{p.stem}" for p, c in RUNS])
def test_every_arm_sees_the_same_bytes(base: Path, protocol_path: Path, case: Case) -> None:
    found = outcomes(protocol_path, case, base)
    if found is None:
        pytest.skip(f"{case.name}: nothing to fill in for {protocol_path.stem}, or a case for another protocol")
    (first_arm, first), *others = found.items()
    for arm, outcome in others:
        assert outcome.exit_code == first.exit_code, f"exit status: {arm} vs {first_arm}"
        assert outcome.stdout == first.stdout, f"stdout: {arm} vs {first_arm}"
        assert outcome.stderr == first.stderr, f"stderr: {arm} vs {first_arm}"
        assert [n for n, _ in outcome.files] == [n for n, _ in first.files], f"files: {arm} vs {first_arm}"
        for (name, content), (_, expected) in zip(outcome.files, first.files, strict=True):
            assert content == expected, f"{name}: {arm} vs {first_arm}"
    protocol = load_protocol(protocol_path)
    for arm, outcome in found.items():
        said = set(leaks(outcome.text(), protocol)) - set(leaks(outcome.inputs, protocol))
        assert not said, f"{arm}: the output names {sorted(said)}:\n{outcome.stderr or outcome.stdout}"


def _produced(base: Path) -> str:
    texts = []
    for protocol_path, case in RUNS:
        found = outcomes(protocol_path, case, base)
        texts += [outcome.text() for outcome in (found or {}).values()]
    return "\n".join(texts)


def _relay(site: Site) -> bool:
    return any(site.module == m and site.function == f and site.expression.startswith(e) for m, f, e in RELAYS)


def test_every_message_site_is_run(base: Path) -> None:
    sites = message_sites()
    assert len(sites) >= 60, "the walk found too few sites: has the code moved?"
    untraced = [str(site) for site in sites if not site.templates and not _relay(site)]
    assert not untraced, f"message sites whose text cannot be followed (add a case, or a RELAYS entry): {untraced}"
    produced = _produced(base)
    missing = [
        f"{site}: {text!r}"
        for site in sites
        for text in site.templates
        if text not in UNREACHABLE and not pattern(text).search(produced)
    ]
    assert not missing, "message sites that no blinded twin case produces:\n" + "\n".join(missing)


@pytest.mark.parametrize("protocol_path", [*BLINDED, LEVELS], ids=lambda p: p.stem)
def test_why_some_texts_are_unreachable(protocol_path: Path) -> None:
    protocol = load_protocol(protocol_path)
    keys = {r.display_key for r in protocol.regimens}
    for arm in protocol.arms:
        assert {protocol.regimen(rid).display_key for rid in arm.regimens} == keys


def test_the_walk_finds_the_known_leaks_of_the_old_code() -> None:
    """The sites of the messages found leaking in issue 9 are among those enumerated."""
    texts = {text for site in message_sites() for text in site.templates}
    for known in (
        "no {} dose of patient {} is planned on {}{}",
        "regimen {} has no cycles to delay",
        "column 'dose': expected a number in {} (optionally with a unit: 60, 0.06 g), got {}{}",
        "the delay moves {} dose(s) of patient {} past the study's last day (day {}): {} on {} would be study day {}",
    ):
        assert known in texts


def test_a_view_names_what_its_user_sees() -> None:
    seed, lupus = (load_protocol(p) for p in BLINDED)
    blinded, unblinded = dosing.plan.blind_view.View(seed), dosing.plan.blind_view.View(seed, unblinded=True)
    assert (blinded.regimen("il2-placebo"), unblinded.regimen("il2-placebo")) == (
        "'hrIL-2 or placebo'",
        "'il2-placebo'",
    )
    assert blinded.regimen("methotrexate") == "'methotrexate'" and blinded.unit("il2") == "IU"  # same in every arm
    assert blinded.regimen_names() == ["hrIL-2 or placebo", "methotrexate", "folic-acid", "loxoprofen"]
    hidden = dosing.plan.blind_view.View(lupus)
    assert {hidden.unit(r.id) for r in lupus.regimens} == {dosing.plan.blind_view.HIDDEN_UNIT}
    assert {dosing.plan.blind_view.View(lupus, unblinded=True).unit(r.id) for r in lupus.regimens} == {"IU", "mL"}


@pytest.mark.parametrize(("unblinded", "named"), [(False, "'hrIL-2 or placebo'"), (True, "'il2-placebo'")])
def test_unblinded_messages_may_say_more(tmp_path: Path, unblinded: bool, named: str) -> None:
    protocol_path = BLINDED[0]
    cohort = cohort_file(tmp_path, protocol_path, "placebo")
    changes = tmp_path / "changes.csv"
    changes.write_text(CHANGES + f"{PATIENT},hold,hrIL-2 or placebo,,2027-01-05,,,,,fever\n", encoding="utf-8")
    args = ["generate", str(protocol_path), "--cohort", str(cohort), "--changes", str(changes)]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out"), *(["--unblinded"] * unblinded)])
    assert result.exit_code == 2
    assert f"line 2: no {named} dose of patient {PATIENT} is planned on 2027-01-05" in result.stderr
