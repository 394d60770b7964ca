"""The forked worker processes of ``generate`` (chunks of patients, CSV parts, the study-wide tail).

Workers are forked, so they inherit the tables they read instead of receiving copies. Each worker
tunes the C allocator once (:func:`keep_freed_memory`): a worker builds and drops tables of hundreds
of megabytes, and glibc's default hands every large block back to the kernel on ``free`` and asks
for fresh zeroed pages on the next ``malloc``. Measured on the 2-core machine, generate for 2,000
seed patients: 1.27 M minor page faults and 5.7-6.0 s of system time with the default, 0.60 M and
3.4 s with the threshold below (docs/performance.md). The setting lives and dies with the worker: a
library call (``dosing.generate`` from a notebook) never changes its caller's process. The ``dosing
generate`` command sets it in its own process too, which ends with the command (a program that runs
the command line inside its own process, as click's test runner does, keeps the setting).

:func:`beside` runs one function in a forked process while the caller does something else (the
staff calendars while the parent merges the worklist).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from ..errors import OutputError

T = TypeVar("T")
R = TypeVar("R")

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


def processes_for(items: int, chunk: int) -> int:
    """Processes for ``items`` worked in chunks of ``chunk``: the cores this process may run on (at
    most 8); one for fewer than two chunks, and one where processes cannot be forked."""
    if items < 2 * chunk or not can_fork():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 8))


class Workers:
    """Forked worker processes (see :func:`fork_pool`): the calls of ``multiprocessing.Pool`` that the
    jobs use, on a :class:`~concurrent.futures.ProcessPoolExecutor`, which (unlike ``Pool``) notices a
    worker that died (killed by the out-of-memory killer, say) instead of waiting for it forever."""

    def __init__(self, executor: ProcessPoolExecutor) -> None:
        self.executor = executor

    def imap(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``function`` of each item, in the items' order."""
        return self.executor.map(function, items)

    def imap_unordered(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``function`` of each item, as each finishes."""
        for done in as_completed([self.executor.submit(function, item) for item in items]):
            yield done.result()

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return list(self.executor.map(function, items))

    def submit(self, function: Callable[[], R]) -> Future[R]:
        return self.executor.submit(function)


@contextlib.contextmanager
def fork_pool(processes: int) -> Iterator[Workers]:
    """``processes`` forked workers, each with :func:`keep_freed_memory` and deaf to Ctrl-C (the terminal
    sends it to every process of the command: the caller alone stops, and leaving the ``with`` block
    early ends the workers at once, so no worker prints a traceback or writes on). A worker that dies
    is an :class:`~dosing.errors.OutputError` here (the run writes nothing, as for any error)."""
    executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker)
    try:
        yield Workers(executor)
    except BrokenProcessPool:
        _stop(executor)
        raise OutputError(
            "a worker process stopped before its work was done (killed from outside, or by the system when "
            "memory ran out); nothing was written",
            hint="run the command again; if it happens again, free memory for it or run fewer things beside it",
        ) from None
    except BaseException:
        _stop(executor)
        raise
    executor.shutdown(wait=True)


def _stop(executor: ProcessPoolExecutor) -> None:
    """End the workers now, not after their current task (``shutdown`` alone waits for it)."""
    running = getattr(executor, "_processes", None)  # CPython's table of its workers (terminate_workers() in 3.14)
    processes = list(running.values()) if isinstance(running, dict) else []
    for process in processes:
        process.terminate()
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(5)


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
            done = pool.submit(_run_beside)
            yield
            done.result()
    finally:
        _BESIDE.clear()


def _run_beside() -> None:
    _BESIDE["work"]()
