"""Every input goes through one bounded reader: what spreadsheets save is read or named.

Files a spreadsheet saves in other locales (``;``-separated, UTF-16 "Unicode Text", CR-only
line ends) are read like the comma-separated UTF-8 file; a device or pipe that never ends
stops at the size limit; a cohort over the row limit is refused before it is parsed; a dose
with a decimal comma is never read as ten times the dose.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import dosing
import dosing.io.read.files as readers
import dosing.io.read.text as text_file
from dosing.cli import main
from dosing.errors import CohortError, LogError
from dosing.io.read.log import read_log
from tests.conftest import FIXTURES, PROTOCOLS

expand_module = importlib.import_module("dosing.plan.expand")  # the module, not dosing.expand()

ACCEPTED = FIXTURES / "accepted"
SEED = PROTOCOLS / "nct02467504.toml"
ONE_PATIENT = FIXTURES / "seed-one-patient.csv"


def clean_refusal(args: list[str], *fragments: str) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ")
    assert "\n  Fix: " in result.output
    for fragment in fragments:
        assert fragment in result.output, f"{fragment!r} not in:\n{result.output}"
    return result.output


# -- spreadsheet exports that are read -------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["cohort-excel-unicode-text.txt", "cohort-semicolons-decimal-dot.csv", "cohort-cr-line-ends.csv"]
)
def test_cohort_saved_by_a_spreadsheet_in_another_form_is_read(seed_protocol: dosing.Protocol, name: str) -> None:
    patients = dosing.load_cohort(ACCEPTED / name, seed_protocol).patients
    assert patients["patient_id"].tolist() == ["RA-900", "RA-901"]
    assert patients["site"].tolist() == ["PKUPH", "北京大学人民医院"]
    assert patients["mtx_dose"].tolist() == [15.0, 12.5]
    assert patients["mtx_weekday"].tolist() == [2, 3]  # Wednesday, Thursday


def test_the_accepted_fixtures_really_are_what_their_names_say() -> None:
    assert (ACCEPTED / "cohort-excel-unicode-text.txt").read_bytes().startswith(b"\xff\xfep\x00")
    assert b"\t" in (ACCEPTED / "cohort-excel-unicode-text.txt").read_bytes().decode("utf-16").encode()
    cr = (ACCEPTED / "cohort-cr-line-ends.csv").read_bytes()
    assert b"\n" not in cr and cr.count(b"\r") == 3
    assert b"," not in (ACCEPTED / "log-semicolons.csv").read_bytes()


@pytest.mark.parametrize("name", ["log-cr-line-ends.csv", "log-semicolons.csv", "log-utf16-byte-order-mark.csv"])
def test_log_saved_by_a_spreadsheet_in_another_form_is_read_like_the_comma_file(
    seed_protocol: dosing.Protocol, name: str
) -> None:
    cohort = dosing.load_cohort(ONE_PATIENT, seed_protocol)
    expected = read_log(ACCEPTED / "log-comma-separated.csv", seed_protocol, cohort)
    log = read_log(ACCEPTED / name, seed_protocol, cohort)
    assert len(log.bad) == 0, log.bad
    assert log.given["line"].tolist() == [2, 3, 4]
    pd.testing.assert_frame_equal(log.given, expected.given)


def test_a_cr_only_log_gives_the_same_adherence_as_the_comma_file(tmp_path: Path) -> None:
    outputs = {}
    for name in ("log-comma-separated.csv", "log-cr-line-ends.csv"):
        out = tmp_path / name
        args = ["adherence", str(SEED), "--cohort", str(ONE_PATIENT), "--log", str(ACCEPTED / name)]
        result = CliRunner().invoke(main, [*args, "--as-of", "2027-01-05", "--out", str(out)])
        assert result.exit_code == 0, result.output
        outputs[name] = (out / "nct02467504" / "adherence" / "summary.csv").read_bytes()
    assert outputs["log-cr-line-ends.csv"] == outputs["log-comma-separated.csv"]


# -- decimal commas ------------------------------------------------------------------------


def log_file(tmp_path: Path, rows: list[str], sep: str = ",") -> Path:
    path = tmp_path / "log.csv"
    header = sep.join(["patient_id", "drug", "given_at", "dose_given"])
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_dose_with_a_decimal_comma_is_a_bad_row_not_ten_times_the_dose(
    seed_protocol: dosing.Protocol, tmp_path: Path
) -> None:
    cohort = dosing.load_cohort(ONE_PATIENT, seed_protocol)
    rows = ['RA-900,Methotrexate,2027-01-06 08:00,"12,5 mg"', 'RA-900,Methotrexate,2027-01-13 08:00,"1,000 mg"']
    log = read_log(log_file(tmp_path, rows), seed_protocol, cohort)
    assert log.bad["line"].tolist() == [2]
    assert log.bad["reason"].tolist() == ["dose_given '12,5 mg' has a decimal comma: use a dot ('12.5 mg')"]
    assert log.given["dose_given"].tolist() == [1000.0]  # a thousands separator, as the worklist writes it


def test_in_a_semicolon_file_every_comma_in_a_dose_is_a_decimal_comma(
    seed_protocol: dosing.Protocol, tmp_path: Path
) -> None:
    cohort = dosing.load_cohort(ONE_PATIENT, seed_protocol)
    rows = ["RA-900;Methotrexate;2027-01-06 08:00;12,5 mg", "RA-900;Methotrexate;2027-01-13 08:00;1,000 mg"]
    log = read_log(log_file(tmp_path, rows, ";"), seed_protocol, cohort)
    assert log.bad["line"].tolist() == [2, 3]
    assert "use a dot ('1.000 mg')" in log.bad["reason"].iloc[1]
    assert len(log.given) == 0


# -- one bounded reader: devices, pipes and the size limit -------------------------------------


@pytest.mark.parametrize("where", ["protocol", "cohort"])
def test_dev_zero_stops_at_the_size_limit(where: str) -> None:
    args = ["validate", "/dev/zero"] if where == "protocol" else ["validate", str(SEED), "--cohort", "/dev/zero"]
    limit = "4 MiB" if where == "protocol" else "200 MiB"  # a protocol has its own, smaller limit
    clean_refusal(args, f"Error: /dev/zero: is larger than {limit}", "a device or a pipe")


def test_dev_zero_as_a_log_stops_at_the_size_limit(tmp_path: Path) -> None:
    args = ["adherence", str(SEED), "--cohort", str(ONE_PATIENT), "--log", "/dev/zero", "--out", str(tmp_path)]
    clean_refusal(args, "Error: /dev/zero: is larger than 200 MiB")
    assert list(tmp_path.iterdir()) == []


def test_a_pipe_is_read_up_to_the_limit_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_file, "MAX_BYTES", 64 * 1024)
    pipe = tmp_path / "cohort.fifo"
    os.mkfifo(pipe)

    opened = threading.Event()

    def feed() -> None:
        with pipe.open("wb", buffering=0) as out, contextlib.suppress(BrokenPipeError):  # the reader stopped
            opened.set()
            out.write(b"patient_id,arm,start_date\n" + b"RA-1,active,2027-01-04\n" * 100_000)

    # A pipe no program writes to reads as empty (by design); so that a busy machine cannot start the
    # reader before the writer, a second read end holds the pipe open until the writer is in.
    holder = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    writer = threading.Thread(target=feed)
    writer.start()
    try:
        assert opened.wait(timeout=30)
        with pytest.raises(CohortError, match=r"is larger than 0\.0625 MiB"):
            dosing.load_cohort(pipe, dosing.load_protocol(SEED))
    finally:
        os.close(holder)  # the writer's last write now fails with a broken pipe and it ends
    writer.join(timeout=10)


def test_a_cohort_over_the_row_limit_is_refused_before_it_is_parsed(
    seed_protocol: dosing.Protocol, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_PATIENTS", 2)
    path = tmp_path / "cohort.csv"
    lines = (PROTOCOLS / "nct02467504-cohort.csv").read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:3]) + "\n\n", encoding="utf-8")  # two patients and a blank line: read
    assert len(dosing.load_cohort(path, seed_protocol)) == 2
    path.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    with pytest.raises(CohortError, match="has 3 rows; at most 2 are read") as caught:
        dosing.load_cohort(path, seed_protocol)
    assert "split the file" in str(caught.value)


def test_a_nul_byte_far_into_a_log_is_refused_not_copied_into_bad_rows(
    seed_protocol: dosing.Protocol,
) -> None:
    path = FIXTURES / "bad" / "log-nul-byte-after-64-kib.csv"
    raw = path.read_bytes()
    assert raw.find(b"\x00") > 65536  # the old check looked at the first 64 KiB only
    cohort = dosing.load_cohort(ONE_PATIENT, seed_protocol)
    with pytest.raises(LogError, match="line 2002: holds a NUL byte"):
        read_log(path, seed_protocol, cohort)


def test_a_cohort_whose_plan_is_over_the_dose_limit_is_refused_before_the_table_is_built(
    seed_protocol: dosing.Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expand_module, "MAX_PLANNED_DOSES", 1000)
    cohort = dosing.load_cohort(ONE_PATIENT, seed_protocol)  # 693 planned doses: within the limit
    assert len(dosing.expand(seed_protocol, cohort)) == 693
    two = dosing.load_cohort(ACCEPTED / "cohort-cr-line-ends.csv", seed_protocol)  # 1,386: over it
    with pytest.raises(CohortError, match="2 patients would have more than 1,000 planned doses") as caught:
        dosing.expand(seed_protocol, two)
    assert "split the cohort" in str(caught.value)
    assert str(caught.value).startswith(str(ACCEPTED / "cohort-cr-line-ends.csv"))


def test_a_nul_character_in_utf16_text_is_refused(seed_protocol: dosing.Protocol, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    text = "patient_id,drug,given_at,dose_given\nRA-900,Folic\x00acid,2027-01-04 08:00,1 mg\n"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    with pytest.raises(LogError, match="line 2: holds a NUL character"):
        read_log(path, seed_protocol, dosing.load_cohort(ONE_PATIENT, seed_protocol))


# -- a byte-order mark saved twice (audit of issue 10, finding 4) ------------------------------


def test_a_cohort_with_two_byte_order_marks_is_read(seed_protocol: dosing.Protocol, tmp_path: Path) -> None:
    """Before: unknown column '\\ufeffpatient_id' (the second mark was left in the first name)."""
    path = tmp_path / "cohort.csv"
    path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + (PROTOCOLS / "nct02467504-cohort.csv").read_bytes())
    patients = dosing.load_cohort(path, seed_protocol).patients
    assert patients["patient_id"].tolist()[:2] == ["RA-001", "RA-002"] and len(patients) == 47


def test_a_changes_file_with_two_byte_order_marks_is_read(seed_protocol: dosing.Protocol, tmp_path: Path) -> None:
    from dosing.io.read.changes import load_changes

    cohort = dosing.load_cohort(FIXTURES / "changes-two-patients.csv", seed_protocol)
    path = tmp_path / "changes.csv"
    plain = (FIXTURES / "changes-each-kind.csv").read_bytes()
    path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + plain)
    (tmp_path / "plain.csv").write_bytes(plain)
    twice = load_changes(path, seed_protocol, cohort)
    assert len(twice.rows) == len(load_changes(tmp_path / "plain.csv", seed_protocol, cohort).rows) > 0
