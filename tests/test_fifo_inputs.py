"""Inputs that are pipes (audit of issue 10, finding 3): a named pipe (FIFO) that no program
writes to reads as empty instead of hanging forever; a pipe with a writer, such as bash's
``--cohort <(cat cohort.csv)``, is read to its end."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

PROTOCOLS = Path(__file__).resolve().parent.parent / "protocols"
SEED = PROTOCOLS / "nct02467504.toml"
COHORT = PROTOCOLS / "nct02467504-cohort.csv"

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")


def dosing(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Runs ``dosing``; before the fix a FIFO without a writer never returned (the timeout fails the test)."""
    command = [sys.executable, "-m", "dosing", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.mark.parametrize("role", ["protocol", "cohort", "changes", "log"])
def test_a_fifo_without_a_writer_is_an_empty_file(tmp_path: Path, role: str) -> None:
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    if role == "protocol":
        result = dosing("validate", fifo)
    elif role == "cohort":
        result = dosing("validate", SEED, "--cohort", fifo)
    elif role == "changes":
        result = dosing("generate", SEED, "--cohort", COHORT, "--changes", fifo, "--out", tmp_path / "out")
    else:
        result = dosing("adherence", SEED, "--cohort", COHORT, "--log", fifo, "--out", tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert f"Error: {fifo}: the file is empty" in result.stderr and "Traceback" not in result.stderr


def test_a_fifo_with_a_writer_is_read_to_its_end(tmp_path: Path) -> None:
    fifo = tmp_path / "cohort.csv"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("wb") as pipe:  # waits for the reader, as `cat cohort.csv > fifo &` does
            pipe.write(COHORT.read_bytes())

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    # a writer blocked in open() already counts as the FIFO's writer (Linux, macOS), so dosing's
    # read waits for its data: let the thread reach open() first
    writer.join(timeout=0.5)
    result = dosing("validate", SEED, "--cohort", fifo)
    writer.join(timeout=10)
    assert result.returncode == 0, result.stderr
    assert "47 patients" in result.stdout, result.stdout


def test_process_substitution_is_read_to_its_end(tmp_path: Path) -> None:
    """``--cohort <(cat cohort.csv)``: an anonymous pipe named /dev/fd/N whose writer exists."""
    read_end, write_end = os.pipe()
    writer = subprocess.Popen(["cat", str(COHORT)], stdout=write_end)
    os.close(write_end)
    try:
        result = dosing("validate", SEED, "--cohort", f"/dev/fd/{read_end}", pass_fds=(read_end,))
    finally:
        os.close(read_end)
        writer.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    assert "47 patients" in result.stdout, result.stdout
