"""One error hierarchy for the whole package.

Every error a user can cause (a bad protocol, cohort, log or changes file, an unsafe
schedule) is a :class:`DosingError`. The command line catches the base class once and
prints ``Error: <message>`` with exit status 2; anything else is a bug and is allowed to
crash loudly.
"""

from __future__ import annotations


class DosingError(Exception):
    """Base class: a problem the user can fix. ``str(err)`` is the full message."""

    def __init__(
        self, message: str, *, source: str | None = None, where: str | None = None, hint: str | None = None
    ) -> None:
        self.message = message
        self.source = source
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        prefix = ""
        if self.source:
            prefix = f"{self.source}"
            if self.where:
                prefix += f", {self.where}"
            prefix += ": "
        elif self.where:
            prefix = f"{self.where}: "
        text = prefix + self.message
        if self.hint:
            text += f"\n  Fix: {self.hint}"
        return text


class ProtocolError(DosingError):
    """The protocol file is malformed or inconsistent."""


class CohortError(DosingError):
    """The cohort file is malformed or does not fit the protocol."""


class LogError(DosingError):
    """An administration log is malformed."""


class ChangesError(DosingError):
    """A changes file is malformed or contradicts the schedule."""


class SafetyError(DosingError):
    """A schedule breaks a medication-safety rule (e.g. daily methotrexate)."""


class OutputError(DosingError):
    """Outputs could not be written (e.g. the destination is not a folder)."""


class ValueParseError(DosingError):
    """A duration, time, date or weekday could not be parsed."""


class LanguageError(DosingError):
    """A language that no catalogue is shipped for."""
