"""Read protocol (TOML) and table (CSV) files into the pure domain validators.

Every failure is a :class:`~dosing.errors.DosingError` naming the file: missing files,
folders, binary or non-UTF-8 content, empty files, TOML syntax errors with line and column.
A UTF-8 byte-order mark and CRLF line ends are accepted.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from pathlib import Path

from .. import protocol_limits
from ..cohort import Cohort, cohort_from_rows
from ..errors import CohortError, DosingError, ProtocolError
from ..protocol import Protocol, protocol_from_dict

MAX_BYTES = 200 * 1024 * 1024


def read_text(path: str | Path, error: type[DosingError], *, limit: int = MAX_BYTES) -> str:
    """The file's text (UTF-8, BOM removed), or ``error`` saying why it cannot be read."""
    path = Path(path)
    source = str(path)
    try:
        if path.is_dir():
            raise error("is a folder, not a file", source=source)
        if path.stat().st_size > limit:
            raise error(f"is larger than {limit // 1024 // 1024} MiB", source=source)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error("file not found", source=source, hint="check the path") from None
    except PermissionError:
        raise error("permission denied", source=source) from None
    except OSError as err:
        raise error(f"cannot be read ({err.strerror})", source=source) from None
    except ValueError as err:  # e.g. a NUL character in the path
        raise error(f"is not a usable file name ({err})", source=source) from None
    if b"\x00" in raw:
        raise error("is a binary file, not text", source=source, hint="give the path of a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise error(
            f"is not UTF-8 text (byte 0x{raw[err.start]:02x} is not UTF-8)",
            source=source,
            where=f"line {line}",
            hint="save the file as UTF-8 (in Excel: 'CSV UTF-8')",
        ) from None
    if not text.strip():
        raise error("the file is empty", source=source)
    return text


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate a protocol file (TOML)."""
    text = read_text(path, ProtocolError, limit=protocol_limits.MAX_BYTES)
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


def read_rows(path: str | Path, error: type[DosingError]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV file's header and its non-blank rows, each with its line number in the file."""
    text = read_text(path, error)
    reader = csv.reader(io.StringIO(text, newline=""))
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
    header, rows = read_rows(path, CohortError)
    return cohort_from_rows(header, rows, protocol, source=str(path))
