"""Input that cannot hurt, for administration logs (``dosing adherence --log``) and changes files
(``dosing generate --changes``): every file in tests/fixtures/bad/log-* and changes-* gives
``Error: <file>`` naming the line or column, exit status 2, no traceback, and writes nothing.

Log rows that cannot be administrations are not file-level errors: they are listed in
bad_rows.csv with their line numbers, and are fatal with --strict.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dosing.cli import main
from tests.conftest import FIXTURES, PROTOCOLS
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)

BAD = FIXTURES / "bad"
ACCEPTED = FIXTURES / "accepted"
SEED = str(PROTOCOLS / "nct02467504.toml")
ONE_PATIENT = str(FIXTURES / "seed-one-patient.csv")  # RA-900, active, from 2027-01-04
TWO_PATIENTS = str(FIXTURES / "changes-two-patients.csv")  # RA-900 active, RA-901 placebo, from 2027-01-04

#: fixture name -> fragments the message must contain (where, then what).
LOGS: dict[str, tuple[str, ...]] = {
    "log-empty.csv": ("the file is empty",),
    "log-binary.csv": ("is a binary file",),
    "log-not-utf8.csv": ("is not UTF-8 text", "save the file as UTF-8"),
    "log-no-header.csv": ("line 1: missing column(s) patient_id, drug, given_at", "found: RA-900"),
    "log-missing-column.csv": ("line 1: missing column(s) given_at",),
    "log-misspelt-required-column.csv": ("line 1: missing column(s) given_at",),
    "log-misspelt-optional-column.csv": ("line 1: unknown column 'dose_givn'", "did you mean 'dose_given'"),
    "log-unclosed-quote.csv": ('line 3: a quote (") is left open',),
    "log-excel-workbook.xlsx": ("is an Excel workbook (.xlsx)", "Fix: in the spreadsheet choose File > Save As"),
    "log-utf16-without-byte-order-mark.csv": ("is UTF-16 text without a byte-order mark", "Fix: save"),
    "log-nul-byte-after-64-kib.csv": ("line 2002: holds a NUL byte", "Fix: the file is damaged"),
    "log-ragged-rows.csv": ("line 3: 5 cells", "line 4: 3 cells", "header's 4"),  # a quoted comma is one cell
}
CHANGES: dict[str, tuple[str, ...]] = {
    "changes-empty.csv": ("the file is empty",),
    "changes-binary.csv": ("is a binary file",),
    "changes-not-utf8.csv": ("line 2: is not UTF-8 text",),
    "changes-missing-column.csv": ("line 1 (header): missing column(s): reason",),
    "changes-ragged-row.csv": ("line 3: 11 cells where the header has 10 columns",),
    "changes-unclosed-quote.csv": ("line 2, column 'reason': the cell runs over several lines",),
    "changes-unknown-change-kind.csv": ("line 2: unknown change 'pause'",),
    "changes-unknown-patient.csv": ("line 2: unknown patient 'RA-999'",),
    "changes-unknown-regimen.csv": ("line 2: unknown regimen 'aspirin'",),
    "changes-unknown-cycle.csv": ("line 2: column 'cycle': 4 is outside 1-3",),
    "changes-date-before-start.csv": ("line 2: 2027-01-01 is before patient RA-900's first day (2027-01-04)",),
    "changes-two-withdrawals.csv": ("line 3: contradicts line 2 (the same withdraw recorded twice)",),
    "changes-hold-on-stopped-drug.csv": (
        "line 3: contradicts line 2: a hold on 2027-02-03 is on or after the stop from 2027-02-01",
    ),
    "changes-delay-after-cycle-began.csv": (
        "line 2: a delay of 'hrIL-2 or placebo' cycle 2",
        "after the cycle's first dose",
    ),
    "changes-decimal-comma-dose.csv": ("line 2: column 'dose':", "got '12,5' (use a dot for decimals: '12.5')"),
    "changes-impossible-date.csv": ("line 2: '2027-02-30' is not a real calendar date",),
    "changes-dose-level-without-levels.csv": (
        "line 2: 'hrIL-2 or placebo' has no dose levels in the protocol; record a dose change",
    ),
}


def test_every_bad_log_and_changes_fixture_has_an_expectation() -> None:
    names = sorted(p.name for p in BAD.iterdir() if p.name.startswith(("log-", "changes-")))
    assert names == sorted([*LOGS, *CHANGES])


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.fixture
def previous_outputs(tmp_path: Path) -> Path:
    """Last week's outputs of the seed trial, adherence included."""
    out = tmp_path / "out"
    (out / "nct02467504" / "adherence").mkdir(parents=True)
    (out / "nct02467504" / "doses.csv").write_text("last week's doses\n", encoding="utf-8")
    (out / "nct02467504" / "adherence" / "bad_rows.csv").write_text("last week's bad rows\n", encoding="utf-8")
    return out


def refused(args: list[str], out: Path, bad: Path, fragments: tuple[str, ...]) -> None:
    before = snapshot(out)
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.startswith(f"Error: {bad}"), result.output
    for fragment in fragments:
        assert fragment in result.output, f"{fragment!r} not in:\n{result.output}"
    assert snapshot(out) == before


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("name", sorted(LOGS))
def test_bad_log_file_is_refused_cleanly(name: str, strict: bool, previous_outputs: Path) -> None:
    args = ["adherence", SEED, "--cohort", ONE_PATIENT, "--log", str(BAD / name), "--as-of", "2027-01-10"]
    refused([*args, *(["--strict"] if strict else [])], previous_outputs, BAD / name, LOGS[name])


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_bad_changes_file_is_refused_cleanly(name: str, previous_outputs: Path) -> None:
    args = ["generate", SEED, "--cohort", TWO_PATIENTS, "--changes", str(BAD / name)]
    refused(args, previous_outputs, BAD / name, CHANGES[name])


# -- bad rows of a log: listed with their line numbers; fatal with --strict ------------------

ROW_PROBLEMS = """patient_id,drug,given_at,dose_given
RA-900,Folic acid,2027-01-04 08:00,1 mg
RA-999,Folic acid,2027-01-05 08:00,1 mg
RA-900,Aspirin,2027-01-05 08:00,100 mg
RA-900,Folic acid,yesterday,1 mg
RA-900,Folic acid,2027-02-30,1 mg
RA-900,Folic acid,2027-01-06 08:00,1 tablet
RA-900,Folic acid,2027-01-07 08:00,-1 mg
RA-900,Folic acid,2027-01-08 08:00,one
RA-900,Folic acid,2027-01-09 08:00,1e309
RA-900,Folic acid,0001-01-01 08:00,1 mg
"""
REASONS = [
    (3, "unknown patient 'RA-999' (not in the cohort)"),
    (4, "unknown drug 'Aspirin'"),
    (5, "cannot read given_at 'yesterday'"),
    (6, "cannot read given_at '2027-02-30'"),
    (7, "dose_given '1 tablet' is in another unit (expected mg)"),  # 1 g would be 1000 mg, judged
    (8, "dose_given '-1 mg' is not an amount given (negative or too large)"),
    (9, "dose_given 'one' is not a number"),
    (10, "dose_given '1e309' is not an amount given (negative or too large)"),
    (11, "given_at '0001-01-01 08:00' is outside the years 1900-2199"),  # the report's timelines crashed on it
]


@pytest.fixture
def row_problems(tmp_path: Path) -> Path:
    path = tmp_path / "log-row-problems.csv"
    path.write_text(ROW_PROBLEMS, encoding="utf-8")
    return path


def test_bad_rows_are_listed_with_their_lines(row_problems: Path, tmp_path: Path) -> None:
    args = ["adherence", SEED, "--cohort", ONE_PATIENT, "--log", str(row_problems), "--as-of", "2027-01-10"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    bad = pd.read_csv(tmp_path / "out" / "nct02467504" / "adherence" / "bad_rows.csv", dtype=str, encoding="utf-8-sig")
    assert bad["line"].astype(int).tolist() == [line for line, _ in REASONS]
    for reason, (_, expected) in zip(bad["reason"], REASONS, strict=True):
        assert reason.startswith(expected)


def test_bad_rows_with_strict_are_fatal(row_problems: Path, previous_outputs: Path) -> None:
    args = ["adherence", SEED, "--cohort", ONE_PATIENT, "--log", str(row_problems), "--as-of", "2027-01-10", "--strict"]
    fragments = ("9 bad row(s) in the log", *(f"line {line}: {reason}" for line, reason in REASONS))
    refused(args, previous_outputs, row_problems, fragments)


# -- accepted: a changes file with a byte-order mark and CRLF line ends -----------------------


def test_changes_with_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = ACCEPTED / "changes-bom-crlf.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == raw.count(b"\n") == 4
    args = ["generate", SEED, "--cohort", TWO_PATIENTS, "--changes", str(path), "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "RA-900  doses moved 0, held 1, dose changed 20" in result.output
    assert "RA-901  doses moved 0, held 0, dose changed 0, stopped 392" in result.output


def test_a_time_pandas_reads_with_an_odd_offset_is_a_bad_row(tmp_path: Path) -> None:
    """Found by fuzzing: "13:0-004" (pandas: offset -00:04) next to local times crashed the reader."""
    path = tmp_path / "log.csv"
    path.write_text(
        "patient_id,drug,given_at,dose_given\nRA-900,Folic acid,2027-01-04 08:00,1\n"
        "RA-900,Folic acid,2027-01-05T08:0-004,1\n",
        encoding="utf-8",
    )
    args = ["adherence", SEED, "--cohort", ONE_PATIENT, "--log", str(path), "--as-of", "2027-01-10"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out"), "--strict"])
    assert result.exit_code == 2, result.output
    assert "line 3: cannot read given_at '2027-01-05T08:0-004'" in result.output


def test_a_dose_below_a_minimum_without_a_maximum(tmp_path: Path) -> None:
    """A patient value with only a lower bound: the message crashed formatting the missing maximum."""
    protocol = tmp_path / "seed-no-maximum.toml"
    text = (PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8")
    protocol.write_text(text.replace("min = 7.5, max = 25,", "min = 7.5,"), encoding="utf-8")
    changes = tmp_path / "changes.csv"
    changes.write_text(
        "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n"
        "RA-900,dose,methotrexate,,2027-02-01,,,5,,nausea\n",
        encoding="utf-8",
    )
    args = ["generate", str(protocol), "--cohort", TWO_PATIENTS, "--changes", str(changes)]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "line 2: column 'dose': 5 mg is outside 7.5-" in result.output
    assert "Traceback" not in result.output


def test_a_row_id_column_is_not_taken_for_a_misspelt_uid(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("id,patient_id,drug,given_at\n1,RA-900,Folic acid,2027-01-04 08:00\n", encoding="utf-8")
    args = ["adherence", SEED, "--cohort", ONE_PATIENT, "--log", str(path), "--as-of", "2027-01-10", "--strict"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
