"""The cohort: enrolled patients with their arm, first day, time zone and own values.

Pure validation of rows already read from a file (see :mod:`dosing.io.read.files`): every
problem is reported with its line number and column, all at once (up to ten).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import CohortError, ValueParseError
from ..protocol.formula_rules import creatinine_problem
from ..protocol.languages import DEFAULT_LANGUAGE, language_problem
from ..protocol.model import PatientValue, Protocol
from ..protocol.values import decimal_comma, parse_date, parse_time, parse_weekday
from ..protocol.zones import zone_problem
from .file_names import unportable

REQUIRED = ("patient_id", "arm", "start_date")
OPTIONAL = ("timezone", "site", "language")
#: Start dates outside this range are refused: dose instants are nanosecond timestamps
#: (pandas), which end in 2262, and a study may run for up to ten years after its start.
EARLIEST_START = dt.date(1900, 1, 1)
LATEST_START = dt.date(2199, 12, 31)
_DECIMAL_COMMA_HINT = "write decimals with a dot (12.5), or save the spreadsheet with '.' as its decimal separator"
_PATIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: Distinct sites a cohort may name: each gets its own staff calendar file.
MAX_SITES = 1000


@dataclass(frozen=True)
class Cohort:
    """Validated patients, one row each, in file order.

    ``patients`` has columns ``patient_id``, ``arm``, ``start_date`` (datetime64, the
    patient's study day 1), ``timezone``, ``site``, ``language`` (of patient-facing text, a
    shipped code: see :mod:`dosing.protocol.languages`) and one column per declared patient
    value: numbers as float, weekdays as 0 (Monday)-6, times as minutes after midnight.
    """

    patients: pd.DataFrame
    source: str = "<cohort>"

    def __len__(self) -> int:
        return len(self.patients)

    def patient(self, patient_id: str) -> pd.Series:
        match = self.patients[self.patients["patient_id"] == patient_id]
        if match.empty:
            raise CohortError(f"no patient {patient_id!r} in the cohort", source=self.source)
        return match.iloc[0]


def cohort_from_rows(
    header: Sequence[str], rows: Sequence[tuple[int, Sequence[str]]], protocol: Protocol, source: str = "<cohort>"
) -> Cohort:
    """Validate cohort rows: ``header`` names the columns, ``rows`` are (line number, cells)."""
    columns = _check_header(list(header), protocol, source)
    problems: list[str] = []
    records = [
        _record(line, dict(zip(columns, cells, strict=False)), len(cells), len(columns), protocol, problems)
        for line, cells in rows
    ]
    if not rows:
        problems.append("the file lists no patients")
    _check_unique(rows, records, problems)
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        hint = _DECIMAL_COMMA_HINT if any("use a dot" in p for p in shown) else None
        raise CohortError("invalid cohort\n  " + "\n  ".join(shown), source=source, hint=hint)
    _check_sites(records, source)
    frame = pd.DataFrame.from_records(records, columns=[*REQUIRED, *OPTIONAL, *protocol.patient_values])
    frame["start_date"] = pd.to_datetime(frame["start_date"]).astype("datetime64[s]")
    return Cohort(frame, source)


def _check_sites(records: list[dict[str, object]], source: str) -> None:
    sites = {record["site"] for record in records} - {""}
    if len(sites) > MAX_SITES:
        raise CohortError(
            f"{len(sites):,} different sites: a cohort may name at most {MAX_SITES:,} (one staff calendar each)",
            source=source,
            where="column 'site'",
            hint="name each clinic the same way on every row (a site is a clinic, not a room or a nurse)",
        )


def _check_header(header: list[str], protocol: Protocol, source: str) -> list[str]:
    header = [h.strip() for h in header]
    valid = [*REQUIRED, *OPTIONAL, *protocol.patient_values]
    for name in header:
        if name not in valid:
            guess = difflib.get_close_matches(name, valid, n=1)
            hint = f"did you mean {guess[0]!r}? " if guess else ""
            raise CohortError(
                f"unknown column {name!r}",
                source=source,
                where="line 1 (header)",
                hint=f"{hint}valid columns: {', '.join(valid)}",
            )
    if len(set(header)) != len(header):
        raise CohortError("a column name appears twice", source=source, where="line 1 (header)")
    required = [*REQUIRED, *(k for k, v in protocol.patient_values.items() if v.required)]
    missing = [name for name in required if name not in header]
    if missing:
        raise CohortError(
            f"missing column(s): {', '.join(missing)}",
            source=source,
            where="line 1 (header)",
            hint="the protocol's [patient_values] say which per-patient columns it needs",
        )
    return header


def _record(
    line: int, cells: dict[str, str], n_cells: int, n_columns: int, protocol: Protocol, problems: list[str]
) -> dict[str, object]:
    def bad(column: str, message: str) -> None:
        problems.append(f"line {line}, column {column!r}: {message}")

    if n_cells != n_columns:
        problems.append(f"line {line}: {n_cells} cells where the header has {n_columns} columns")
    for column, cell in cells.items():
        if "\n" in cell or "\r" in cell:
            bad(column, 'the cell runs over several lines; is a quote (") left open?')
    record: dict[str, object] = {}
    pid = cells.get("patient_id", "").strip()
    if not _PATIENT_ID.match(pid):
        bad("patient_id", f"{pid!r} is not a usable patient id (letters, digits, '.', '_', '-'; at most 64)")
    elif (why := unportable(pid)) is not None:
        bad("patient_id", f"{why}; the patient's folder could not be copied to Windows or macOS: rename the patient")
    record["patient_id"] = pid
    arm = cells.get("arm", "").strip()
    arms = [a.id for a in protocol.arms]
    if arm not in arms:
        bad("arm", f"unknown arm {arm!r}; the protocol's arms are {', '.join(arms)}")
    record["arm"] = arm
    record["start_date"] = _start(cells.get("start_date", ""), protocol, lambda m: bad("start_date", m))
    record["timezone"] = _zone(
        cells.get("timezone", "").strip() or protocol.study.timezone, protocol, lambda m: bad("timezone", m)
    )
    record["site"] = cells.get("site", "").strip()
    record["language"] = _language(cells.get("language", "").strip(), lambda m: bad("language", m))
    for name, spec in protocol.patient_values.items():
        record[name] = _value(cells.get(name, "").strip(), spec, lambda m, n=name: bad(n, m))
        if name == "creatinine" and isinstance(record[name], float):
            problem = creatinine_problem(record[name], spec.unit)  # type: ignore[arg-type]
            if problem is not None:
                bad(name, f"patient {pid!r}: {problem}")
    sex = cells.get("sex", "").strip()
    if sex and sex.upper() not in ("F", "M") and arm in arms and _calvert_in(protocol, arm):
        bad("sex", f"patient {pid!r} has sex {sex!r}; the Calvert formula (Cockcroft-Gault) needs F or M")
    return record


def _calvert_in(protocol: Protocol, arm: str) -> bool:
    """Whether a regimen of ``arm`` is dosed by the Calvert formula (which reads the patient's sex)."""
    return any(protocol.regimen(r).dose.formula == "calvert" for r in protocol.arm(arm).regimens)


def _start(text: str, protocol: Protocol, bad: object) -> dt.date | None:
    try:
        start = parse_date(text.strip())
    except ValueParseError as err:
        bad(err.message)  # type: ignore[operator]
        return None
    if not EARLIEST_START <= start <= LATEST_START:
        bad(  # type: ignore[operator]
            f"{start} is outside the years {EARLIEST_START.year}-{LATEST_START.year} that schedules can be planned in"
        )
        return None
    end = protocol.study.end_date
    if end is not None and start > end:
        bad(f"patient starts on {start}, after the study ends on {end}")  # type: ignore[operator]
    return start


def _zone(name: str, protocol: Protocol, bad: object) -> str:
    """A zone that names the patient's place (see :mod:`dosing.protocol.zones`), unless the protocol allows
    fixed offsets."""
    problem = zone_problem(name, allow_fixed=protocol.study.allow_fixed_offset_zones)
    if problem is not None:
        bad(problem.text())  # type: ignore[operator]
    return name


def _language(code: str, bad: object) -> str:
    """The language of the patient's diary and calendar; an empty cell is English."""
    problem = language_problem(code or DEFAULT_LANGUAGE)
    if problem is not None:
        bad(problem)  # type: ignore[operator]
    return code or DEFAULT_LANGUAGE


def _value(text: str, spec: PatientValue, bad: object) -> object:
    if not text:
        if spec.required:
            bad("a value is required")  # type: ignore[operator]
        return None
    try:
        return _typed(text, spec)
    except ValueParseError as err:
        bad(err.message)  # type: ignore[operator]
        return None


def _typed(text: str, spec: PatientValue) -> object:
    if spec.type == "weekday":
        return parse_weekday(text)
    if spec.type == "time":
        moment = parse_time(text)
        return moment.hour * 60 + moment.minute
    if spec.type == "text":
        return text
    try:
        number = float(text)
    except ValueError:
        unit = f" in {spec.unit}" if spec.unit else ""
        raise ValueParseError(f"expected a number{unit}, got {text!r}{decimal_comma(text)}") from None
    if not np.isfinite(number):
        raise ValueParseError(f"expected a finite number, got {text!r}")
    unit = f" {spec.unit}" if spec.unit else ""
    if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
        raise ValueParseError(
            f"{number:g}{unit} is outside the allowed range {spec.min:g}-{spec.max:g}{unit}"
            if spec.min is not None and spec.max is not None
            else f"{number:g}{unit} is outside the allowed range"
        )
    return number


def _check_unique(
    rows: Sequence[tuple[int, Sequence[str]]], records: list[dict[str, object]], problems: list[str]
) -> None:
    seen: dict[str, tuple[str, int]] = {}
    for (line, _), record in zip(rows, records, strict=True):
        pid = str(record["patient_id"])
        first = seen.get(pid.casefold())
        if first is None:
            seen[pid.casefold()] = (pid, line)
        elif first[0] == pid:
            problems.append(f"line {line}, column 'patient_id': {pid!r} already appears on line {first[1]}")
        else:
            problems.append(
                f"line {line}, column 'patient_id': {pid!r} differs from {first[0]!r} (line {first[1]}) only in "
                "upper/lower case; their folders would be one folder on Windows and macOS"
            )
