"""``dosing generate``: protocol x cohort -> dose tables, worklist and calendars on disk."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import OutputError
from ..io.atomic import EXPORT_FOLDERS, recover, staged_folder
from ..io.manifest import (
    STALE_ADHERENCE,
    adherence_plan_differs,
    check_changes,
    discarded,
    inputs_record,
    read_manifest,
    study_record,
    write_manifest,
)
from ..io.permissions import restrict
from ..io.study_lock import DEFAULT_WAIT_S, study_lock
from ..io.write.csv import write_csv
from ..io.write.ics import Style, staff_calendar
from ..io.write.ics_visits import staff_visit_events
from ..io.write.parquet import FORMATS, require_pyarrow, write_parquet
from ..plan.apply_changes import apply_changes, change_effects, describe_effects
from ..plan.blinding import blind, unblind
from ..plan.changes import Changes
from ..plan.clinic_days import home_after_changes
from ..plan.cohort import Cohort
from ..plan.columns import CALENDAR_ONLY, UNBLINDED_COLUMNS, WORKLIST_COLUMNS, dose_table_columns
from ..plan.durations import add_end_columns
from ..plan.expand import expand, utc_text
from ..plan.file_names import NO_SITE, site_file_names
from ..plan.visits import VISIT_COLUMNS, plan_visits, visit_worklist
from ..plan.warnings import PlanWarning, WarningsRefused, plan_warnings
from ..protocol.model import Protocol
from ..protocol.safety import check_schedule
from ..protocol.units import dose_texts
from ..serve.feeds import DEFAULT_BASE_URL, Feeds, load_key, token_versions
from . import study_chunks
from .patient_files import CalendarOptions, patient_tables, write_patient_files, write_rows_in_pool
from .progress import Progress
from .workers import beside


@dataclass
class GenerateResult:
    """What ``generate`` wrote, for the one-screen summary."""

    folder: Path
    blinded: bool
    patients: int
    doses_per_drug: dict[str, int]
    first_date: str
    last_date: str
    files: list[Path] = field(default_factory=list)
    visits: int = 0
    visit_warnings: int = 0
    change_effects: pd.DataFrame | None = None
    warnings: list[PlanWarning] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    table_format: str = "csv"
    open_label: bool = False  # an open study: nothing is hidden, so the summary does not say "BLINDED"

    def summary(self) -> str:
        lines = [
            f"{_mode(self.blinded, self.open_label)} outputs in {self.folder}",
            f"  patients: {self.patients}",
            f"  dates:    {self.first_date} .. {self.last_date}",
            "  doses per drug:",
        ]
        width = max((len(d) for d in self.doses_per_drug), default=0)
        lines += [f"    {drug:<{width}}  {count:>9,}" for drug, count in self.doses_per_drug.items()]
        plural = "" if self.patients == 1 else "s"
        ext = self.table_format
        lines += [
            "  files:",
            f"    {self.folder / f'doses.{ext}'}",
            f"    {self.folder / f'worklist.{ext}'}",
            f"    {self.folder / 'patients'}/<patient id>/doses.csv, calendar.ics ({self.patients} patient{plural})",
        ]
        if self.visits:
            lines.insert(3, f"  visits:   {self.visits:,} ({self.visit_warnings} with a warning, see visits.csv)")
            lines.append(f"    {self.folder / f'visits.{ext}'}, visit-worklist.{ext}, patients/<patient id>/visits.csv")
        lines += [f"    {path}" for path in self.files]
        warned = f"  warnings: {len(self.warnings)}" + (" (printed above)" if self.warnings else "")
        lines.insert(4 if self.visits else 3, warned)
        if self.change_effects is not None:
            lines += describe_effects(self.change_effects)
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def _mode(blinded: bool, open_label: bool) -> str:
    """How a summary names its outputs: "Open-label" (an open study), "BLINDED" or "UNBLINDED"."""
    return "Open-label" if open_label else "BLINDED" if blinded else "UNBLINDED"


def output_folder(out_dir: Path, protocol: Protocol, unblinded: bool) -> Path:
    """``<out>/<study id>`` for blinded outputs, ``<out>/<study id>-UNBLINDED`` otherwise."""
    name = protocol.study.id.lower()
    return out_dir / (f"{name}-UNBLINDED" if unblinded else name)


def generate(
    protocol: Protocol,
    cohort: Cohort,
    out_dir: str | Path = "output",
    *,
    unblinded: bool = False,
    progress: Progress | None = None,
    changes: Changes | None = None,
    ics_style: Style = "recurring",
    remind: dt.timedelta | None = None,
    remind_visits: dt.timedelta | None = None,
    reminders: bool = True,
    feeds: bool = True,
    key_file: str | Path | None = None,
    base_url: str = DEFAULT_BASE_URL,
    discard_changes: bool = False,
    group: str | None = None,
    on_wait: Callable[[str], None] | None = None,
    wait: float = DEFAULT_WAIT_S,
    today: dt.date | None = None,
    strict: bool = False,
    table_format: str = "csv",
) -> GenerateResult:
    """Expand, check and write every output; all or nothing (see :mod:`dosing.io.atomic`).

    ``changes`` (see :mod:`dosing.plan.changes`) moves, holds, stops and alters doses and visits.
    Calendars are written in ``ics_style`` ("recurring" or "expanded"). Patients' calendars have a
    display alarm before each dose and visit, as the protocol's ``[calendar]`` says, unless
    ``reminders`` is False; ``remind`` (``remind_visits``) overrides the protocol's lead time, and
    is the only alarm of the staff calendars. Blinded runs also
    write the staff calendars and, unless ``feeds`` is False, the patients' feeds (see
    :mod:`dosing.serve.feeds`; the key comes from ``key_file``).

    One run at a time per study folder (a second waits, telling ``on_wait``, up to ``wait``
    seconds). The folder's ``manifest.json`` records the inputs; when the study had changes,
    ``changes`` must be them (or the same file, edited) unless ``discard_changes`` (see
    :mod:`dosing.io.manifest`). ``feeds.csv``, ``feeds/`` and unblinded outputs are owner-only,
    or owner and ``group`` (see :mod:`dosing.io.permissions`).
    The plan's warnings (see :mod:`dosing.plan.warnings`; ``today`` is by default the date in the
    study's time zone; patients already in ``OUT/<study id>/patients/`` are not warned about a past
    first day) are in the result's ``warnings``; with ``strict`` any warning raises
    :class:`~dosing.plan.warnings.WarningsRefused` and nothing is written.
    With ``table_format="parquet"`` the study tables (doses, worklist, visits, visit-worklist) are
    Parquet files instead of CSV (see :mod:`dosing.io.write.parquet`); the patients' files stay CSV.
    """
    if table_format not in FORMATS:
        raise OutputError(f"unknown table format {table_format!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if table_format == "parquet":
        require_pyarrow()  # before anything is planned or written
    final = output_folder(Path(out_dir), protocol, unblinded)
    check_changes(study_record(final), changes, discard_changes, final)  # at once; again under the lock
    options = {"unblinded": unblinded, "ics_style": ics_style, "remind": _iso(remind)}
    options |= {"remind_visits": _iso(remind_visits), "feeds": feeds, "base_url": base_url, "group": group}
    options |= {} if reminders else {"reminders": False}
    options |= {} if table_format == "csv" else {"format": table_format}
    record = inputs_record(protocol, cohort, changes, not unblinded)
    guard = _guarded(final, changes, discard_changes, {"inputs": record, "options": options}, wait, on_wait)
    return _generate(
        protocol, cohort, final, unblinded, progress, changes,
        CalendarOptions(ics_style, remind, remind_visits, reminders, table_format),
        (feeds, key_file, base_url), guard, group, Path(out_dir), (today, strict),
    )  # fmt: skip


@contextlib.contextmanager
def _guarded(
    final: Path,
    changes: Changes | None,
    discard: bool,
    manifest: dict,
    wait: float,
    on_wait: Callable[[str], None] | None,
) -> Iterator[dict]:
    """Hold the study folder's lock while the outputs are written: put back parked outputs, check
    the recorded changes again (another run may have recorded some meanwhile), give the manifest."""
    with study_lock(final, wait=wait, on_wait=on_wait):
        recover(final)
        record = study_record(final)
        check_changes(record, changes, discard, final)
        yield {**manifest, "discarded_changes": discarded(record, changes, discard)}


def _iso(offset: dt.timedelta | None) -> str | None:
    return None if offset is None else f"PT{int(offset.total_seconds())}S"


def _generate(
    protocol: Protocol,
    cohort: Cohort,
    final: Path,
    unblinded: bool,
    progress: Progress | None,
    changes: Changes | None,
    calendar: CalendarOptions,
    feed_options: tuple[bool, str | Path | None, str],
    guard: contextlib.AbstractContextManager[dict],
    group: str | None,
    out_dir: Path,
    warning_options: tuple[dt.date | None, bool],
) -> GenerateResult:
    progress = progress or Progress(enabled=False)
    feeds, key_file, base_url = feed_options
    today, strict = warning_options
    key = load_key(key_file, final.parent) if feeds and not unblinded else None
    if changes is None and len(cohort) > study_chunks.STUDY_CHUNK_PATIENTS:
        return _generate_in_chunks(
            protocol, cohort, final, unblinded, progress, calendar, (key, key_file, base_url), guard, group,
            (today, strict, published_patients(out_dir, protocol)),
        )  # fmt: skip
    with progress.stage("expanding doses"):
        doses = planned = expand(protocol, cohort)
        if changes is not None:
            doses = home_after_changes(apply_changes(planned, changes), protocol)
    with progress.stage("planning visits, checking the plan"):
        visits = plan_visits(protocol, cohort, changes, doses=doses, planned=planned)
        check_schedule(doses, protocol)
        published = published_patients(out_dir, protocol)
        warnings = plan_warnings(protocol, cohort, doses, visits, today=today, published=published)
    if strict and warnings:
        raise WarningsRefused(warnings)
    with progress.stage("preparing the tables"):
        table = _dose_table(doses, protocol, unblinded)
        extras: dict[str, list] = {}  # the patients' calendars plan their own visit events
        sheet = worklist(table, cohort, unblinded)
    with guard as manifest, staged_folder(final) as folder:
        if unblinded:
            restrict(folder, group, recursive=False)  # owner-only before anything unblinded is written
        with progress.stage(f"writing worklist.{calendar.table_format}", total=len(sheet)):
            if calendar.table_format == "parquet":
                write_parquet(sheet, folder / "worklist.parquet")
                progress.advance(len(sheet))
            else:
                write_rows_in_pool(sheet, folder / "worklist.csv", progress.advance)
        del sheet  # the largest table but one: not held while the patients' files are written
        feed_files = _feeds(folder, protocol, key, key_file, base_url)
        _write_tables(protocol, cohort, table, (visits, extras), folder, (calendar, feed_files), unblinded, progress)
        if not unblinded:
            _write_staff(protocol, cohort, table, folder / "staff", calendar, visits, progress)
        _finish_feeds(feed_files, cohort, progress)
        notes = _finish(final, folder, manifest, unblinded, group)
    effects = (
        None
        if changes is None
        else change_effects(
            planned, doses, plan_visits(protocol, cohort, doses=planned, planned=planned), visits, changes
        )
    )
    dates = (str(table["date"].min()), str(table["date"].max())) if len(table) else ("-", "-")
    counts = (_per_drug(table), visits, warnings)
    return _result(protocol, cohort, (final, unblinded, key is not None), counts, dates, notes, calendar, effects)


def _generate_in_chunks(
    protocol: Protocol,
    cohort: Cohort,
    final: Path,
    unblinded: bool,
    progress: Progress,
    calendar: CalendarOptions,
    feed_options: tuple[bytes | None, str | Path | None, str],
    guard: contextlib.AbstractContextManager[dict],
    group: str | None,
    warning_options: tuple[dt.date | None, bool, set[str]],
) -> GenerateResult:
    """:func:`_generate` for a cohort of more than one chunk of patients (see :mod:`dosing.jobs.study_chunks`)."""
    key, key_file, base_url = feed_options
    visits = plan_visits(protocol, cohort)
    steps = study_chunks.ChunkSteps(
        lambda doses: _dose_table(doses, protocol, unblinded),
        lambda table, part: worklist(table, part, unblinded),
        lambda table: _in_clinic(protocol, table),
    )
    with guard as manifest, staged_folder(final) as folder:
        if unblinded:
            restrict(folder, group, recursive=False)
        feed_files = _feeds(folder, protocol, key, key_file, base_url)
        totals = study_chunks.write_in_chunks(
            protocol, cohort, folder, steps, visits, (unblinded, calendar, feed_files), warning_options, progress
        )

        def visit_tables_and_staff() -> None:  # in a forked process, while this one merges the worklist
            quiet = Progress(enabled=False)
            _write_visit_tables(protocol, cohort, visits, folder, calendar.table_format, quiet)
            if not unblinded:
                table = study_chunks.joined(totals.in_clinic)
                _write_staff(protocol, cohort, table, folder / "staff", calendar, visits, quiet)

        with progress.stage("writing visits and staff/<site>.ics beside the worklist"), beside(visit_tables_and_staff):
            study_chunks.write_worklist(totals, folder, calendar.table_format, progress)
        totals.in_clinic.clear()
        _finish_feeds(feed_files, cohort, progress)
        notes = _finish(final, folder, manifest, unblinded, group)
    counts = (dict(totals.per_drug), visits, totals.warnings)  # drugs in the first chunk's order, as one table
    return _result(protocol, cohort, (final, unblinded, key is not None), counts, totals.date_range(), notes, calendar)


def _finish(final: Path, folder: Path, manifest: dict, unblinded: bool, group: str | None) -> list[str]:
    """The study folder's last steps (either way of planning): kept adherence and export folders (their
    notes returned), the manifest, and owner-only permissions where the run is unblinded."""
    notes = _keep_adherence(final, folder, manifest["inputs"])
    notes += _keep_exports(final, folder, manifest["inputs"])
    write_manifest(folder, "generate", **manifest)
    _restrict(folder, unblinded, group)
    return notes


def _result(
    protocol: Protocol,
    cohort: Cohort,
    where: tuple[Path, bool, bool],
    counts: tuple[dict[str, int], pd.DataFrame, list],
    dates: tuple[str, str],
    notes: list[str],
    calendar: CalendarOptions,
    effects: pd.DataFrame | None = None,
) -> GenerateResult:
    """What ``generate`` reports: ``where`` is the folder, whether unblinded and whether feeds were
    written; ``counts`` the doses per drug, the visits and the plan's warnings."""
    final, unblinded, feeds = where
    per_drug, visits, warnings = counts
    return GenerateResult(
        final,
        not unblinded,
        len(cohort),
        per_drug,
        *dates,
        visits=len(visits),
        visit_warnings=int((visits["warning"] != "").sum()) if len(visits) else 0,
        change_effects=effects,
        files=_calendar_files(final, unblinded, feeds),
        warnings=warnings,
        notes=notes,
        table_format=calendar.table_format,
        open_label=not protocol.study.blinded,
    )


def _feeds(
    folder: Path, protocol: Protocol, key: bytes | None, key_file: str | Path | None, base_url: str
) -> Feeds | None:
    """The patients' feeds (``feeds/`` made, owner-only), written beside their calendars; None without a key."""
    if key is None:
        return None
    return Feeds(folder, protocol.study.id, key, token_versions(key_file, protocol.study.id), base_url).start()


def _finish_feeds(feeds: Feeds | None, cohort: Cohort, progress: Progress) -> None:
    if feeds is not None:
        with progress.stage("writing feeds.csv"):
            feeds.finish(cohort.patients["patient_id"].astype(str).tolist())


def _write_tables(
    protocol: Protocol,
    cohort: Cohort,
    table: pd.DataFrame,
    visits_extras: tuple[pd.DataFrame, dict[str, list]],
    folder: Path,
    calendar_feeds: tuple[CalendarOptions, Feeds | None],
    unblinded: bool,
    progress: Progress,
) -> None:
    """doses.csv, patients/<id>/ (doses, calendar, visits; feeds) and the study's visit files."""
    visits, extras = visits_extras
    calendar, feeds = calendar_feeds
    columns = dose_table_columns(protocol.study.blinded, unblinded)
    mine = table.reindex(columns=[*columns, *CALENDAR_ONLY])  # changed_on is NaT without changes
    tables = patient_tables(protocol, cohort, mine, columns, calendar, extras, visits if protocol.visits else None)
    tables.feeds = feeds
    parquet = calendar.table_format == "parquet"
    with progress.stage("writing doses.csv and patients/<id>/", total=len(cohort)):
        write_patient_files(tables, folder, progress.advance, study_csv=not parquet)
    if parquet:
        with progress.stage("writing doses.parquet"):
            write_parquet(mine[columns], folder / "doses.parquet")
    _write_visit_tables(protocol, cohort, visits, folder, calendar.table_format, progress)


def _write_visit_tables(
    protocol: Protocol, cohort: Cohort, visits: pd.DataFrame, folder: Path, table_format: str, progress: Progress
) -> None:
    """visits and visit-worklist (CSV or Parquet), when the protocol plans visits."""
    write = write_parquet if table_format == "parquet" else write_csv
    if protocol.visits:
        with progress.stage(f"writing visits.{table_format}, visit-worklist.{table_format}"):
            write(visits[VISIT_COLUMNS], folder / f"visits.{table_format}")
            write(visit_worklist(visits, cohort), folder / f"visit-worklist.{table_format}")


def _dose_table(doses: pd.DataFrame, protocol: Protocol, unblinded: bool) -> pd.DataFrame:
    """The dose table the outputs show: blinded (or not), with ``planned_utc`` and ``status``."""
    table = unblind(doses) if unblinded else blind(doses, protocol)
    table["planned_utc"] = utc_text(table["planned_at"])
    add_end_columns(table)
    held = table["held"].to_numpy(dtype=bool).astype(np.int8)
    table["status"] = pd.Categorical.from_codes(held, dtype=pd.CategoricalDtype(["planned", "held"]))
    return table


def _restrict(folder: Path, unblinded: bool, group: str | None) -> None:
    """Owner-only (or owner and ``group``): the feeds, feeds.csv, and every unblinded output."""
    sensitive = [folder] if unblinded else [folder / "feeds", folder / "feeds.csv"]
    for path in sensitive:
        if path.exists():
            restrict(path, group)


def published_patients(out_dir: Path, protocol: Protocol) -> set[str]:
    """Patients whose calendar an earlier run already wrote (``OUT/<study id>/patients/<id>/``): a
    first day long past is no news for them, their phones already have those doses."""
    folder = output_folder(out_dir, protocol, unblinded=False) / "patients"
    return {path.name for path in folder.iterdir() if path.is_dir()} if folder.is_dir() else set()


def _keep_adherence(final: Path, staging: Path, inputs: dict) -> list[str]:
    """``dosing adherence`` writes into ``<study>/adherence/``; regenerating the schedule keeps it (after
    putting back a folder a killed run had parked), with a note when it was made from another plan than
    these ``inputs``."""
    import shutil

    notes = []
    for name, stale in (("adherence", STALE_ADHERENCE),):
        if final.is_dir():
            recover(final / name)
        if (final / name).is_dir():
            shutil.copytree(final / name, staging / name)
            if adherence_plan_differs(inputs, read_manifest(final / name)):
                notes.append(stale)
    return notes


def _keep_exports(final: Path, staging: Path, inputs: dict) -> list[str]:
    """``dosing export <format>`` writes into ``<study>/<format>/``; regenerating keeps each (as
    adherence/), with a note when it was made from another plan than these ``inputs``."""
    import shutil

    notes = []
    for name in EXPORT_FOLDERS:
        if final.is_dir():
            recover(final / name)
        if (final / name).is_dir():
            shutil.copytree(final / name, staging / name)
            if adherence_plan_differs(inputs, read_manifest(final / name)):
                plan = "another plan (protocol, cohort or changes)"
                notes.append(f"{name}/ was exported from {plan}: run dosing export {name} again")
    return notes


def worklist(table: pd.DataFrame, cohort: Cohort, unblinded: bool = False) -> pd.DataFrame:
    """The nurses' sheet: planned doses by date, time and patient, with columns to fill in."""
    order = _worklist_order(table)
    sheet = table[[c for c in WORKLIST_COLUMNS + UNBLINDED_COLUMNS if c in table.columns]].take(order)
    sites = cohort.patients.set_index("patient_id")["site"].to_dict()
    sheet["site"] = _per_category(sheet["patient_id"], lambda ids: ids.astype(str).map(sites))
    sheet["dose_text"] = dose_texts(sheet["dose"], sheet["unit"])  # the dose as people read it
    blank = pd.Categorical.from_codes(np.zeros(len(sheet), dtype=np.int8), categories=pd.Index([""]))
    for column in ("given_at", "given_by", "dose_given"):
        sheet[column] = blank
    held = table["held"].to_numpy(dtype=bool)[order]
    sheet["notes"] = pd.Categorical.from_codes(held.astype(np.int8), categories=pd.Index(["", "HELD: do not give"]))
    return sheet[WORKLIST_COLUMNS + (UNBLINDED_COLUMNS if unblinded else [])]


def _worklist_order(table: pd.DataFrame) -> np.ndarray:
    """The rows sorted as ``sort_values(["date", "time", patient id text, drug text], kind="stable")``
    would sort them (dates and times by their categories' order, ids and drugs as text), computed
    on the categories' codes: no text column of millions of cells is built."""
    keys = [_text_rank(table["drug"]), _text_rank(table["patient_id"]), _code(table["time"]), _code(table["date"])]
    return np.lexsort(keys)


def _code(column: pd.Series) -> np.ndarray:
    """A categorical column's codes, a missing value (-1) last as pandas sorts it."""
    codes = column.cat.codes.to_numpy().astype(np.int64)
    return np.where(codes < 0, np.iinfo(np.int64).max, codes)


def _text_rank(column: pd.Series) -> np.ndarray:
    """Each row's rank of ``str(value)`` among the column's distinct values."""
    codes, distinct = pd.factorize(column)
    texts = np.array([str(v) for v in distinct], dtype=object)
    rank = np.empty(len(texts), dtype=np.int64)
    rank[np.argsort(texts, kind="stable")] = np.arange(len(texts))
    return rank[codes]


def _per_category(column: pd.Series, values: Callable[[pd.Index], pd.Index]) -> np.ndarray:
    """``values`` computed once per distinct value of ``column`` and spread back to its rows."""
    codes, distinct = pd.factorize(column)
    return np.asarray(values(pd.Index(distinct)), dtype=object)[codes]


def _calendar_files(final: Path, unblinded: bool, feeds: bool) -> list[Path]:
    staff = [] if unblinded else [final / "staff" / "<site>.ics"]
    return staff + ([final / "feeds" / "<token>.ics", final / "feeds.csv"] if feeds else [])


def _write_staff(
    protocol: Protocol,
    cohort: Cohort,
    table: pd.DataFrame,
    folder: Path,
    options: CalendarOptions,
    visits: pd.DataFrame,
    progress: Progress,
) -> None:
    """``staff/<site>.ics``: the in-clinic doses and the visits of the site's patients ("all" for no site)."""
    sites = cohort.patients.set_index("patient_id")["site"].fillna("").astype(str).str.strip()
    doses = _in_clinic(protocol, table)
    site_of = doses["patient_id"].astype(str).map(sites)
    folder.mkdir()
    first = cohort.patients["start_date"].min().date()
    last = cohort.patients["start_date"].max().date() + dt.timedelta(days=protocol.study.last_day)
    stamp = dt.datetime.combine(first, dt.time(0, 0), tzinfo=dt.UTC)
    zones = cohort.patients.set_index("patient_id")["timezone"].astype(str).to_dict()
    visit_site = visits["patient_id"].astype(str).map(sites) if len(visits) else None
    file_names = site_file_names(sorted(set(sites)))  # "" (no site) gets "all", distinct from a site "all"
    with progress.stage("writing staff/<site>.ics", total=len(file_names)):
        for site, file_name in file_names.items():
            mine = visits[visit_site == site] if visit_site is not None else visits
            ics = staff_calendar(
                doses[site_of == site],
                extra_events=staff_visit_events(mine, zones, stamp),
                name=f"{protocol.study.id} {site or NO_SITE} clinic",
                timezone=protocol.study.timezone,
                stamp=stamp,
                first=first,
                last=last,
                style=options.style,
                remind=options.remind,
                remind_visits=options.remind_visits,
            )
            (folder / f"{file_name}.ics").write_bytes(ics)
            progress.advance()


def _in_clinic(protocol: Protocol, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the staff calendars: doses of in-clinic regimens given in the clinic."""
    in_clinic = {key for r in protocol.regimens if r.in_clinic for key in (r.id, r.display_key)}
    return table[table["regimen"].isin(in_clinic).to_numpy(dtype=bool) & table["in_clinic"].to_numpy(dtype=bool)]


def _per_drug(table: pd.DataFrame) -> dict[str, int]:
    counts = table.groupby("drug", observed=True).size()
    return {str(k): int(v) for k, v in counts.items()}
