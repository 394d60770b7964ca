"""The forked worker processes of ``generate`` (chunks of patients, CSV parts, the study-wide tail).

Workers are forked, so they inherit the tables they read instead of receiving copies. Each worker
tunes the C allocator once (:func:`keep_freed_memory`): a worker builds and drops tables of hundreds
of megabytes, and glibc's default hands every large block back to the kernel on ``free`` and asks
for fresh zeroed pages on the next ``malloc``. Measured on the 2-core machine, generate for 2,000
seed patients: 1.27 M minor page faults and 5.7-6.0 s of system time with the default, 0.60 M and
3.4 s with the threshold below (docs/performance.md). The setting lives and dies with the worker: the
caller's own process (a notebook that imports ``dosing``) is never changed.

:func:`beside` runs one function in a forked process while the caller does something else (the
staff calendars while the parent merges the worklist).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import multiprocessing.pool
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

#: glibc ``mallopt`` parameters (malloc.h) and the values the workers use: blocks up to 32 MiB (the
#: largest glibc accepts) come from the heap and stay there when freed, for the next table to reuse.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024
_TRIM_THRESHOLD = 2**31 - 1


def keep_freed_memory() -> bool:
    """Tell glibc's allocator to keep freed memory for reuse in this process (True when it could:
    glibc on Linux; elsewhere nothing happens)."""
    name = ctypes.util.find_library("c")
    if not name or os.name != "posix":
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


@contextlib.contextmanager
def fork_pool(processes: int) -> Iterator[multiprocessing.pool.Pool]:
    """A pool of ``processes`` forked workers, each with :func:`keep_freed_memory` and deaf to Ctrl-C
    (the terminal sends it to every process of the command: the caller alone stops, and leaving the
    ``with`` block ends the workers, so no worker prints a traceback of its own)."""
    with multiprocessing.get_context("fork").Pool(processes, initializer=_start_worker) as pool:
        yield pool


def _start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()


_BESIDE: dict[str, Callable[[], None]] = {}  # what the forked process runs


@contextlib.contextmanager
def beside(work: Callable[[], None], fork: bool = True) -> Iterator[None]:
    """Run ``work`` in a forked process while the ``with`` block runs here; wait for it at the end
    and raise what it raised. Without ``fork`` (or where processes cannot be forked), ``work`` runs
    here after the block."""
    if not (fork and can_fork()):
        yield
        work()
        return
    _BESIDE["work"] = work
    try:
        with fork_pool(1) as pool:
            done = pool.apply_async(_run_beside)
            yield
            done.get()
    finally:
        _BESIDE.clear()


def _run_beside(*_: Any) -> None:
    _BESIDE["work"]()
