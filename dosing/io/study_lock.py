"""One run at a time per study folder.

``generate``, ``adherence`` and ``rotate-feed`` hold an exclusive lock on the study folder
from the moment they compare its manifest with their inputs until their outputs are in
place, so two runs can never both report success while one's outputs replace the other's.
A second run waits (``on_wait`` is told once) and gives up with an :class:`OutputError`
after ``wait`` seconds. The lock is ``.<folder name>.lock`` beside the folder (beside the
link's target when the folder is a symbolic link), taken with ``filelock`` (``flock`` on
POSIX, ``LockFileEx`` on Windows): the operating system releases it when a run dies, even
under ``kill -9``, so a stale lock never blocks the next run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import OutputError
from .atomic import real_folder
from .permissions import no_group_write

#: How long a run waits for another run on the same study folder before it gives up.
DEFAULT_WAIT_S = 600.0


def lock_path(folder: Path) -> Path:
    """``.<name>.lock`` beside ``folder`` (beside its target when it is a symbolic link; a link to
    nothing, to a file or in a loop is an :class:`OutputError`)."""
    real = real_folder(folder)
    return real.with_name(f".{real.name}.lock")


@contextlib.contextmanager
def study_lock(
    folder: Path, *, wait: float = DEFAULT_WAIT_S, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the study folder's lock for the duration of the ``with`` block."""
    path = lock_path(folder)
    with no_group_write(), _locked(path, folder, wait, on_wait):
        yield


@contextlib.contextmanager
def _locked(path: Path, folder: Path, wait: float, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path, thread_local=False)
        if not _try(lock, 0):
            if on_wait is not None:
                on_wait(f"another dosing run is writing {folder}; waiting for it (up to {wait:g} s, Ctrl-C stops)")
            if not _try(lock, wait):
                raise OutputError(
                    f"another dosing run is still writing this study folder after {wait:g} s; nothing was written",
                    source=str(folder),
                    hint="let the other run finish (see `dosing status`), then run this command again",
                )
    except OSError as err:
        raise OutputError(f"cannot lock the study folder ({err.strerror})", source=str(path)) from None
    try:
        yield
    finally:
        lock.release()


def _try(lock: FileLock, timeout: float) -> bool:
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        return False
    return True
