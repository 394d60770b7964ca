"""Regressions found in review: a damaged token versions file, a busy port, one patient's summary,
and checking a filled unblinded worklist."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, PROTOCOLS

from dosing.cli import main

SEED = [str(PROTOCOLS / "nct02467504.toml"), "--cohort", str(FIXTURES / "ics-three-sites.csv")]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{bad", "cannot read the feed token versions"),
        ("[1, 2]", "the feed token versions file is damaged"),
        ('{"NCT02467504": {"RA-102": "one"}}', "the feed token versions file is damaged"),
    ],
)
@pytest.mark.parametrize("command", ["generate", "rotate-feed"])
def test_a_damaged_versions_file_is_an_error_naming_the_file(
    tmp_path: Path, command: str, content: str, problem: str
) -> None:
    out, key = tmp_path / "out", tmp_path / "secret" / "feed.key"
    first = CliRunner().invoke(main, ["generate", *SEED, "--out", str(out), "--key-file", str(key)])
    assert first.exit_code == 0, first.output
    versions = key.with_name("feed.key.versions.json")
    versions.write_text(content, encoding="utf-8")
    extra = ["--patient", "RA-102"] if command == "rotate-feed" else []
    result = CliRunner().invoke(main, [command, *SEED, *extra, "--out", str(out), "--key-file", str(key)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {versions}: {problem}")
    assert "Fix: restore it from a backup" in result.output and "Traceback" not in result.output
    assert versions.read_text(encoding="utf-8") == content  # never overwritten


def test_serving_on_a_port_in_use_is_an_error_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{port} (address already in use)\n")
    assert "choose another --port" in result.output and "Serving" not in result.output


def test_serving_on_an_unknown_host_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--host", "no-such-host.invalid", "--port", "0"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: cannot listen on no-such-host.invalid:0 (unknown host")


def test_the_summary_of_one_patient_says_patient(tmp_path: Path) -> None:
    cohort = tmp_path / "one.csv"
    lines = (PROTOCOLS / "nct02467504-cohort.csv").read_text(encoding="utf-8").splitlines()
    cohort.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    args = [str(PROTOCOLS / "nct02467504.toml"), "--cohort", str(cohort), "--out", str(tmp_path / "out"), "--no-feeds"]
    result = CliRunner().invoke(main, ["generate", *args])
    assert result.exit_code == 0, result.output
    assert "calendar.ics (1 patient)\n" in result.output
