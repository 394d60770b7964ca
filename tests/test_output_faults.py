"""The machine refuses to write (a full disk, a read-only file system, no permission): one
``Error:`` line naming the folder, a ``Fix:``, exit status 2, no traceback, and the previous
outputs byte for byte as they were. Faults are injected (``ENOSPC`` and friends raised by the
file writes) so that the tests run anywhere; README says what a real 24 MB tmpfs showed."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dosing.cli import main
from tests.conftest import FIXTURES, PROTOCOLS

SEED = str(PROTOCOLS / "nct02467504.toml")
ONE_PATIENT = str(FIXTURES / "seed-one-patient.csv")
LOG = str(FIXTURES / "accepted" / "log-comma-separated.csv")
FOLDER = "nct02467504"


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (hidden ones too), with the bytes of files."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output folder after last week's generate and adherence runs."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    generate = [
        "generate",
        SEED,
        "--cohort",
        ONE_PATIENT,
        "--out",
        str(out),
        "--key-file",
        str(out.parent / "feed.key"),
    ]
    assert CliRunner().invoke(main, generate).exit_code == 0
    adherence = ["adherence", SEED, "--cohort", ONE_PATIENT, "--log", LOG, "--as-of", "2027-01-05", "--out", str(out)]
    assert CliRunner().invoke(main, adherence).exit_code == 0
    return out


@pytest.fixture
def out(tmp_path: Path, earlier: Path) -> Path:
    shutil.copytree(earlier, tmp_path / "out")
    return tmp_path / "out"


def failing_after(calls: int, code: int) -> Callable[..., object]:
    """A stand-in for a file write that works ``calls`` times, then fails as the disk would."""
    done = {"n": 0}
    real = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:
        done["n"] += 1
        if done["n"] > calls:
            raise OSError(code, os.strerror(code))  # as file.write() raises it: no file name
        return real(self, data)

    return write_bytes


def refused_cleanly(result: Result, out: Path, before: dict[str, bytes | None], *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Error: ") and sum(line.startswith("Error:") for line in lines) == 1
    assert any(line.startswith("  Fix: ") for line in lines), result.output
    for fragment in fragments:
        assert fragment in result.output, f"{fragment!r} not in:\n{result.output}"
    assert snapshot(out) == before  # nothing half-written, no partial folder left


@pytest.mark.parametrize(
    ("code", "what", "fix"),
    [
        (errno.ENOSPC, "the disk is full", "Fix: free space on that disk, or choose another --out"),
        (errno.EROFS, "the file system is read-only", "Fix: use a folder on a writable disk, or choose another"),
        (errno.EACCES, "permission denied", "Fix: use a folder you can write to"),
        (errno.EDQUOT, "the disk quota is used up", "Fix: free space in your quota"),
        (errno.ENAMETOOLONG, "a file name is too long for the file system", "Fix: choose a shorter --out path"),
    ],
    ids=["disk-full", "read-only", "permission", "quota", "name-too-long"],
)
def test_generate_on_a_disk_that_refuses_leaves_last_weeks_outputs(
    out: Path, monkeypatch: pytest.MonkeyPatch, code: int, what: str, fix: str
) -> None:
    before = snapshot(out)
    monkeypatch.setattr(Path, "write_bytes", failing_after(1, code))  # the second calendar file fails
    result = CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE_PATIENT, "--out", str(out)])
    refused_cleanly(
        result,
        out,
        before,
        f"Error: {out / FOLDER}: could not write the outputs: {what}; nothing was replaced",
        fix,
    )


def test_adherence_on_a_full_disk_leaves_last_weeks_adherence(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(out)

    def write_text(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", write_text)  # report.html, written after the CSVs
    args = ["adherence", SEED, "--cohort", ONE_PATIENT, "--log", LOG, "--as-of", "2027-01-05", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    refused_cleanly(
        result, out, before, f"Error: {out / FOLDER / 'adherence'}: could not write the outputs: the disk is full"
    )
    assert "report.html" in result.output  # the file being written when the disk filled


def test_an_output_folder_that_cannot_be_written_into(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(out)

    def mkdtemp(*args: object, **kwargs: object) -> str:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(out))

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)  # what a folder without write permission does
    result = CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE_PATIENT, "--out", str(out)])
    refused_cleanly(result, out, before, f"Error: {out}: cannot write into the output folder (Permission denied)")


def test_a_full_disk_outside_the_output_folder_is_a_clean_error(
    out: Path, earlier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rotate-feed saves the token version beside the key: a full disk there is not a traceback."""
    before = snapshot(out)

    def write_text(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", write_text)
    args = ["rotate-feed", SEED, "--cohort", ONE_PATIENT, "--patient", "RA-900", "--out", str(out)]
    key = out.parent / "feed.key"
    shutil.copy2(earlier / ".." / "feed.key", key)
    result = CliRunner().invoke(main, [*args, "--key-file", str(key)])
    refused_cleanly(result, out, before, "feed.key.versions.json.tmp: the disk is full", "Fix: free space on that disk")


def test_an_os_error_that_is_a_bug_keeps_its_traceback(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what the machine causes is turned into a message; a missing file of our own is a bug."""
    monkeypatch.setattr(Path, "write_bytes", failing_after(0, errno.ENOENT))
    result = CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE_PATIENT, "--out", str(out)])
    assert result.exit_code == 1
    assert isinstance(result.exception, FileNotFoundError)
