"""``dosing adherence``: check a log, then write the adherence tables and report.html.

The checking is :func:`dosing.adherence.check.judge_adherence` (pure tables); this edge module only
writes its result, all at once, into ``<out>/<study id>/adherence/``, with its own
``manifest.json``. It holds the study folder's lock (:mod:`dosing.io.study_lock`), first puts
back outputs a killed run had parked (:func:`dosing.io.atomic.recover`), and plans from the
inputs that made the study's outputs: the recorded changes by default, and the same protocol
and cohort (:mod:`dosing.io.manifest`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..adherence.check import AdherenceResult, judge_adherence
from ..adherence.extra import ChangesLike
from ..errors import OutputError
from ..io.atomic import recover, staged_folder
from ..io.manifest import (
    check_same_plan,
    discarded,
    file_sha256,
    inputs_record,
    resolve_changes,
    study_record,
    write_manifest,
)
from ..io.permissions import restrict
from ..io.read.changes import load_changes
from ..io.read.log import AdministrationLog, read_log
from ..io.study_lock import DEFAULT_WAIT_S, study_lock
from ..io.write.csv_fast import write_csv_fast
from ..io.write.parquet import FORMATS, require_pyarrow, write_parquet
from ..io.write.report_html import write_report
from ..plan.changes import Changes
from ..plan.cohort import Cohort
from ..protocol.model import Protocol
from .generate import output_folder
from .progress import Progress


def check_adherence(
    protocol: Protocol,
    cohort: Cohort,
    log: str | Path | AdministrationLog,
    *,
    changes: str | Path | ChangesLike | None = None,
    as_of: dt.date | None = None,
    strict: bool = False,
    unblinded: bool = False,
    doses: pd.DataFrame | None = None,
) -> AdherenceResult:
    """Read the log (and a changes file) if given as paths, then :func:`judge_adherence`: the tables
    per planned dose, extra administrations, the measures and the log's bad rows."""
    if not isinstance(log, AdministrationLog):
        log = read_log(log, protocol, cohort, strict=strict, unblinded=unblinded)
    if isinstance(changes, (str, Path)):
        changes = load_changes(changes, protocol, cohort, unblinded=unblinded)
    return judge_adherence(protocol, cohort, log, changes=changes, as_of=as_of, unblinded=unblinded, doses=doses)


def adherence(
    protocol: Protocol,
    cohort: Cohort,
    log: str | Path | AdministrationLog,
    out_dir: str | Path = "output",
    *,
    changes: str | Path | Changes | None = None,
    discard_changes: bool = False,
    group: str | None = None,
    on_wait: Callable[[str], None] | None = None,
    wait: float = DEFAULT_WAIT_S,
    progress: Progress | None = None,
    table_format: str = "csv",
    **options: Any,
) -> AdherenceResult:
    """:func:`check_adherence`, then write doses.csv, extra.csv, summary.csv, bad_rows.csv and
    report.html into ``<out>/<study id>/adherence/`` at once (the study's other outputs stay).
    Without ``changes``, the changes the study's outputs were made with are applied;
    ``discard_changes`` judges without them (or with ``changes`` instead), and is recorded.
    ``progress`` (see :mod:`dosing.jobs.progress`) hears of each stage. With
    ``table_format="parquet"`` every table is ``<name>.parquet`` instead of ``<name>.csv`` (see
    :mod:`dosing.io.write.parquet`; needs pyarrow, checked before anything is read or written);
    report.html stays as it is."""
    _check_format(table_format)
    progress = progress or Progress(enabled=False)
    unblinded = bool(options.get("unblinded", False))
    study = output_folder(Path(out_dir), protocol, unblinded)
    if isinstance(changes, (str, Path)):
        changes = load_changes(changes, protocol, cohort, unblinded=unblinded)
    with progress.stage("reading the log"):
        read = log if isinstance(log, AdministrationLog) else read_log(log, protocol, cohort, **_reading(options))
    with study_lock(study, wait=wait, on_wait=on_wait):
        recover(study)  # a generate killed mid-swap parked the previous outputs: put them back first
        record = study_record(study)
        check_same_plan(record, protocol, cohort, study)
        used = resolve_changes(record, changes, discard_changes, protocol, cohort, study)
        with progress.stage("matching the log to the plan"):
            result = check_adherence(protocol, cohort, read, changes=used, **options)
        final = study / "adherence"
        with staged_folder(final) as folder, progress.stage("writing adherence/ (rows)", total=_work(result)):
            _write(result, folder, progress.advance, table_format)
            manifest = _manifest(protocol, cohort, log, used, record, discard_changes, result)
            manifest["options"] |= {} if table_format == "csv" else {"format": table_format}  # as generate's
            write_manifest(folder, "adherence", **manifest)
            if unblinded:
                restrict(folder, group)
        if unblinded:
            restrict(study, group, recursive=False)
    result.folder = final
    result.files = [final / name for name in _outputs(result, table_format)]
    return result


def _check_format(table_format: str) -> None:
    if table_format not in FORMATS:
        raise OutputError(f"unknown table format {table_format!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if table_format == "parquet":
        require_pyarrow()


def _reading(options: dict[str, Any]) -> dict[str, bool]:
    return {"strict": bool(options.get("strict", False)), "unblinded": bool(options.get("unblinded", False))}


#: The tables, each ``<name>.csv`` (or ``<name>.parquet`` with ``table_format="parquet"``).
TABLES = ("doses", "extra", "summary", "bad_rows")
#: Written only when the protocol has an as-needed (PRN) regimen (dosing.adherence.prn).
PRN_TABLES = ("prn", "prn_summary")
OUTPUTS = (*(f"{name}.csv" for name in TABLES), "report.html")
PRN_OUTPUTS = tuple(f"{name}.csv" for name in PRN_TABLES)


def _outputs(result: AdherenceResult, table_format: str = "csv") -> tuple[str, ...]:
    prn = PRN_TABLES if _has_prn(result) else ()
    return (*(f"{name}.{table_format}" for name in TABLES), "report.html", *(f"{name}.{table_format}" for name in prn))


def _has_prn(result: AdherenceResult) -> bool:
    return not result.prn.summary.empty or not result.prn.doses.empty


def _work(result: AdherenceResult) -> int:
    """The work of :func:`_write` in rows: each table's rows, and the report as many as doses.csv (it
    draws every planned dose; both take about as long). Counting files instead said 1/5 (20%) with
    nearly all the work still to come."""
    return 2 * len(result.doses) + len(result.extra) + len(result.summary) + len(result.bad_rows)


def _write(result: AdherenceResult, folder: Path, done: Callable[[int], None], table_format: str = "csv") -> None:
    """The tables (:data:`TABLES`, then :data:`PRN_TABLES` when there are PRN doses) as CSV or
    Parquet, and report.html, telling ``done`` the rows of each (:func:`_work`)."""
    write = write_parquet if table_format == "parquet" else write_csv_fast
    tables = (result.doses, result.extra, result.summary, result.bad_rows)
    for table, name in zip(tables, TABLES, strict=True):
        write(table, folder / f"{name}.{table_format}")
        done(len(table))
    write_report(result, folder / "report.html")
    done(len(result.doses))
    if _has_prn(result):
        for table, name in zip((result.prn.doses, result.prn.summary), PRN_TABLES, strict=True):
            write(table, folder / f"{name}.{table_format}")


def _manifest(
    protocol: Protocol,
    cohort: Cohort,
    log: str | Path | AdministrationLog,
    used: Changes | None,
    record: dict[str, Any] | None,
    discard: bool,
    result: AdherenceResult,
) -> dict[str, Any]:
    inputs = inputs_record(protocol, cohort, used, result.blinded)
    if not isinstance(log, AdministrationLog):
        path = Path(log).expanduser().resolve()
        inputs["log"] = {"path": str(path), "sha256": file_sha256(path)}
    options = {"as_of": dt.date.isoformat(result.as_of), "unblinded": not result.blinded, "changes_discarded": discard}
    return {"inputs": inputs, "options": options, "discarded_changes": discarded(record, used, discard)}
