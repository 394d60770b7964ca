"""``dosing generate`` for a cohort larger than :data:`STUDY_CHUNK_PATIENTS`: the study planned,
checked and written a chunk of patients at a time, so that memory does not grow with the cohort.

Every patient is independent of the others: each chunk is expanded (the planned-dose limit of
:mod:`dosing.plan.expand` applies to one chunk), checked, blinded and written (its patients'
files, its rows of doses.csv appended, its worklist rows to :class:`WorklistRuns`), then dropped.
Only what the study-wide files need from every patient is kept: the in-clinic doses for the staff
calendars, the visits (planned for the whole cohort at once; small) and the counts of the
summary. The outputs are the bytes the one-table run writes (``tests/test_study_chunks.py``).

A run with changes is written as one table (a change may name any patient; the limit then applies
to the whole study).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from ..io.write.csv import csv_header
from ..io.write.parquet import ParquetParts
from ..plan.cohort import Cohort
from ..plan.columns import CALENDAR_ONLY, dose_table_columns
from ..plan.expand import expand
from ..plan.warnings import PlanWarning, WarningsRefused, plan_warnings
from ..protocol.model import Protocol
from ..protocol.safety import check_schedule
from ..serve.feeds import Feeds
from .patient_files import CalendarOptions, patient_tables, workers_for, write_patient_files
from .progress import Progress
from .workers import fork_pool
from .worklist_runs import WorklistRuns, write_merged

#: Patients per chunk of a study (about 700 seed doses each: 0.7 M doses, about 0.3 GB at the peak
#: of a worker). A cohort of at most this many is written as one table.
STUDY_CHUNK_PATIENTS = 1024


@dataclass
class ChunkedTotals:
    """What the summary and the study-wide files need from every chunk."""

    per_drug: Counter = field(default_factory=Counter)
    dates: list[str] = field(default_factory=list)  # the first and last date seen
    warnings: list[PlanWarning] = field(default_factory=list)
    in_clinic: list[pd.DataFrame] = field(default_factory=list)
    worklist: _Worklist | None = None  # the chunks' worklist rows, for :func:`write_worklist`

    def date_range(self) -> tuple[str, str]:
        return (min(self.dates), max(self.dates)) if self.dates else ("-", "-")


@dataclass
class ChunkSteps:
    """The steps of :mod:`dosing.jobs.generate` a chunk goes through (passed in: that module calls this one)."""

    dose_table: Callable[[pd.DataFrame], pd.DataFrame]  # expanded doses -> the table the outputs show
    worklist: Callable[[pd.DataFrame, Cohort], pd.DataFrame]
    in_clinic: Callable[[pd.DataFrame], pd.DataFrame]  # the rows the staff calendars show


def chunked(cohort: Cohort, size: int | None = None) -> list[Cohort]:
    """The cohort in chunks of at most ``size`` (:data:`STUDY_CHUNK_PATIENTS`) patients, in order."""
    size = max(1, size or STUDY_CHUNK_PATIENTS)
    patients = cohort.patients
    return [Cohort(patients.iloc[i : i + size], cohort.source) for i in range(0, len(patients), size)]


def write_in_chunks(
    protocol: Protocol,
    cohort: Cohort,
    folder: Path,
    steps: ChunkSteps,
    visits: pd.DataFrame,
    options: tuple[bool, CalendarOptions, Feeds | None],
    warning_options: tuple[dt.date | None, bool, set[str]],
    progress: Progress,
    workers: int | None = None,
) -> ChunkedTotals:
    """doses (CSV or Parquet) and patients/<id>/ (and the feeds) of every chunk, the chunks planned and
    written in a pool of forked processes (one chunk each at a time); the totals for the rest, with
    the chunks' worklist rows for :func:`write_worklist`."""
    _, calendar, _ = options
    parquet = calendar.table_format == "parquet"
    parts = chunked(cohort)
    workers = workers_for(len(cohort)) if workers is None else workers
    scratch = folder / ".chunks"
    scratch.mkdir()
    _SHARED.update(
        protocol=protocol, parts=parts, folder=folder, scratch=scratch, steps=steps, visits=visits,
        options=options, warnings=warning_options,
    )  # fmt: skip
    totals = ChunkedTotals()
    runs: list[WorklistRuns] = []
    sheets = _SheetParts(scratch / "worklist")
    doses_parquet = ParquetParts(folder / "doses.parquet") if parquet else None
    try:
        with (
            progress.stage("planning and writing chunks of patients", total=len(cohort)),
            contextlib.nullcontext(None) if parquet else (folder / "doses.csv").open("wb") as doses_out,
            contextlib.ExitStack() as stack,
        ):
            done: Iterator[_ChunkDone]
            if workers > 1 and len(parts) > 1:
                pool = stack.enter_context(fork_pool(min(workers, len(parts))))
                done = pool.imap(_plan_and_write, range(len(parts)))
            else:
                done = map(_plan_and_write, range(len(parts)))
            for number, chunk in enumerate(done):  # in chunk order
                totals.warnings += chunk.warnings
                if warning_options[1] and totals.warnings:
                    raise WarningsRefused(totals.warnings)
                _append(doses_out, doses_parquet, chunk.doses, first=number == 0)
                runs += [chunk.runs] if chunk.runs is not None else []
                sheets.files += chunk.sheets
                totals.per_drug.update(chunk.per_drug)
                totals.dates += chunk.dates
                totals.in_clinic.append(chunk.in_clinic)
                progress.advance(chunk.patients)
    finally:
        _SHARED.clear()
    if doses_parquet is not None:
        doses_parquet.close()
    totals.worklist = _Worklist(scratch, runs, sheets)
    return totals


@dataclass
class _Worklist:
    """The chunks' worklist rows: CSV runs or Parquet parts, in the scratch folder."""

    scratch: Path
    runs: list[WorklistRuns]
    sheets: _SheetParts


def write_worklist(totals: ChunkedTotals, folder: Path, table_format: str, progress: Progress) -> None:
    """worklist.csv (or .parquet) from the chunks' rows, merged date by date; the scratch folder removed."""
    assert totals.worklist is not None, "write_in_chunks first"
    scratch, runs, sheets = totals.worklist.scratch, totals.worklist.runs, totals.worklist.sheets
    with progress.stage(f"writing worklist.{table_format}"):
        if table_format == "parquet":
            sheets.write(folder / "worklist.parquet")
        else:
            with (folder / "worklist.csv").open("wb") as out:
                write_merged(runs, out)
    shutil.rmtree(scratch)
    totals.worklist = None


_SHARED: dict[str, Any] = {}  # what a forked worker inherits


@dataclass
class _ChunkDone:
    """What a chunk's worker hands back: small things, and where it left its rows."""

    patients: int
    doses: Path  # its rows of doses.csv (the header first), or its doses.parquet
    runs: WorklistRuns | None
    sheets: list[tuple[Path, dict[str, int]]]
    per_drug: Counter
    dates: list[str]
    warnings: list[PlanWarning]
    in_clinic: pd.DataFrame


def _plan_and_write(number: int) -> _ChunkDone:
    """Expand, check, blind and write chunk ``number``: its patients' files, its rows of doses.csv
    and of the worklist (to files of its own); the rest of what the study needs, handed back."""
    protocol: Protocol = _SHARED["protocol"]
    part: Cohort = _SHARED["parts"][number]
    steps: ChunkSteps = _SHARED["steps"]
    scratch: Path = _SHARED["scratch"]
    unblinded, calendar, feeds = _SHARED["options"]
    today, _, published = _SHARED["warnings"]
    parquet = calendar.table_format == "parquet"
    visits = _SHARED["visits"]
    ids = part.patients["patient_id"].astype(str)
    mine = visits[visits["patient_id"].astype(str).isin(ids)] if len(visits) else visits
    doses = expand(protocol, part)
    check_schedule(doses, protocol)
    warnings = plan_warnings(protocol, part, doses, mine, today=today, published=published)
    table = steps.dose_table(doses)
    del doses
    sheet = steps.worklist(table, part)
    runs, sheets = None, _SheetParts(scratch / f"worklist-{number}")
    if parquet:
        sheets.add(sheet)
    else:
        runs = WorklistRuns(scratch / f"runs-{number}")
        runs.add(sheet)
    del sheet
    columns = dose_table_columns(protocol.study.blinded, unblinded)
    shown = table.reindex(columns=[*columns, *CALENDAR_ONLY])
    path = scratch / f"doses-{number}.{'parquet' if parquet else 'csv'}"
    tables = patient_tables(protocol, part, shown, columns, calendar, {}, mine if protocol.visits else None)
    tables.feeds = feeds
    if parquet:
        write_patient_files(tables, _SHARED["folder"], _ignore, workers=1, study_csv=False)
        ParquetParts(path).write_all(shown[columns])
    else:
        with path.open("wb") as out:
            out.write(csv_header(shown[columns]))
            write_patient_files(tables, _SHARED["folder"], _ignore, workers=1, doses_out=out)
    counts = table.groupby("drug", observed=True).size()
    dates = [str(table["date"].min()), str(table["date"].max())] if len(table) else []
    return _ChunkDone(
        len(part), path, runs, sheets.files, Counter({str(k): int(v) for k, v in counts.items()}), dates,
        warnings, steps.in_clinic(table),
    )  # fmt: skip


def _ignore(_: int) -> None:
    pass


def _append(doses_csv: BinaryIO | None, doses_parquet: ParquetParts | None, path: Path, first: bool) -> None:
    """A chunk's rows onto doses.csv (its header only from the first chunk) or doses.parquet."""
    if doses_parquet is not None:
        doses_parquet.append_file(path)
    elif doses_csv is not None:
        with path.open("rb") as rows:
            header = rows.readline()
            if first:
                doses_csv.write(header)
            while block := rows.read(1 << 22):
                doses_csv.write(block)
    path.unlink()


def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The chunks' tables as one, categories joined in order (the first chunk's, then new ones;
    an ordered category, a date or a time, sorted): the table one run would have had."""
    if len(frames) == 1:
        return frames[0]
    out = pd.concat(frames, ignore_index=True)
    for name in frames[0].columns:
        dtype = frames[0][name].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            categories = pd.Index(np.concatenate([f[name].cat.categories.to_numpy(dtype=object) for f in frames]))
            categories = categories.unique()
            if dtype.ordered:
                categories = categories.sort_values()
            out[name] = pd.Categorical(out[name].astype(object), categories=categories, ordered=dtype.ordered)
    return out


class _SheetParts:
    """worklist.parquet from sorted chunks: each chunk's worklist kept as a Parquet file, one row
    group per date; at the end each date's rows of every chunk are sorted (time, patient id, drug
    as text; stable) and written as one row group."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[tuple[Path, dict[str, int]]] = []

    def add(self, sheet: pd.DataFrame) -> None:
        from ..io.write.parquet import parquet_table, require_pyarrow

        pq = require_pyarrow()
        self.folder.mkdir(exist_ok=True)
        path = self.folder / f"{len(self.files)}.parquet"
        dates = sheet["date"].astype(str).to_numpy()
        cuts = np.flatnonzero(dates[1:] != dates[:-1]) + 1 if len(sheet) else np.zeros(0, dtype=np.int64)
        bounds = list(zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(sheet)]]), strict=True))
        groups: dict[str, int] = {}
        table = parquet_table(sheet)  # once for the chunk: one type per column (a date of blank doses is not null)
        with pq.ParquetWriter(path, table.schema) as writer:
            for a, b in bounds if len(sheet) else []:
                groups[str(dates[a])] = len(groups)
                writer.write_table(table.slice(a, b - a))
        self.files.append((path, groups))

    def write(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        from ..io.write.parquet import require_pyarrow

        pq = require_pyarrow()
        readers = [(pq.ParquetFile(file), groups) for file, groups in self.files]
        # a chunk whose column is all blank has pyarrow's null type there: the other chunks' type wins
        schema = pa.unify_schemas([r.schema_arrow for r, _ in readers], promote_options="permissive")
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for date in sorted({d for _, groups in self.files for d in groups}):
                parts = [r.read_row_group(g[date]).cast(schema) for r, g in readers if date in g]
                table = pa.concat_tables(parts).unify_dictionaries().combine_chunks()
                keys = pa.table({k: pc.cast(table[k], pa.string()) for k in ("time", "patient_id", "drug")})
                order = pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in keys.column_names])
                writer.write_table(table.take(order) if len(parts) > 1 else table)
        for file, _ in self.files:
            file.unlink()
