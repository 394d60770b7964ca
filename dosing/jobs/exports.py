"""What the FHIR and REDCap exports share: the planned doses and visits as the user may see them, the
log judged against them, the refusal of a blinded export that would reveal the arm, and writing one
export folder (``OUT/<study id>[-UNBLINDED]/<format>/``) all at once under the study's lock."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..adherence.blind import NOT_JUDGED
from ..errors import DosingError, LogError
from ..io.atomic import recover, staged_folder
from ..io.manifest import check_same_plan, inputs_record, resolve_changes, study_record, write_manifest
from ..io.permissions import restrict
from ..io.study_lock import DEFAULT_WAIT_S, study_lock
from ..plan.apply_changes import apply_changes
from ..plan.blinding import blind, unblind
from ..plan.changes import Changes
from ..plan.clinic_days import home_after_changes
from ..plan.cohort import Cohort
from ..plan.expand import expand, utc_text
from ..plan.visits import plan_visits
from ..protocol.model import Protocol
from ..protocol.safety import check_schedule
from .adherence import check_adherence
from .generate import output_folder


class BlindedExportRefused(DosingError):
    """A blinded export would show something that differs between arms."""


@dataclass
class Planned:
    """The dose table (blinded or not, ``regimen`` the key shown), the visits and the judged log."""

    doses: pd.DataFrame
    visits: pd.DataFrame
    judged: pd.DataFrame | None
    route_of: dict[str, str]  # regimen key shown -> a regimen id (for messages naming its route field)
    bad_lines: list[int] = field(default_factory=list)  # log rows that could not be read
    as_of: dt.date | None = None  # with a log: the date the log was judged by (given, or today)
    after_as_of: int = 0  # with a log: administrations given after ``as_of``, left out
    as_needed: pd.DataFrame | None = None  # with a log: its as-needed doses (dosing.adherence.prn table)

    def notes(self) -> list[str]:
        """What the summary says about the as-of date and the log's bad rows (never dropped silently)."""
        out = []
        if self.as_of is not None:
            day = self.as_of.isoformat()
            out.append(f"judged as of {day} (--as-of); given after {day} (left out): {self.after_as_of:,}")
        if not self.bad_lines:
            return out
        shown = ", ".join(map(str, self.bad_lines[:10])) + (", ..." if len(self.bad_lines) > 10 else "")
        return [
            *out,
            f"{len(self.bad_lines)} log row(s) could not be read and are not in the export (line {shown}); "
            "`dosing adherence` lists why",
        ]


@dataclass
class ExportResult:
    """What an export wrote, for the one-screen summary."""

    folder: Path
    blinded: bool
    patients: int
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    open_label: bool = False  # an open study: "Open-label", not "BLINDED"

    def summary(self) -> str:
        mode = "Open-label" if self.open_label else "BLINDED" if self.blinded else "UNBLINDED"
        lines = [
            f"{mode} export in {self.folder}",
            f"  patients: {self.patients}",
        ]
        lines += ["  files:", *(f"    {path}" for path in self.files)]
        return "\n".join(lines + [f"  note: {note}" for note in self.notes])


def study_changes(
    protocol: Protocol, cohort: Cohort, out_dir: str | Path, unblinded: bool, given: Changes | None, discard: bool
) -> Changes | None:
    """The changes an export applies, as ``adherence`` and ``export sdtm`` choose them: the given file if
    it is the one the study's outputs were made with, else the recorded one (``discard``: none)."""
    study = output_folder(Path(out_dir), protocol, unblinded)
    record = study_record(study)
    check_same_plan(record, protocol, cohort, study)
    return resolve_changes(record, given, discard, protocol, cohort, study)


def planned(
    protocol: Protocol,
    cohort: Cohort,
    *,
    unblinded: bool,
    changes: Changes | None,
    log: str | Path | None,
    as_of: dt.date | None,
) -> Planned:
    """Plan as ``generate`` does (changes applied, safety checked), then judge the log if one is given."""
    doses = before = expand(protocol, cohort)
    if changes is not None:
        doses = home_after_changes(apply_changes(doses, changes), protocol)
    check_schedule(doses, protocol)
    visits = plan_visits(protocol, cohort, changes, doses=doses, planned=before)
    del before  # the plan before the changes is not held while the rest is made
    table = unblind(doses) if unblinded else blind(doses, protocol)
    table["planned_utc"] = utc_text(table["planned_at"])
    table["hold_reason"] = hold_reasons(doses, changes)  # row for row (blinding keeps the order)
    route_of = dict(zip(table["regimen"].astype(str), doses["regimen"].astype(str), strict=True))
    judged, bad_lines, after, as_needed = None, [], 0, None
    if log is not None:
        as_of = as_of or dt.date.today()  # as `dosing adherence` judges; recorded in the manifest
        result = check_adherence(protocol, cohort, log, changes=changes, as_of=as_of, unblinded=unblinded, doses=doses)
        judged = result.doses
        bad_lines = sorted(int(line) for line in result.bad_rows["line"])
        after = result.after_as_of
        as_needed = result.prn.doses
        readable = int(judged["log_line"].notna().sum()) + len(result.extra) + len(result.prn.doses)  # PRN: read
        refuse_unreadable_log(readable, bad_lines, log)
        refuse_true_doses(judged, log)
        keys = pd.Series(table["regimen"].astype(str).to_numpy(), index=table["uid"].astype(str).to_numpy())
        reasons = pd.Series(table["hold_reason"].to_numpy(), index=keys.index)
        minutes = pd.Series(table["duration_minutes"].to_numpy(dtype=np.int64), index=keys.index)
        uids = judged["uid"].astype(str)
        judged = judged.assign(
            regimen=uids.map(keys),
            hold_reason=uids.map(reasons).fillna(""),
            duration_minutes=uids.map(minutes).fillna(0).astype(np.int64),  # an infusion's, for its end
        )
    when = as_of if log is not None else None
    return Planned(table, visits, judged, route_of, bad_lines, when, after, as_needed)


def refuse_unreadable_log(readable: int, bad_lines: list[int], source: object) -> None:
    """A log none of whose rows could be read says nothing about what was given: exporting it would
    record every due dose as missed. Refuse, naming the first bad lines (``dosing adherence`` lists
    them all in bad_rows.csv)."""
    if readable == 0 and bad_lines:
        shown = ", ".join(map(str, bad_lines[:5])) + (" ..." if len(bad_lines) > 5 else "")
        raise LogError(
            f"none of the log's {len(bad_lines):,} row(s) could be read (lines {shown}): an export would "
            "record every due dose as missed",
            source=str(source),
            hint="run `dosing adherence` with this log to see each row's reason in bad_rows.csv, correct the "
            "log and export again. Nothing was written",
        )


def hold_reasons(doses: pd.DataFrame, changes: Changes | None) -> np.ndarray:
    """Per dose: the changes file's reason for holding it ("" where not held or no reason). Written
    by blinded staff (as SDTM ECREASOC carries it), so a blinded export may show it."""
    out = np.full(len(doses), "", dtype=object)
    held = doses["held"].to_numpy(dtype=bool)
    if changes is None or not held.any():
        return out
    clock = doses["time"].astype(str).str.split(":", expand=True).astype(int)
    keys = pd.DataFrame(
        {
            "patient_id": doses["patient_id"].astype(str).to_numpy(),
            "regimen": doses["regimen"].astype(str).to_numpy(),
            "date": pd.to_datetime(doses["date"].astype(str)).to_numpy(dtype="datetime64[ns]"),
            "minutes": (clock[0] * 60 + clock[1]).to_numpy(),
            "row": np.arange(len(doses)),
        }
    )[held]
    holds = changes.of("hold")[["patient_id", "regimen", "date", "time", "reason"]]
    holds = holds.astype({"patient_id": str, "regimen": str, "date": "datetime64[ns]"})
    found = keys.merge(holds, on=["patient_id", "regimen", "date"])
    found = found[found["time"].isna() | (found["time"].astype("Float64") == found["minutes"])]
    out[found["row"].to_numpy()] = found["reason"].fillna("").astype(str).to_numpy()
    return out


def refuse_true_doses(judged: pd.DataFrame, log: str | Path) -> None:
    """A blinded export must not carry a dose the log wrote in true terms where the arms' doses differ
    (the amount would tell the arm): refused, with the way out."""
    hidden = (judged["dose_note"].astype(str) == NOT_JUDGED).to_numpy()
    if hidden.any():
        line = int(judged["log_line"].to_numpy()[np.flatnonzero(hidden)[0]])
        raise BlindedExportRefused(
            f"{int(hidden.sum())} logged dose(s) give a true amount for a drug whose dose differs between arms; "
            "a blinded export would reveal the arm",
            source=str(log),
            where=f"line {line}",
            hint="export with --unblinded (for unblinded staff only), or leave dose_given empty for that drug",
        )


@contextmanager
def export_folder(
    protocol: Protocol,
    out_dir: str | Path,
    name: str,
    unblinded: bool,
    *,
    group: str | None = None,
    wait: float = DEFAULT_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """A staged ``OUT/<study id>[-UNBLINDED]/<name>/`` that replaces the old one when the block ends
    without error; unblinded exports are owner-only (or owner and ``group``)."""
    study = output_folder(Path(out_dir), protocol, unblinded)
    with study_lock(study, wait=wait, on_wait=on_wait):
        recover(study / name)
        with staged_folder(study / name) as folder:
            if unblinded:  # owner-only before anything unblinded is written
                restrict(study, group, recursive=False)
                restrict(folder, group, recursive=False)
            yield folder
            if unblinded:
                restrict(folder, group)
        if unblinded:
            restrict(study, group, recursive=False)


def finish(
    folder: Path, command: str, protocol: Protocol, cohort: Cohort, changes: Changes | None, options: dict
) -> None:
    """The export's manifest, written last (it marks the folder complete)."""
    blinded = not options.get("unblinded", False)
    write_manifest(folder, command, inputs_record(protocol, cohort, changes, blinded), options)


def write_json(data: dict, path: Path) -> None:
    """UTF-8 JSON, two-space indent, keys in the order built, one line end at the end."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def iso_day(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()
