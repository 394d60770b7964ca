"""The fonts a printable diary is set in, from installed packages (nothing is downloaded):

- English: DejaVu Sans (regular and bold), which matplotlib ships in ``mpl-data/fonts/ttf``;
- Simplified Chinese: Noto Sans CJK SC (SIL Open Font License), which the ``mplfonts`` package
  ships as ``mplfonts/fonts/NotoSansCJKsc-Regular.otf``. It has no bold face: emphasis is colour and
  size. The package is found without importing it (its import would register fonts with matplotlib).

Reading a font's tables (its character map and widths: about 35 ms for DejaVu Sans, 250 ms for the CJK
font) is done once per process: :func:`add_font` gives each diary its own copy of the parsed font, which
shares the read-only tables and has its own glyph subset (the bytes are those of
:meth:`fpdf.FPDF.add_font`). Cutting the subset that a PDF embeds from the whole font is the other
large cost (50 ms for the two DejaVu faces, 250 ms for the CJK font), and nearly every patient of a
cohort uses the same glyphs: :func:`cut_subsets` cuts each glyph set once per process, and fpdf2 then
cuts the same subset from that small font, which gives the same bytes (``tests/test_diary_speed.py``
compares them with fpdf2's own set-up).
"""

from __future__ import annotations

import copy
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset as ftsubset
from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

from ...errors import OutputError

CJK_FONT = "NotoSansCJKsc-Regular.otf"


@dataclass(frozen=True)
class FontFiles:
    regular: Path
    bold: Path | None  # None: the font has no bold face


def fonts_for(language: str) -> FontFiles:
    """The font files for ``language`` ("en" or "zh")."""
    if language == "zh":
        return FontFiles(_cjk(), None)
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return FontFiles(folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf")


def _cjk() -> Path:
    spec = importlib.util.find_spec("mplfonts")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "fonts" / CJK_FONT
        if path.is_file():
            return path
    raise OutputError(
        f"the Chinese font {CJK_FONT} is not installed",
        hint="install dosing with its dependencies (pip install -e .), which bring the mplfonts package",
    )


_PARSED: dict[tuple[Path, str], TTFFont] = {}  # (file, style): the font as fpdf2 parsed it once


def _parsed(path: Path, style: str) -> TTFFont:
    parsed = _PARSED.get((path, style))
    if parsed is None:
        parsed = _PARSED[(path, style)] = TTFFont(FPDF(), path, f"parsed{style}", style)
        parsed.close()  # its tables stay parsed; each diary's copy opens the file for its subset
    return parsed


def add_font(pdf: FPDF, family: str, style: str, path: Path) -> None:
    """``pdf.add_font(family, style, path)``, with the font file parsed once per process."""
    parsed = _parsed(path, style)
    font = copy.copy(parsed)  # shares the character map, widths and glyph ids, which no diary changes
    font.i = len(pdf.fonts) + 1
    font.fontkey = f"{family.lower()}{style}"
    font.cw = copy.copy(parsed.cw)  # a defaultdict: looking up a missing character adds it
    font.desc = copy.copy(parsed.desc)  # the PDF output names it and links the subset's stream to it
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.ttfont = ttLib.TTFont(path, recalcTimestamp=False, fontNumber=0, lazy=True)  # cut at output
    font.subset = SubsetMap(font)
    pdf.fonts[font.fontkey] = font
    if font.is_cff and font.is_cid_keyed:
        pdf._set_min_pdf_version("1.6")  # as FPDF.add_font does for a CID-keyed CFF font


_CUTS: dict[tuple[Path, frozenset[str]], bytes] = {}  # (file, glyph names): the subset font's bytes
_CUTS_MAX = 64  # glyph sets; past it the memo starts again (a cut is 4-30 kB)
#: The tables fpdf2 2.8's output drops from an embedded subset (fpdf/output.py, ``_add_fonts``).
_DROPPED = ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC", "EBDT", "EBLC"]
_DROPPED += ["EBSC", "SVG ", "CPAL", "COLR"]


def cut_subsets(pdf: FPDF) -> None:
    """Before ``pdf.output()``: give each of its fonts the subset of the glyphs it used, cut once per
    process for each glyph set, to cut its embedded subset from (instead of from the whole font)."""
    for font in pdf.fonts.values():
        if not isinstance(font, TTFFont):
            continue
        key = (Path(font.ttffile), frozenset(font.subset.get_all_glyph_names()))
        cut = _CUTS.get(key)
        if cut is None:
            if len(_CUTS) >= _CUTS_MAX:
                _CUTS.clear()
            cut = _CUTS[key] = _cut(key[0], key[1])
        font.ttfont.close()
        font.ttfont = ttLib.TTFont(io.BytesIO(cut), recalcTimestamp=False, lazy=True)


def _cut(path: Path, glyphs: frozenset[str]) -> bytes:
    """The font at ``path`` cut to ``glyphs`` as fpdf2's output cuts it (its options and tables)."""
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True)
    options.drop_tables += _DROPPED
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(glyphs=sorted(glyphs))
    font = ttLib.TTFont(path, recalcTimestamp=False, fontNumber=0, lazy=True)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    font.close()
    return out.getvalue()
