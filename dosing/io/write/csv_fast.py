"""The same bytes as :func:`dosing.io.write.csv.write_csv`, for tables of a million rows: the one
fast CSV writer (the adherence tables through :func:`write_csv_fast`; ``dosing generate``'s study
and per-patient files through :func:`csv_rows`, whose rows are the same in a slice as in the whole).

``write_csv`` neutralises every text cell in Python and lets pandas format every number in
Python: about 10 s for the adherence ``doses.csv`` of a million planned doses. Here each column
becomes its final text (neutralised, formatted, quoted) once per *distinct* value, as codes into
those texts (:func:`coded`):

- categories: each category once, the codes are the categories';
- numbers, booleans, dates, and text columns whose first rows repeat: factorized, each distinct
  value once (integers as their digits, text through :func:`~dosing.io.write.csv.safe_cell`, the
  rest through pandas' own ``to_csv`` with ``write_csv``'s options, so it reads exactly as
  ``write_csv`` writes it; floats distinct by bits: -0.0 prints "-0");
- text that is mostly distinct (uids) is the one kind kept as a text per row: only its cells that
  start with a character a spreadsheet would execute (found from each cell's first character) or
  hold a carriage return go through :func:`~dosing.io.write.csv.safe_cell`, only those with a
  comma, quote or line break are quoted (found for the column at once in its joined text).

**Fusion.** Joining a row of twenty cells costs most of the time (``",".join`` per row), so
adjacent coded columns are fused into one *segment*: each row's codes are combined
arithmetically (``code * size + next code``, renumbered when the product grows), and each
combination that occurs is joined once; the row then takes that text. ``date, time, timezone,
planned_utc, ..., weekday`` has only as many combinations as distinct dates and times, so a
dose table row joins five segments instead of twenty cells. A run stops fusing at the column that
would give it more than one combination in :data:`_FUSE_SHARE` rows (e.g. patient ids against
dates; a column with that many values on its own is not tried); the next run starts there. The
segments are the same text as the cells joined by commas, so the bytes do not change; a cell with
a line break is quoted as before (lines are then not rows).

The rows end in ``\\n`` (the last segment's texts carry it) and are encoded at once as UTF-8;
:func:`write_csv_fast` writes them in blocks after the byte-order mark and the header.
``tests/test_csv_fast.py`` holds the two writers to the same bytes.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
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
#: A run of coded columns fuses while it has at most one combination in this many rows (or at most
#: :data:`_FUSE_MIN`); a text column is coded when its first :data:`_PROBE_ROWS` rows repeat as much.
_FUSE_SHARE = 8
_FUSE_MIN = 256
_PROBE_ROWS = 1024
_QUOTE_IN = re.compile(r'[,"\n]')

#: A column's cells as written: (codes, texts), each row's text ``texts[codes]``; or (None, texts),
#: one text per row.
Column = tuple[np.ndarray | None, np.ndarray]


def write_csv_fast(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as :func:`~dosing.io.write.csv.write_csv` does, column by column."""
    if frame.shape[1] == 0:
        write_csv(frame, path)
        return
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([str(name) for name in frame.columns])
    segments = _segments(frame) if len(frame) else []
    with open(path, "wb") as handle:
        handle.write(buffer.getvalue().encode("utf-8-sig"))
        for start in range(0, len(frame), _BLOCK_ROWS):
            handle.write(_joined([segment[start : start + _BLOCK_ROWS] for segment in segments]))


def csv_rows(frame: pd.DataFrame) -> bytes:
    """The rows of :func:`~dosing.io.write.csv.write_csv`'s file for ``frame``, without the header:
    each row's text is the same as in the whole file, so files may be assembled from the rows of
    slices (see :func:`~dosing.io.write.csv.csv_header`)."""
    if frame.shape[1] == 0:  # as pandas writes rows of no column
        return frame.to_csv(None, index=False, header=False, lineterminator="\n").encode()
    return _joined(_segments(frame)) if len(frame) else b""


def _joined(segments: list[np.ndarray]) -> bytes:
    return "".join(map(",".join, zip(*segments, strict=True))).encode("utf-8")


def _segments(frame: pd.DataFrame) -> list[np.ndarray]:
    """Each row's text in segments (runs of coded columns fused, text per row alone), ``\\n`` last."""
    columns = [coded(frame.iloc[:, i]) for i in range(frame.shape[1])]
    if frame.shape[1] == 1:  # the csv module writes a row of one empty cell as ""
        codes, texts = columns[0]
        columns = [(codes, np.where(texts == "", '""', texts))]
    runs = _runs(columns, limit=max(_FUSE_MIN, len(frame) // _FUSE_SHARE))
    return [_rendered(run, end="\n" if run is runs[-1] else "") for run in runs]


@dataclass
class _Run:
    """Adjacent coded columns fused into one segment, or one column of a text per row."""

    texts: list[np.ndarray]  # each column's distinct texts, or the texts per row
    codes: list[np.ndarray]  # each coded column's codes into its texts
    combined: np.ndarray | None  # each row's combination of the codes (None: a text per row)
    count: int = 0  # a bound of the combinations


def _runs(columns: list[Column], limit: int) -> list[_Run]:
    """The columns in runs of at most ``limit`` combinations (each text-per-row column alone)."""
    runs: list[_Run] = []
    for codes, texts in columns:
        last = runs[-1] if runs else None
        if codes is not None and last is not None and last.combined is not None:
            fused = _combine(last.combined, last.count, codes, len(texts), limit)
            if fused is not None:
                last.texts.append(texts)
                last.codes.append(codes)
                last.combined, last.count = fused
                continue
        runs.append(_Run([texts], [], None) if codes is None else _Run([texts], [codes], codes, len(texts)))
    return runs


def _combine(
    combined: np.ndarray, count: int, codes: np.ndarray, size: int, limit: int
) -> tuple[np.ndarray, int] | None:
    """The codes of each row's combination of a run's values (codes below ``count``) and the next
    column's (below ``size``), and a bound of them; None when over ``limit`` combinations occur."""
    if max(count, size) > limit:  # either alone may have too many values (uids as numbers, log lines)
        return None
    both, bound = combined * size + codes, count * size
    if bound <= limit:
        return both, bound
    both, bound = _dense(both, bound)
    return (both, bound) if bound <= limit else None


def _dense(codes: np.ndarray, bound: int) -> tuple[np.ndarray, int]:
    """``codes`` (each below ``bound``) numbered from 0 without gaps, and how many occur."""
    if bound > 4 * len(codes):
        dense, distinct = pd.factorize(codes)
        return dense.astype(np.int64), len(distinct)
    seen = np.zeros(bound, dtype=bool)
    seen[codes] = True
    return (np.cumsum(seen) - 1)[codes], int(seen.sum())


def _rendered(run: _Run, end: str) -> np.ndarray:
    """Each row's text of a run, ``end`` appended: its text per row, or each combination of its
    columns that occurs joined once."""
    if run.combined is None:
        return run.texts[0] + end if end else run.texts[0]
    if len(run.codes) == 1:
        return (run.texts[0] + end)[run.codes[0]]
    rows, count = _dense(run.combined, run.count)
    one = np.empty(count, dtype=np.int64)
    one[rows] = np.arange(len(rows))  # a row of each combination (any: they are alike)
    parts = [texts[codes[one]] for codes, texts in zip(run.codes, run.texts, strict=True)]
    return np.array([",".join(cells) + end for cells in zip(*parts, strict=True)], dtype=object)[rows]


def quoted(cells: np.ndarray, joined: str | None = None) -> np.ndarray:
    """Cells as the csv module writes them with minimal quoting and ``\n`` line ends: a cell holding
    a comma, a quote or a line feed in quotes, its quotes doubled (a carriage return, which
    ``safe_cell`` has already made a line feed, is not quoted by it either). ``joined``: the cells'
    text joined (or a text holding all of their characters), when the caller has it."""
    joined = "".join(cells) if joined is None else joined
    if "," not in joined and '"' not in joined and "\n" not in joined and "\r" not in joined:
        return cells
    return np.array([_quote(cell) if _QUOTE_IN.search(cell) else cell for cell in cells], dtype=object)


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


def coded(series: pd.Series) -> Column:
    """The cells of ``series`` as written (neutralised, formatted, quoted): codes into the distinct
    texts where there are few, a text per row for mostly distinct text and mixed objects."""
    dtype = series.dtype
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_object_dtype(dtype) or _is_str(dtype):
        # the kinds of the cells, not of the distinct values: 1, 1.0 and True are one distinct value
        kind = "integer" if pd.api.types.is_integer_dtype(dtype) else pd.api.types.infer_dtype(series, skipna=True)
        if kind in ("string", "empty") and not _repeats(series):  # uids: no factorize
            return None, safe_texts(series.to_numpy(dtype=object, na_value=""))
        if kind in ("string", "empty", "integer", "boolean"):
            codes, distinct = pd.factorize(series)  # a missing cell: code -1, written ""
            text = safe_cell if kind in ("string", "empty") else str
            return codes + 1, quoted(np.array(["", *map(text, distinct.tolist())], dtype=object))
    coded_or_not, texts = _categories(series) if isinstance(dtype, pd.CategoricalDtype) else _distinct(series)
    return coded_or_not, quoted(texts)


def _is_str(dtype: Any) -> bool:
    return pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)


def _repeats(series: pd.Series) -> bool:
    """Whether a text column's first rows repeat their texts enough to be worth factorizing."""
    head = series.iloc[:_PROBE_ROWS]
    return head.nunique(dropna=False) * _FUSE_SHARE <= len(head)


def safe_texts(values: np.ndarray) -> np.ndarray:
    """``safe_cell`` of every cell of an object array of str, then :func:`quoted`, visiting only the
    cells they change (``values`` itself is not changed)."""
    touch = np.isin(values.astype("U1"), _RISKY_FIRST)
    joined = "".join(values)
    if "\r" in joined:
        touch |= np.array(["\r" in v for v in values], dtype=bool)
    rows = np.flatnonzero(touch)
    if len(rows):
        values = values.copy()
        values[rows] = [safe_cell(v) for v in values[rows]]
    return quoted(values, joined)  # safe_cell adds an apostrophe or makes "\r" a line feed


def _categories(series: pd.Series) -> Column:
    categories = series.cat.categories
    if categories.dtype == object or pd.api.types.is_string_dtype(categories.dtype):
        text = np.array(["", *(safe_cell(str(c)) for c in categories)], dtype=object)
        return series.cat.codes.to_numpy().astype(np.int64) + 1, text  # a missing cell (code -1) is ""
    return None, _by_pandas(series)


def _distinct(series: pd.Series) -> Column:
    """Each distinct value formatted once by pandas. Distinct by bits for floats (-0.0 prints "-0",
    0.0 "0"), by value where equal values print alike (booleans, date-times); anything else (an
    object column of numbers and words: 1 and True are equal but print apart) is formatted cell
    by cell."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        codes, bits = pd.factorize(series.to_numpy().view(f"i{dtype.itemsize}"))
        return codes, _by_pandas(pd.Series(bits.view(dtype), name=series.name))
    alike = (isinstance(dtype, np.dtype) and dtype.kind in "bM") or isinstance(dtype, pd.DatetimeTZDtype)
    if alike or (pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=False) == "boolean"):
        codes, distinct = pd.factorize(series, use_na_sentinel=False)
        return codes, _by_pandas(pd.Series(distinct, dtype=dtype, name=series.name))
    return None, _by_pandas(series)


def _by_pandas(series: pd.Series) -> np.ndarray:
    """Cells as ``write_csv`` gives them to the csv module: text neutralised, all formatted by
    pandas' ``to_csv`` with its options (and read back unquoted)."""
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        series = series.map(lambda v: safe_cell(v) if isinstance(v, str) else v)
    text = series.to_frame().to_csv(**FORMAT)  # type: ignore[call-overload]
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    return np.array([row[0] if row else "" for row in rows], dtype=object)
