"""Owner-only permissions for the sensitive parts of a study folder.

``feeds.csv`` (every patient's secret feed URL), ``feeds/`` (whose listing would give every
token away) and the whole ``<study>-UNBLINDED/`` folder are made readable by their owner
only (folders 0700, files 0600), whatever the umask. With ``group`` (a group name) they are
also readable by that group (0750 / 0640) and given to it, e.g. the web server's group that
publishes ``feeds/``. POSIX permissions; on Windows the folder's access list applies.

Whatever the umask, nothing dosing creates is writable by group or others (:func:`no_group_write`
masks at least 022 while a study folder is locked and written): under umask 000 anyone could
otherwise swap ``feeds/`` or the lock file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError


def restrict(path: Path, group: str | None = None, *, recursive: bool = True) -> None:
    """Make ``path`` (and everything under it, with ``recursive``) owner-only, or owner and ``group``."""
    gid = _gid(group)
    folder_mode, file_mode = (0o750, 0o640) if group else (0o700, 0o600)
    entries = [path, *path.rglob("*")] if path.is_dir() and recursive else [path]
    try:
        for entry in entries:
            if gid is not None:
                os.chown(entry, -1, gid)
            os.chmod(entry, folder_mode if entry.is_dir() else file_mode)
    except PermissionError:
        raise OutputError(
            f"cannot give the sensitive outputs to group {group!r} (you are not a member of it)",
            source=str(path),
            hint="choose a group you belong to (see `id -Gn`), or leave out --group",
        ) from None


def _gid(group: str | None) -> int | None:
    if group is None:
        return None
    try:
        import grp
    except ImportError:  # Windows
        raise OutputError("--group needs a POSIX system", hint="leave out --group") from None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise OutputError(f"unknown group {group!r}", hint="give an existing group (see `getent group`)") from None


@contextlib.contextmanager
def no_group_write() -> Iterator[None]:
    """Mask group and others' write permission (umask | 022) for the ``with`` block. The umask is
    the process's: a program writing from several threads at once should set it itself."""
    old = os.umask(0o022)
    os.umask(old | 0o022)
    try:
        yield
    finally:
        os.umask(old)
