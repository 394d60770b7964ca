"""What the operating system's refusals mean for a user, and what to do about them.

Only errors the user's machine causes (a full disk, a read-only file system, missing
permission, a failing device) are described here; an ``OSError`` with another cause is a
bug and keeps its traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path

from ..errors import OutputError

#: errno -> (what happened, what to do about it)
USER_CAUSED: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", "free space on that disk"),
    errno.EDQUOT: ("the disk quota is used up", "free space in your quota"),
    errno.EROFS: ("the file system is read-only", "use a folder on a writable disk"),
    errno.EACCES: ("permission denied", "use a folder you can write to, or fix its permissions"),
    errno.EPERM: ("the operation is not permitted", "use a folder you can write to"),
    errno.EIO: ("the disk reported an input/output error", "check the disk"),
    errno.EFBIG: ("a file grew larger than the file system allows", "use another disk"),
    errno.ENAMETOOLONG: ("a file name is too long for the file system", "choose a shorter --out path"),
    errno.EMFILE: ("too many files are open", "raise the limit of open files (ulimit -n) and run again"),
}
_OTHER = ("", "check the disk")


def user_caused(err: BaseException) -> bool:
    """True for an ``OSError`` the user's machine caused (see :data:`USER_CAUSED`)."""
    return isinstance(err, OSError) and err.errno in USER_CAUSED


def writing_failed(err: OSError, folder: Path) -> OutputError:
    """An :class:`OutputError` naming ``folder`` and the file being written when ``err`` happened."""
    what, hint = USER_CAUSED.get(err.errno or 0, _OTHER)
    file = f" (writing {err.filename})" if err.filename else ""
    return OutputError(
        f"could not write the outputs: {what or err.strerror or err}{file}; nothing was replaced, the previous "
        "outputs are unchanged",
        source=str(folder),
        hint=f"{hint}, or choose another --out",
    )


def describe(err: OSError) -> str:
    """``Error:`` text for a user-caused ``OSError`` met outside the output folder (e.g. the feed key)."""
    what, hint = USER_CAUSED.get(err.errno or 0, _OTHER)
    prefix = f"{err.filename}: " if err.filename else ""
    return f"{prefix}{what or err.strerror or err}\n  Fix: {hint}"
