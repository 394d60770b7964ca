"""Start-up: ``dosing --help`` loads only click and the package's light modules (issue 15).

Not timed (bench/startup.py measures): these tests state which heavy libraries a fresh interpreter
has imported after the import or the help, which is what makes the help slow (pandas alone takes
0.3-0.5 s on the 2-core machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import dosing
from dosing import cli
from dosing.io.write.ics import STYLES
from dosing.serve.feeds import DEFAULT_BASE_URL

HEAVY = ("pandas", "numpy", "matplotlib", "icalendar", "pydantic", "holidays", "pyarrow")


def imported_after(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_command_line_imports_no_heavy_library() -> None:
    assert imported_after("import dosing.cli") == []


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["adherence", "--help"], ["--version"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    code = f"from dosing.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert imported_after(code) == []


def test_a_command_that_runs_still_imports_what_it_needs() -> None:
    """The probe can fail: running validate loads pandas and pydantic (and not the report's matplotlib)."""
    seed = str(Path(__file__).resolve().parent.parent / "protocols" / "nct02467504.toml")
    code = (
        f"from dosing.cli import main\ntry:\n    main(['validate', {seed!r}])\n"
        "except SystemExit as end:\n    assert not end.code  # validate succeeded"
    )
    # pandas itself imports pyarrow when it is installed (its string storage): that is not ours to avoid
    assert [m for m in imported_after(code) if m != "pyarrow"] == ["holidays", "numpy", "pandas", "pydantic"]


def test_the_public_api_is_whole_though_imported_lazily() -> None:
    from dosing.jobs.adherence import adherence, check_adherence
    from dosing.plan.expand import expand
    from dosing.protocol.model import Protocol

    assert dosing.write_adherence is adherence
    assert dosing.check_adherence is check_adherence
    assert dosing.expand is expand
    assert dosing.Protocol is Protocol
    assert all(getattr(dosing, name) is not None for name in dosing.__all__)
    assert set(dosing.__all__) <= set(dir(dosing))
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        dosing.nothing_here  # noqa: B018


def test_the_command_lines_copies_of_option_values_match_their_sources() -> None:
    assert cli.STYLES == STYLES
    assert cli.DEFAULT_BASE_URL == DEFAULT_BASE_URL
