"""``dosing diary`` made fast without changing a byte: the fonts are parsed once per process, wrapped
texts and date labels are remembered across patients, and a large cohort is drawn on both cores.

Each test compares with what fpdf2's own set-up writes (``FPDF.add_font`` per diary, every text
wrapped again), so a diary drawn after others must have the bytes it has when drawn alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fpdf import FPDF
from fpdf.fonts import TTFFont

from dosing.cli import main
from dosing.io.read.files import load_cohort, load_protocol
from dosing.io.write import diary_fonts, diary_pdf
from dosing.io.write.diary_pdf import Diary
from dosing.jobs import diary as job
from dosing.jobs.diary import build_diaries
from tests.conftest import PROTOCOLS
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_diary import _with_contact

SEED = PROTOCOLS / "nct02467504.toml"
COHORT = PROTOCOLS / "nct02467504-cohort.csv"
COHORT_ZH = PROTOCOLS / "nct02467504-cohort-zh.csv"
PATIENTS = ["RA-001", "RA-002", "RA-017"]  # methotrexate 20 mg and 10 mg on Sundays, 7.5 mg on Mondays


def books(cohort_file: Path) -> dict[str, Diary]:
    protocol = load_protocol(SEED)
    return build_diaries(protocol, load_cohort(cohort_file, protocol), patients=PATIENTS)


class _Forgetful(dict):  # type: ignore[type-arg]
    """A memo that never remembers: every text is wrapped again, as before the memo."""

    def get(self, key: Any, default: Any = None) -> Any:
        return default


def _fpdf2_setup(pdf: FPDF, family: str, style: str, path: Path) -> None:
    pdf.add_font(family, style, str(path))


@pytest.mark.parametrize("cohort_file", [COHORT, COHORT_ZH], ids=["en", "zh"])
def test_diaries_drawn_one_after_another_have_the_bytes_of_one_drawn_alone(
    cohort_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    diaries = books(cohort_file)
    warm = {pid: diary_pdf.diary_pdf(book, "a4") for pid, book in diaries.items()}  # each after the others
    warm["RA-001 again"] = diary_pdf.diary_pdf(diaries["RA-001"], "a4")
    monkeypatch.setattr(diary_pdf, "add_font", _fpdf2_setup)
    monkeypatch.setattr(diary_pdf, "_WRAPPED", _Forgetful())
    monkeypatch.setattr(diary_pdf, "cut_subsets", lambda pdf: None)  # fpdf2 cuts from the whole font
    for pid, book in diaries.items():
        assert diary_pdf.diary_pdf(book, "a4") == warm[pid], pid
    assert warm["RA-001 again"] == warm["RA-001"]


def test_each_font_file_is_parsed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = TTFFont.__init__

    def counting(self: TTFFont, fpdf: FPDF, path: Path, *args: Any, **kwargs: Any) -> None:
        parsed.append(Path(path).name)
        real(self, fpdf, path, *args, **kwargs)

    monkeypatch.setattr(TTFFont, "__init__", counting)
    monkeypatch.setattr(diary_fonts, "_PARSED", {})
    for book in books(COHORT).values():
        diary_pdf.diary_pdf(book, "a4")
    # three English diaries, each set in DejaVu Sans and DejaVu Sans Bold: two parses, not six
    assert sorted(parsed) == ["DejaVuSans-Bold.ttf", "DejaVuSans.ttf"]


def test_each_glyph_set_is_cut_from_the_whole_font_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    cuts: list[tuple[str, int]] = []
    real = diary_fonts._cut

    def counting(path: Path, glyphs: frozenset[str]) -> bytes:
        cuts.append((path.name, len(glyphs)))
        return real(path, glyphs)

    monkeypatch.setattr(diary_fonts, "_cut", counting)
    monkeypatch.setattr(diary_fonts, "_CUTS", {})
    for book in books(COHORT).values():
        diary_pdf.diary_pdf(book, "a4")
    # the three diaries use the same letters and digits (each spans about six months of dates), so each
    # face is cut once: six fonts embedded, two cuts
    assert sorted(name for name, _ in cuts) == ["DejaVuSans-Bold.ttf", "DejaVuSans.ttf"]


def test_a_cohort_drawn_on_two_cores_gets_the_bytes_of_one_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    protocol = load_protocol(SEED)
    cohort = load_cohort(COHORT, protocol)
    written = {}
    for workers in (1, 2):
        monkeypatch.setattr(job, "workers_for", lambda patients, w=workers: w)
        result = job.diary(protocol, cohort, tmp_path / f"out{workers}")
        written[workers] = {path.name: path.read_bytes() for path in result.files}
    assert len(written[2]) == 47 and written[2] == written[1]


def test_a_diary_refused_in_a_worker_is_refused_with_its_message_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job, "workers_for", lambda patients: 2)  # the pool, even on one core
    protocol = _with_contact(tmp_path, "Call the study nurse 📞 +86 10 8832 5555")
    result = CliRunner().invoke(main, ["diary", str(protocol), "--cohort", str(COHORT), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "has text its fonts cannot show: '📞'" in result.stderr, result.output
    assert "Fix: write the site, drug names and contact line" in result.stderr
    assert not list((tmp_path / "out").rglob("*.pdf"))
