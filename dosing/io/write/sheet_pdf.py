"""The nurses' printable sheet: one site's worklist rows as a landscape PDF (A4 or Letter).

Each day starts on a new page; a day's rows are grouped by patient and a patient's rows are kept on
one page when they fit. Every page has a header (study, site, the day, "page x of y" of that day,
BLINDED, UNBLINDED or open label, the time zone: the UTC offset under each time when a day has several
zones or the clocks change) and the column titles; the footer counts the file's pages.
Text wraps inside its cell (row heights are measured before pages are laid out), so nothing is cut at
the page edge. A held dose is shaded, says HELD in the tick column and has no box to tick. A dose with
a duration (an infusion) shows its start and end in the Time column ("11:00 → 09:00" and the end's
day when it ends on another day: see :mod:`.sheet_times`).

The font is DejaVu Sans from matplotlib (a dependency already): it has ×, the superscript digits and
µ, and is embedded (subset), so nothing is downloaded and every printer shows the same glyphs. Text
DejaVu Sans has no glyph for (Chinese: a hold reason "发热 38.5 度") is set in the diary's Noto Sans CJK
SC (:mod:`.diary_fonts`, fpdf2's fallback font), loaded only for sheets that need it; text neither font
can show is refused (nothing is written).
The PDF's dates are fixed (the sheet's first day), so the same rows give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import matplotlib
import pandas as pd
from fpdf import FPDF
from fpdf.fonts import TTFFont

from ...errors import OutputError
from ...protocol.values import WEEKDAYS
from .sheet_times import duration_note, time_cell, with_time_width

#: Landscape page sizes in points (1/72 inch).
PAPERS: dict[str, tuple[float, float]] = {"A4": (841.89, 595.28), "Letter": (792.0, 612.0)}
MARGIN = 28.0
BODY_PT = 12.0  # readable at arm's length
LINE = BODY_PT * 1.25
PAD = 4.0
HEADER_H = 64.0
FOOTER_H = 22.0
GREY = (225, 225, 225)
THIN = 0.567  # fpdf2's default line width (0.2 mm)
#: The worklist columns printed on the sheet (checked for characters the font has).
SHOWN_COLUMNS = ("patient_id", "time", "timezone", "drug", "weekday", "instructions", "dose_text", "route", "notes")
#: Columns: title, width in points (0: shares the space left, by the weight after it), weight.
COLUMNS: list[tuple[str, float, float]] = [
    ("Patient", 70, 0),
    ("Time", 60, 0),
    ("Drug", 0, 0.5),
    ("Dose", 84, 0),
    ("Route", 96, 0),
    ("Given", 50, 0),
    ("Given at", 70, 0),
    ("Initials", 62, 0),
    ("Notes", 0, 0.5),
]


@dataclass(frozen=True)
class SheetHeader:
    """What every page names: the study, the site, the range of days, home doses or not, blinded or not."""

    study: str
    site: str
    span: tuple[dt.date, dt.date]
    home: bool
    blinded: bool
    open_label: bool = False  # the protocol is open label: nothing to blind, the sheet says so
    changes: str = "no changes applied"  # which changes file the rows apply (name and sha256), for the footer


@dataclass
class _Row:
    cells: list[str]
    patient: str
    held: bool
    height: float = 0.0


def sheet_pdf(rows: pd.DataFrame, header: SheetHeader, path: Path, paper: str = "A4") -> int:
    """Write ``rows`` (worklist rows of one site, sorted by day and patient) to ``path``; the page count."""
    cjk = check_sheet_text(rows, header)
    pdf = _document(paper, header, cjk)
    widths = _widths(pdf.w - 2 * MARGIN, _patient_width(rows["patient_id"].astype(str).unique().tolist()))
    widths = with_time_width(widths, rows, [i for i, (_, width, _) in enumerate(COLUMNS) if width == 0])
    days = [(str(day), mine) for day, mine in rows.groupby(rows["date"].astype(str), sort=True, observed=True)]
    pages: list[tuple[str, str, list[list[_Row]]]] = []
    for day, mine in days:
        zone_text, multi_zone = _zones(mine, day)
        room = pdf.h - 2 * MARGIN - HEADER_H - FOOTER_H - _title_h(widths)
        laid = [_fit(widths, _measure(widths, r), room) for r in _rows(mine, multi_zone)]
        pages.append((day, zone_text, _paginate(laid, room)))
    total = sum(len(p[2]) for p in pages) or 1
    if not pages:
        _empty_page(pdf, header, total)
    number = 0
    for day, zone_text, day_pages in pages:
        for index, page in enumerate(day_pages, start=1):
            number += 1
            _page(pdf, header, widths, (day, zone_text), (index, len(day_pages), number, total), page)
    pdf.output(str(path))
    return total


def _document(paper: str, header: SheetHeader, cjk: bool = False) -> FPDF:
    width, height = PAPERS[paper]
    pdf = FPDF(orientation="landscape", unit="pt", format=(height, width))  # fpdf2 turns a portrait size
    _add_fonts(pdf, cjk)
    pdf.set_auto_page_break(False)
    pdf.c_margin = 0  # cells are padded by PAD here
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_creation_date(dt.datetime.combine(header.span[0], dt.time(0, 0), tzinfo=dt.UTC))
    pdf.set_title(f"{header.study} worklist {header.site} {header.span[0]} to {header.span[1]}")
    pdf.set_creator("dosing worklist")
    return pdf


def check_sheet_text(rows: pd.DataFrame, header: SheetHeader) -> bool:
    """Refuse text no font of the sheet can show: a printed sheet must never silently drop a patient id or
    a reason. Each column is checked once per distinct value. True when the sheet needs the CJK font."""
    texts = {"study": [header.study], "site": [header.site], "footer": [header.changes]}
    texts |= {c: rows[c].astype(str).unique().tolist() for c in SHOWN_COLUMNS if c in rows.columns}
    others = {
        column: {ch for text in values for ch in str(text) if not _dejavu_has(ch)} for column, values in texts.items()
    }
    if not any(others.values()):
        return False
    cjk = _cjk_chars()
    for column, chars in others.items():
        missing = sorted(ch for ch in chars if ord(ch) not in cjk)
        if missing:
            raise OutputError(
                f"no font of the sheet (DejaVu Sans, Noto Sans CJK SC) can show {''.join(missing)!r} "
                f"in the {column} column",
                hint="write that text in Latin or Chinese letters (in the cohort or changes file). Nothing was written",
            )
    return True


@functools.cache
def _dejavu_chars() -> frozenset[int]:
    both = [set(cast(TTFFont, font).cmap) for font in _ruler().fonts.values()]
    return frozenset(set.intersection(*both) | {ord("\n")})


def _dejavu_has(ch: str) -> bool:
    return ord(ch) in _dejavu_chars()


@functools.cache
def _cjk_chars() -> frozenset[int]:
    return frozenset(cast(TTFFont, _ruler(True).fonts["notocjk"]).cmap)


def _add_fonts(pdf: FPDF, cjk: bool = False) -> None:
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    if cjk:  # Chinese text: the diary's font, for the characters DejaVu Sans has not (no bold face)
        from .diary_fonts import fonts_for

        pdf.add_font("NotoCJK", "", str(fonts_for("zh").regular))
        pdf.set_fallback_fonts(["NotoCJK"], exact_match=False)


#: The Patient column is as wide as the longest id (bold), from its 70 points up to this many: an id is
#: never broken. A longer id (over about 22 characters) is set in a smaller size to fit (see _draw_row).
PATIENT_MAX = 190.0


def _patient_width(ids: list[str]) -> float:
    longest = max((_width(pid) for pid in ids), default=0.0)
    return min(PATIENT_MAX, max(COLUMNS[0][1], longest + 2 * PAD + 1))


def _id_size(width: float, pid: str) -> float:
    """The font size at which ``pid`` (bold) fits one line of the Patient column: BODY_PT unless too long."""
    room = width - 2 * PAD - 1
    return min(BODY_PT, BODY_PT * room / max(_width(pid), 1e-6))


def _width(text: str, bold: bool = True) -> float:
    pdf = _ruler(not all(map(_dejavu_has, text)))
    pdf.set_font("DejaVu", "B" if bold else "", BODY_PT)
    return float(pdf.get_string_width(text))


def _widths(usable: float, patient: float = COLUMNS[0][1]) -> list[float]:
    fixed = [patient if title == "Patient" else width for title, width, _ in COLUMNS]
    left = usable - sum(fixed)
    return [width or left * weight for width, (_, _, weight) in zip(fixed, COLUMNS, strict=True)]


def _zones(rows: pd.DataFrame, day: str) -> tuple[str, bool]:
    """ "Asia/Shanghai (UTC+08:00)" for the day's one zone; with several zones each time names its own."""
    zones = sorted(set(rows["timezone"].astype(str)))
    if len(zones) != 1:
        return "times in each patient's own zone, its UTC offset under each time", True
    offsets = {_offset(str(utc), zones[0]) for utc in rows["planned_utc"]}
    if len(offsets) > 1:  # the clocks change this day (DST): a 01:30 dose is not at the noon offset
        return f"times in {zones[0]}; the clocks change this day: the UTC offset under each time", True
    noon = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12, 0), tzinfo=zoneinfo.ZoneInfo(zones[0]))
    offset = noon.strftime("%z")
    return f"times in {zones[0]} (UTC{offset[:3]}:{offset[3:]})", False


def _rows(rows: pd.DataFrame, multi_zone: bool) -> Iterator[_Row]:
    for row in rows.itertuples(index=False):  # one day of one site: tens of rows, not the hot path
        lasts = duration_note(row)
        notes_under = _drug_notes(bool(row.once_weekly), str(row.weekday), row.instructions)
        drug = "\n".join([str(row.drug), *([lasts] if lasts else []), *notes_under])
        time = time_cell(row)
        time = f"{time}\n{_offset(str(row.planned_utc), str(row.timezone))}" if multi_zone else time
        notes = str(row.notes)
        held = notes.startswith("HELD")
        cells = [str(row.patient_id), time, drug, str(row.dose_text), str(row.route), "", "", "", notes]
        yield _Row(cells, str(row.patient_id), held)


def _offset(planned_utc: str, zone: str) -> str:
    """The UTC offset of a dose's local time: "+08:00" (Shanghai), "+01:00" (Berlin in winter)."""
    local = dt.datetime.fromisoformat(planned_utc.replace("Z", "+00:00")).astimezone(zoneinfo.ZoneInfo(zone))
    offset = local.strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


def _drug_notes(once_weekly: bool, weekday: str, instructions: object) -> list[str]:
    """Under the drug: the weekday of a once-weekly drug in full ("ONCE WEEKLY, every Sunday"; "every Sunday"
    when the instructions already say once weekly, so the warning is not printed twice), then the instructions."""
    said = isinstance(instructions, str) and "once weekly" in instructions.casefold()
    lines = [f"every {weekday}" if said else f"ONCE WEEKLY, every {weekday}"] if once_weekly else []
    return lines + ([instructions] if isinstance(instructions, str) and instructions else [])


def _measure(widths: list[float], row: _Row) -> _Row:
    lines = max(
        _lines(width, text, bold=(i == 8 and row.held))
        for i, (width, text) in enumerate(zip(widths, row.cells, strict=True))
        if i != 0
    )  # fmt: skip (the id: one line, see _id_size)
    row.height = lines * LINE + 2 * PAD
    return row


#: What a note too long for one page ends with on the sheet (the full text stays in the changes file).
CUT = " … (cut to fit the page: the full text is in the changes file)"


def _fit(widths: list[float], row: _Row, room: float) -> _Row:
    """``row`` as measured, or, when its notes make it taller than a page, with the notes cut (by words)
    to the longest start that fits and :data:`CUT` after it: a row is never split over pages, and
    nothing may run past the page's edge."""
    if row.height <= room:
        return row
    words = row.cells[8].split(" ")
    fits, too_long = 0, len(words)  # the longest start that fits: between the two, found by halving
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        row.cells[8] = " ".join(words[:middle]) + CUT
        if _measure(widths, row).height <= room:
            fits = middle
        else:
            too_long = middle
    row.cells[8] = " ".join(words[:fits]) + CUT
    _measure(widths, row)
    return row


@functools.cache
def _ruler(cjk: bool = False) -> FPDF:
    """A page that is never written, with the fonts loaded once per process, to measure wrapped text on
    (``cjk``: with the CJK fallback font, for text DejaVu Sans cannot show)."""
    pdf = FPDF(unit="pt")
    _add_fonts(pdf, cjk)
    pdf.c_margin = 0
    pdf.add_page()
    return pdf


@functools.lru_cache(maxsize=65536)
def _lines(width: float, text: str, bold: bool = False, size: float = BODY_PT) -> int:
    """How many lines ``text`` takes in a cell ``width`` wide (depends only on the font: measured once)."""
    pdf = _ruler(not all(map(_dejavu_has, text)))
    pdf.set_font("DejaVu", "B" if bold else "", size)
    if not text or ("\n" not in text and pdf.get_string_width(text) <= width - 2 * PAD):
        return 1
    return len(cast(list[str], pdf.multi_cell(width - 2 * PAD, LINE, text, dry_run=True, output="LINES")))


def _title_h(widths: list[float]) -> float:
    titles = zip(widths, COLUMNS, strict=True)
    return max(_lines(w, title, bold=True) for w, (title, _, _) in titles) * LINE + 2 * PAD


def _paginate(rows: list[_Row], room: float) -> list[list[_Row]]:
    """Pages of rows: a patient's rows stay together when they fit on a page; a patient longer than a
    page is split between rows (a row itself is never split)."""
    groups: list[list[_Row]] = []
    for row in rows:
        if groups and groups[-1][0].patient == row.patient:
            groups[-1].append(row)
        else:
            groups.append([row])
    pages: list[list[_Row]] = [[]]
    used = 0.0
    for group in groups:
        need = sum(r.height for r in group)
        if used + need > room and pages[-1] and need <= room:
            pages.append([])
            used = 0.0
        for row in group:
            if used + row.height > room and pages[-1]:
                pages.append([])
                used = 0.0
            pages[-1].append(row)
            used += row.height
    return pages


def _page_header(pdf: FPDF, title: str, right: str, sub: str) -> None:
    pdf.add_page()
    pdf.set_xy(MARGIN, MARGIN)
    pdf.set_font("DejaVu", "B", 16)
    width = pdf.w - 2 * MARGIN
    pdf.cell(width * 0.75, 22, title)
    pdf.cell(width * 0.25, 22, right, align="R")
    pdf.set_xy(MARGIN, MARGIN + 24)
    pdf.set_font("DejaVu", "", 11)
    pdf.multi_cell(width, 14, sub)


def _page(
    pdf: FPDF,
    header: SheetHeader,
    widths: list[float],
    day: tuple[str, str],
    numbers: tuple[int, int, int, int],
    rows: list[_Row],
) -> None:
    date, zone_text = day
    index, of, number, total = numbers
    weekday = WEEKDAYS[dt.date.fromisoformat(date).weekday()]
    title = f"{header.study} · {header.site} · {weekday} {date}"
    _page_header(pdf, title, f"page {index} of {of}", _subtitle(header, zone_text))
    y = MARGIN + HEADER_H
    y = _title_row(pdf, widths, y)
    shown: set[str] = set()
    for row in rows:
        y = _draw_row(pdf, widths, row, y, first=row.patient not in shown)
        shown.add(row.patient)
    _footer(pdf, header, number, total)


def _subtitle(header: SheetHeader, zone_text: str | None) -> str:
    kind = "in-clinic and home doses" if header.home else "in-clinic doses"
    if header.open_label:
        blind = "open label"
    else:
        blind = "BLINDED" if header.blinded else "UNBLINDED: shows true drugs; keep from blinded staff"
    if zone_text is None:
        return f"{kind} · {blind}"
    return f"{kind} · {blind} · {zone_text} · tick the box when given, write the time given and your initials"


def _title_row(pdf: FPDF, widths: list[float], y: float) -> float:
    height = _title_h(widths)
    pdf.set_font("DejaVu", "B", BODY_PT)
    pdf.set_fill_color(*GREY)
    x = MARGIN
    for width, (title, _, _) in zip(widths, COLUMNS, strict=True):
        pdf.rect(x, y, width, height, style="DF")
        pdf.set_xy(x + PAD, y + PAD)
        pdf.multi_cell(width - 2 * PAD, LINE, title)
        x += width
    return y + height


def _draw_row(pdf: FPDF, widths: list[float], row: _Row, y: float, first: bool) -> float:
    x = MARGIN
    if row.held:
        pdf.set_fill_color(*GREY)
        pdf.rect(MARGIN, y, sum(widths), row.height, style="F")
    cells = list(row.cells)
    cells[0] = row.patient if first else ""
    if row.held:
        cells[5], cells[6], cells[7] = "HELD", "—", "—"
    for i, (width, text) in enumerate(zip(widths, cells, strict=True)):
        pdf.rect(x, y, width, row.height)
        if first:  # a heavier line where the next patient starts
            pdf.set_line_width(1.6)
            pdf.line(x, y, x + width, y)
            pdf.set_line_width(THIN)
        bold = (i == 0) or (row.held and i in (5, 8))
        size = _id_size(width, text) if i == 0 else BODY_PT if i != 5 or not row.held else 9
        pdf.set_font("DejaVu", "B" if bold else "", size)
        if i == 5 and not row.held:
            side = 16.0
            pdf.rect(x + (width - side) / 2, y + PAD + 1, side, side)
        elif text:
            pdf.set_xy(x + PAD, y + PAD)
            pdf.multi_cell(width - 2 * PAD, LINE, text, align="L")
        x += width
    return y + row.height


def _footer(pdf: FPDF, header: SheetHeader, number: int, total: int) -> None:
    pdf.set_font("DejaVu", "", 9)
    pdf.set_xy(MARGIN, pdf.h - MARGIN - 12)
    span = f"{header.span[0]} to {header.span[1]}"
    text = f"{header.study} worklist, {header.site}, {span} · {header.changes} · sheet page {number} of {total}"
    pdf.cell(pdf.w - 2 * MARGIN, 12, text)


def _empty_page(pdf: FPDF, header: SheetHeader, total: int) -> None:
    first, last = header.span
    title = f"{header.study} · {header.site} · {first} to {last}"
    _page_header(pdf, title, "page 1 of 1", _subtitle(header, None))
    pdf.set_xy(MARGIN, MARGIN + HEADER_H + 20)
    pdf.set_font("DejaVu", "B", 14)
    kind = "doses" if header.home else "in-clinic doses"
    text = f"No {kind} to give at this site from {first} to {last} (both days included)."
    pdf.multi_cell(pdf.w - 2 * MARGIN, 20, text)
    _footer(pdf, header, 1, total)
