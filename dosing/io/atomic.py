"""Write a whole output folder or nothing.

Outputs are built in a temporary folder beside the destination and moved into place only
when complete, so a failed or interrupted run leaves the previous outputs exactly as they
were. The swap is two renames on the same file system (old -> backup, new -> final); the
backup is removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError


@contextlib.contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces ``final``."""
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the output folder ({err.strerror})", source=str(parent)) from None
    if final.exists() and not final.is_dir():
        raise OutputError("exists and is not a folder", source=str(final), hint="remove it or choose another --out")
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap(staging, final)


def _swap(staging: Path, final: Path) -> None:
    backup = final.with_name(f".{final.name}.previous-{os.getpid()}")
    if final.exists():
        os.replace(final, backup)
    try:
        os.replace(staging, final)
    except OSError:
        if backup.exists():
            os.replace(backup, final)
        raise
    shutil.rmtree(backup, ignore_errors=True)
