"""The forked workers of generate (dosing.jobs.workers): the allocator setting stays in the workers,
and work run beside the caller finishes before the block ends and raises what it raised."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

from dosing.errors import OutputError
from dosing.jobs.workers import beside, can_fork, fork_pool, keep_freed_memory

forks = pytest.mark.skipif(not can_fork(), reason="processes cannot be forked here")


@forks
def test_work_beside_runs_in_another_process_and_is_done_when_the_block_ends(tmp_path: Path) -> None:
    mark = tmp_path / "pid"
    order = []
    with beside(lambda: mark.write_text(str(os.getpid()))):
        order.append("block")
    assert order == ["block"]
    assert mark.read_text() != str(os.getpid())


@forks
def test_an_error_beside_is_raised_in_the_caller_with_its_message(tmp_path: Path) -> None:
    def fails() -> None:
        raise OutputError("disk full", source=str(tmp_path / "staff"), hint="free some space")

    with pytest.raises(OutputError) as caught, beside(fails):
        pass
    assert str(caught.value) == f"{tmp_path / 'staff'}: disk full\n  Fix: free some space"


def test_without_fork_the_work_runs_here_after_the_block(tmp_path: Path) -> None:
    seen: list[str] = []
    with beside(lambda: seen.append(f"work in {os.getpid()}"), fork=False):
        seen.append("block")
    assert seen == ["block", f"work in {os.getpid()}"]


def _tuned(_: int) -> bool:
    return keep_freed_memory()


@forks
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_workers_keep_freed_memory_on_glibc() -> None:
    with fork_pool(2) as pool:
        assert pool.map(_tuned, range(2)) == [True, True]


def _on_interrupt(_: int) -> object:
    import signal

    return signal.getsignal(signal.SIGINT)


@forks
def test_workers_leave_ctrl_c_to_the_caller() -> None:
    """Ctrl-C reaches every process of the command: the workers ignore it (no traceback of theirs),
    the caller stops and ends them."""
    import signal

    with fork_pool(2) as pool:
        assert pool.map(_on_interrupt, range(2)) == [signal.SIG_IGN, signal.SIG_IGN]
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN


def _dies(_: int) -> None:
    os._exit(3)  # as a worker the out-of-memory killer ends: no exception, no result


@forks
@pytest.mark.parametrize("how", ["imap", "imap_unordered", "beside"])
def test_a_worker_that_dies_is_an_error_not_a_wait_forever(how: str) -> None:
    import signal

    signal.alarm(60)  # a hang fails the test instead of the run
    try:
        with pytest.raises(OutputError, match="a worker process stopped before its work was done"):
            if how == "beside":
                with beside(lambda: _dies(0)):
                    pass
            else:
                with fork_pool(2) as pool:
                    list(getattr(pool, how)(_dies, range(4)))
    finally:
        signal.alarm(0)
