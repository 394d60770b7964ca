"""The same bytes as :func:`dosing.io.write.csv.write_csv`, for tables of a million rows: the one
fast CSV writer (the adherence tables through :func:`write_csv_fast`; ``dosing generate``'s study
and per-patient files through :func:`csv_rows`, whose rows are the same in a slice as in the whole).

``write_csv`` neutralises every text cell in Python and lets pandas format every number in
Python: about 10 s for the adherence ``doses.csv`` of a million planned doses. Here each column
becomes its final text in one pass:

- text: only the cells that start with a character a spreadsheet would execute (found for the
  whole column at once from each cell's first character) or hold a carriage return go through
  the same :func:`~dosing.io.write.csv.safe_cell`; the others are already safe;
- categories: each category once;
- integers: their digits (a missing one "");
- anything else (floats, booleans, dates): each *distinct* value through pandas' own ``to_csv``
  with ``write_csv``'s options, so it reads exactly as ``write_csv`` writes it.

The rows are then joined with the csv module's minimal quoting (as pandas writes them: a cell with a
comma, a quote or a line feed in quotes), ``\\n`` line ends, in blocks encoded at once as UTF-8 after
a byte-order mark. ``tests/test_csv_fast.py`` holds the
two writers to the same bytes.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .csv import safe_cell, write_csv

#: What ``write_csv`` gives ``DataFrame.to_csv``; the distinct values are formatted with the same.
FORMAT = {"index": False, "lineterminator": "\n", "float_format": "%.10g"}
#: First characters that make a text cell a formula (see :mod:`dosing.io.write.csv`).
_RISKY_FIRST = np.array(list("=+-@\t\r"))
_BLOCK_ROWS = 100_000
_QUOTE_IN = re.compile(r'[,"\n]')


def write_csv_fast(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as :func:`~dosing.io.write.csv.write_csv` does, column by column."""
    if frame.shape[1] == 0:
        write_csv(frame, path)
        return
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([str(name) for name in frame.columns])
    cells = _cells(frame)
    with open(path, "wb") as handle:
        handle.write(buffer.getvalue().encode("utf-8-sig"))
        for start in range(0, len(frame), _BLOCK_ROWS):
            handle.write(_joined([column[start : start + _BLOCK_ROWS] for column in cells]))


def csv_rows(frame: pd.DataFrame) -> bytes:
    """The rows of :func:`~dosing.io.write.csv.write_csv`'s file for ``frame``, without the header:
    each row's text is the same as in the whole file, so files may be assembled from the rows of
    slices (see :func:`~dosing.io.write.csv.csv_header`)."""
    if frame.shape[1] == 0:  # as pandas writes rows of no column
        return frame.to_csv(None, index=False, header=False, lineterminator="\n").encode()
    return _joined(_cells(frame)) if len(frame) else b""


def _cells(frame: pd.DataFrame) -> list[np.ndarray]:
    """Each column's cells as written (neutralised, formatted, quoted)."""
    cells = [quoted(column_text(frame.iloc[:, i])) for i in range(frame.shape[1])]
    if frame.shape[1] == 1:  # the csv module writes a row of one empty cell as ""
        cells = [np.where(cells[0] == "", '""', cells[0])]
    return cells


def _joined(cells: list[np.ndarray]) -> bytes:
    if not len(cells[0]):
        return b""
    return ("\n".join(map(",".join, zip(*cells, strict=True))) + "\n").encode("utf-8")


def quoted(cells: np.ndarray) -> np.ndarray:
    """Cells as the csv module writes them with minimal quoting and ``\n`` line ends: a cell holding
    a comma, a quote or a line feed in quotes, its quotes doubled (a carriage return, which
    ``safe_cell`` has already made a line feed, is not quoted by it either)."""
    joined = "".join(cells)
    if "," not in joined and '"' not in joined and "\n" not in joined:
        return cells
    return np.array([_quote(cell) if _QUOTE_IN.search(cell) else cell for cell in cells], dtype=object)


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


def column_text(series: pd.Series) -> np.ndarray:
    """Each cell of ``series`` as ``write_csv`` writes it (before quoting), an object array: text
    neutralised as :func:`~dosing.io.write.csv.safe_frame` does (every category of text categories;
    the str cells of a text column), the rest formatted as pandas does."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _categories(series)
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_object_dtype(dtype) or _is_str(dtype):
        # the kinds of the cells, not of the distinct values: 1, 1.0 and True are one distinct value
        kind = "integer" if pd.api.types.is_integer_dtype(dtype) else pd.api.types.infer_dtype(series, skipna=True)
        if kind in ("string", "empty"):  # often one distinct text per cell (uids): no factorize
            texts = series.to_numpy(dtype=object, copy=True)
            texts[series.isna().to_numpy(dtype=bool)] = ""
            return safe_texts(texts)
        if kind in ("integer", "boolean"):
            codes, distinct = pd.factorize(series)  # a missing cell: code -1, written ""
            return np.array([*map(str, distinct.tolist()), ""], dtype=object)[codes]
    return _distinct(series)


def _is_str(dtype: Any) -> bool:
    return pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)


def safe_texts(values: np.ndarray) -> np.ndarray:
    """``safe_cell`` of every cell of an object array of str, visiting only the cells it changes."""
    out = values.copy()
    touch = np.isin(values.astype("U1"), _RISKY_FIRST)
    if "\r" in "".join(values):
        touch |= np.array(["\r" in v for v in values], dtype=bool)
    rows = np.flatnonzero(touch)
    out[rows] = [safe_cell(v) for v in values[rows]]
    return out


def _categories(series: pd.Series) -> np.ndarray:
    categories = series.cat.categories
    codes = series.cat.codes.to_numpy()
    if categories.dtype == object or pd.api.types.is_string_dtype(categories.dtype):
        text = np.array([*(safe_cell(str(c)) for c in categories), ""], dtype=object)
        return text[codes]  # a missing cell (code -1) is ""
    return _by_pandas(series)


def _distinct(series: pd.Series) -> np.ndarray:
    """Each distinct value formatted once by pandas, then per row. Distinct by bits for floats
    (-0.0 prints "-0", 0.0 "0"), by value where equal values print alike (booleans, date-times);
    anything else (an object column of numbers and words: 1 and True are equal but print apart)
    is formatted cell by cell."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        codes, bits = pd.factorize(series.to_numpy().view(f"i{dtype.itemsize}"))
        return _by_pandas(pd.Series(bits.view(dtype), name=series.name))[codes]
    alike = (isinstance(dtype, np.dtype) and dtype.kind in "bM") or isinstance(dtype, pd.DatetimeTZDtype)
    if alike or (pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=False) == "boolean"):
        codes, distinct = pd.factorize(series, use_na_sentinel=False)
        return _by_pandas(pd.Series(distinct, dtype=dtype, name=series.name))[codes]
    return _by_pandas(series)


def _by_pandas(series: pd.Series) -> np.ndarray:
    """Cells as ``write_csv`` gives them to the csv module: text neutralised, all formatted by
    pandas' ``to_csv`` with its options (and read back unquoted)."""
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        series = series.map(lambda v: safe_cell(v) if isinstance(v, str) else v)
    text = series.to_frame().to_csv(**FORMAT)  # type: ignore[call-overload]
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    return np.array([row[0] if row else "" for row in rows], dtype=object)
