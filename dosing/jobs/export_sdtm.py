"""``dosing export sdtm``: the study's doses (and, with a log, what was given) as CDISC SDTM datasets.

Plans as ``dosing adherence`` does (the protocol and cohort that made the study's outputs, and their
recorded changes unless others are given), then writes ``<out>/<study id>/sdtm/`` (blinded: EC, TE,
TV) or ``<out>/<study id>-UNBLINDED/sdtm/`` (also EX and TA), each dataset as Dataset-JSON 1.1
(``ec.json``) and SAS transport v5 (``ec.xpt``), with ``define.json`` (the variables' metadata) and
``manifest.json``, all at once under the study folder's lock. The mapping: :mod:`dosing.io.write.sdtm`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ..io.atomic import recover, staged_folder
from ..io.manifest import check_same_plan, file_sha256, inputs_record, resolve_changes, study_record, write_manifest
from ..io.permissions import restrict
from ..io.read.changes import load_changes
from ..io.read.log import AdministrationLog, read_log
from ..io.study_lock import DEFAULT_WAIT_S, study_lock
from ..io.write.sdtm import sdtm_datasets, write_datasets
from ..plan.changes import Changes
from ..plan.cohort import Cohort
from ..protocol.model import Protocol
from .exports import refuse_true_doses, refuse_unreadable_log
from .generate import output_folder

#: Said (stdout) by a blinded export: why it has no EX (and no TA).
NO_EX = (
    "no EX and no TA: EX records the true treatment and dose of each subject, TA names the arms; "
    "they are written only by an unblinded export (--unblinded)"
)
NO_LOG = "no PERFORMED records in EC and no EX: give --log to export what was given"


@dataclass
class SdtmResult:
    """What ``export_sdtm`` wrote."""

    folder: Path
    blinded: bool
    records: dict[str, int]
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    open_label: bool = False  # an open study: "Open-label", not "BLINDED"

    def summary(self) -> str:
        mode = "Open-label" if self.open_label else "BLINDED" if self.blinded else "UNBLINDED"
        lines = [f"{mode} SDTM datasets in {self.folder}"]
        lines += [f"  {name}: {count:,} records" for name, count in self.records.items()]
        lines += ["  files: <dataset>.json (Dataset-JSON 1.1), <dataset>.xpt (SAS transport v5), define.json"]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def export_sdtm(
    protocol: Protocol,
    cohort: Cohort,
    out_dir: str | Path = "output",
    *,
    log: str | Path | AdministrationLog | None = None,
    changes: str | Path | Changes | None = None,
    as_of: dt.date | None = None,
    unblinded: bool = False,
    discard_changes: bool = False,
    group: str | None = None,
    created: dt.datetime | None = None,
    on_wait: Callable[[str], None] | None = None,
    wait: float = DEFAULT_WAIT_S,
) -> SdtmResult:
    """Write the SDTM datasets (see the module) and return what was written. ``as_of`` as in
    ``dosing adherence``; ``created`` (default: now, UTC) is the datasets' creation time."""
    study = output_folder(Path(out_dir), protocol, unblinded)
    if isinstance(changes, (str, Path)):
        changes = load_changes(changes, protocol, cohort, unblinded=unblinded)
    read = read_log(log, protocol, cohort, unblinded=unblinded) if isinstance(log, (str, Path)) else log
    if read is not None:
        refuse_unreadable_log(len(read.given), sorted(int(line) for line in read.bad["line"]), read.source)
    created = created or dt.datetime.now(dt.UTC).replace(microsecond=0)
    if read is not None:
        as_of = as_of or dt.date.today()  # as `dosing adherence` judges; recorded and said below
    with study_lock(study, wait=wait, on_wait=on_wait):
        recover(study)
        record = study_record(study)
        check_same_plan(record, protocol, cohort, study)
        used = resolve_changes(record, changes, discard_changes, protocol, cohort, study)
        refuse = None if unblinded or read is None else partial(refuse_true_doses, log=read.source)
        frames = sdtm_datasets(
            protocol, cohort, changes=used, log=read, as_of=as_of, unblinded=unblinded, on_judged=refuse
        )
        final = study / "sdtm"
        with staged_folder(final) as folder:
            if unblinded:
                restrict(folder, group, recursive=False)  # owner-only before anything unblinded is written
            files = write_datasets(frames, folder, protocol.study.id, created)
            write_manifest(
                folder, "export sdtm", **_manifest(protocol, cohort, used, log, (unblinded, discard_changes), as_of)
            )
            if unblinded:
                restrict(folder, group)
        if unblinded:
            restrict(study, group, recursive=False)
    notes = ([] if unblinded else [NO_EX]) + ([] if read is not None else [NO_LOG])
    if read is not None and as_of is not None:
        notes.append(after_as_of_note(read, as_of))
    return SdtmResult(
        final,
        not unblinded,
        {k: len(v) for k, v in frames.items()},
        [final / f.name for f in files],
        notes,
        not protocol.study.blinded,
    )


def after_as_of_note(log: AdministrationLog, as_of: dt.date) -> str:
    """What ``dosing adherence`` says of the log rows given after ``as_of``: they are left out."""
    later = int((log.given["given_day"].to_numpy() > (as_of - dt.date(1970, 1, 1)).days).sum())
    return f"judged as of {as_of.isoformat()} (--as-of); given after {as_of.isoformat()} (left out): {later:,}"


def _manifest(
    protocol: Protocol,
    cohort: Cohort,
    used: Changes | None,
    log: str | Path | AdministrationLog | None,
    flags: tuple[bool, bool],
    as_of: dt.date | None,
) -> dict:
    unblinded, discard = flags
    inputs = inputs_record(protocol, cohort, used, not unblinded)
    if isinstance(log, (str, Path)):
        path = Path(log).expanduser().resolve()
        inputs["log"] = {"path": str(path), "sha256": file_sha256(path)}
    options = {"unblinded": unblinded, "as_of": None if as_of is None else as_of.isoformat()}
    options["changes_discarded"] = discard
    return {"inputs": inputs, "options": options}


__all__ = ["NO_EX", "SdtmResult", "after_as_of_note", "export_sdtm"]
