"""The README's five-minute tour runs exactly as written after the two set-up commands (issue 12):
every ``.venv/bin/dosing ...`` line of the tour, in order, from a copy of the repository's
``protocols/`` folder, exits 0; and the files the tour says it wrote are there."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dosing.cli import main
from tests.conftest import ROOT

README = ROOT / "README.md"


def tour_commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    tour = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    lines = [line for block in re.findall(r"^```sh\n(.*?)^```", tour, re.S | re.M) for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.strip()]


def test_the_tour_uses_the_installed_command_only() -> None:
    commands = tour_commands()
    assert len(commands) >= 6
    assert all(words[0] == ".venv/bin/dosing" for words in commands), "bare `dosing` is not on PATH after set-up"


@pytest.mark.slow  # runs every command of the tour on the 47 seed patients (about a minute)
def test_the_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "protocols", tmp_path / "protocols")
    monkeypatch.chdir(tmp_path)
    for words in tour_commands():
        result = CliRunner().invoke(main, words[1:])
        assert result.exit_code == 0, f"{shlex.join(words)}\n{result.output}"
    study = tmp_path / "output" / "nct02467504"
    for name in ("doses.csv", "worklist.csv", "visits.csv", "patients/RA-001/calendar.ics", "adherence/report.html"):
        assert (study / name).is_file(), name
