"""`--paper` is the same option in `dosing worklist` and `dosing diary`: A4 or Letter, in any case
(the two commands used to take "A4"/"Letter" and "a4"/"letter" respectively)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from dosing.cli import main
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_export_fhir import SEED, TWO


@pytest.mark.parametrize("paper", ["letter", "LETTER", "Letter"])
def test_both_printable_commands_take_letter_in_any_case(tmp_path: Path, paper: str) -> None:
    out = str(tmp_path)
    days = ["--from", "2027-01-04", "--to", "2027-01-04"]
    sheet = CliRunner().invoke(
        main, ["worklist", str(SEED), "--cohort", str(TWO), *days, "--paper", paper, "--out", out]
    )
    diary = CliRunner().invoke(
        main, ["diary", str(SEED), "--cohort", str(TWO), "--patient", "RA-900", "--paper", paper, "--out", out]
    )
    assert (sheet.exit_code, diary.exit_code) == (0, 0), sheet.output + diary.output
    pdfs = sorted(tmp_path.rglob("*.pdf"))
    assert len(pdfs) == 2
    for pdf in pdfs:  # Letter landscape: 11 x 8.5 in = 792 x 612 pt
        box = PdfReader(pdf).pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == (792, 612), pdf.name
