"""CSV for people: UTF-8 with a byte-order mark (so Excel shows ×10⁶, µg and Chinese
names correctly) and cells that a spreadsheet would execute neutralised.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written
with a leading apostrophe (OWASP's advice against CSV injection). Numbers and dates are
never changed: numeric columns are untouched, and a text cell that is a plain number
(e.g. ``-5``) is left as it is.

A carriage return inside a cell is written as a line feed: the file's lines end in ``\n``,
so the csv module would leave a lone ``\r`` unquoted and spreadsheets would split the row
there, shifting every later column of a nurse's worklist.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

_DANGEROUS = re.compile(r"^[=+\-@\t\r]")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise(text: str) -> str:
    """``'=SUM(A1)`` for ``=SUM(A1)``; numbers such as ``-5`` stay numbers."""
    if _DANGEROUS.match(text) and not _NUMBER.match(text):
        return "'" + text
    return text


def safe_cell(text: str) -> str:
    """What a text cell is written as: neutralised, carriage returns as line feeds."""
    return neutralise(text).replace("\r\n", "\n").replace("\r", "\n")


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy in which every text cell is neutralised: categories once each, other text columns
    checked for a dangerous first character or a carriage return at once, fixed cell by cell only
    where one is found (a study's table holds millions of cells and hardly ever one of these)."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = series.cat.categories
            if categories.dtype == object or pd.api.types.is_string_dtype(categories.dtype):
                safe = [safe_cell(str(c)) for c in categories]
                if len(set(safe)) == len(safe):
                    out[column] = series.cat.rename_categories(safe)
                else:  # "=1" and "'=1" both become "'=1": categories would repeat
                    out[column] = series.map(dict(zip(categories, safe, strict=True)))
        elif series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[column] = _safe_texts(series)
    return out


def _safe_texts(series: pd.Series) -> pd.Series:
    """``series`` with :func:`safe_cell` applied to its text cells (other cells kept as they are)."""
    text = series.astype(object)
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        is_text = series.notna().to_numpy(dtype=bool)  # a string column: every cell but a missing one
    else:
        is_text = np.fromiter((isinstance(v, str) for v in text), dtype=bool, count=len(text))
    if not is_text.any():
        return series
    cells = text.to_numpy()[is_text]
    first = np.array(cells, dtype="U1")  # each cell's first character ("" for an empty cell)
    risky = np.isin(first, list("=+-@\t\r"))
    if "\r" in "".join(cells):
        risky |= np.array(["\r" in c for c in cells], dtype=bool)
    if not risky.any():
        return series
    fixed = text.copy()
    where = np.flatnonzero(is_text)[risky]
    fixed.iloc[where] = [safe_cell(v) for v in text.iloc[where]]
    return fixed.astype(series.dtype) if pd.api.types.is_string_dtype(series.dtype) else fixed


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` for people: neutralised, UTF-8 with BOM, ``\\n`` line ends, no index."""
    safe_frame(frame).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n", float_format="%.10g")


BOM = "\ufeff".encode()


def csv_header(frame: pd.DataFrame) -> bytes:
    """The first bytes of :func:`write_csv`'s file for ``frame``: the byte-order mark and the header line."""
    return BOM + _rows_text(frame.iloc[:0], header=True).encode()


def row_ends(rows: bytes, count: int) -> np.ndarray | None:
    """Where each of ``count`` rows ends in ``rows`` (:func:`~dosing.io.write.csv_fast.csv_rows`), or
    None when a cell holds a line break (a quoted line feed), so that lines are not rows."""
    ends = np.flatnonzero(np.frombuffer(rows, dtype=np.uint8) == ord("\n")) + 1
    return ends if len(ends) == count else None


def _rows_text(frame: pd.DataFrame, header: bool) -> str:
    text = frame.to_csv(None, index=False, header=header, lineterminator="\n", float_format="%.10g")
    return text or ""
