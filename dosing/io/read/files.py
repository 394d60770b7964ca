"""Read protocol (TOML) and table (CSV) files into the pure domain validators.

Every failure is a :class:`~dosing.errors.DosingError` naming the file: missing files,
folders, files over the size limit, binary, spreadsheet or non-UTF-8 content, empty files,
TOML syntax errors with line and column. Bytes are read and decoded by
:mod:`dosing.io.read.text` (one bounded reader for every input): a UTF-8 byte-order mark,
CRLF or CR line ends, UTF-16 with a byte-order mark and ``;``- or tab-separated tables are
accepted. A cohort may list at most :data:`MAX_PATIENTS` patients.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from pathlib import Path

from ...errors import CohortError, DosingError, ProtocolError
from ...plan.cohort import Cohort, cohort_from_rows
from ...plan.load import protocol_from_dict
from ...protocol import limits as protocol_limits
from ...protocol.model import Protocol
from .text import MAX_BYTES, delimiter, read_text

__all__ = ["MAX_BYTES", "MAX_PATIENTS", "load_cohort", "load_protocol", "read_rows", "read_text"]

#: Cohort rows read at most: reading costs about 1.2 KiB of memory per row, and planning a
#: patient's doses far more (see the README's "Input files and limits"); a larger cohort is
#: refused before either.
MAX_PATIENTS = 100_000


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate a protocol file (TOML)."""
    text = read_text(path, ProtocolError, kind="protocol (TOML)", limit=protocol_limits.MAX_BYTES)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _toml_error(err, text, str(path)) from None
    except RecursionError:
        raise ProtocolError(
            "not valid TOML: brackets or tables are nested too deeply",
            source=str(path),
            hint="a protocol needs at most a few levels of [ ] and { }",
        ) from None
    return protocol_from_dict(data, source=str(path))


_TOML_AT = re.compile(r"^(?P<what>.*?)\s*\(at line (?P<line>\d+), column (?P<column>\d+)\)$", re.DOTALL)
_TOML_AT_END = re.compile(r"^(?P<what>.*?)\s*\(at end of document\)$", re.DOTALL)


def _toml_error(err: tomllib.TOMLDecodeError, text: str, source: str) -> ProtocolError:
    """ "not valid TOML at line 8, column 12: invalid date or datetime: end_date = 2026-02-30"."""
    message = str(err)
    match = _TOML_AT.match(message)
    if match is None:
        end = _TOML_AT_END.match(message)
        what = (end.group("what") if end else message).rstrip(".")
        what = what[:1].lower() + what[1:]
        return ProtocolError(f"not valid TOML: {what} (at the end of the file)", source=source, hint=_TOML_HINT)
    line = int(match.group("line"))
    lines = text.splitlines()
    shown = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    what = match.group("what").rstrip(".")
    what = what[:1].lower() + what[1:]
    hint = _TOML_HINT
    if "date" in what:
        hint = "write dates as YYYY-MM-DD (e.g. 2026-02-28); the date must exist in the calendar"
    at = f"line {line}, column {match.group('column')}"
    message = f"not valid TOML at {at}: {what}" + (f": {shown[:120]}" if shown else "")
    return ProtocolError(message, source=source, hint=hint)


_TOML_HINT = "check quotes, brackets and '=' on that line"


def read_rows(
    path: str | Path, error: type[DosingError], max_rows: int | None = None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV file's header and its non-blank rows, each with its line number in the file
    (more than ``max_rows`` lines of rows is an ``error``, before any row is parsed)."""
    text = read_text(path, error)
    if max_rows is not None:
        _check_row_count(text, max_rows, str(path), error)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text))
    try:
        header = next(reader)
        rows: list[tuple[int, list[str]]] = []
        line = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as err:
        raise error(f"not a valid CSV file: {err}", source=str(path), where=f"line {reader.line_num}") from None
    if not any(h.strip() for h in header):
        raise error("the first line must name the columns", source=str(path), where="line 1")
    return header, rows


def load_cohort(path: str | Path, protocol: Protocol) -> Cohort:
    """Read and validate a cohort file (CSV) against the protocol."""
    header, rows = read_rows(path, CohortError, MAX_PATIENTS)
    return cohort_from_rows(header, rows, protocol, source=str(path))


def _check_row_count(text: str, max_rows: int, source: str, error: type[DosingError]) -> None:
    """Refuse a table with more than ``max_rows`` non-blank lines below the header (a cell spanning
    lines counts once per line: only a file near the limit can be refused by it)."""
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if lines - 1 <= max_rows:
        return
    rows = sum(1 for line in text.split("\n")[1:] if line.strip())  # blank lines are skipped when read
    if rows > max_rows:
        raise error(
            f"has {rows:,} rows; at most {max_rows:,} are read (the memory limit; see the README's 'Input files "
            "and limits')",
            source=source,
            hint="split the file (e.g. by site) and run each part with its own --out",
        )
