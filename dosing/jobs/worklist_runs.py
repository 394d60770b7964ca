"""worklist.csv of a study written chunk by chunk (cohorts too large for one table).

Each chunk of patients gives its worklist already sorted (date, time, patient id as text, drug as
text: :func:`dosing.jobs.generate.worklist`). Its rows are rendered as CSV once and cut by date:
the rows are appended to one file, with four small integers a row to another (the ids of the row's
time, patient and drug texts, and its length in bytes), and where each date's rows begin and end is
kept. A :class:`WorklistRuns` may take
several chunks, or each chunk its own (in a worker process: :func:`write_merged` then reads them
all, in chunk order). At the end the dates are written in order; a date that more than one chunk
wrote to is sorted by (time, patient id, drug) as text, stably, so rows that tie keep their chunk's
order. Patients are in one chunk each, so the result is the bytes of the worklist sorted as one
table. Memory: one date's rows at a time.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from ..io.write.csv import csv_header, row_ends
from ..io.write.csv_fast import csv_rows

#: Rows rendered at once: about 35 MB of text, and ten times that of cells while it is made.
PART_ROWS = 200_000
_MISSING = "\uffff"  # sorts after every text, as pandas sorts a missing value last
_KEYS = ("time", "patient_id", "drug")


class WorklistRuns:
    """Sorted chunks of a worklist in, one sorted CSV out (see the module's text)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir()
        self.ids: dict[str, dict[str, int]] = {key: {} for key in _KEYS}
        self.dates: dict[str, list[tuple[int, int, int, int]]] = {}  # date -> spans: bytes and rows, from and to
        self.header: bytes | None = None
        self.size = self.count = 0  # bytes and rows written so far

    def add(self, sheet: pd.DataFrame) -> None:
        """Append a chunk's worklist (sorted by date, time, patient id and drug text) to the run's
        files, :data:`PART_ROWS` rows at a time (the text of every cell of a part is held at once)."""
        if self.header is None:
            self.header = csv_header(sheet)
        for start in range(0, len(sheet), PART_ROWS):
            self._add(sheet.iloc[start : start + PART_ROWS])

    def _add(self, sheet: pd.DataFrame) -> None:
        rows = csv_rows(sheet)
        ends = row_ends(rows, len(sheet))
        if ends is None:  # a cell holds a line break: rows rendered one by one to know their lengths
            lengths = np.array([len(csv_rows(sheet.iloc[i : i + 1])) for i in range(len(sheet))], dtype=np.int64)
            ends = np.cumsum(lengths)
        starts = np.concatenate([[0], ends[:-1]])
        keys = np.column_stack([*(self._ids(sheet[key], key) for key in _KEYS), ends - starts]).astype(np.int64)
        dates = _texts(sheet["date"])
        cuts = np.flatnonzero(dates[1:] != dates[:-1]) + 1
        for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(sheet)]]), strict=True):
            span = (self.size + int(starts[a]), self.size + int(ends[b - 1]), self.count + int(a), self.count + int(b))
            self.dates.setdefault(str(dates[a]), []).append(span)
        with (self.folder / "rows.csv").open("ab") as out:
            out.write(rows[: int(ends[-1])])
        with (self.folder / "rows.keys").open("ab") as out:
            out.write(keys.tobytes())
        self.size, self.count = self.size + int(ends[-1]), self.count + len(sheet)

    def _ids(self, column: pd.Series, key: str) -> np.ndarray:
        """Each row's text as a number, the same number for the same text in every chunk."""
        codes, distinct = pd.factorize(column, use_na_sentinel=False)
        known = self.ids[key]
        table = np.array([known.setdefault(_text(v), len(known)) for v in distinct], dtype=np.int64)
        return table[codes]

    def write(self, out: BinaryIO) -> None:
        """The header and every date's rows, dates in order, each date sorted; the run's files removed."""
        write_merged([self], out)


def write_merged(runs: list[WorklistRuns], out: BinaryIO) -> None:
    """The header and every date's rows of ``runs`` (in this order), dates in order, each date
    sorted; the runs' files removed."""
    header = next((run.header for run in runs if run.header is not None), None)
    assert header is not None, "no chunk was added"
    out.write(header)
    texts: dict[str, set[str]] = {key: set() for key in _KEYS}
    for run in runs:
        for key in _KEYS:
            texts[key] |= run.ids[key].keys()
    ranks = []  # per run: each key's id -> the text's rank among every run's texts
    for run in runs:
        if not run.count:
            continue
        rank_of = {key: {text: i for i, text in enumerate(sorted(texts[key]))} for key in _KEYS}
        ranks.append({key: _ranks(run.ids[key], rank_of[key]) for key in _KEYS})
    with contextlib.ExitStack() as stack:
        files = [
            (
                stack.enter_context((run.folder / "rows.csv").open("rb")),
                stack.enter_context((run.folder / "rows.keys").open("rb")),
            )
            for run in runs
            if run.count
        ]
        for date in sorted({date for run in runs for date in run.dates}):
            blobs, keys = [], []
            for run, rank, (rows, row_keys) in zip([r for r in runs if r.count], ranks, files, strict=True):
                for first, last, row, stop in run.dates.get(date, []):
                    rows.seek(first)
                    blobs.append(rows.read(last - first))
                    row_keys.seek(row * 32)
                    mine = np.frombuffer(row_keys.read((stop - row) * 32), dtype=np.int64).reshape(-1, 4)
                    keys.append(np.column_stack([*(rank[key][mine[:, i]] for i, key in enumerate(_KEYS)), mine[:, 3]]))
            blob, table = b"".join(blobs), np.concatenate(keys)
            order = np.lexsort([table[:, 2], table[:, 1], table[:, 0]])
            out.write(blob if np.all(order[1:] > order[:-1]) else _gathered(blob, table[:, 3], order))
    for run in runs:
        shutil.rmtree(run.folder)


def _text(value: object) -> str:
    return _MISSING if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _texts(column: pd.Series) -> np.ndarray:
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    return np.array([_text(v) for v in distinct], dtype=object)[codes]


def _ranks(ids: dict[str, int], rank_of: dict[str, int]) -> np.ndarray:
    """Each id's rank among every run's texts (Python's order of str, as the one-table sort)."""
    rank = np.empty(len(ids), dtype=np.int64)
    for text, number in ids.items():
        rank[number] = rank_of[text]
    return rank


def _gathered(blob: bytes, lengths: np.ndarray, order: np.ndarray) -> bytes:
    """The rows of ``blob`` (of these ``lengths``) in ``order``, copied a stretch at a time: rows that
    follow each other in ``blob`` and in ``order`` (one chunk's patients at one time, usually) are
    one slice."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    breaks = np.flatnonzero(order[1:] != order[:-1] + 1) + 1
    first = order[np.concatenate([[0], breaks])]
    last = order[np.concatenate([breaks - 1, [len(order) - 1]])]
    view = memoryview(blob)
    return b"".join([view[a:b] for a, b in zip(starts[first].tolist(), ends[last].tolist(), strict=True)])
