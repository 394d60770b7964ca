"""Every export applies the study's changes as ``dosing adherence`` does: the changes file the study's
outputs were made with (recorded in its manifest.json) unless another is given or --discard-changes
says none; the same rule for sdtm, fhir and redcap (audit of issue 14: fhir and redcap used to apply
only an explicit --changes, so a held dose was exported as "missed")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dosing.cli import main
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_export_fhir import HOLD, LOG, SEED, TWO

AS_OF = dt.date(2027, 1, 18)


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def cycle_1_status(folder: Path) -> list[str]:
    """RA-900's hrIL-2 cycle 1 statuses in the REDCap import (2 = held, 3 = given, 4 = missed)."""
    records = pd.read_csv(folder / "import.csv", dtype=str, keep_default_na=False)
    mine = records[(records["record_id"] == "RA-900") & (records["dose_drug"] == "hrIL-2 or placebo")]
    return list(mine[mine["dose_cycle"] == "1"]["dose_status"])


@pytest.mark.parametrize("fmt", ["redcap", "fhir", "sdtm"])
def test_an_export_applies_the_recorded_changes_file(tmp_path: Path, fmt: str) -> None:
    out = str(tmp_path / "out")
    run("generate", str(SEED), "--cohort", str(TWO), "--changes", str(HOLD), "--out", out, "--no-feeds")
    log = ["--log", str(LOG), "--as-of", AS_OF.isoformat()]
    run("export", fmt, str(SEED), "--cohort", str(TWO), "--out", out, *log)
    folder = tmp_path / "out" / "nct02467504" / fmt
    manifest = (folder / "manifest.json").read_text(encoding="utf-8")
    assert HOLD.name in manifest  # recorded: the export says which changes it applied
    if fmt == "redcap":
        # hand-checked (see test_export_redcap): 01-06 held by the changes file, 01-16 not logged
        assert cycle_1_status(folder) == ["3", "2", "3", "3", "3", "3", "4"]
    run("export", fmt, str(SEED), "--cohort", str(TWO), "--out", out, *log, "--discard-changes")
    assert HOLD.name not in (folder / "manifest.json").read_text(encoding="utf-8")
    if fmt == "redcap":
        assert cycle_1_status(folder) == ["3", "4", "3", "3", "3", "3", "4"]  # without it: missed


@pytest.mark.parametrize("fmt", ["sdtm", "fhir", "redcap"])
def test_a_log_with_no_readable_row_is_refused_not_exported_as_all_missed(tmp_path: Path, fmt: str) -> None:
    """Audit of issue 14: a log whose every date was impossible (2027-13-45) exported 16 PERFORMED
    "missed" records with exit 0. Every row is bad here (RA-900's two rows, lines 2 and 3)."""
    log = tmp_path / "log.csv"
    log.write_text(
        "patient_id,drug,given_at\nRA-900,hrIL-2 or placebo,2027-13-45 09:00\nRA-900,Loxoprofen,yesterday\n",
        encoding="utf-8",
    )
    args = ["export", fmt, str(SEED), "--cohort", str(TWO), "--log", str(log), "--as-of", AS_OF.isoformat()]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "none of the log's 2 row(s) could be read (lines 2, 3)" in result.stderr
    assert not (tmp_path / "out" / "nct02467504" / fmt).exists()
