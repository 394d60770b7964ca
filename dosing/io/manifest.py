"""What made a study folder: ``manifest.json``, written with every output, and the checks that
keep later commands from forgetting the inputs (above all the changes file).

``generate`` writes ``<study>/manifest.json`` and ``adherence`` writes
``<study>/adherence/manifest.json``, each inside its staged folder, so a manifest always
describes the outputs beside it. A manifest names the protocol, cohort and changes files
(absolute path and sha256 of the bytes), the tool version, the time (UTC) and the options.
In a blinded folder the cohort's hash leaves the ``arm`` column out (see :func:`cohort_sha256`):
the hash of a randomisation list would let anyone who can guess the list confirm it.

The rule (README, "The study folder remembers what made it"): when the study had changes, a
command that gives none, or gives a different changes file, stops with
:class:`InputsDifferError` unless it says ``discard_changes`` (which is then recorded). Commands
that read the plan (``adherence``, ``show``) use the recorded changes by default and stop when
the protocol or cohort differs from the one that made the outputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..plan.changes import Changes
from ..plan.cohort import Cohort
from ..protocol.model import Protocol

MANIFEST = "manifest.json"
FORMAT = 1


class InputsDifferError(OutputError):
    """A command's inputs differ from the ones that made the study folder's outputs."""


def tool_version() -> str:
    try:
        return f"dosing {version('dosing')}"
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "dosing (version unknown)"


def file_sha256(path: str | Path) -> str | None:
    """sha256 of a file's bytes, None when it cannot be read (missing, or an in-memory source)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def cohort_sha256(cohort: Cohort, blinded: bool) -> str:
    """sha256 of the validated patients (one line per patient, cells as text); in a blinded
    folder without the ``arm`` column, so that the hash cannot confirm a guessed allocation."""
    patients = cohort.patients.drop(columns=["arm"]) if blinded else cohort.patients
    text = patients.astype(str).to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file(source: str | None) -> dict[str, str | None]:
    if source is None or source.startswith("<"):
        return {"path": None, "sha256": None}  # built in Python, not read from a file
    path = Path(source).expanduser().resolve()
    return {"path": str(path), "sha256": file_sha256(path)}


def inputs_record(protocol: Protocol, cohort: Cohort, changes: Changes | None, blinded: bool) -> dict[str, Any]:
    """The ``inputs`` part of a manifest."""
    return {
        "protocol": _file(protocol.source),
        "cohort": {**_file(cohort.source), "sha256": cohort_sha256(cohort, blinded), "arm_column_hashed": not blinded},
        "changes": None if changes is None else _file(getattr(changes, "source", None)),
    }


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_manifest(folder: Path, command: str, inputs: dict[str, Any], options: dict[str, Any], **more: Any) -> None:
    """Write ``folder/manifest.json`` (call it last: it marks the folder complete)."""
    data = {"format": FORMAT, "made_by": tool_version(), "command": command, "written_at": now_utc()}
    data |= {"inputs": inputs, "options": options, **more}
    (folder / MANIFEST).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a study (or adherence) folder, None when there is none (outputs of an
    older version). A damaged manifest is an :class:`OutputError`: guessing would defeat it."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OutputError(
            f"cannot read the study's manifest ({err})",
            source=str(path),
            hint="run `dosing generate` again with the study's protocol, cohort and changes files",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), dict):
        raise OutputError("the study's manifest is damaged (no inputs)", source=str(path))
    return data


def recorded_changes(record: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if record is None else record["inputs"].get("changes")


def discarded(record: dict[str, Any] | None, changes: Changes | None, discard: bool) -> list[dict[str, Any]]:
    """The manifest's history of discarded changes files, with the recorded one added when this
    run drops or replaces it (``discard``)."""
    history = list((record or {}).get("discarded_changes", []))
    old = recorded_changes(record)
    if discard and old is not None and not _same_changes(old, changes):
        history.append({**old, "discarded_at": now_utc()})
    return history


def _same_changes(old: dict[str, Any], changes: Changes | None) -> bool:
    if changes is None:
        return False
    new = _file(getattr(changes, "source", None))
    return (new["sha256"] is not None and new["sha256"] == old.get("sha256")) or new["path"] == old.get("path")


def check_changes(record: dict[str, Any] | None, changes: Changes | None, discard: bool, folder: Path) -> None:
    """Refuse a run that would silently drop or swap the study's recorded changes. The same changes
    file edited since (same path) is accepted: recording new events in it is how it is used."""
    old = recorded_changes(record)
    if old is None or discard or (changes is not None and _same_changes(old, changes)):
        return
    where = str(record_folder(folder) / MANIFEST)
    recorded = old.get("path") or "a changes object given in Python"
    if changes is None:
        raise InputsDifferError(
            f"this study's outputs were made with the changes file {recorded}; without it, held doses, delays, "
            "stops and withdrawals would come back",
            source=where,
            hint=f"add --changes {recorded} (Python: changes=), or --discard-changes to drop them on purpose "
            "(the manifest records that)",
        )
    raise InputsDifferError(
        f"this study's outputs were made with the changes file {recorded}, not {changes.source}",
        source=where,
        hint=f"give --changes {recorded} (record new events in that file), or add --discard-changes to replace "
        "it with this one (the manifest records that)",
    )


def check_same_plan(record: dict[str, Any] | None, protocol: Protocol, cohort: Cohort, folder: Path) -> None:
    """Readers of a study folder (adherence, show) must plan from the inputs that made it."""
    if record is None:
        return
    blinded = not record.get("inputs", {}).get("cohort", {}).get("arm_column_hashed", False)
    now = inputs_record(protocol, cohort, None, blinded)
    for kind in ("protocol", "cohort"):
        then = record["inputs"].get(kind) or {}
        if then.get("sha256") and now[kind]["sha256"] and then["sha256"] != now[kind]["sha256"]:
            raise InputsDifferError(
                f"this study's outputs were made from a different {kind} ({then.get('path')}, "
                f"sha256 {then['sha256'][:12]}...) than {now[kind]['path'] or 'the one given'}",
                source=str(record_folder(folder) / MANIFEST),
                hint=f"run `dosing generate` with this {kind} first, or give the {kind} that made the outputs",
            )


def resolve_changes(
    record: dict[str, Any] | None,
    given: Changes | None,
    discard: bool,
    protocol: Protocol,
    cohort: Cohort,
    folder: Path,
) -> Changes | None:
    """The changes a reader of the study (adherence, show) should apply: the given ones if they are
    the recorded ones (or ``discard``), else the recorded file, read again and checked unchanged."""
    old = recorded_changes(record)
    if discard or old is None:
        if given is not None and record is not None and not discard:
            raise InputsDifferError(
                f"this study's outputs were made without a changes file, but {given.source} was given",
                source=str(record_folder(folder) / MANIFEST),
                hint=f"run `dosing generate --changes {given.source}` first, so that the worklist and calendars "
                "show the changes",
            )
        return given
    if given is not None:
        check_changes(record, given, False, folder)
        return given
    return _reread(old, protocol, cohort, folder)


def _reread(old: dict[str, Any], protocol: Protocol, cohort: Cohort, folder: Path) -> Changes:
    from .read.changes import load_changes

    path = old.get("path")
    where = str(record_folder(folder) / MANIFEST)
    if path is None:
        raise InputsDifferError(
            "this study's outputs were made with changes given in Python (no file)",
            source=where,
            hint="pass the same changes again (changes=), or discard_changes=True",
        )
    now = file_sha256(path)
    if now is None:
        raise InputsDifferError(
            f"the changes file that made this study's outputs is missing: {path}",
            source=where,
            hint="restore it, give --changes FILE, or --discard-changes to go on without changes",
        )
    if now != old.get("sha256"):
        raise InputsDifferError(
            f"the changes file {path} has changed since this study's outputs were made",
            source=where,
            hint=f"run `dosing generate --changes {path}` first, so that the worklist and calendars show the changes",
        )
    return load_changes(path, protocol, cohort)


def study_record(folder: Path) -> dict[str, Any] | None:
    """The manifest of a study folder, else of its blinded/unblinded twin (both come from one study:
    a first unblinded run must not forget the changes the blinded outputs were made with)."""
    return read_manifest(record_folder(folder))


def record_folder(folder: Path) -> Path:
    """The folder whose manifest holds the study's record: ``folder``, else its twin when only the
    twin has one (messages name that manifest, not one that does not exist)."""
    if (folder / MANIFEST).is_file():
        return folder
    name = folder.name
    twin = folder.with_name(name.removesuffix("-UNBLINDED") if name.endswith("-UNBLINDED") else f"{name}-UNBLINDED")
    return twin if (twin / MANIFEST).is_file() else folder


#: What ``generate`` and ``status`` say when ``adherence/`` was judged against another plan.
STALE_ADHERENCE = "adherence/ was made from another plan (protocol, cohort or changes): run dosing adherence again"


def adherence_plan_differs(study_inputs: dict[str, Any], adherence: dict[str, Any] | None) -> bool:
    """Whether an ``adherence/`` manifest's plan inputs (protocol, cohort, changes) differ from the
    study's (e.g. generate --changes ran after adherence); judged without changes on purpose
    (``--discard-changes``) is not a difference."""
    if adherence is None or (adherence.get("options") or {}).get("changes_discarded"):
        return False
    then = adherence.get("inputs") or {}
    return any(
        (study_inputs.get(kind) or {}).get("sha256") != (then.get(kind) or {}).get("sha256")
        for kind in ("protocol", "cohort", "changes")
    )


def changes_for_show(
    out_folder: Path, protocol: Protocol, cohort: Cohort, given: Changes | None, discard: bool, unblinded: bool
) -> Changes | None:
    """The changes ``dosing show`` applies: those the study's outputs in ``out_folder`` (the
    ``--out`` folder) were made with, unless others are given or ``discard``."""
    name = protocol.study.id.lower()
    study = out_folder / (f"{name}-UNBLINDED" if unblinded else name)
    record = study_record(study)
    check_same_plan(record, protocol, cohort, study)
    return resolve_changes(record, given, discard, protocol, cohort, study)
