"""``dosing status DIR``: what made a study folder's outputs, and whether its input files have
changed since (read from the manifests written by ``generate`` and ``adherence``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DosingError, OutputError
from ..io.manifest import MANIFEST, STALE_ADHERENCE, adherence_plan_differs, cohort_sha256, file_sha256, read_manifest

KINDS = ("protocol", "cohort", "changes", "log")


@dataclass
class InputState:
    kind: str
    path: str | None
    sha256: str | None
    state: str  # "unchanged", "CHANGED since", "MISSING", "in memory", "cannot be read now: ..."


@dataclass
class FolderStatus:
    folder: Path
    record: dict[str, Any]
    inputs: list[InputState] = field(default_factory=list)
    other_plan: bool = False  # adherence/ judged against other inputs than the study's outputs

    @property
    def changed(self) -> bool:
        return self.other_plan or any(i.state not in ("unchanged", "in memory") for i in self.inputs)

    def lines(self) -> list[str]:
        r = self.record
        options = ", ".join(f"{k}={_shown(v)}" for k, v in r.get("options", {}).items())
        lines = [f"{self.folder}: made by {r.get('made_by')} ({r.get('command')}) at {r.get('written_at')}"]
        lines += [f"  options: {options}"] if options else []
        if r.get("inputs", {}).get("changes") is None and r.get("command") == "generate":
            lines.append("  changes   none")
        for i in self.inputs:
            digest = f"sha256 {i.sha256[:12]}" if i.sha256 else "no hash"
            lines.append(f"  {i.kind:<9} {i.path or '(given in Python)'}  {digest}  {i.state}")
        lines += [
            f"  discarded changes: {d.get('path')} (sha256 {str(d.get('sha256'))[:12]}) at {d.get('discarded_at')}"
            for d in r.get("discarded_changes", [])
        ]
        return lines + ([f"  {STALE_ADHERENCE}"] if self.other_plan else [])


@dataclass
class StudyStatus:
    folders: list[FolderStatus]

    @property
    def changed(self) -> bool:
        return any(f.changed for f in self.folders)

    def summary(self) -> str:
        lines = [line for f in self.folders for line in f.lines()]
        if self.changed:
            lines.append(
                "Some inputs changed since (or differ between the outputs): run the command shown again with them "
                "to bring the outputs up to date."
            )
        else:
            lines.append("All inputs are as they were when the outputs were made.")
        return "\n".join(lines)


def status(folder: str | Path) -> StudyStatus:
    """The status of a study folder (``OUT/<study id>``) and its ``adherence/``; given ``OUT``
    itself, of every study folder in it."""
    root = Path(folder)
    studies = [root] if (root / MANIFEST).is_file() else sorted(p for p in root.glob(f"*/{MANIFEST}"))
    studies = [p.parent if p.name == MANIFEST else p for p in studies]
    found = [s for study in studies for s in (study, study / "adherence") if (s / MANIFEST).is_file()]
    if not found:
        raise OutputError(
            "no manifest.json here: not a study folder, or made by a dosing version that wrote none",
            source=str(root),
            hint="give the study folder (e.g. output/nct02467504), or run `dosing generate` to write one",
        )
    folders = [_folder_status(s) for s in found]
    for f in folders:
        study = f.folder.parent
        if f.folder.name == "adherence" and (study / MANIFEST).is_file():
            f.other_plan = adherence_plan_differs((read_manifest(study) or {}).get("inputs", {}), f.record)
    return StudyStatus(folders)


def _folder_status(folder: Path) -> FolderStatus:
    record = read_manifest(folder) or {}
    result = FolderStatus(folder, record)
    inputs = record.get("inputs", {})
    for kind in KINDS:
        entry = inputs.get(kind)
        if entry is not None:
            result.inputs.append(InputState(kind, entry.get("path"), entry.get("sha256"), _state(kind, entry, inputs)))
    return result


def _state(kind: str, entry: dict[str, Any], inputs: dict[str, Any]) -> str:
    path = entry.get("path")
    if path is None:
        return "in memory"
    if kind == "cohort":
        return _cohort_state(entry, inputs)
    now = file_sha256(path)
    return "MISSING" if now is None else "unchanged" if now == entry.get("sha256") else "CHANGED since"


def _cohort_state(entry: dict[str, Any], inputs: dict[str, Any]) -> str:
    """The cohort's hash is of its validated patients (arms left out when blinded): read it again."""
    from ..io.read.files import load_cohort, load_protocol

    if file_sha256(entry["path"]) is None:
        return "MISSING"
    protocol_path = (inputs.get("protocol") or {}).get("path")
    if protocol_path is None:
        return "cannot be checked (the protocol was given in Python)"
    try:
        protocol = load_protocol(protocol_path)
        cohort = load_cohort(entry["path"], protocol)
    except DosingError as err:
        return "cannot be read now: " + str(err).splitlines()[0]
    now = cohort_sha256(cohort, blinded=not entry.get("arm_column_hashed", False))
    return "unchanged" if now == entry.get("sha256") else "CHANGED since"


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def describe(folder: str | Path) -> str:
    """For ``dosing serve``: what made the feeds being served (and whether its inputs changed
    since: the feeds are then out of date until ``dosing generate`` runs again); "" when unknown."""
    study = Path(folder).expanduser()
    study = study.parent if study.name == "feeds" else study
    if not (study / MANIFEST).is_file():
        return ""
    return "\n".join(_folder_status(study).lines())
