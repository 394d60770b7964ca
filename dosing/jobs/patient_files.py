"""The per-patient files of ``dosing generate`` (``patients/<id>/doses.csv``, ``calendar.ics``,
``visits.csv``) and ``doses.csv``, written in chunks of patients, on both cores where there are two.

Every patient is independent of the others, so the study's dose table, sorted by patient (cohort
order), is cut into chunks of patients; a chunk's rows are rendered as CSV once (neutralised once,
see :mod:`dosing.io.write.csv`) and each patient's file is a slice of those bytes, found with
``np.searchsorted`` on the patients' positions instead of a group-by. ``doses.csv`` is the chunks'
rows in order. Chunks run in a pool of forked processes, which inherit the tables instead of
receiving copies; each writes its patients' files and its part of ``doses.csv`` and returns only a
count, so no process holds every patient's calendar text (each patient's feed, the same bytes as the
calendar, is written beside it: :class:`~dosing.serve.feeds.Feeds`).

:func:`patient_calendars` is the one place that makes calendars: a faster or cohort-wide calendar
writer replaces it alone.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from ..io.write.csv import csv_header, row_ends, write_csv
from ..io.write.csv_fast import csv_rows
from ..io.write.ics import Style
from ..io.write.ics_cohort import calendars_for_cohort
from ..plan.cohort import Cohort
from ..plan.visits import VISIT_COLUMNS
from ..protocol.model import Protocol
from ..serve.feeds import Feeds
from .workers import fork_pool, processes_for

#: Patients per chunk at most: a chunk's CSV text (about 120 kB per seed patient) stays small.
CHUNK_PATIENTS = 250


@dataclass(frozen=True)
class CalendarOptions:
    """How calendars are written: style and reminders."""

    style: Style = "recurring"
    remind: dt.timedelta | None = None
    remind_visits: dt.timedelta | None = None
    reminders: bool = True
    table_format: str = "csv"  # of the study tables: "csv" or "parquet"

    def for_patients(self, protocol: Protocol) -> tuple[dt.timedelta | None, dt.timedelta | None]:
        """The patients' alarms before doses and visits: the options, else the protocol's."""
        if not (self.reminders and protocol.calendar.reminders):
            return None, None
        return self.remind or protocol.calendar.remind, self.remind_visits or protocol.calendar.remind_visits


@dataclass
class PatientTables:
    """What the chunks read: the dose table (CSV columns, then :data:`CALENDAR_ONLY`) and the visits,
    each sorted by patient in cohort order, with the row where each patient begins (``bounds[i]`` to
    ``bounds[i + 1]`` are the rows of the cohort's ``i``-th patient)."""

    protocol: Protocol
    cohort: Cohort
    doses: pd.DataFrame
    bounds: np.ndarray
    csv_columns: list[str]
    calendar: CalendarOptions
    extras: dict[str, list]
    visits: pd.DataFrame | None = None
    visit_bounds: np.ndarray | None = None
    unsorted: pd.DataFrame | None = None  # the dose table as it came, when it was not sorted by patient
    ids: list[str] = field(default_factory=list)
    feeds: Feeds | None = None  # each calendar is also written as the patient's feed


def patient_tables(
    protocol: Protocol,
    cohort: Cohort,
    doses: pd.DataFrame,
    csv_columns: list[str],
    calendar: CalendarOptions,
    extras: dict[str, list],
    visits: pd.DataFrame | None,
) -> PatientTables:
    """Sort ``doses`` (and ``visits``) by patient, keeping each patient's order, and find each patient's rows."""
    ids = cohort.patients["patient_id"].astype(str).tolist()
    position = _positions(doses["patient_id"], ids)
    unsorted = None
    if not np.all(position[1:] >= position[:-1]):
        order = np.argsort(position, kind="stable")
        unsorted, doses, position = doses, doses.iloc[order], position[order]
    tables = PatientTables(protocol, cohort, doses, _bounds(position, len(ids)), csv_columns, calendar, extras)
    tables.unsorted, tables.ids = unsorted, ids
    if visits is not None:
        where = _positions(visits["patient_id"], ids)
        order = np.argsort(where, kind="stable")
        tables.visits, tables.visit_bounds = visits.iloc[order], _bounds(where[order], len(ids))
    return tables


def _positions(patient_ids: pd.Series, ids: list[str]) -> np.ndarray:
    """Each row's patient as its position in the cohort (computed once per distinct patient)."""
    codes, distinct = pd.factorize(patient_ids.astype(object) if patient_ids.dtype != "category" else patient_ids)
    found = pd.Index(ids).get_indexer(pd.Index(distinct).astype(str))
    return found[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def _bounds(position: np.ndarray, patients: int) -> np.ndarray:
    return np.searchsorted(position, np.arange(patients + 1), side="left")


def chunks(patients: int, workers: int) -> list[tuple[int, int]]:
    """Ranges of patients: at least a few per worker (so both cores stay busy to the end), at most
    :data:`CHUNK_PATIENTS`."""
    size = max(1, min(CHUNK_PATIENTS, -(-patients // (4 * max(workers, 1)))))
    return [(start, min(start + size, patients)) for start in range(0, patients, size)]


def workers_for(patients: int) -> int:
    """Processes for ``patients``' patients (:func:`~dosing.jobs.workers.processes_for`)."""
    return processes_for(patients, CHUNK_PATIENTS)


#: Rows per part of a study-wide CSV file rendered in the pool (about 35 MB of text).
PART_ROWS = 200_000


def write_rows_in_pool(
    frame: pd.DataFrame, path: Path, on_rows: Callable[[int], None], workers: int | None = None
) -> None:
    """:func:`~dosing.io.write.csv.write_csv`'s bytes for ``frame``, its parts of :data:`PART_ROWS`
    rows rendered on both cores (in order: the parent writes each part as it comes)."""
    ranges = [(start, min(start + PART_ROWS, len(frame))) for start in range(0, len(frame), PART_ROWS)]
    if workers is None:
        workers = workers_for(CHUNK_PATIENTS * len(ranges))  # two parts or more: the pool
    with path.open("wb") as out:
        out.write(csv_header(frame))
        _SHARED["rows"] = frame
        try:
            if workers <= 1 or len(ranges) < 2:
                parts: Iterator[tuple[int, bytes]] = map(_render_rows, ranges)
                for count, text in parts:
                    out.write(text)
                    on_rows(count)
            else:
                with fork_pool(workers) as pool:
                    for count, text in pool.imap(_render_rows, ranges):
                        out.write(text)
                        on_rows(count)
        finally:
            _SHARED.pop("rows", None)


def _render_rows(part: tuple[int, int]) -> tuple[int, bytes]:
    start, stop = part
    return stop - start, csv_rows(_SHARED["rows"].iloc[start:stop])


_SHARED: dict[str, Any] = {}  # the tables a forked worker inherits


def write_patient_files(
    tables: PatientTables,
    folder: Path,
    on_patients: Callable[[int], None],
    workers: int | None = None,
    study_csv: bool = True,
    doses_out: BinaryIO | None = None,
) -> None:
    """``folder/patients/<id>/`` for every patient and (if ``study_csv``) ``folder/doses.csv``, or
    only its rows appended to ``doses_out`` (a study written in chunks of patients);
    ``on_patients`` hears how many patients each finished chunk held."""
    count = len(tables.ids)
    workers = workers_for(count) if workers is None else workers
    ranges = chunks(count, workers)
    parts = folder / f".doses-parts-{os.getpid()}"  # one per process: chunks of a study run side by side
    parts.mkdir()
    _SHARED.update(tables=tables, folder=folder, parts=parts if study_csv else None)
    try:
        if workers <= 1:
            for chunk in ranges:
                on_patients(_write_chunk(chunk))
        else:
            with fork_pool(workers) as pool:
                for done in pool.imap_unordered(_write_chunk, ranges):
                    on_patients(done)
    finally:
        _SHARED.clear()
    if doses_out is not None:
        _join_doses(tables, doses_out, parts, ranges)
    elif study_csv:
        with (folder / "doses.csv").open("wb") as out:
            out.write(csv_header(tables.doses[tables.csv_columns]))
            _join_doses(tables, out, parts, ranges)
    parts.rmdir()


def _join_doses(tables: PatientTables, out: BinaryIO, parts: Path, ranges: list[tuple[int, int]]) -> None:
    """doses.csv's rows: each chunk's rows in order (or, for a table that was not sorted by patient,
    the table in its own order); the chunks' parts removed."""
    if tables.unsorted is not None:
        out.write(csv_rows(tables.unsorted[tables.csv_columns]))
    else:
        for start, _ in ranges:
            part = parts / f"{start:09d}.csv"
            with part.open("rb") as rows:
                while block := rows.read(1 << 22):
                    out.write(block)
    for part in parts.iterdir():
        part.unlink()


def _write_chunk(chunk: tuple[int, int]) -> int:
    """Write the files of the patients in ``chunk`` and this chunk's part of doses.csv."""
    tables: PatientTables = _SHARED["tables"]
    folder: Path = _SHARED["folder"]
    first, stop = chunk
    lo, hi = tables.bounds[first], tables.bounds[stop]
    doses = tables.doses.iloc[lo:hi]
    shown = doses[tables.csv_columns]
    rows = csv_rows(shown)
    if _SHARED["parts"] is not None:
        (_SHARED["parts"] / f"{first:09d}.csv").write_bytes(rows)
    ends = row_ends(rows, len(shown))
    header = csv_header(shown)
    visit_rows = _visit_rows(tables, first, stop)
    calendars = patient_calendars(tables, first, stop)
    for i in range(first, stop):
        pid = tables.ids[i]
        home = folder / "patients" / pid
        home.mkdir(parents=True)
        a, b = tables.bounds[i] - lo, tables.bounds[i + 1] - lo
        if ends is None:  # a cell holds a line break: this patient's rows on their own
            write_csv(shown.iloc[a:b], home / "doses.csv")
        else:
            (home / "doses.csv").write_bytes(header + rows[_start(ends, a) : _start(ends, b)])
        calendar = next(calendars)
        (home / "calendar.ics").write_bytes(calendar)
        if tables.feeds is not None:
            tables.feeds.write(pid, calendar)
        if visit_rows is not None:
            (home / "visits.csv").write_bytes(visit_rows(i))
    return stop - first


def _start(ends: np.ndarray, row: int) -> int:
    return 0 if row == 0 else int(ends[row - 1])


def _visit_rows(tables: PatientTables, first: int, stop: int) -> Callable[[int], bytes] | None:
    """A function giving patient ``i``'s visits.csv bytes, for the patients of the chunk."""
    if tables.visits is None or tables.visit_bounds is None:
        return None
    bounds = tables.visit_bounds
    lo = bounds[first]
    shown = tables.visits.iloc[lo : bounds[stop]][VISIT_COLUMNS]
    rows, header = csv_rows(shown), csv_header(shown)
    ends = row_ends(rows, len(shown))

    def visits_of(i: int) -> bytes:
        a, b = bounds[i] - lo, bounds[i + 1] - lo
        if ends is None:
            return header + csv_rows(shown.iloc[a:b])
        return header + rows[_start(ends, a) : _start(ends, b)]

    return visits_of


def patient_calendars(tables: PatientTables, first: int, stop: int) -> Iterator[bytes]:
    """``calendar.ics`` of the cohort's patients ``first`` to ``stop`` (exclusive), in order, in each
    patient's words and language (:func:`~dosing.io.write.ics_cohort.calendars_for_cohort`)."""
    options = tables.calendar
    remind, remind_visits = options.for_patients(tables.protocol)
    doses = tables.doses.iloc[tables.bounds[first] : tables.bounds[stop]]
    visits = None
    if tables.visits is not None and tables.visit_bounds is not None:
        visits = tables.visits.iloc[tables.visit_bounds[first] : tables.visit_bounds[stop]]
    written = calendars_for_cohort(
        tables.protocol,
        tables.cohort.patients.iloc[first:stop],
        doses,
        visits,
        style=options.style,
        remind=remind,
        remind_visits=remind_visits,
        blinded="arm" not in doses.columns,
    )
    for _pid, ics in written:
        yield ics
