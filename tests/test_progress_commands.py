"""Every long command shows its stages on a terminal and nothing with --quiet (issue 12 §4; the audit
found `worklist`, `diary` and the exports silent for minutes, with no --quiet)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dosing.cli import main
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_progress import ONE, SEED, on_a_terminal, stages  # noqa: F401  (on_a_terminal: a fixture)

COMMANDS = {
    "worklist": (["worklist", SEED, "--cohort", ONE, "--from", "2027-01-04", "--to", "2027-01-04"], "sheets"),
    "diary": (["diary", SEED, "--cohort", ONE], "the diaries"),
    "export sdtm": (["export", "sdtm", SEED, "--cohort", ONE], "writing the datasets"),
    "export fhir": (["export", "fhir", SEED, "--cohort", ONE], "writing the export"),
    "export redcap": (["export", "redcap", SEED, "--cohort", ONE], "writing the export"),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_long_command_shows_its_stages_and_is_quiet_with_quiet(
    tmp_path: Path,
    on_a_terminal: None,  # noqa: F811  (the fixture imported above)
    name: str,
) -> None:
    args, last = COMMANDS[name]
    out = ["--out", str(tmp_path / "out")]
    shown = CliRunner().invoke(main, [*args, *out])
    assert shown.exit_code == 0, shown.output
    names = stages(shown.stderr)
    assert names[0].startswith("reading the protocol") and names[-1].endswith(last), names
    quiet = CliRunner().invoke(main, [*args, *out, "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
