"""Read an administration log: the filled ``worklist.csv`` or a plain log of doses given.

Two shapes are accepted (UTF-8, with or without a byte-order mark, or UTF-16 with one; comma-,
semicolon- or tab-separated; see :mod:`dosing.io.read.text`):

- the worklist written by ``dosing generate`` with ``given_at``, ``given_by``, ``dose_given``
  and ``notes`` filled in; rows with an empty ``given_at`` were not given and are skipped;
- a plain log with the columns ``patient_id``, ``drug``, ``given_at`` and optionally
  ``dose_given`` (and ``uid``); every row is an administration.

``given_at`` is a local date-time in the patient's zone (``2027-01-04 09:00``), a date-time
with an offset (``2027-01-04T09:00+08:00``, ``...Z``) or a date alone (a diary: taken that day,
timing unknown). ``drug`` is a protocol drug name or blinded label (case and spaces ignored).
``dose_given`` is a number (``1 × 10⁶`` as our outputs print it, too), optionally with a unit of
the unit registry (:mod:`dosing.protocol.units`, case-sensitive, aliases and count plurals too): one of the
drug's kind (mass, IU, volume) is converted exactly to the drug's unit (``0.06 g`` -> 60 mg). Where the
blinded worklist hides the dose (``1 syringe``), the true dose (``200000 IU``, as the unblinded
worklist shows it) is accepted too: a row is in true terms when its unit is a true unit, else when
its drug is a true drug name, else when the check runs unblinded; adherence compares it with the
true dose then, and with the blinded dose otherwise.

A row that cannot be an administration (unknown patient or drug, a time that cannot be
read, a dose that is not a number, in an unknown unit or in a unit of another kind) is a *bad row*: it is listed
with its line number and reason, never dropped silently; with ``strict`` the first ones
are raised as :class:`~dosing.errors.LogError`.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ...adherence.log import BAD_COLUMNS, AdministrationLog, blinded_dose, unit_symbol
from ...adherence.log import DOSE_TEXT as _DOSE
from ...errors import LogError, ValueParseError
from ...plan.cohort import Cohort
from ...protocol.model import Protocol
from ...protocol.units import UNITS, factor, lookup, suggestion
from .redcap import is_redcap_export, redcap_log
from .text import delimiter, read_text

REQUIRED = ("patient_id", "drug", "given_at")
OPTIONAL = ("dose_given", "uid")
RECORDED = ("given_by", "notes")  # kept as written, with the dose they sign (worklist columns)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFSET = r"(?:[Zz]|[+-]\d{2}:?\d{2})$"
#: The only date-time forms ``given_at`` takes (a date alone is ``_DATE``): nothing pandas would
#: also read ("now", "today", "2027", "2027-01", "2027-01-04 09").
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?$")
GIVEN_AT_FORMS = (
    "2027-01-04 09:00 (the patient's local time), 2027-01-04T09:00+08:00 or 2027-01-04T01:00Z (with an offset), "
    "or 2027-01-04 alone (a diary)"
)
#: A power of ten as our own outputs print it ("1 × 10⁶ IU") or typed ("1 x 10^6 IU", "1x10**6 IU").
_POWER = re.compile(
    r"^\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*[×xX*]\s*10(?:([⁺⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)|\s*(?:\^|\*\*)\s*([+-]?\d+))\s*(.*)$"
)
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-")


def read_log(
    path: str | Path, protocol: Protocol, cohort: Cohort, *, strict: bool = False, unblinded: bool = False
) -> AdministrationLog:
    """Read and check a log file against the protocol and the cohort (``unblinded``: a dose written
    without a unit or a true drug name is the true dose, as in the unblinded worklist)."""
    frame, lines, sep = _read_table(Path(path))
    return log_from_frame(
        frame,
        protocol,
        cohort,
        lines=lines,
        source=str(path),
        strict=strict,
        unblinded=unblinded,
        decimal_commas=sep == ";",
    )


def log_from_frame(
    frame: pd.DataFrame,
    protocol: Protocol,
    cohort: Cohort,
    *,
    lines: np.ndarray | None = None,
    source: str = "<log>",
    strict: bool = False,
    unblinded: bool = False,
    decimal_commas: bool = False,
) -> AdministrationLog:
    """Check a log already in memory (text cells); ``lines`` are the file's line numbers;
    ``decimal_commas``: the file was ``;``-separated, so a comma in a dose is a decimal comma.

    Each column is handled as a categorical: every distinct text (a patient id, a drug name,
    "60 mg", a time) is read once, whatever the number of rows."""
    frame = _check_columns(frame, source)
    cells = {name: _Column.of(frame[name]) for name in frame.columns if name != "uid"}
    if lines is None:
        lines = np.arange(len(frame), dtype=np.int64) + 2
    if "uid" in frame.columns and "given_by" in frame.columns:  # a worklist: blank given_at = not given
        keep = cells["given_at"].text() != ""
        frame, lines = frame[keep], lines[keep]
        cells = {name: column.take(keep) for name, column in cells.items()}
    checks = _Checks(len(frame))
    zone = _patients(cells["patient_id"], cohort, checks)
    label = _labels(cells["drug"], protocol, checks)
    timed, given_s, given_day = _times(cells["given_at"], zone, checks)
    dose, unit, true_terms = _doses(cells.get("dose_given"), label, protocol, checks, unblinded, decimal_commas)
    bad_rows = _bad_table(cells, lines, checks)
    if strict and len(bad_rows):
        raise LogError(_describe(bad_rows), source=source, hint="correct these rows, or run without --strict")
    ok = checks.reason_of < 0
    uid = frame["uid"].astype(str).to_numpy(dtype=object) if "uid" in frame.columns else np.full(len(frame), "")
    given = pd.DataFrame(
        {
            "line": lines[ok],
            "patient_id": cells["patient_id"].categorical(ok),
            "label": pd.Categorical.from_codes(label.codes[ok], categories=pd.Index(label.names)),
            "uid": uid[ok],
            "timed": timed[ok],
            "given_s": given_s[ok],
            "given_day": given_day[ok],
            "given_at": cells["given_at"].categorical(ok),
            "dose_given": dose[ok],
            "dose_unit": unit[ok],
            "true_terms": true_terms[ok],
            **{name: _recorded(cells.get(name), ok) for name in RECORDED},
        }
    )
    return AdministrationLog(given, bad_rows, source)


@dataclass(frozen=True)
class _Column:
    """A text column as codes into its distinct values (stripped; a missing cell is "")."""

    codes: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, series: pd.Series) -> _Column:
        cat = series.astype("category")
        values = np.array([str(c).strip() for c in cat.cat.categories] + [""], dtype=object)
        codes = cat.cat.codes.to_numpy().astype(np.int64)
        codes[codes < 0] = len(values) - 1
        return cls(codes, values)

    def take(self, rows: np.ndarray) -> _Column:
        return _Column(self.codes[rows], self.values)

    def text(self) -> np.ndarray:
        return self.values[self.codes]

    def categorical(self, rows: np.ndarray) -> pd.Categorical:
        inverse, unique = pd.factorize(self.values)
        return pd.Categorical.from_codes(inverse[self.codes[rows]], categories=pd.Index(unique))


def _recorded(column: _Column | None, rows: np.ndarray) -> pd.Categorical:
    """A column kept as written (``given_by``, ``notes``); "" when the log has no such column."""
    if column is None:
        return pd.Categorical.from_codes(
            np.zeros(int(rows.sum()), dtype=np.int64), categories=pd.Index([""], dtype=object)
        )
    return column.categorical(rows)


@dataclass(frozen=True)
class _Labels:
    codes: np.ndarray  # per row, into names; -1 unknown
    names: list[str]
    named: np.ndarray  # per row: 1 a true drug name, -1 a blinded label, 0 either (nothing hidden)


class _Checks:
    """The first problem of each row: a reason number per row and its message per number."""

    def __init__(self, n: int) -> None:
        self.reason_of = np.full(n, -1, dtype=np.int64)
        self.messages: list[str] = []

    def fail(self, rows: np.ndarray, messages: np.ndarray, codes: np.ndarray | None = None) -> None:
        """``rows``: a boolean mask; ``messages``: one per row, or one per value with ``codes``."""
        free = rows & (self.reason_of < 0)
        if not free.any():
            return
        chosen = np.asarray(messages, dtype=object)[codes[free] if codes is not None else free]
        texts, index = np.unique(chosen.astype(str), return_inverse=True)
        self.reason_of[free] = len(self.messages) + index
        self.messages.extend(texts.tolist())

    def reasons(self) -> np.ndarray:
        bad = self.reason_of >= 0
        return np.array([*self.messages, ""], dtype=object)[np.where(bad, self.reason_of, len(self.messages))]


def _read_table(path: Path) -> tuple[pd.DataFrame, np.ndarray | None, str]:
    """All cells as text, line numbers when a row is not one line (None: row i is line i + 2), and
    the separator.

    The bytes come through the one bounded reader (:mod:`dosing.io.read.text`): over the size
    limit, binary (a NUL byte anywhere), a workbook or not UTF-8/UTF-16 is refused there."""
    source = str(path)
    text = read_text(path, LogError)
    sep = delimiter(text)
    data = text.encode("utf-8")
    del text
    try:
        header = pd.read_csv(io.BytesIO(data), nrows=0, sep=sep).columns
        if is_redcap_export([str(c) for c in header]):  # REDCap's export of dose_administration
            return (*redcap_log(data, sep, source), sep)
        _misspelt_columns([str(c).strip() for c in header], source)
        wanted = {str(c).strip() for c in (*REQUIRED, *OPTIONAL, *RECORDED)}
        used = [c for c in header if str(c).strip() in wanted]
        types = {c: (str if str(c).strip() == "uid" else "category") for c in used}
        frame = pd.read_csv(io.BytesIO(data), usecols=used or None, dtype=types or str, keep_default_na=False, sep=sep)
        _check_row_lengths(data, len(header), source, sep)
    except pd.errors.EmptyDataError:
        raise LogError("the file is empty", source=source) from None
    except pd.errors.ParserError as err:
        raise _csv_error(str(err), source) from None
    if _lines_in(data) != len(frame) + 1:  # blank lines or cells spanning lines: count exactly
        return (*_read_slowly(data, [str(c) for c in header], sep), sep)
    return frame, None, sep


def _check_row_lengths(data: bytes, columns: int, source: str, sep: str = ",") -> None:
    """Every non-blank row has as many cells as the header: a row with a cell too many or too few
    (a shifted row in a spreadsheet) would put values under the wrong columns, so the file is refused.

    Vectorised over the positions of quotes, separators and line ends: a separator or line end is
    inside a quoted cell when an odd number of quotes comes before it (an escaped quote "" counts
    twice). The separators are counted per line as if nothing were quoted, then those inside each
    quoted span are taken off its line: a few thousand spans, not a search per separator (twenty
    million in a big log)."""
    array = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(array == ord('"'))
    ends, commas = np.flatnonzero(array == ord("\n")), np.flatnonzero(array == ord(sep))
    if len(quotes):
        ends = ends[np.searchsorted(quotes, ends) % 2 == 0]
    starts, stops = np.r_[0, ends + 1], np.r_[ends, len(array)]
    cells = np.diff(np.r_[0, np.searchsorted(commas, stops)]) + 1
    if len(quotes):
        opens, closes = quotes[0::2], np.r_[quotes[1::2], len(array)][: len(quotes[0::2])]  # an open quote runs on
        inside = np.searchsorted(commas, closes) - np.searchsorted(commas, opens)
        cells -= np.bincount(np.searchsorted(stops, opens), weights=inside, minlength=len(cells)).astype(np.int64)
    blank = (stops - starts) <= 1  # an empty line, or one holding only "\r"
    ragged = np.flatnonzero((cells != columns) & ~blank)
    if len(ragged):
        shown = "; ".join(f"line {i + 1}: {cells[i]} cells" for i in ragged[:5])
        more = f" (and {len(ragged) - 5} more)" if len(ragged) > 5 else ""
        raise LogError(
            f"rows with a different number of cells from the header's {columns}: {shown}{more}",
            source=source,
            where=f"line {ragged[0] + 1}",
            hint="a shifted row puts values under the wrong columns: correct those rows in the spreadsheet",
        )


def _csv_error(message: str, source: str) -> LogError:
    open_quote = re.search(r"EOF inside string starting at row (\d+)", message)
    if open_quote:  # pandas counts rows from 0, the header included
        line = int(open_quote.group(1)) + 1
        return LogError('a quote (") is left open', source=source, where=f"line {line}", hint="close the quote")
    return LogError(f"not a valid CSV file: {message.strip()}", source=source)


def _lines_in(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def _read_slowly(data: bytes, columns: list[str], sep: str) -> tuple[pd.DataFrame, np.ndarray]:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=sep)
    next(reader)
    records: list[list[str]] = []
    lines: list[int] = []
    line = reader.line_num + 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            records.append((cells + [""] * len(columns))[: len(columns)])
            lines.append(line)
        line = reader.line_num + 1
    return pd.DataFrame(records, columns=columns, dtype=str), np.array(lines, dtype=np.int64)


def _misspelt_columns(header: list[str], source: str) -> None:
    """A column named almost like a log column that is absent ("dose_givn") is a typo, not an extra column."""
    absent = [c for c in OPTIONAL if c not in header]  # a required one missing is an error anyway
    for name in header:
        guess = difflib.get_close_matches(name, absent, 1, 0.85)  # not "id" for "uid"
        if guess:
            hint = f"did you mean {guess[0]!r}?"
            raise LogError(f"unknown column {name!r}", source=source, where="line 1", hint=hint)


def _check_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    frame = frame.rename(columns=lambda c: str(c).strip())
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise LogError(
            f"missing column(s) {', '.join(missing)} (found: {', '.join(map(str, frame.columns))})",
            source=source,
            where="line 1",
            hint="give the filled worklist.csv from dosing generate, or a log with patient_id, drug, given_at, "
            "dose_given",
        )
    return frame[[c for c in (*REQUIRED, *OPTIONAL, *RECORDED) if c in frame.columns]]


def _patients(column: _Column, cohort: Cohort, checks: _Checks) -> tuple[np.ndarray, list[str]]:
    """Each row's time zone as an index into the returned zone names (-1: not in the cohort)."""
    patients = cohort.patients
    zones = dict(zip(patients["patient_id"].astype(str), patients["timezone"].astype(str), strict=True))
    names = sorted(set(zones.values()))
    zone = np.array([names.index(zones[v]) if v in zones else -1 for v in column.values])[column.codes]
    messages = [f"unknown patient {v!r} (not in the cohort)" for v in column.values]
    checks.fail(zone < 0, np.array(messages, dtype=object), column.codes)
    return zone, names


def drug_names(protocol: Protocol) -> dict[str, str]:
    """Every name a log may use for a drug (true name or blinded label, case-folded) -> its label."""
    names: dict[str, str] = {}
    for regimen in protocol.regimens:
        label = regimen.blinded_label or regimen.drug
        for name in (regimen.drug, label):
            names[_fold(name)] = label
    return names


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def _labels(column: _Column, protocol: Protocol, checks: _Checks) -> _Labels:
    names = drug_names(protocol)
    labels = sorted(set(names.values()))
    index = np.array([labels.index(names[_fold(v)]) if _fold(v) in names else -1 for v in column.values])
    codes = index[column.codes]
    known = ", ".join(labels)
    messages = np.array([f"unknown drug {v!r} (the protocol's drugs: {known})" for v in column.values])
    checks.fail(codes < 0, messages, column.codes)
    drugs, shown = {_fold(r.drug) for r in protocol.regimens}, {_fold(name) for name in labels}
    true_only, hidden = drugs - shown, shown - drugs  # a true name blinded users never see; a blinded label
    named = [1 if _fold(v) in true_only else -1 if _fold(v) in hidden else 0 for v in column.values]
    return _Labels(codes, labels, np.array(named, dtype=np.int64)[column.codes])


def _times(
    column: _Column, zone: tuple[np.ndarray, list[str]], checks: _Checks
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timed, UTC seconds, local day number) per row; each distinct text is parsed once."""
    kind, value = _parse_times(column.values)  # kind: 0 bad, 1 date, 2 local date-time, 3 with offset
    row_kind, row_value = kind[column.codes], value[column.codes]
    given_s = row_value.copy()
    given_day = row_value // 86400
    row_zone, names = zone
    for z, name in enumerate(names):
        in_zone = row_zone == z
        local, aware = in_zone & (row_kind == 2), in_zone & (row_kind == 3)
        given_s[local] = _per_unique(row_value[local], _localise, name)
        given_day[aware] = _per_unique(row_value[aware], _local_day, name)
    messages = np.array([f"cannot read given_at {v!r} (accepted: {GIVEN_AT_FORMS})" for v in column.values])
    checks.fail(row_kind == 0, messages, column.codes)
    first, last = (int(np.datetime64(day, "D").astype(np.int64)) for day in ("1900-01-01", "2199-12-31"))
    messages = np.array([f"given_at {v!r} is outside the years 1900-2199" for v in column.values], dtype=object)
    checks.fail((given_day < first) | (given_day > last), messages, column.codes)
    return row_kind != 1, given_s, given_day


def _parse_times(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    text = pd.Series(values, dtype=object).astype(str)
    dated = (text.str.len() == 10).to_numpy() & text.str.match(_DATE).to_numpy()
    timed = text.str.match(_DATE_TIME).to_numpy(dtype=bool)
    offset = timed & text.str.contains(_OFFSET, regex=True).to_numpy()
    local = timed & ~offset
    kind = np.zeros(len(text), dtype=np.int64)
    value = np.zeros(len(text), dtype=np.int64)
    for pick, code, parse in (
        (dated, 1, lambda t: pd.to_datetime(t, format="%Y-%m-%d", errors="coerce")),
        (local, 2, _parse_local),
        (offset, 3, lambda t: pd.to_datetime(t, format="ISO8601", errors="coerce", utc=True)),
    ):
        if pick.any():
            parsed = pd.Series(parse(text[pick]))
            kind[pick] = np.where(parsed.notna().to_numpy(), code, 0)
            value[pick] = _seconds(parsed)
    return kind, value


def _parse_local(text: pd.Series) -> pd.Series:
    """Local date-times; a text pandas reads with an odd offset ("13:0-004") cannot be read (NaT)."""
    try:
        parsed = pd.Series(pd.to_datetime(text, format="ISO8601", errors="coerce"))
        if getattr(parsed.dtype, "tz", None) is None:
            return parsed
    except ValueError:  # naive and offset values mixed
        pass
    return pd.Series([_one_local(t) for t in text], index=text.index, dtype="datetime64[s]")


def _one_local(text: str) -> pd.Timestamp | None:
    try:
        moment = pd.Timestamp(pd.to_datetime(text, format="ISO8601"))
    except (ValueError, OverflowError):
        return None
    return moment if moment.tzinfo is None and not pd.isna(moment) else None


def _per_unique(values: np.ndarray, convert: Callable[[np.ndarray, str], np.ndarray], zone: str) -> np.ndarray:
    unique, inverse = np.unique(values, return_inverse=True)
    return convert(unique, zone)[inverse]


def _seconds(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    out = index.as_unit("s").asi8.copy()
    out[np.asarray(index.isna())] = 0
    return out


def _localise(wall_s: np.ndarray, zone: str) -> np.ndarray:
    """Local wall-clock seconds -> UTC seconds (a repeated hour: the first; a skipped one: shifted)."""
    naive = pd.DatetimeIndex(wall_s.astype("datetime64[s]"))
    aware = naive.tz_localize(zone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward")
    return aware.tz_convert("UTC").tz_localize(None).as_unit("s").asi8


def _local_day(utc_s: np.ndarray, zone: str) -> np.ndarray:
    local = pd.DatetimeIndex(utc_s.astype("datetime64[s]")).tz_localize("UTC").tz_convert(zone).tz_localize(None)
    return local.as_unit("s").asi8 // 86400


def shown_units(protocol: Protocol, *, unblinded: bool = True) -> dict[str, set[str]]:
    """label -> the units the worklists show after a dose (as the protocol writes them): the blinded
    worklist's unit and the true units (the unblinded worklist's); with ``unblinded=False``, only the
    units a blinded reader may see (the blinded unit where the dose is hidden). A log may also write
    any unit of the same kind as one of these (converted exactly)."""
    units: dict[str, set[str]] = {}
    for regimen in protocol.regimens:
        label = regimen.blinded_label or regimen.drug
        hidden = blinded_dose(regimen, protocol)
        shown = {regimen.dose.absolute_unit} if unblinded or hidden is None else set()
        shown |= {hidden[1]} if hidden else set()
        units.setdefault(label, set()).update(shown)
    return units


def _unit_sets(protocol: Protocol) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """label -> the true units, and label -> the blinded worklist's units (where a dose is hidden),
    as registry symbols."""
    true: dict[str, set[str]] = {}
    blinded: dict[str, set[str]] = {}
    for regimen in protocol.regimens:
        label = regimen.blinded_label or regimen.drug
        true.setdefault(label, set()).add(unit_symbol(regimen.dose.absolute_unit))
        hidden = blinded_dose(regimen, protocol)
        blinded.setdefault(label, set()).update({unit_symbol(hidden[1])} if hidden else set())
    return true, blinded


def _target(unit: str, allowed: set[str]) -> tuple[str, Decimal] | None:
    """The unit of ``allowed`` a dose written in ``unit`` (a symbol, "" for none) is read in, and the
    exact factor to it (``g`` for ``mg``: 1000); None when no unit of ``allowed`` is of its kind."""
    if unit == "" or unit in allowed:
        return unit, Decimal(1)
    for target in sorted(allowed):
        if target in UNITS and unit in UNITS and (ratio := factor(unit, target)) is not None:
            return target, ratio
    return None


def _plain(text: str) -> str:
    """A dose written with a power of ten ("1 × 10⁶ IU", "1 x 10^6 IU") as "1e6 IU"; others as they are."""
    match = _POWER.match(text)
    if match is None:
        return text
    power = (match.group(2) or "").translate(_SUPERSCRIPTS) or match.group(3)
    return f"{match.group(1)}e{power} {match.group(4)}"


def _doses(
    column: _Column | None,
    label: _Labels,
    protocol: Protocol,
    checks: _Checks,
    unblinded: bool,
    decimal_commas: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the amount given in the unit it is judged in (NaN when not written), that unit (a
    registry symbol, "" when none was written), and whether the row is in true terms (see the
    module's doc). A unit the registry does not know, or of a kind the drug has no dose in, is a bad
    row; one of the same kind (``0.06 g`` for a dose in mg) is converted exactly."""
    if column is None:
        n = len(label.codes)
        return np.full(n, np.nan), np.full(n, "", dtype=object), _true_terms(np.zeros(n, np.int64), label, unblinded)
    text = _without_commas(column, checks, decimal_commas).map(_plain)
    parts = text.str.extract(_DOSE)
    amount = pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=float)
    written_unit = parts[1].fillna("").str.strip().to_numpy(dtype=object)
    written = (text != "").to_numpy()[column.codes]
    not_number = written & np.isnan(amount)[column.codes]
    checks.fail(not_number, np.array([f"dose_given {v!r} is not a number" for v in column.values]), column.codes)
    impossible = written & ~not_number & ~((amount >= 0) & np.isfinite(amount))[column.codes]
    messages = np.array([f"dose_given {v!r} is not an amount given (negative or too large)" for v in column.values])
    checks.fail(impossible, messages, column.codes)
    usable = written & ~not_number & ~impossible
    symbol = _symbols(column, written_unit, protocol, checks, usable)
    usable &= np.array([s is not None for s in symbol], dtype=bool)[column.codes]
    given, unit = _converted(column, label, (protocol, unblinded), checks, usable, parts[0], symbol)
    amount_rows = np.where(usable, given, amount[column.codes])
    return amount_rows, unit, _true_terms(_unit_kinds(unit, label, protocol, usable), label, unblinded)


def _unit_kinds(unit: np.ndarray, label: _Labels, protocol: Protocol, usable: np.ndarray) -> np.ndarray:
    """:func:`_unit_kind` per row, worked out once per distinct (unit, drug) pair."""
    true_units, blinded_units = _unit_sets(protocol)
    kind = np.zeros(len(label.codes), dtype=np.int64)
    known = usable & (label.codes >= 0)
    codes, units = pd.factorize(pd.Series(unit[known], dtype=object))
    pair = codes.astype(np.int64) * len(label.names) + label.codes[known]
    unique, inverse = np.unique(pair, return_inverse=True)
    names = [label.names[int(p % len(label.names))] for p in unique]
    kinds = [
        _unit_kind(str(units[int(p // len(label.names))]), true_units[name], blinded_units[name])
        for p, name in zip(unique, names, strict=True)
    ]
    kind[known] = np.array(kinds, dtype=np.int64)[inverse]
    return kind


def _symbols(
    column: _Column, written_unit: np.ndarray, protocol: Protocol, checks: _Checks, usable: np.ndarray
) -> list[str | None]:
    """Per distinct dose text: its unit's registry symbol ("" for none, None for a unit the registry
    does not know: a bad row with a did-you-mean). A worklist's own word for a hidden dose is kept."""
    own = {u for units in shown_units(protocol).values() for u in units}
    symbol: list[str | None] = []
    for unit in written_unit:
        try:
            symbol.append("" if unit == "" else lookup(unit).symbol)
        except ValueParseError:
            symbol.append(unit if unit in own else None)
    messages = np.array(
        [
            f"dose_given {v!r} has an unknown unit {u!r}{suggestion(u)}"
            for v, u in zip(column.values, written_unit, strict=True)
        ]
    )
    checks.fail(usable & np.array([s is None for s in symbol], dtype=bool)[column.codes], messages, column.codes)
    return symbol


def _converted(
    column: _Column,
    label: _Labels,
    study: tuple[Protocol, bool],
    checks: _Checks,
    usable: np.ndarray,
    numerals: pd.Series,
    symbol: list[str | None],
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the amount in the unit it is judged in, and that unit ("" if none was written);
    each distinct (dose text, drug) pair is converted once, in decimal. ``study``: the protocol and
    whether the check is unblinded (which units a bad row's reason may name)."""
    protocol, unblinded = study
    n = len(label.codes)
    amount, unit = np.full(n, np.nan), np.full(n, "", dtype=object)
    rows = usable & (label.codes >= 0)
    if not rows.any():
        return amount, unit
    allowed = {name: {unit_symbol(u) for u in units} for name, units in shown_units(protocol).items()}
    visible = shown_units(protocol, unblinded=unblinded)
    pair = column.codes[rows] * len(label.names) + label.codes[rows]
    unique, inverse = np.unique(pair, return_inverse=True)
    values, units, messages = [], [], []
    for p in unique:
        value, name = int(p // len(label.names)), label.names[int(p % len(label.names))]
        written = symbol[value] or ""
        found = _target(written, allowed.get(name, set()))
        if found is None:
            expected = " or ".join(sorted(visible.get(name, set()))) or "no unit"
            messages.append(f"dose_given {column.values[value]!r} is in another unit (expected {expected})")
            values.append(np.nan)
            units.append("")
        else:
            messages.append("")
            values.append(float(Decimal(str(numerals.iloc[value]).strip()) * found[1]))
            units.append(found[0])
    amount[rows] = np.array(values, dtype=float)[inverse]
    unit[rows] = np.array(units, dtype=object)[inverse]
    reason = np.array(messages, dtype=object)[inverse]
    wrong = np.zeros(n, dtype=bool)
    wrong[rows] = reason != ""
    full = np.full(n, "", dtype=object)
    full[rows] = reason
    checks.fail(wrong, full)
    return amount, unit


_GROUPED = re.compile(r"^\s*[+-]?\d{1,3}(?:,\d{3})+(?![\d,])")


def _without_commas(column: _Column, checks: _Checks, decimal_commas: bool) -> pd.Series:
    """Each distinct dose text without its thousands separators ("200,000 IU", as the worklist shows
    doses); a row with a decimal comma ("12,5 mg") is bad: read as 125 it would be ten times the
    dose. In a ``;``-separated file (a locale that writes decimal commas) every comma is one."""
    text = pd.Series(column.values, dtype=object).astype(str)
    grouped = text.str.match(_GROUPED).to_numpy(dtype=bool) & (not decimal_commas)
    comma = text.str.contains(",", regex=False).to_numpy(dtype=bool) & ~grouped
    dotted = text.str.replace(",", ".", regex=False)
    messages = np.array(
        [f"dose_given {v!r} has a decimal comma: use a dot ({d!r})" for v, d in zip(column.values, dotted, strict=True)]
    )
    checks.fail(comma[column.codes], messages, column.codes)
    return text.where(~grouped, text.str.replace(",", "", regex=False))


def _unit_kind(unit: str, true: set[str], blinded: set[str]) -> int:
    """1: a unit only true doses have; -1: only the blinded worklist's unit; 0: none, or either."""
    if unit == "" or (unit in true) == (unit in blinded):
        return 0
    return 1 if unit in true else -1


def _true_terms(unit_kind: np.ndarray, label: _Labels, unblinded: bool) -> np.ndarray:
    """True where a row's dose is the true one: by its unit, else by its drug name, else by the check."""
    kind = np.where(unit_kind != 0, unit_kind, label.named)
    return np.where(kind != 0, kind > 0, unblinded)


def _bad_table(cells: dict[str, _Column], lines: np.ndarray, checks: _Checks) -> pd.DataFrame:
    bad = checks.reason_of >= 0
    empty = np.full(int(bad.sum()), "", dtype=object)
    return pd.DataFrame(
        {
            "line": lines[bad],
            **{
                name: cells[name].text()[bad] if name in cells else empty
                for name in ("patient_id", "drug", "given_at", "dose_given")
            },
            "reason": checks.reasons()[bad],
        },
        columns=BAD_COLUMNS,
    )


def _describe(bad: pd.DataFrame) -> str:
    shown = [f"line {row.line}: {row.reason}" for row in bad.head(10).itertuples()]
    if len(bad) > 10:
        shown.append(f"... and {len(bad) - 10} more bad row(s)")
    return f"{len(bad)} bad row(s) in the log\n  " + "\n  ".join(shown)
