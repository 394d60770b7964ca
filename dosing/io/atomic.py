"""Write a whole output folder or nothing.

Outputs are built in a temporary folder beside the destination and moved into place only
when complete, so a failed or interrupted run leaves the previous outputs exactly as they
were. The swap is two renames on the same file system (old -> backup, new -> final); the
backup is removed afterwards.

Temporary folders carry the id of the process that made them
(``.<name>.partial-<pid>-<random>``, ``.<name>.previous-<pid>``). A run killed outright
(power cut, ``kill -9``) cannot clean up after itself, so the next run does: it removes the
partial folders of processes that no longer run and, if it finds the previous outputs
parked in a backup with no final folder beside them, puts them back first.
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

_WHERE_TO_WRITE = "choose a folder you can write to, on a disk with free space, with --out"


@contextlib.contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces ``final``."""
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
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-{os.getpid()}-", dir=parent))
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the finished folder gets the usual mode
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


def recover(final: Path) -> None:
    """Clean up after runs that were killed: drop their partial folders, restore a parked backup."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(partial|previous)-(\d+)(-.*)?$")
    for entry in sorted(final.parent.iterdir()):
        match = pattern.match(entry.name)
        if match is None or not entry.is_dir() or _running(int(match.group(2))):
            continue
        if match.group(1) == "previous" and not final.exists():
            os.replace(entry, final)
        else:
            shutil.rmtree(entry, ignore_errors=True)


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
