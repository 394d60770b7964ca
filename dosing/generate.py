"""``dosing generate``: protocol x cohort -> dose tables, worklist and calendars on disk."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .blinding import blind, unblind
from .changes import Changes
from .changes_apply import apply_changes, change_effects, describe_effects
from .clinic_days import home_after_changes
from .cohort import Cohort
from .expand import expand
from .feeds import DEFAULT_BASE_URL, load_key, token_versions, write_feeds
from .io.atomic import staged_folder
from .io.csv_out import write_csv
from .io.ics import Style, calendar_for_patient, staff_calendar
from .io.ics_visits import calendar_extras, hide_changed, staff_visit_events
from .io.visits_out import write_visits
from .plan_warnings import PlanWarning, WarningsRefused, plan_warnings
from .protocol import Protocol
from .safety import check_schedule
from .visits import plan_visits

DOSE_COLUMNS = [
    "patient_id",
    "date",
    "time",
    "timezone",
    "weekday",
    "study_day",
    "drug",
    "dose",
    "unit",
    "route",
    "instructions",
    "cycle",
    "cycle_day",
    "dose_number",
    "uid",
    "status",
]
UNBLINDED_COLUMNS = ["arm", "regimen", "blinded_label"]
WORKLIST_COLUMNS = [
    "date",
    "time",
    "timezone",
    "patient_id",
    "site",
    "drug",
    "dose",
    "unit",
    "route",
    "instructions",
    "weekday",
    "study_day",
    "cycle",
    "dose_number",
    "uid",
    "given_at",
    "given_by",
    "dose_given",
    "notes",
]

#: Columns the calendar writer needs that the CSV files do not show.
CALENDAR_ONLY = ["planned_at", "held", "sequence", "changed_on", "once_weekly"]

Progress = Callable[[int, int], None]


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

    def summary(self) -> str:
        lines = [
            f"{'BLINDED' if self.blinded else 'UNBLINDED'} outputs in {self.folder}",
            f"  patients: {self.patients}",
            f"  dates:    {self.first_date} .. {self.last_date}",
            "  doses per drug:",
        ]
        width = max((len(d) for d in self.doses_per_drug), default=0)
        lines += [f"    {drug:<{width}}  {count:>9,}" for drug, count in self.doses_per_drug.items()]
        plural = "" if self.patients == 1 else "s"
        lines += [
            "  files:",
            f"    {self.folder / 'doses.csv'}",
            f"    {self.folder / 'worklist.csv'}",
            f"    {self.folder / 'patients'}/<patient id>/doses.csv, calendar.ics ({self.patients} patient{plural})",
        ]
        if self.visits:
            lines.insert(3, f"  visits:   {self.visits:,} ({self.visit_warnings} with a warning, see visits.csv)")
            lines.append(f"    {self.folder / 'visits.csv'}, visit-worklist.csv, patients/<patient id>/visits.csv")
        lines += [f"    {path}" for path in self.files]
        warned = f"  warnings: {len(self.warnings)}" + (" (printed above)" if self.warnings else "")
        lines.insert(4 if self.visits else 3, warned)
        if self.change_effects is not None:
            lines += describe_effects(self.change_effects)
        return "\n".join(lines)


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
    feeds: bool = True,
    key_file: str | Path | None = None,
    base_url: str = DEFAULT_BASE_URL,
    today: dt.date | None = None,
    strict: bool = False,
) -> GenerateResult:
    """Expand, check and write every output; all or nothing (see :mod:`dosing.io.atomic`).

    ``changes`` (see :mod:`dosing.changes`) moves, holds, stops and alters doses and visits.
    Calendars are written in ``ics_style`` ("recurring" or "expanded"), with a display alarm
    ``remind`` before each dose (``remind_visits`` before each visit). Blinded runs also
    write the staff calendars and, unless ``feeds`` is False, the patients' feeds (see
    :mod:`dosing.feeds`; the key comes from ``key_file``). The plan's warnings (see
    :mod:`dosing.plan_warnings`, ``today`` by default the date in the study's time zone; patients
    already in ``OUT/<study id>/patients/`` are not warned about a past first day) are in
    the result's ``warnings``; with ``strict`` any warning raises
    :class:`~dosing.plan_warnings.WarningsRefused` and nothing is written.
    """
    calendar = CalendarOptions(ics_style, remind, remind_visits)
    key = load_key(key_file, Path(out_dir)) if feeds and not unblinded else None
    doses = planned = expand(protocol, cohort)
    if changes is not None:
        doses = home_after_changes(apply_changes(planned, changes), protocol)
    visits = plan_visits(protocol, cohort, changes)
    check_schedule(doses, protocol)
    published = published_patients(Path(out_dir), protocol)
    warnings = plan_warnings(protocol, cohort, doses, visits, today=today, published=published)
    if strict and warnings:
        raise WarningsRefused(warnings)
    table = unblind(doses) if unblinded else blind(doses, protocol)
    held = table["held"].to_numpy(dtype=bool).astype(np.int8)
    table["status"] = pd.Categorical.from_codes(held, dtype=pd.CategoricalDtype(["planned", "held"]))
    columns = DOSE_COLUMNS + (UNBLINDED_COLUMNS if unblinded else [])
    final = output_folder(Path(out_dir), protocol, unblinded)
    extras = calendar_extras(table, visits, cohort.patients, changed_doses=ics_style == "expanded", remind=remind)
    with staged_folder(final) as folder:
        write_csv(table[columns], folder / "doses.csv")
        write_csv(worklist(table, cohort, unblinded), folder / "worklist.csv")
        mine = table.reindex(columns=[*columns, *CALENDAR_ONLY])  # changed_on is NaT without changes
        calendars = _write_patients(protocol, cohort, mine, folder / "patients", progress, calendar, extras)
        if protocol.visits:
            write_visits(visits, cohort, folder)
        if not unblinded:
            _write_staff(protocol, cohort, table, folder / "staff", calendar, visits)
        if key is not None:
            versions = token_versions(key_file, protocol.study.id)
            write_feeds(folder, protocol.study.id, calendars, key=key, versions=versions, base_url=base_url)
        _keep_adherence(final, folder)
    effects = (
        None if changes is None else change_effects(planned, doses, plan_visits(protocol, cohort), visits, changes)
    )
    return GenerateResult(
        final,
        not unblinded,
        len(cohort),
        _per_drug(table),
        str(table["date"].min()) if len(table) else "-",
        str(table["date"].max()) if len(table) else "-",
        visits=len(visits),
        visit_warnings=int((visits["warning"] != "").sum()) if len(visits) else 0,
        change_effects=effects,
        files=_calendar_files(final, unblinded, key is not None),
        warnings=warnings,
    )


def published_patients(out_dir: Path, protocol: Protocol) -> set[str]:
    """Patients whose calendar an earlier run already wrote (``OUT/<study id>/patients/<id>/``): a
    first day long past is no news for them, their phones already have those doses."""
    folder = output_folder(out_dir, protocol, unblinded=False) / "patients"
    return {path.name for path in folder.iterdir() if path.is_dir()} if folder.is_dir() else set()


def _keep_adherence(final: Path, staging: Path) -> None:
    """``dosing adherence`` writes into ``<study>/adherence/``; regenerating the schedule keeps it."""
    import shutil

    if (final / "adherence").is_dir():
        shutil.copytree(final / "adherence", staging / "adherence")


def worklist(table: pd.DataFrame, cohort: Cohort, unblinded: bool = False) -> pd.DataFrame:
    """The nurses' sheet: planned doses by date, time and patient, with columns to fill in."""
    sites = cohort.patients.set_index("patient_id")["site"]
    sheet = table.copy()
    sheet["site"] = sheet["patient_id"].astype(str).map(sites)
    for column in ("given_at", "given_by", "dose_given", "notes"):
        sheet[column] = ""
    sheet["_pid"] = sheet["patient_id"].astype(str)
    sheet["_drug"] = sheet["drug"].astype(str)
    sheet.loc[sheet["held"].to_numpy(dtype=bool), "notes"] = "HELD: do not give"
    sheet = sheet.sort_values(["date", "time", "_pid", "_drug"], kind="stable")
    return sheet[WORKLIST_COLUMNS + (UNBLINDED_COLUMNS if unblinded else [])]


@dataclass(frozen=True)
class CalendarOptions:
    """How calendars are written: style and reminders."""

    style: Style = "recurring"
    remind: dt.timedelta | None = None
    remind_visits: dt.timedelta | None = None


def _write_patients(
    protocol: Protocol,
    cohort: Cohort,
    table: pd.DataFrame,
    folder: Path,
    progress: Progress | None,
    options: CalendarOptions = CalendarOptions(),
    extras: dict[str, list] | None = None,
) -> dict[str, bytes]:
    calendars: dict[str, bytes] = {}
    groups = dict(tuple(table.groupby("patient_id", observed=True, sort=False)))
    total = len(cohort)
    for i, patient in enumerate(cohort.patients.itertuples(index=False), start=1):
        pid = str(patient.patient_id)
        mine = groups.get(pid, table.iloc[0:0])
        home = folder / pid
        home.mkdir(parents=True)
        write_csv(mine.drop(columns=CALENDAR_ONLY), home / "doses.csv")
        start = pd.Timestamp(str(patient.start_date)).date()
        stamp = dt.datetime.combine(start, dt.time(0, 0), tzinfo=dt.UTC)
        last = start + dt.timedelta(days=protocol.study.last_day)
        ics = calendar_for_patient(
            hide_changed(mine) if options.style == "expanded" else mine,
            name=f"{protocol.study.id} {pid}",
            timezone=str(patient.timezone),
            stamp=stamp,
            first=start,
            last=last,
            extra_events=(extras or {}).get(pid, ()),
            style=options.style,
            remind=options.remind,
            remind_visits=options.remind_visits,
        )
        (home / "calendar.ics").write_bytes(ics)
        calendars[pid] = ics
        if progress is not None:
            progress(i, total)
    return calendars


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
) -> None:
    """``staff/<site>.ics``: the in-clinic doses and the visits of the site's patients ("all" for no site)."""
    in_clinic = {key for r in protocol.regimens if r.in_clinic for key in (r.id, r.display_key)}
    sites = cohort.patients.set_index("patient_id")["site"].fillna("").astype(str).str.strip()
    doses = table[table["regimen"].astype(str).isin(in_clinic) & table["in_clinic"].to_numpy(dtype=bool)]
    site_of = doses["patient_id"].astype(str).map(sites).replace("", "all")
    folder.mkdir()
    first = cohort.patients["start_date"].min().date()
    last = cohort.patients["start_date"].max().date() + dt.timedelta(days=protocol.study.last_day)
    stamp = dt.datetime.combine(first, dt.time(0, 0), tzinfo=dt.UTC)
    zones = cohort.patients.set_index("patient_id")["timezone"].astype(str).to_dict()
    visit_site = visits["patient_id"].astype(str).map(sites).replace("", "all") if len(visits) else None
    for site in sorted(set(sites.replace("", "all"))):
        mine = visits[visit_site == site] if visit_site is not None else visits
        ics = staff_calendar(
            doses[site_of == site],
            extra_events=staff_visit_events(mine, zones, stamp),
            name=f"{protocol.study.id} {site} clinic",
            timezone=protocol.study.timezone,
            stamp=stamp,
            first=first,
            last=last,
            style=options.style,
            remind=options.remind,
            remind_visits=options.remind_visits,
        )
        (folder / f"{_file_name(site)}.ics").write_bytes(ics)


def _file_name(site: str) -> str:
    return re.sub(r"[^\w.-]+", "-", site).strip("-.") or "site"


def _per_drug(table: pd.DataFrame) -> dict[str, int]:
    counts = table.groupby("drug", observed=True).size()
    return {str(k): int(v) for k, v in counts.items()}
