"""``dosing diary``: each patient's printable diary (PDF), in the patient's language, always blinded.

Plans as ``generate`` does (expand, the changes, the safety checks, the visits), then writes
``<out>/<study id>-diaries/<patient id>.pdf`` for each patient, all at once with a ``manifest.json``
(see :mod:`dosing.io.atomic`). The texts are in the cohort's ``language`` of each patient (see
:mod:`dosing.io.write.i18n`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import CohortError, DosingError
from ..io.atomic import staged_folder
from ..io.manifest import inputs_record, write_manifest
from ..io.write.diary_pdf import PAPERS, Diary, diary_pdf
from ..io.write.diary_rows import diary_items, medicines, prn_medicines, weekly_warnings
from ..io.write.i18n import translator
from ..plan.apply_changes import apply_changes
from ..plan.changes import Changes
from ..plan.clinic_days import home_after_changes
from ..plan.cohort import Cohort
from ..plan.expand import expand
from ..plan.visits import plan_visits
from ..protocol.model import Protocol
from ..protocol.safety import check_schedule
from .workers import fork_pool, processes_for
from .worklist import ChangesNote, changes_note


@dataclass
class DiaryResult:
    folder: Path
    files: list[Path]
    changes: ChangesNote | None = None
    open_label: bool = False

    def summary(self) -> str:
        plural = "" if len(self.files) == 1 else "s"
        mode = "open label" if self.open_label else "blinded"
        line = f"{len(self.files)} diar{'y' if not plural else 'ies'} ({mode}) in {self.folder}"
        return line if self.changes is None else f"{line}\n{self.changes.summary}"


def diary_folder(out_dir: Path, protocol: Protocol) -> Path:
    return Path(out_dir) / f"{protocol.study.id.lower()}-diaries"


def diary(
    protocol: Protocol,
    cohort: Cohort,
    out_dir: str | Path = "output",
    *,
    changes: Changes | None = None,
    patients: Sequence[str] | None = None,
    paper: str = "a4",
) -> DiaryResult:
    """Write the printable diaries of ``patients`` (default: all) on ``paper`` ("a4" or "letter")
    into ``<out_dir>/<study id>-diaries/``, replacing that folder's previous diaries."""
    paper = paper.lower()  # "A4" as the worklist takes it, or "a4"
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {', '.join(PAPERS)}")  # the CLI offers only these
    note = changes_note(changes, Path(out_dir) / protocol.study.id.lower())
    planned = Planned.of(protocol, cohort, changes=changes, patients=patients, note=note)
    final = diary_folder(Path(out_dir), protocol)
    with staged_folder(final) as folder:
        write_diaries(planned, folder, paper)
        options = {"paper": paper, "patients": planned.ids}
        write_manifest(folder, "diary", inputs_record(protocol, cohort, changes, True), options)
    return DiaryResult(final, [final / f"{pid}.pdf" for pid in planned.ids], note, not protocol.study.blinded)


#: Diaries a worker draws at a time (at most); a cohort of fewer than two such chunks is drawn here.
CHUNK_DIARIES = 8

_SHARED: dict[str, Any] = {}  # what a forked worker inherits: the diaries, the folder and the paper


@dataclass(frozen=True)
class Planned:
    """The cohort planned for its diaries: each patient's cohort row, doses and visits, from which
    :meth:`diary` builds the patient's :class:`Diary` (in a worker, for a large cohort)."""

    protocol: Protocol
    rows: dict[str, Any]  # patient id -> the cohort row (a namedtuple of the cohort's columns)
    doses: dict[str, pd.DataFrame]
    visits: dict[str, pd.DataFrame]
    no_doses: pd.DataFrame
    no_visits: pd.DataFrame
    note: ChangesNote | None = None  # which changes file the diaries apply, printed in the footer

    @property
    def ids(self) -> list[str]:
        return list(self.rows)

    @classmethod
    def of(
        cls,
        protocol: Protocol,
        cohort: Cohort,
        *,
        changes: Changes | None = None,
        patients: Sequence[str] | None = None,
        note: ChangesNote | None = None,
    ) -> Planned:
        """Planned as ``generate`` plans: expanded, with the changes, checked by the safety rules,
        with the visits."""
        chosen = _chosen(cohort, patients)
        doses = before = expand(protocol, chosen)
        if changes is not None:
            ids = chosen.patients["patient_id"].astype(str)
            changes = dataclasses.replace(changes, rows=changes.rows[changes.rows["patient_id"].astype(str).isin(ids)])
            doses = home_after_changes(apply_changes(doses, changes), protocol)
        check_schedule(doses, protocol)  # the safety rules stay on for every output
        visits = plan_visits(protocol, chosen, changes, doses=doses, planned=before)
        del before
        dose_groups = {str(pid): rows for pid, rows in doses.groupby("patient_id", observed=True, sort=False)}
        visit_groups = {str(pid): rows for pid, rows in visits.groupby("patient_id", sort=False)} if len(visits) else {}
        rows = {str(patient.patient_id): patient for patient in chosen.patients.itertuples(index=False)}
        return cls(protocol, rows, dose_groups, visit_groups, doses.iloc[0:0], visits.iloc[0:0], note)

    def diary(self, pid: str) -> Diary:
        doses, visits = self.doses.get(pid, self.no_doses), self.visits.get(pid, self.no_visits)
        book = patient_diary(self.protocol, self.rows[pid], doses, visits)
        return book if self.note is None else dataclasses.replace(book, changes=self.note)


def write_diaries(planned: Planned, folder: Path, paper: str, workers: int | None = None) -> None:
    """``folder/<patient id>.pdf`` for each planned patient, built and drawn on every core for a large
    cohort: the first diary of each language here, then the others in a pool of forked processes over
    chunks of patients, which inherit the plan, the parsed fonts and what drawing the first ones
    remembered (:mod:`dosing.io.write.diary_fonts`, :mod:`dosing.io.write.diary_pdf`). A diary that
    cannot be drawn raises its error here, as drawing it in this process does."""
    ids = planned.ids
    workers = workers_for(len(ids)) if workers is None else workers
    if workers <= 1:
        for pid in ids:
            (folder / f"{pid}.pdf").write_bytes(diary_pdf(planned.diary(pid), paper))
        return
    languages = {pid: str(getattr(row, "language", "en") or "en") for pid, row in planned.rows.items()}
    first = {language: pid for pid, language in reversed(languages.items())}.values()  # of each language
    for pid in first:  # drawn here: the workers inherit the parsed fonts, cut subsets and wrapped texts
        (folder / f"{pid}.pdf").write_bytes(diary_pdf(planned.diary(pid), paper))
    drawn = set(first)
    rest = [pid for pid in ids if pid not in drawn]
    size = max(1, min(CHUNK_DIARIES, -(-len(rest) // (4 * workers))))
    _SHARED.update(planned=planned, folder=folder, paper=paper)
    try:
        with fork_pool(workers) as pool:
            for failed in pool.imap_unordered(_write_chunk, [rest[i : i + size] for i in range(0, len(rest), size)]):
                if failed is not None:  # the error again, in this process: its message and fix intact
                    diary_pdf(planned.diary(failed), paper)
                    raise AssertionError(f"the diary of {failed} failed in a worker only")  # pragma: no cover
    finally:
        _SHARED.clear()


def workers_for(patients: int) -> int:
    """Processes for ``patients``' diaries (:func:`~dosing.jobs.workers.processes_for`)."""
    return processes_for(patients, CHUNK_DIARIES)


def _write_chunk(ids: list[str]) -> str | None:
    """Draw and write the diaries of ``ids`` (in a worker); the first patient whose diary is refused,
    or None (a DosingError's fields do not survive pickling, so the parent draws that one again)."""
    planned: Planned = _SHARED["planned"]
    folder: Path = _SHARED["folder"]
    for pid in ids:
        try:
            (folder / f"{pid}.pdf").write_bytes(diary_pdf(planned.diary(pid), _SHARED["paper"]))
        except DosingError:
            return pid
    return None


def build_diaries(
    protocol: Protocol, cohort: Cohort, *, changes: Changes | None = None, patients: Sequence[str] | None = None
) -> dict[str, Diary]:
    """Each patient's :class:`Diary` (what the PDF shows), planned as ``generate`` plans (see
    :meth:`Planned.of`)."""
    planned = Planned.of(protocol, cohort, changes=changes, patients=patients)
    return {pid: planned.diary(pid) for pid in planned.ids}


def _chosen(cohort: Cohort, patients: Sequence[str] | None) -> Cohort:
    if not patients:
        return cohort
    known = set(cohort.patients["patient_id"].astype(str))
    unknown = [p for p in patients if p not in known]
    if unknown:
        raise CohortError(
            f"no patient {unknown[0]!r} in the cohort",
            source=cohort.source,
            hint="give a patient_id of the cohort file",
        )
    rows = cohort.patients[cohort.patients["patient_id"].astype(str).isin(list(patients))]
    return Cohort(rows.reset_index(drop=True), cohort.source)


def patient_diary(protocol: Protocol, patient: object, doses: pd.DataFrame, visits: pd.DataFrame) -> Diary:
    """One patient's :class:`Diary` from the patient's cohort row, doses and visits."""
    language = str(getattr(patient, "language", "en") or "en")
    _ = translator(language, "diary")
    site = str(getattr(patient, "site", "") or "")
    address = protocol.clinic.address_of(site) if protocol.clinic is not None else None
    items = diary_items(protocol, doses, visits, site, _, language, address=address)
    last = max(protocol.study.last_day, int(items["study_day"].max()) if len(items) else 1)
    return Diary(
        study_id=protocol.study.id,
        patient_id=str(getattr(patient, "patient_id")),  # noqa: B009 (a namedtuple of the cohort's columns)
        language=language,
        start=pd.Timestamp(str(getattr(patient, "start_date"))).date(),  # noqa: B009
        weeks=-(-last // 7),
        items=items,
        medicines=medicines(protocol, doses, _, language) + prn_medicines(protocol, patient, _, language),
        warnings=weekly_warnings(protocol, doses, _, language),
        contact=protocol.study.contact_in(language),
        translate=_,
        address=address,
    )
