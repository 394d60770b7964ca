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
    """A copy in which every text cell is neutralised (categories are handled once each)."""
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
            out[column] = series.map(lambda v: safe_cell(v) if isinstance(v, str) else v)
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` for people: neutralised, UTF-8 with BOM, ``\\n`` line ends, no index."""
    safe_frame(frame).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n", float_format="%.10g")
