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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.write.csv import csv_header
from ..io.write.parquet import ParquetParts
from ..plan.cohort import Cohort
from ..plan.columns import CALENDAR_ONLY, DOSE_COLUMNS, UNBLINDED_COLUMNS
from ..plan.expand import expand
from ..plan.warnings import PlanWarning, WarningsRefused, plan_warnings
from ..protocol.model import Protocol
from ..protocol.safety import check_schedule
from .patient_files import CalendarOptions, patient_tables, write_patient_files
from .progress import Progress
from .worklist_runs import WorklistRuns

#: Patients per chunk of a study (about 700 seed doses each: 2.9 M doses, under 1 GB at the peak).
#: A cohort of at most this many is written as one table.
STUDY_CHUNK_PATIENTS = 4096


@dataclass
class ChunkedTotals:
    """What the summary and the study-wide files need from every chunk."""

    per_drug: Counter = field(default_factory=Counter)
    dates: list[str] = field(default_factory=list)  # the first and last date seen
    warnings: list[PlanWarning] = field(default_factory=list)
    in_clinic: list[pd.DataFrame] = field(default_factory=list)

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
    options: tuple[bool, CalendarOptions],
    warning_options: tuple[dt.date | None, bool, set[str]],
    progress: Progress,
) -> ChunkedTotals:
    """doses, worklist (CSV or Parquet) and patients/<id>/ of every chunk; the totals for the rest."""
    unblinded, calendar = options
    today, strict, published = warning_options
    parquet = calendar.table_format == "parquet"
    columns = DOSE_COLUMNS + (UNBLINDED_COLUMNS if unblinded else [])
    totals = ChunkedTotals()
    runs = None if parquet else WorklistRuns(folder / ".worklist-runs")
    sheets = _SheetParts(folder / ".worklist-parts") if parquet else None
    doses_parquet = ParquetParts(folder / "doses.parquet") if parquet else None
    with (
        progress.stage("planning and writing chunks of patients", total=len(cohort)),
        contextlib.nullcontext(None) if parquet else (folder / "doses.csv").open("wb") as doses_out,
    ):
        for number, part in enumerate(chunked(cohort)):
            ids = part.patients["patient_id"].astype(str)
            mine = visits[visits["patient_id"].astype(str).isin(ids)] if len(visits) else visits
            doses = expand(protocol, part)
            check_schedule(doses, protocol)
            found = plan_warnings(protocol, part, doses, mine, today=today, published=published)
            totals.warnings += found
            if strict and totals.warnings:
                raise WarningsRefused(totals.warnings)
            table = steps.dose_table(doses)
            del doses
            sheet = steps.worklist(table, part)
            if sheets is not None:
                sheets.add(sheet)
            elif runs is not None:
                runs.add(sheet)
            del sheet
            shown = table.reindex(columns=[*columns, *CALENDAR_ONLY])
            if number == 0 and doses_out is not None:
                doses_out.write(csv_header(shown[columns]))
            tables = patient_tables(protocol, part, shown, columns, calendar, {}, mine if protocol.visits else None)
            write_patient_files(tables, folder, progress.advance, study_csv=not parquet, doses_out=doses_out)
            if doses_parquet is not None:
                doses_parquet.write(shown[columns])
            _count(totals, table, steps)
    if doses_parquet is not None:
        doses_parquet.close()
    with progress.stage(f"writing worklist.{calendar.table_format}"):
        if sheets is not None:
            sheets.write(folder / "worklist.parquet")
        elif runs is not None:
            with (folder / "worklist.csv").open("wb") as out:
                runs.write(out)
    return totals


def _count(totals: ChunkedTotals, table: pd.DataFrame, steps: ChunkSteps) -> None:
    counts = table.groupby("drug", observed=True).size()
    totals.per_drug.update({str(k): int(v) for k, v in counts.items()})
    if len(table):
        totals.dates += [str(table["date"].min()), str(table["date"].max())]
    totals.in_clinic.append(steps.in_clinic(table))


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
        folder.mkdir()
        self.files: list[tuple[Path, dict[str, int]]] = []

    def add(self, sheet: pd.DataFrame) -> None:
        from ..io.write.parquet import parquet_table, require_pyarrow

        pq = require_pyarrow()
        path = self.folder / f"{len(self.files)}.parquet"
        dates = sheet["date"].astype(str).to_numpy()
        cuts = np.flatnonzero(dates[1:] != dates[:-1]) + 1 if len(sheet) else np.zeros(0, dtype=np.int64)
        bounds = list(zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(sheet)]]), strict=True))
        groups: dict[str, int] = {}
        with pq.ParquetWriter(path, parquet_table(sheet.iloc[:0]).schema) as writer:
            for a, b in bounds if len(sheet) else []:
                groups[str(dates[a])] = len(groups)
                writer.write_table(parquet_table(sheet.iloc[a:b]))
        self.files.append((path, groups))

    def write(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        from ..io.write.parquet import require_pyarrow

        pq = require_pyarrow()
        readers = [(pq.ParquetFile(file), groups) for file, groups in self.files]
        schema = readers[0][0].schema_arrow
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for date in sorted({d for _, groups in self.files for d in groups}):
                parts = [r.read_row_group(g[date]) for r, g in readers if date in g]
                table = pa.concat_tables(parts).unify_dictionaries().combine_chunks()
                keys = pa.table({k: pc.cast(table[k], pa.string()) for k in ("time", "patient_id", "drug")})
                order = pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in keys.column_names])
                writer.write_table(table.take(order) if len(parts) > 1 else table)
        for file, _ in self.files:
            file.unlink()
        self.folder.rmdir()
