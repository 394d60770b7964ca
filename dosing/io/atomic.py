"""Write a whole output folder or nothing.

Outputs are built in a temporary folder beside the destination and moved into place only
when complete, so a failed or interrupted run leaves the previous outputs exactly as they
were. The swap is two renames on the same file system (old -> backup, new -> final); the
backup is removed afterwards.

Temporary folders carry the id of the process that made them
(``.<name>.partial-<pid>-<random>``, ``.<name>.previous-<pid>``). A run killed outright
(power cut, ``kill -9``) cannot clean up after itself, so the next run does: it removes the
partial folders of processes that no longer run and, if it finds the previous outputs
parked in a backup with no final folder beside them, puts them back first. A parked backup is
deleted only when the folder beside it is complete (it holds :data:`COMPLETE_MARK`, which every
writer writes last) or the backup is not; otherwise whatever was written into the incomplete
folder since (e.g. ``adherence/``) is moved into the backup and the backup put back.

A destination that is a symbolic link to a folder keeps its link: the swap happens beside the
link's target, so the link points to the new outputs and nothing stale is left behind it. A
link that points nowhere, to a file, or in a loop is refused.

Only dosing's own outputs are ever replaced: an existing destination must be empty, hold
:data:`COMPLETE_MARK`, or hold nothing but an ``adherence/`` folder that does (see
:func:`check_ours`); anything else (a folder of documents, an older dosing version's outputs
without a manifest, a link to another output root) is refused and left untouched.
Everything is created without write permission for group or others (umask at least 022).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError
from .os_errors import user_caused, writing_failed
from .permissions import no_group_write

_WHERE_TO_WRITE = "choose a folder you can write to, on a disk with free space, with --out"

#: The file every writer of a staged folder writes last (the manifest): a folder holding it is complete.
COMPLETE_MARK = "manifest.json"
#: Folders ``dosing export`` writes inside a study folder (kept by ``dosing generate``, as adherence/).
EXPORT_FOLDERS = ("fhir", "redcap", "sdtm")


@contextlib.contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces ``final`` (or, when ``final`` is a
    symbolic link to a folder, the link's target). Nothing is made writable by group or others."""
    with no_group_write():
        yield from _staged(final)


def _staged(final: Path) -> Iterator[Path]:
    final = real_folder(final)
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create the output folder ({err.strerror})", source=str(parent), hint=_WHERE_TO_WRITE
        ) from None
    if final.exists() and not final.is_dir():
        raise OutputError("exists and is not a folder", source=str(final), hint="remove it or choose another --out")
    recover(final)
    check_ours(final)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-{os.getpid()}-", dir=parent))
        staging.chmod(0o777 & ~(_umask() | 0o022))  # mkdtemp makes 0700; the finished folder gets the usual mode
    except OSError as err:
        raise OutputError(
            f"cannot write into the output folder ({err.strerror})", source=str(parent), hint=_WHERE_TO_WRITE
        ) from None
    try:
        yield staging
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, OSError) and user_caused(err):  # a full disk, a read-only folder; others are bugs
            raise writing_failed(err, final) from err
        raise
    _swap(staging, final)


def _swap(staging: Path, final: Path) -> None:
    backup = final.with_name(f".{final.name}.previous-{os.getpid()}")
    try:
        if final.exists():
            os.replace(final, backup)
        os.replace(staging, final)
    except OSError as err:
        if backup.exists() and not final.exists():
            os.replace(backup, final)
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(
            f"could not move the new outputs into place ({err.strerror}); the previous outputs are unchanged",
            source=str(final),
        ) from None
    shutil.rmtree(backup, ignore_errors=True)


def check_ours(final: Path) -> None:
    """Refuse to replace a folder dosing did not make: it must be empty, hold :data:`COMPLETE_MARK`,
    or hold only ``adherence/`` and export folders that do (runs before the first generate)."""
    if not final.is_dir() or _complete(final):
        return
    entries = sorted(entry.name for entry in final.iterdir())
    if all(entry in ("adherence", *EXPORT_FOLDERS) and _complete(final / entry) for entry in entries):
        return  # empty, or only outputs of adherence and export runs before the first generate
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise OutputError(
        f"holds files dosing did not write ({shown}) and no {COMPLETE_MARK}; nothing was replaced",
        source=str(final),
        hint="choose another --out, or move this folder aside (outputs of a dosing version older than the "
        "manifest: delete them yourself, then run again)",
    )


def real_folder(final: Path) -> Path:
    """``final``, or the folder it links to; a link to nothing, to a file or in a loop is an :class:`OutputError`."""
    if not final.is_symlink():
        return final
    try:
        target = final.resolve()
    except (RuntimeError, OSError):  # a symlink loop: RuntimeError before Python 3.13, ELOOP after
        raise OutputError(
            "is a symbolic link that leads back to itself (a loop)",
            source=str(final),
            hint="point the link at a folder, remove it, or choose another --out",
        ) from None
    if not target.is_dir():
        raise OutputError(
            f"is a symbolic link to {target}, which is not a folder",
            source=str(final),
            hint="point the link at a folder, remove it, or choose another --out",
        )
    return target


def recover(final: Path) -> None:
    """Clean up after runs that were killed: drop their partial folders, restore a parked backup."""
    final = real_folder(final)
    if not final.parent.is_dir():
        return
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(partial|previous)-(\d+)(-.*)?$")
    for entry in sorted(final.parent.iterdir()):
        match = pattern.match(entry.name)
        if match is None or not entry.is_dir() or _running(int(match.group(2))):
            continue
        if match.group(1) == "previous" and not final.exists():
            os.replace(entry, final)
        elif match.group(1) == "previous" and _complete(entry) and not _complete(final):
            _merge_back(entry, final)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _complete(folder: Path) -> bool:
    return (folder / COMPLETE_MARK).is_file()


def _merge_back(backup: Path, final: Path) -> None:
    """``final`` was made after a run parked the complete ``backup`` and died (e.g. an adherence
    run of an older version created ``final/adherence`` only): keep both, the newer entries win."""
    for entry in final.iterdir():
        kept = backup / entry.name
        if kept.is_dir() and not kept.is_symlink():
            shutil.rmtree(kept)
        elif kept.exists() or kept.is_symlink():
            kept.unlink()
        os.replace(entry, kept)
    final.rmdir()
    os.replace(backup, final)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except (OverflowError, OSError):
        return False
    return True


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
