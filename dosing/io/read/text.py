"""One bounded reader for every input file, and the decoding of what spreadsheets save.

:func:`read_bounded` reads at most :data:`MAX_BYTES` (plus one byte, to know there is more)
whatever the file is: a regular file, a pipe or a device such as ``/dev/zero``, whose size
the file system does not know. :func:`decode` turns the bytes into text or says what the
file is instead:

- an Excel workbook (``.xlsx``, ``.xls``) or another zip archive: refused, with how to save it as CSV;
- UTF-16 or UTF-32 with a byte-order mark (Excel's "Unicode Text"): read;
- UTF-16 without a byte-order mark: refused, with how to save it as UTF-8;
- a NUL byte anywhere (not only in the first 64 KiB): refused as binary, naming the line;
- UTF-8, with or without a byte-order mark (or two: a re-saved file): read; other encodings are refused naming the line;
- CR-only line ends (old Mac "CSV"): read as line ends.

For tables, :func:`delimiter` chooses ``,`` or, when the header holds none but has ``;`` or
a tab (a spreadsheet saved in a locale that writes decimal commas, or as "Unicode Text"),
that character.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no named pipes in the file system
    fcntl = None  # type: ignore[assignment]

from ...errors import DosingError

MAX_BYTES = 200 * 1024 * 1024
_SAVE_AS_CSV = "in the spreadsheet choose File > Save As > 'CSV UTF-8 (Comma delimited) (.csv)'"
_DAMAGED = "the file is damaged: export it again"
_BOM = "\ufeff"  # a byte-order mark; one saved twice (a file re-saved by another tool) is dropped too
_BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_bounded(path: str | Path, error: type[DosingError], limit: int | None = None) -> bytes:
    """The file's bytes, or ``error``: not found, a folder, unreadable, or larger than ``limit``
    (default :data:`MAX_BYTES`)."""
    limit = MAX_BYTES if limit is None else limit
    path = Path(path)
    source = str(path)
    try:
        if path.is_dir():
            raise error("is a folder, not a file", source=source, hint="give the path of a file in it")
        with _open(path) as handle:
            raw = handle.read(limit + 1)
    except FileNotFoundError:
        raise error("file not found", source=source, hint="check the path") from None
    except PermissionError:
        raise error("permission denied", source=source, hint="make the file readable for you") from None
    except OSError as err:
        raise error(f"cannot be read ({err.strerror})", source=source, hint="check the file and the disk") from None
    except ValueError as err:  # e.g. a NUL character in the path
        raise error(f"is not a usable file name ({err})", source=source) from None
    if len(raw) > limit:
        raise error(
            f"is larger than {limit / 2**20:g} MiB (the limit for an input file)",
            source=source,
            hint="give a smaller file; a device or a pipe that never ends is not an input file",
        )
    return raw


def _open(path: Path) -> BinaryIO:
    """``path`` opened for reading without waiting for a writer: a named pipe (FIFO) that no
    program writes to would block ``open`` forever; opened non-blocking, it reads as empty. The
    flag is cleared at once, so a pipe with a writer (``--cohort <(cat cohort.csv)``) is read
    to its end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if fcntl is not None:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def decode(raw: bytes, source: str, error: type[DosingError], *, kind: str = "CSV") -> str:
    """The text of ``raw`` with ``\\n`` line ends, or ``error`` saying what the file is (see the module)."""
    _refuse_archives(raw, source, error, kind)
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                raise error(f"is not valid {encoding.upper()} text", source=source, hint=_utf8_hint(kind)) from None
            return _without_nul(_line_ends(text.lstrip(_BOM)), source, error)
    if _looks_like_utf16(raw):
        raise error("is UTF-16 text without a byte-order mark, not UTF-8", source=source, hint=_utf8_hint(kind))
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw[:nul].count(b"\n") + 1
        what = "is a binary file, not text" if nul < 8192 else "holds a NUL byte (binary data), so it is not text"
        hint = f"give the path of a {kind} file" if nul < 8192 else _DAMAGED
        raise error(what, source=source, where=None if nul < 8192 else f"line {line}", hint=hint)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise error(
            f"is not UTF-8 text (byte 0x{raw[err.start]:02x} is not UTF-8)",
            source=source,
            where=f"line {line}",
            hint=_utf8_hint(kind),
        ) from None
    return _line_ends(text.lstrip(_BOM))


def _without_nul(text: str, source: str, error: type[DosingError]) -> str:
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise error("holds a NUL character, so it is not text", source=source, where=f"line {line}", hint=_DAMAGED)
    return text


def read_text(path: str | Path, error: type[DosingError], *, kind: str = "CSV", limit: int | None = None) -> str:
    """The file's text (see :func:`decode`), or ``error``; an empty file is an error too. ``limit``
    is the size in bytes read at most (default :data:`MAX_BYTES`)."""
    text = decode(read_bounded(path, error, limit), str(path), error, kind=kind)
    if not text.strip():
        raise error("the file is empty", source=str(path), hint="give a file with its content (was it saved?)")
    return text


def delimiter(text: str) -> str:
    """``,`` unless the first line has no comma but a semicolon or a tab: then that one."""
    header = text.split("\n", 1)[0]
    if "," in header:
        return ","
    if ";" in header:
        return ";"
    return "\t" if "\t" in header else ","


def _refuse_archives(raw: bytes, source: str, error: type[DosingError], kind: str) -> None:
    if raw.startswith(b"PK\x03\x04"):
        what = "is an Excel workbook (.xlsx) or another zip archive, not a " + kind + " file"
    elif raw.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        what = "is an Excel 97-2003 workbook (.xls) or another Office file, not a " + kind + " file"
    else:
        return
    hint = _SAVE_AS_CSV if kind == "CSV" else f"give the path of the {kind} file"
    raise error(what, source=source, hint=hint)


def _looks_like_utf16(raw: bytes) -> bool:
    """Text in UTF-16 without a mark: every other byte of the first characters is NUL."""
    head = raw[:64]
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    big_endian = even.count(0) == len(even) and odd.count(0) == 0
    return big_endian or (odd.count(0) == len(odd) and even.count(0) == 0)


def _line_ends(text: str) -> str:
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _utf8_hint(kind: str) -> str:
    if kind == "CSV":
        return "save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    return "save the file as UTF-8"
