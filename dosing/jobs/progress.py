"""Progress of a long command on a terminal: its stages in order, each with a count, a rate and an
estimate of the time left.

``Progress(enabled, stream)`` shows anything only when ``enabled`` (``--quiet`` turns it off) and
``stream`` (stderr by default) is a terminal: piped into a file or a log it stays silent, so it never
lands in an output or a captured log. A command wraps each piece of real work in a stage and
advances it as the work is done::

    with progress.stage("writing patient files", total=len(cohort)):
        for chunk in chunks:
            ...
            progress.advance(len(chunk))

The estimate is the measured rate so far (done / elapsed) applied to what is left; before the first
step is done it says "estimating" instead of inventing a figure. A stage without a total (reading a
file) shows its name and, when it ends, how long it took. Lines are redrawn in place (``\\r``) at most
every ``interval`` seconds; each finished stage keeps its own line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


def is_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is an interactive terminal (the only place progress is shown)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def duration_text(seconds: float) -> str:
    """``0.4 s``, ``42 s``, ``3 min 05 s``, ``1 h 02 min``: short and exact enough to plan by."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class Progress:
    """Stages of real work, drawn on ``stream`` when it is a terminal and ``enabled``."""

    def __init__(
        self,
        enabled: bool = True,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.2,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.shown = enabled and is_terminal(self.stream)
        self.clock = clock
        self.interval = interval
        self.name = ""
        self.total: int | None = None
        self.done = 0
        self.started = 0.0
        self.drawn_at = float("-inf")
        self.width = 0  # of the line drawn last, to blank what a shorter line leaves

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Progress]:
        """One piece of work: ``total`` steps (or None: unknown), advanced with :meth:`advance`."""
        self.name, self.total, self.done = name, total, 0
        self.started = self.clock()
        self._draw(force=True)
        try:
            yield self
        except BaseException:
            self._break_line()  # the error message starts on its own line
            raise
        if self.total is not None:
            self.done = self.total
        self._draw(force=True, finished=True)
        self.name, self.total = "", None

    def advance(self, steps: int = 1) -> None:
        """``steps`` more of the current stage's work are done."""
        self.done += steps
        self._draw()

    def line(self, finished: bool = False) -> str:
        """What the current stage shows now."""
        elapsed = self.clock() - self.started
        if finished:
            count = "" if self.total is None else f" {self.total:,}"
            return f"{self.name}:{count} done in {duration_text(elapsed)}"
        if self.total is None:
            return f"{self.name} ..."
        percent = 100 * self.done // self.total if self.total else 100
        head = f"{self.name}: {self.done:,}/{self.total:,} ({percent}%)"
        if self.done <= 0 or elapsed <= 0:
            return f"{head}, estimating"
        left = (self.total - self.done) * elapsed / self.done
        return f"{head}, {duration_text(elapsed)} so far, about {duration_text(left)} left"

    def _break_line(self) -> None:
        if self.shown and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0

    def _draw(self, force: bool = False, finished: bool = False) -> None:
        if not self.shown:
            return
        now = self.clock()
        if not force and now - self.drawn_at < self.interval:
            return
        self.drawn_at = now
        text = self.line(finished)
        padding = " " * max(0, self.width - len(text))
        self.width = 0 if finished else len(text)
        self.stream.write("\r" + text + padding + ("\n" if finished else ""))
        self.stream.flush()
