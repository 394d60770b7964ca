"""A patient's printable diary as PDF (fpdf2): landscape A4 or Letter, one page per 4 study weeks.

Each page: the title, patient, study and page number; the study's contact line; the methotrexate
warning (highlighted) when the page has a once-weekly dose; the patient's medicines with their
instructions; a legend; then the weeks as rows and the seven days of each study week as columns.
A day lists its items by time: a tick box for each home dose, a blue band for doses given at the
clinic and for clinic visits, held doses crossed out, the once-weekly day in yellow.

Output is byte-for-byte reproducible (a fixed creation date): twins of different arms get the same
bytes, which ``tests/test_diary.py`` checks.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, cast

import pandas as pd
from babel.dates import format_date, format_skeleton
from fpdf import FPDF
from fpdf.enums import MethodReturnValue, WrapMode
from fpdf.fonts import TTFFont

from ...errors import OutputError
from .diary_fonts import add_font, cut_subsets, fonts_for
from .diary_rows import CLINIC, HOME, Medicine
from .i18n import Translate

if TYPE_CHECKING:
    from ...jobs.worklist import ChangesNote

#: Paper sizes (landscape), width x height in mm.
PAPERS = {"a4": (297.0, 210.0), "letter": (279.4, 215.9)}
WEEKS_PER_PAGE = 4
MARGIN = 10.0
WEEK_LABEL = 16.0
_BOX = 2.6  # mm, the tick box at the normal line height
_FIXED_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # reproducible bytes: no clock in the file
_YELLOW = (255, 236, 140)
_BLUE = (214, 232, 250)
_GREY = (110, 110, 110)
_INK = (0, 0, 0)
_RED = (160, 0, 0)
#: Where Chinese text may break (see :func:`break_units`): each CJK character is a unit; a run of other
#: characters (a Latin word, "17.5", "PKUPH") is one unit, and a number keeps its unit ("17.5 mg",
#: "1 × 10⁶ IU"); closing punctuation stays with the unit before it, opening punctuation with the one after.
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_UNIT = re.compile(
    rf"\d[\d.,]*(?: × 10[⁰¹²³⁴⁵⁶⁷⁸⁹]+)?(?: (?:mg|g|µg|mcg|IU|MIU|ml|mL|U|%)\b)?|[^\s{_CJK}]+|[{_CJK}]|\s+",
)
_CLOSING = set("）】」』》〉，。、；：！？”’)]}.,;:!?%-")
_OPENING = set("（【「『《〈“‘([{")


def break_units(text: str) -> list[str]:
    """``text`` cut where a line may break: Chinese between characters or at spaces, never inside a Latin
    word, a number or a number with its unit, never before closing or after opening punctuation.
    The units joined give ``text`` back."""
    units: list[str] = []
    glue = False  # the last unit was opening punctuation: the next one joins it
    for unit in _UNIT.findall(text):
        if units and (glue or unit[0] in _CLOSING) and not unit.isspace():
            units[-1] += unit
        else:
            units.append(unit)
        glue = unit[-1] in _OPENING
    return units


@dataclass(frozen=True)
class Diary:
    """Everything one patient's diary shows (built by :mod:`dosing.jobs.diary`)."""

    study_id: str
    patient_id: str
    language: str
    start: dt.date  # study day 1
    weeks: int
    items: pd.DataFrame  # see dosing.io.write.diary_rows.ITEM_COLUMNS
    medicines: list[Medicine]
    warnings: list[str]  # the once-weekly warnings, one per drug and weekday
    contact: str | None
    translate: Translate
    changes: ChangesNote | None = None  # which changes file was applied, printed in the footer
    address: str | None = None  # the clinic's address (the protocol's [clinic]), printed under the contact


def diary_pdf(diary: Diary, paper: str) -> bytes:
    """The diary's PDF bytes on ``paper`` ("a4" or "letter")."""
    width, height = PAPERS[paper]
    pdf = _Sheet(diary, width, height)
    pages = max(1, -(-diary.weeks // WEEKS_PER_PAGE))
    by_day = items_by_day(diary.items)
    for page in range(pages):
        pdf.draw_page(page, pages, by_day)
    _refuse_missing_glyphs(pdf, diary)
    cut_subsets(pdf)
    return bytes(pdf.output())


class _Row(NamedTuple):
    """One item of a day, as drawn (the columns of the items table that :meth:`_Sheet._day` reads)."""

    time: str
    kind: str
    text: str
    held: bool
    weekly: bool


def items_by_day(items: pd.DataFrame) -> dict[int, list[_Row]]:
    """The items of each study day that has any, in the table's order (plain tuples: a diary draws
    about a thousand of them, and a DataFrame per day cost more than the drawing)."""
    by_day: dict[int, list[_Row]] = {}
    columns = (items[c].tolist() for c in ("study_day", "time", "kind", "text", "held", "weekly"))
    for day, time, kind, text, held, weekly in zip(*columns, strict=True):
        by_day.setdefault(int(day), []).append(_Row(str(time), str(kind), str(text), bool(held), bool(weekly)))
    return by_day


@functools.lru_cache(maxsize=4096)
def _date_text(date: dt.date, pattern: str, locale: str, skeleton: bool) -> str:
    """A weekday or a day's label ("Dec 11", "12月11日"), formatted once per process (Babel is slow)."""
    return format_skeleton(pattern, date, locale=locale) if skeleton else format_date(date, pattern, locale=locale)


#: Lines of wrapped texts, shared by the diaries a process draws: (language, text, room, size, bold) ->
#: the lines and whether wrapping rendered them (fpdf2's dry run picks their glyphs into the subset).
_WRAPPED: dict[tuple[str, str, float, float, bool], tuple[list[str], bool]] = {}
_WRAPPED_MAX = 100_000  # texts; past it the memo starts again (a text is ~100 bytes)


def _refuse_missing_glyphs(pdf: FPDF, diary: Diary) -> None:
    """A printed diary must never silently drop a letter of a drug name, a place or a contact line
    (fpdf2 only logs the glyphs a font lacks and leaves a gap): refuse, naming them."""
    missing = sorted({chr(code) for font in pdf.fonts.values() for code in getattr(font, "missing_glyphs", ())})
    if missing:
        raise OutputError(
            f"the diary of {diary.patient_id} has text its fonts cannot show: {''.join(missing)!r}",
            hint="write the site, drug names and contact line in letters of the patient's language (the cohort's "
            "language column: en or zh) and no emoji or control characters; nothing was written",
        )


class _Sheet(FPDF):
    def __init__(self, diary: Diary, width: float, height: float) -> None:
        super().__init__(orientation="L", unit="mm", format=(height, width))
        self.diary = diary
        self.w_page, self.h_page = width, height
        self.set_auto_page_break(False)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_creation_date(_FIXED_DATE)
        self.set_lang("zh-Hans" if diary.language == "zh" else diary.language)
        _ = diary.translate
        self.title_text = _("Medicine diary")
        self.set_title(f"{self.title_text} {diary.patient_id}")
        files = fonts_for(diary.language)
        add_font(self, "body", "", files.regular)
        self.has_bold = files.bold is not None
        self.item_size: float | None = None
        if files.bold is not None:
            add_font(self, "body", "B", files.bold)
        if diary.language != "en":  # what the CJK font lacks ("1 × 10⁶ IU": the superscript digits) in DejaVu
            latin = fonts_for("en")
            add_font(self, "latin", "", latin.regular)
            self.set_fallback_fonts(["latin"], exact_match=False)

    def use_font(self, size: float, bold: bool = False) -> None:
        self.set_font("body", "B" if bold and self.has_bold else "", size)

    # ---- one page ---------------------------------------------------------------------------

    def draw_page(self, index: int, pages: int, by_day: dict[int, list[_Row]]) -> None:
        _ = self.diary.translate
        self.add_page()
        first_week = index * WEEKS_PER_PAGE + 1
        weeks = range(first_week, min(first_week + WEEKS_PER_PAGE, self.diary.weeks + 1))
        days = range(7 * (first_week - 1) + 1, 7 * weeks[-1] + 1)
        self._title(index + 1, pages)
        weekly = any(row.weekly for d in days for row in by_day.get(d, ()))
        top = self._header(weekly, (days[0], days[-1]))
        self._grid(top, list(weeks), by_day)
        self.use_font(7)
        self.set_text_color(*_GREY)
        self.set_xy(MARGIN, self.h_page - MARGIN + 2)
        self.cell(0, 4, _("Bring this diary to every clinic visit."))
        note = self.diary.changes
        if note is not None:  # which changes file the diary applies (the same for every patient)
            said = _("no changes applied") if note.file is None else _("changes: {file}").format(file=note.file)
            self.set_xy(MARGIN, self.h_page - MARGIN + 2)
            self.cell(
                self.w_page - 2 * MARGIN, 4, said + (f" (sha256 {note.sha256})" if note.sha256 else ""), align="R"
            )

    def _title(self, page: int, pages: int) -> None:
        _ = self.diary.translate
        self.set_text_color(*_INK)
        self.use_font(14, bold=True)
        self.set_xy(MARGIN, MARGIN)
        self.cell(0, 7, f"{self.title_text}  ·  {self.diary.patient_id}")
        self.use_font(9)
        study = _("Study {study}").format(study=self.diary.study_id)
        right = study + "  ·  " + _("Page {page} of {pages}").format(page=page, pages=pages)
        self.set_xy(MARGIN, MARGIN)
        self.cell(self.w_page - 2 * MARGIN, 7, right, align="R")

    def _header(self, weekly: bool, days: tuple[int, int]) -> float:
        _ = self.diary.translate
        y = MARGIN + 8
        if self.diary.contact:  # wrapped: a phone number or an address cut at the edge would be wrong
            self.set_xy(MARGIN, y)
            self.use_font(9)
            self.multi_cell(self.w_page - 2 * MARGIN, 4.5, self.diary.contact)
            y = max(y + 5.5, self.get_y() + 1)
        if self.diary.address:  # the place of the "at the clinic" items
            self.set_xy(MARGIN, y)
            self.use_font(9)
            self.cell(0, 5, _("Your clinic: {address}").format(address=self.diary.address))
            y += 5.5
        if weekly:
            for warning in self.diary.warnings:
                self.set_xy(MARGIN, y)
                self.set_fill_color(*_YELLOW)
                self.set_text_color(*_RED)
                self.use_font(10, bold=True)
                self.cell(self.w_page - 2 * MARGIN, 6, "  " + warning, fill=True)
                y += 6.5
        self.set_text_color(*_INK)
        self.set_xy(MARGIN, y)
        self.use_font(8)
        shown = [m.text for m in self.diary.medicines if m.first_day <= days[1] and m.last_day >= days[0]]
        if shown:  # a page of visits only (the last week) lists none
            line = _("Your medicines: {list}").format(list=_("; ").join(shown))
            if self.diary.language == "zh":  # broken as the items are, never inside "17.5 mg"
                for text in self._lines(line, self.w_page - 2 * MARGIN - 2 * self.c_margin, (8, False)):
                    self.set_x(MARGIN)
                    self.cell(self.w_page - 2 * MARGIN, 4, text, new_x="LMARGIN", new_y="NEXT")
            else:
                self.multi_cell(self.w_page - 2 * MARGIN, 4, line)
        return self._legend(self.get_y() + 0.8)

    def _legend(self, y: float) -> float:
        _ = self.diary.translate
        self.use_font(7.5)
        self.set_text_color(*_GREY)
        x = MARGIN
        self.rect(x, y + 0.9, 2.6, 2.6)
        x += 3.6
        for text, kind in (
            (_("tick when taken"), HOME),
            (_("given at the clinic, or a clinic visit"), CLINIC),
            (_("crossed out: held, do not take"), "held"),
        ):
            if kind == CLINIC:
                self.set_fill_color(*_BLUE)
                self.rect(x, y + 0.6, 8, 3.2, style="F")
                x += 9
            self.set_xy(x, y)
            self.cell(self.get_string_width(text) + 1, 4.4, text)
            if kind == "held":
                self.line(x, y + 2.2, x + self.get_string_width(text), y + 2.2)
            x += self.get_string_width(text) + 8
        self.set_text_color(*_INK)
        return y + 5.5

    # ---- the weeks ----------------------------------------------------------------------------

    def _grid(self, top: float, weeks: list[int], by_day: dict[int, list[_Row]]) -> None:
        column = (self.w_page - 2 * MARGIN - WEEK_LABEL) / 7
        row = (self.h_page - MARGIN - 2 - top - 5) / WEEKS_PER_PAGE
        locale = self.diary.language
        self.use_font(8, bold=True)
        for i in range(7):
            day = self.diary.start + dt.timedelta(days=i)
            self.set_xy(MARGIN + WEEK_LABEL + i * column, top)
            self.cell(column, 5, _date_text(day, "EEEE", locale, False), align="C")
        for r, week in enumerate(weeks):
            y = top + 5 + r * row
            self._week_label(week, y, row)
            for i in range(7):
                study_day = 7 * (week - 1) + i + 1
                x = MARGIN + WEEK_LABEL + i * column
                self._day(study_day, x, y, column, row, by_day.get(study_day))

    def _week_label(self, week: int, y: float, height: float) -> None:
        self.set_draw_color(*_INK)
        self.rect(MARGIN, y, WEEK_LABEL, height)
        self.use_font(9, bold=True)
        self.set_xy(MARGIN, y + 1)
        _ = self.diary.translate
        self.multi_cell(WEEK_LABEL, 4.5, _("Week {week}").format(week=week), align="C")

    def _day(self, study_day: int, x: float, y: float, w: float, h: float, items: list[_Row] | None) -> None:
        weekly = items is not None and any(row.weekly for row in items)
        if weekly:
            self.set_fill_color(*_YELLOW)
            self.rect(x, y, w, h, style="DF")
        else:
            self.rect(x, y, w, h)
        date = self.diary.start + dt.timedelta(days=study_day - 1)
        self.use_font(7)
        self.set_text_color(*_GREY)
        self.set_xy(x + 1, y + 0.6)
        self.cell(w - 2, 3.4, _date_text(date, "MMMd", self.diary.language, True))
        self.set_text_color(*_INK)
        if items is None:
            return
        size = self._size(w)
        step = 3.9 * size / 7.8
        entries = [self._entry(row, w, size) for row in items]
        total = sum(len(entry.lines) for entry in entries)
        if total * step > h - 5:  # a crowded day: smaller, never cut
            scale = (h - 5) / (total * step)
            size, step = size * scale, step * scale
        top = y + 4.4
        for entry in entries:
            self._item(entry, x, top, (w, step, size))
            top += step * len(entry.lines)

    def _entry(self, row: _Row, w: float, size: float) -> _Entry:
        text = f"{row.time} {row.text}".strip()
        return _Entry(row.kind, row.held, row.weekly, self._lines(text, self._room(w, row.kind), (size, row.weekly)))

    def _size(self, w: float) -> float:
        """One font size for the diary's items: the largest from 7.8 down to 6.6 pt at which every
        usual home dose ("08:00 Loxoprofen 60 mg") fits one line; longer texts wrap."""
        if self.item_size is None:
            home = self.diary.items[(self.diary.items["kind"] == HOME) & ~self.diary.items["weekly"]]
            texts = (home["time"].astype(str) + " " + home["text"].astype(str)).unique()
            self.use_font(7.8)
            room = self._room(w, HOME)
            fits = [7.8 * room / max(self.get_string_width(str(t)), 1e-6) for t in texts]
            self.item_size = min([7.8, *(0.98 * size for size in fits if size >= 6.6)])
        return self.item_size

    def _room(self, w: float, kind: str) -> float:
        return w - 3.2 - (_BOX if kind == HOME else 0.0)

    def _lines(self, text: str, room: float, font: tuple[float, bool]) -> list[str]:
        """``text`` wrapped to ``room`` mm at ``font`` (size, bold), by words (Chinese by characters).
        Each text is wrapped once per process: later diaries pick the glyphs the wrapping picked, in the
        same order, so that their font subsets and bytes are those of wrapping again."""
        self.use_font(*font)
        key = (self.diary.language, text, room, *font)
        known = _WRAPPED.get(key)
        if known is None:
            rendered = self.diary.language != "zh" and self.get_string_width(text) > room
            known = (self._wrap(text, room), rendered)
            if rendered and self._fallback_font_ids:
                return list(known[0])  # the dry run may have picked glyphs of another font: not replayed
            if len(_WRAPPED) >= _WRAPPED_MAX:
                _WRAPPED.clear()
            _WRAPPED[key] = known
        elif known[1]:
            current = self.current_font
            assert isinstance(current, TTFFont)  # the diary's fonts are all TrueType or OpenType files
            pick = current.subset.pick
            for line in known[0]:
                for char in line:
                    pick(ord(char))
        return list(known[0])

    def _wrap(self, text: str, room: float) -> list[str]:
        if self.get_string_width(text) <= room:
            return [text]
        if self.diary.language == "zh":
            return self._break(text, room)
        width = room + 2 * self.c_margin  # multi_cell keeps a margin on each side
        lines = self.multi_cell(width, 3, text, dry_run=True, output=MethodReturnValue.LINES, wrapmode=WrapMode.WORD)
        return [str(line) for line in cast(list[str], lines)]

    def _break(self, text: str, room: float) -> list[str]:
        """Chinese text in lines of at most ``room`` mm, broken only between :func:`break_units` (a unit
        wider than a whole line, which no real text has, is cut by characters rather than overflow)."""
        lines = [""]
        for unit in break_units(text):
            if self.get_string_width(lines[-1] + unit) <= room or not lines[-1].strip():
                lines[-1] += unit if lines[-1] or not unit.isspace() else ""
            elif not unit.isspace():
                lines.append(unit)
            while self.get_string_width(lines[-1]) > room and len(lines[-1]) > 1:
                cut = max(n for n in range(1, len(lines[-1])) if self.get_string_width(lines[-1][:n]) <= room)
                lines[-1:] = [lines[-1][:cut], lines[-1][cut:]]
        return [line.rstrip() for line in lines if line.strip()] or [text]

    def _item(self, entry: _Entry, x: float, y: float, shape: tuple[float, float, float]) -> None:
        """One item at (x, y): ``shape`` is the cell width, the line height and the font size."""
        w, step, size = shape
        box = _BOX * step / 3.9 if entry.kind == HOME else 0.0
        if entry.kind == HOME:
            self.rect(x + 1, y + (step - box) / 2, box, box)
        else:
            self.set_fill_color(*_BLUE)
            self.rect(x + 0.5, y + 0.2, w - 1, step * len(entry.lines) - 0.4, style="F")
        self.use_font(size, bold=entry.weekly)
        self.set_text_color(*(_GREY if entry.held else _RED if entry.weekly else _INK))
        left = x + 1.5 + box
        for n, line in enumerate(entry.lines):
            self.set_xy(left, y + n * step)
            self.cell(self._room(w, entry.kind), step, line)
            if entry.held:  # crossed out, box included
                middle = y + n * step + step / 2
                self.set_draw_color(*_RED)
                self.line(x + 0.5, middle, left + self.get_string_width(line), middle)
                self.set_draw_color(*_INK)
        self.set_text_color(*_INK)


@dataclass(frozen=True)
class _Entry:
    """An item as drawn: its kind, whether held or once-weekly, and its text wrapped to the cell."""

    kind: str
    held: bool
    weekly: bool
    lines: list[str]
