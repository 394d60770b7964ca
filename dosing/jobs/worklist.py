"""``dosing worklist``: the nurses' sheet per site and day, as CSV and a printable PDF.

The doses staff give (in-clinic doses; with ``home`` also the doses patients take at home) from
``start`` to ``end``, both days included, grouped by patient. A day is the patient's own calendar
day in the patient's time zone (the cohort's ``timezone``, the ``date`` column of doses.csv); the
default range is today in the study's time zone and the next 7 days. Held doses keep their row,
marked "HELD <date>: do not give" with the reason from the changes file; doses a change moved or
altered say "CHANGED <date>: <reason>". Blinded unless ``unblinded``.

Written all or nothing into ``OUT/<study id>-worklists/<from>_to_<to>[-<site>]/`` (``-UNBLINDED``
after the study id for unblinded sheets, owner-only): ``<site>.csv`` and ``<site>.pdf`` per site,
and ``manifest.json``.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ValueParseError
from ..io.atomic import staged_folder
from ..io.manifest import changes_for_show, file_sha256, inputs_record, recorded_changes, study_record, write_manifest
from ..io.permissions import restrict
from ..io.study_lock import study_lock
from ..io.write.csv import write_csv
from ..plan import warnings as plan_warnings
from ..plan.apply_changes import apply_changes
from ..plan.blinding import blind, unblind
from ..plan.changes import Changes
from ..plan.clinic_days import home_after_changes
from ..plan.cohort import Cohort
from ..plan.columns import UNBLINDED_COLUMNS, WORKLIST_COLUMNS
from ..plan.durations import add_end_columns
from ..plan.expand import expand, utc_text
from ..plan.file_names import NO_SITE, site_file_names
from ..protocol.model import Protocol
from ..protocol.safety import check_schedule
from ..protocol.units import dose_texts, format_dose_written

#: Days after ``start`` that the default range covers: today and the next 7 days.
#: The longest range one run prints (a year): more is not a morning's sheet but a typo.
MAX_DAYS = 366
DEFAULT_DAYS = 7
#: The paper sizes of :mod:`dosing.io.write.sheet_pdf` (imported when a sheet is written: fpdf2 and
#: matplotlib's font are loaded only then, never by ``import dosing``).
PAPERS = ("A4", "Letter")


@dataclass
class WorklistResult:
    """What ``worklist`` wrote, for the summary the command prints."""

    folder: Path
    blinded: bool
    start: dt.date
    end: dt.date
    rows_per_site: dict[str, int] = field(default_factory=dict)
    pages_per_site: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    changes: ChangesNote | None = None
    open_label: bool = False

    def summary(self) -> str:
        kind = "Open-label" if self.open_label else "BLINDED" if self.blinded else "UNBLINDED"
        lines = [f"{kind} worklists for {self.start} .. {self.end} (both days included) in {self.folder}"]
        if self.changes is not None:
            lines.append(self.changes.summary)
        for site, rows in self.rows_per_site.items():
            pages = self.pages_per_site[site]
            lines.append(f"  {site or NO_SITE}: {rows} dose{'s' * (rows != 1)}, {pages} page{'s' * (pages != 1)}")
        lines += [f"    {path}" for path in self.files]
        return "\n".join(lines)


@dataclass(frozen=True)
class ChangesNote:
    """Which changes an output applied, said to the user (``summary``) and printed on it (``footer``:
    the file's name and the first 8 characters of its sha256, or "no changes applied")."""

    summary: str
    footer: str
    file: str | None = None  # the file's name, None when no file was applied
    sha256: str | None = None  # its first 8 hex digits


def changes_note(changes: Changes | None, study_folder: Path) -> ChangesNote:
    """The :class:`ChangesNote` of ``changes`` (those a worklist or diary applied; None: none), for the
    study whose outputs are in ``study_folder`` (``OUT/<study id>``), whose record says what was recorded."""
    if changes is None:
        if recorded_changes(study_record(study_folder)) is not None:
            return ChangesNote("no changes applied (the recorded changes file was discarded)", "no changes applied")
        return ChangesNote(
            f"no changes file recorded in {study_folder}; none applied (give --changes FILE)", "no changes applied"
        )
    digest = file_sha256(changes.source)
    if digest is None:  # changes given in Python, no file
        return ChangesNote(f"changes applied: {changes.source} (no file)", "changes given in Python")
    name = Path(changes.source).name
    return ChangesNote(
        f"changes applied: {changes.source} (sha256 {digest[:8]})",
        f"changes: {name} (sha256 {digest[:8]})",
        name,
        digest[:8],
    )


def worklist(
    protocol: Protocol,
    cohort: Cohort,
    out_dir: str | Path = "output",
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    site: str | None = None,
    home: bool = False,
    unblinded: bool = False,
    changes: Changes | None = None,
    discard_changes: bool = False,
    paper: str = "A4",
    today: dt.date | None = None,
) -> WorklistResult:
    """Write the sheets (see the module's docstring). ``changes`` default to those the study's
    outputs in ``out_dir`` were made with (as ``dosing show`` finds them), unless ``discard_changes``."""
    defaulted = start is None
    start = start or today or plan_warnings.today_in(protocol.study.timezone)
    end = end or (
        start + dt.timedelta(days=DEFAULT_DAYS) if start < dt.date.max - dt.timedelta(DEFAULT_DAYS) else start
    )
    if (end - start).days >= MAX_DAYS:
        raise ValueParseError(
            f"--from {start} to --to {end} is {(end - start).days + 1:,} days; a sheet covers at most {MAX_DAYS} days",
            hint="print the days you need (default: today and the next 7 days); run it again for later days",
        )
    if start > end and defaulted:  # the user gave --to only: name the default, not a --from never given
        raise ValueParseError(
            f"--from defaults to today ({start}), which is after --to {end}: no day to list",
            hint="give --from on or before --to (both days are included)",
        )
    if start > end:
        raise ValueParseError(
            f"--from {start} is after --to {end}: no day to list",
            hint="give --from on or before --to (both days are included)",
        )
    sites = _sites(cohort, site)
    paper = {name.lower(): name for name in PAPERS}.get(paper.lower(), paper)  # "letter" is Letter
    if paper not in PAPERS:
        raise ValueParseError(f"unknown paper {paper!r}", hint=f"use one of {', '.join(PAPERS)}")
    changes = changes_for_show(Path(out_dir), protocol, cohort, changes, discard_changes, unblinded)
    rows = sheet_rows(protocol, cohort, changes, start, end, home=home, unblinded=unblinded)
    final = sheets_folder(Path(out_dir), protocol, unblinded, start, end, site)
    note = changes_note(changes, Path(out_dir) / (protocol.study.id.lower() + ("-UNBLINDED" if unblinded else "")))
    result = _write(protocol, cohort, changes, rows, final, sites, (start, end), home, unblinded, paper, note)
    result.changes = note
    return result


def sheets_folder(
    out_dir: Path, protocol: Protocol, unblinded: bool, start: dt.date, end: dt.date, site: str | None
) -> Path:
    """``OUT/<study id>[-UNBLINDED]-worklists/<from>_to_<to>[-<site>]``."""
    name = protocol.study.id.lower() + ("-UNBLINDED" if unblinded else "") + "-worklists"
    stem = f"{start}_to_{end}" + ("" if site is None else "-" + site_file_names([site])[site])
    return out_dir / name / stem


def _sites(cohort: Cohort, site: str | None) -> list[str]:
    known = sorted(set(_site_of(cohort).tolist()))
    if site is None:
        return known
    if site not in known:
        close = difflib.get_close_matches(site, known, n=1)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueParseError(
            f"no patient of the cohort is at site {site!r}{guess}",
            source=cohort.source,
            hint=f"give --site as in the cohort's site column: {', '.join(repr(s) for s in known)}",
        )
    return [site]


def _site_of(cohort: Cohort) -> pd.Series:
    return cohort.patients.set_index("patient_id")["site"].fillna("").astype(str).str.strip()


def sheet_rows(
    protocol: Protocol,
    cohort: Cohort,
    changes: Changes | None,
    start: dt.date,
    end: dt.date,
    *,
    home: bool = False,
    unblinded: bool = False,
) -> pd.DataFrame:
    """The worklist rows from ``start`` to ``end`` (both included, patients' local days), in-clinic
    only unless ``home``, sorted by site, day, patient, time and drug: the worklist.csv columns,
    ``dose_text`` as people write it, ``notes`` saying HELD/CHANGED and why."""
    doses = expand(protocol, cohort)
    if changes is not None:
        doses = home_after_changes(apply_changes(doses, changes), protocol)
    else:
        doses = doses.assign(changed_on=pd.Series(pd.NaT, index=doses.index, dtype="datetime64[ns]"))
    check_schedule(doses, protocol)
    day = doses["date"].astype(str)
    keep = ((day >= start.isoformat()) & (day <= end.isoformat())).to_numpy(dtype=bool, copy=True)
    if not home:
        keep &= doses["in_clinic"].to_numpy(dtype=bool)
    doses = doses[keep].reset_index(drop=True)
    notes = change_notes(doses, changes)
    table = unblind(doses) if unblinded else blind(doses, protocol)
    return _as_sheet(table, cohort, notes, unblinded)


def change_notes(doses: pd.DataFrame, changes: Changes | None) -> np.ndarray:
    """Per dose: "HELD <date>: do not give. Why: <reason>" for a held dose, "CHANGED <date>: <reason>"
    for one a change moved or altered (the change rows of its patient and regimen, or of the whole
    patient, dated on its ``changed_on``; a held dose names its hold rows), else "". ``doses`` carry
    the true regimen ids."""
    notes = np.full(len(doses), "", dtype=object)
    held = doses["held"].to_numpy(dtype=bool)
    touched = np.flatnonzero(doses["changed_on"].notna().to_numpy() | held)
    if changes is None or not len(touched):
        return notes
    mine = pd.DataFrame(
        {
            "at": touched,
            "patient_id": doses["patient_id"].astype(str).to_numpy()[touched],
            "regimen": doses["regimen"].astype(str).to_numpy()[touched],
            "date": doses["changed_on"].to_numpy(dtype="datetime64[ns]")[touched],
        }
    )
    rows = changes.rows[["patient_id", "regimen", "date", "change", "reason"]].astype({"patient_id": str})
    rows = rows.assign(regimen=rows["regimen"].fillna("").astype(str), date=rows["date"].astype("datetime64[ns]"))
    both = mine.merge(rows, on=["patient_id", "date"], suffixes=("", "_changed"))
    both = both[(both["regimen_changed"] == both["regimen"]) | (both["regimen_changed"] == "")]
    hold = (both["change"] == "hold").to_numpy() & held[both["at"].to_numpy()]
    has_hold = pd.Series(hold).groupby(both["at"].to_numpy()).transform("any").to_numpy()
    both = both[hold | ~has_hold]
    why = both.drop_duplicates(["at", "reason"]).groupby("at", sort=False)["reason"].agg("; ".join)
    reason = pd.Series(why, index=touched).fillna("").to_numpy(dtype=object)
    day = doses["date"].astype(str).to_numpy()[touched]
    changed_on = pd.Series(mine["date"]).dt.strftime("%Y-%m-%d").fillna(pd.Series(day)).to_numpy(dtype=object)
    said = np.where(reason != "", ". Why: " + reason, "")
    notes[touched] = np.where(
        held[touched],
        "HELD " + day + ": do not give" + said,
        "CHANGED " + changed_on + np.where(reason != "", ": " + reason, ""),
    )
    return notes


def _as_sheet(table: pd.DataFrame, cohort: Cohort, notes: np.ndarray, unblinded: bool) -> pd.DataFrame:
    sheet = table.copy()
    sheet["planned_utc"] = utc_text(sheet["planned_at"]) if len(sheet) else pd.Series(dtype=object)
    add_end_columns(sheet)
    sheet["site"] = sheet["patient_id"].astype(str).map(_site_of(cohort))
    sheet["dose_text"] = dose_texts(sheet["dose"], sheet["unit"], format_dose_written) if len(sheet) else ""
    for column in ("given_at", "given_by", "dose_given"):
        sheet[column] = ""
    sheet["notes"] = notes
    keys = {"_site": sheet["site"], "_day": sheet["date"].astype(str), "_pid": sheet["patient_id"].astype(str)}
    sheet = sheet.assign(**keys, _time=sheet["time"].astype(str), _drug=sheet["drug"].astype(str))
    sheet = sheet.sort_values(["_site", "_day", "_pid", "_time", "_drug"], kind="stable")
    return sheet[[*WORKLIST_COLUMNS, *(UNBLINDED_COLUMNS if unblinded else []), "once_weekly"]].reset_index(drop=True)


def _write(
    protocol: Protocol,
    cohort: Cohort,
    changes: Changes | None,
    rows: pd.DataFrame,
    final: Path,
    sites: list[str],
    span: tuple[dt.date, dt.date],
    home: bool,
    unblinded: bool,
    paper: str,
    note: ChangesNote,
) -> WorklistResult:
    from ..io.write.sheet_pdf import SheetHeader, check_sheet_text, sheet_pdf

    result = WorklistResult(final, not unblinded, *span, open_label=not protocol.study.blinded)
    names = site_file_names(sites)
    headers = {
        site: SheetHeader(
            protocol.study.id,
            site or NO_SITE,
            span,
            home,
            not unblinded,
            open_label=not protocol.study.blinded,
            changes=note.footer,
        )
        for site in sites
    }
    for site in sites:  # before anything is created
        check_sheet_text(rows[rows["site"].to_numpy() == site], headers[site])
    with study_lock(final), staged_folder(final) as folder:
        if unblinded:
            restrict(folder, recursive=False)
        for site in sites:
            mine = rows[rows["site"].to_numpy() == site]
            write_csv(mine.drop(columns="once_weekly"), folder / f"{names[site]}.csv")
            pages = sheet_pdf(mine, headers[site], folder / f"{names[site]}.pdf", paper=paper)
            result.rows_per_site[site], result.pages_per_site[site] = len(mine), pages
            result.files += [final / f"{names[site]}.csv", final / f"{names[site]}.pdf"]
        options = {"from": str(span[0]), "to": str(span[1]), "home": home, "unblinded": unblinded, "paper": paper}
        write_manifest(folder, "worklist", inputs_record(protocol, cohort, changes, not unblinded), options)
        if unblinded:
            restrict(folder)
    return result
