"""Read an administration log: the filled ``worklist.csv`` or a plain log of doses given.

Two shapes are accepted (UTF-8, with or without a byte-order mark):

- the worklist written by ``dosing generate`` with ``given_at``, ``given_by``, ``dose_given``
  and ``notes`` filled in; rows with an empty ``given_at`` were not given and are skipped;
- a plain log with the columns ``patient_id``, ``drug``, ``given_at`` and optionally
  ``dose_given`` (and ``uid``); every row is an administration.

``given_at`` is a local date-time in the patient's zone (``2027-01-04 09:00``), a date-time
with an offset (``2027-01-04T09:00+08:00``, ``...Z``) or a date alone (a diary: taken that day,
timing unknown). ``drug`` is a protocol drug name or blinded label (case and spaces ignored).
``dose_given`` is a number, optionally with the unit shown in the worklist (``60 mg``).

A row that cannot be an administration (unknown patient or drug, a time that cannot be
read, a dose that is not a number or is in another unit) is a *bad row*: it is listed
with its line number and reason, never dropped silently; with ``strict`` the first ones
are raised as :class:`~dosing.errors.LogError`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import LogError
from ..protocol import Protocol

REQUIRED = ("patient_id", "drug", "given_at")
OPTIONAL = ("dose_given", "uid")
BAD_COLUMNS = ["line", "patient_id", "drug", "given_at", "dose_given", "reason"]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFSET = r"(?:[Zz]|[+-]\d{2}:?\d{2})$"
_DOSE = r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*)$"


@dataclass(frozen=True)
class AdministrationLog:
    """Administrations that could be read, and the rows that could not.

    ``given`` has one row per administration: ``line`` (line number in the file),
    ``patient_id``, ``label`` (the drug as blinded users see it), ``uid`` ("" if none),
    ``timed`` (False for a date alone), ``given_s`` (UTC seconds since 1970; for a date
    alone, local midnight of that day), ``given_day`` (the patient's local date, days since
    1970), ``given_at`` (the text as written), ``dose_given`` (float, NaN when not given).
    ``bad`` has :data:`BAD_COLUMNS`.
    """

    given: pd.DataFrame
    bad: pd.DataFrame
    source: str = "<log>"


def read_log(path: str | Path, protocol: Protocol, cohort: Cohort, *, strict: bool = False) -> AdministrationLog:
    """Read and check a log file against the protocol and the cohort."""
    frame, lines = _read_table(Path(path))
    return log_from_frame(frame, protocol, cohort, lines=lines, source=str(path), strict=strict)


def log_from_frame(
    frame: pd.DataFrame,
    protocol: Protocol,
    cohort: Cohort,
    *,
    lines: np.ndarray | None = None,
    source: str = "<log>",
    strict: bool = False,
) -> AdministrationLog:
    """Check a log already in memory (all cells text); ``lines`` are the file's line numbers."""
    frame = _check_columns(frame, source)
    if lines is None:
        lines = np.arange(len(frame), dtype=np.int64) + 2
    given_at = frame["given_at"].str.strip()
    if "uid" in frame.columns and "given_by" in frame.columns:  # a worklist: blank given_at = not given
        keep = (given_at != "").to_numpy()
        frame, given_at, lines = frame[keep], given_at[keep], lines[keep]
    frame = frame.reset_index(drop=True)
    given_at = given_at.reset_index(drop=True)
    reasons = pd.Series("", index=frame.index, dtype=object)
    zone = _patients(frame, cohort, reasons)
    label = _labels(frame, protocol, reasons)
    timed, given_s, given_day = _times(given_at, zone, reasons)
    dose = _doses(frame, label, protocol, reasons)
    bad = (reasons != "").to_numpy()
    bad_rows = _bad_table(frame, lines, reasons, bad)
    if strict and len(bad_rows):
        raise LogError(_describe(bad_rows), source=source, hint="correct these rows, or run without --strict")
    ok = ~bad
    given = pd.DataFrame(
        {
            "line": lines[ok],
            "patient_id": frame["patient_id"].str.strip()[ok].to_numpy(dtype=object),
            "label": label[ok].to_numpy(dtype=object),
            "uid": (frame["uid"].str.strip() if "uid" in frame.columns else pd.Series("", index=frame.index))[
                ok
            ].to_numpy(dtype=object),
            "timed": timed[ok],
            "given_s": given_s[ok],
            "given_day": given_day[ok],
            "given_at": given_at[ok].to_numpy(dtype=object),
            "dose_given": dose[ok],
        }
    )
    return AdministrationLog(given, bad_rows, source)


def _read_table(path: Path) -> tuple[pd.DataFrame, np.ndarray | None]:
    """All cells as text, and line numbers when a row is not one line (None: row i is line i + 2)."""
    source = str(path)
    if not path.exists():
        raise LogError("file not found", source=source, hint="check the path")
    if path.is_dir():
        raise LogError("is a folder, not a file", source=source)
    with path.open("rb") as handle:
        if b"\x00" in handle.read(65536):
            raise LogError("is a binary file, not text", source=source, hint="give the path of a CSV file")
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=False, engine="c"
        )
    except UnicodeDecodeError as err:
        raise LogError(f"is not UTF-8 text ({err.reason})", source=source, hint="save the file as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise LogError("the file is empty", source=source) from None
    except pd.errors.ParserError as err:
        raise LogError(f"not a valid CSV file: {err}", source=source) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if _lines_in(path) != len(frame) + 1:  # blank lines or cells spanning lines: count exactly
        return _read_slowly(path, list(frame.columns))
    return frame, None


def _lines_in(path: Path) -> int:
    with path.open("rb") as handle:
        data = handle.read()
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def _read_slowly(path: Path, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
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


def _check_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise LogError(
            f"missing column(s) {', '.join(missing)} (found: {', '.join(map(str, frame.columns))})",
            source=source,
            where="line 1",
            hint="give the filled worklist.csv from dosing generate, or a log with patient_id, drug, given_at, "
            "dose_given",
        )
    columns = [c for c in (*REQUIRED, *OPTIONAL, "given_by") if c in frame.columns]
    return frame[columns].fillna("").astype(str)


def _categories_map(series: pd.Series, mapping: dict[str, object]) -> pd.Series:
    """Map each distinct value once (logs repeat a few patient ids and drug names a million times)."""
    cat = series.astype("category")
    mapped = [mapping.get(str(c)) for c in cat.cat.categories]
    values = np.array([*mapped, None], dtype=object)
    codes = cat.cat.codes.to_numpy()
    return pd.Series(values[codes], index=series.index)


def _patients(frame: pd.DataFrame, cohort: Cohort, reasons: pd.Series) -> pd.Series:
    patients = cohort.patients
    zones = dict(zip(patients["patient_id"].astype(str), patients["timezone"].astype(str), strict=True))
    zone = _categories_map(frame["patient_id"].str.strip(), zones)
    unknown = zone.isna() & (reasons == "")
    reasons[unknown] = "unknown patient " + frame["patient_id"][unknown].map(repr) + " (not in the cohort)"
    return zone


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


def _labels(frame: pd.DataFrame, protocol: Protocol, reasons: pd.Series) -> pd.Series:
    names = drug_names(protocol)
    drug = frame["drug"]
    folded = _categories_map(drug, {str(d): names.get(_fold(str(d))) for d in drug.unique()})
    unknown = folded.isna() & (reasons == "")
    known = ", ".join(sorted({r.blinded_label or r.drug for r in protocol.regimens}))
    reasons[unknown] = "unknown drug " + drug[unknown].map(repr) + f" (the protocol's drugs: {known})"
    return folded


def _times(given_at: pd.Series, zone: pd.Series, reasons: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timed, UTC seconds, local day number) per row; unreadable times become reasons."""
    n = len(given_at)
    given_s = np.zeros(n, dtype=np.int64)
    given_day = np.zeros(n, dtype=np.int64)
    dated = given_at.str.len().eq(10).to_numpy() & given_at.str.match(_DATE).to_numpy()
    offset = ~dated & given_at.str.contains(_OFFSET, regex=True).to_numpy()
    local = ~dated & ~offset
    ok = np.zeros(n, dtype=bool)
    day = pd.to_datetime(given_at[dated], format="%Y-%m-%d", errors="coerce")
    ok[dated] = day.notna().to_numpy()
    given_day[dated] = _seconds(day) // 86400
    given_s[dated] = given_day[dated] * 86400
    aware = pd.to_datetime(given_at[offset], format="ISO8601", errors="coerce", utc=True)
    ok[offset] = aware.notna().to_numpy()
    given_s[offset] = _seconds(aware)
    naive = pd.to_datetime(given_at[local], format="ISO8601", errors="coerce")
    ok[local] = naive.notna().to_numpy()
    wall = np.zeros(n, dtype=np.int64)
    wall[local] = _seconds(naive)
    for name in zone[~dated].dropna().unique():
        in_zone = (zone == name).to_numpy()
        pick = in_zone & local & ok
        given_s[pick] = _localise(wall[pick], str(name))
        timed_here = in_zone & ~dated & ok
        given_day[timed_here] = _local_day(given_s[timed_here], str(name))
    bad = ~ok & (reasons == "").to_numpy()
    reasons[bad] = (
        "cannot read given_at "
        + given_at[bad].map(repr)
        + ' (write "YYYY-MM-DD HH:MM" in the patient\'s zone, with an offset such as +08:00, or a date alone)'
    )
    return ~dated, given_s, given_day


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


def shown_units(protocol: Protocol) -> dict[str, set[str]]:
    """label -> the units a log may write after a dose (as the worklist shows them), case-folded."""
    units: dict[str, set[str]] = {}
    for regimen in protocol.regimens:
        label = regimen.blinded_label or regimen.drug
        shown = regimen.dose.unit
        if regimen.blinded_dose is not None and protocol.study.blinded:
            match = re.match(_DOSE, regimen.blinded_dose.strip())
            shown = match.group(2) if match else ""
        units.setdefault(label, set()).add(shown.strip().casefold())
    return units


def _doses(frame: pd.DataFrame, label: pd.Series, protocol: Protocol, reasons: pd.Series) -> np.ndarray:
    if "dose_given" not in frame.columns:
        return np.full(len(frame), np.nan)
    text = frame["dose_given"].str.strip().str.replace(",", "", regex=False)
    dose = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float).copy()
    rest = np.isnan(dose) & (text != "").to_numpy()
    if rest.any():
        parts = text[rest].str.extract(_DOSE)
        amount = pd.to_numeric(parts[0], errors="coerce")
        unit = parts[1].fillna("").str.strip().str.casefold()
        dose[rest] = amount.to_numpy(dtype=float)
        allowed = shown_units(protocol)
        pairs = [f"{lab}|{u}" for lab, units in allowed.items() for u in units]
        wrong = ~((unit == "") | (label[rest].astype(str) + "|" + unit).isin(pairs)).to_numpy()
        _mark(reasons, rest, amount.isna().to_numpy(), "dose_given " + text[rest].map(repr) + " is not a number")
        _mark(
            reasons,
            rest,
            wrong & amount.notna().to_numpy(),
            "dose_given "
            + text[rest].map(repr)
            + " is in another unit (expected "
            + label[rest].map(lambda lab: " or ".join(sorted(allowed.get(str(lab), {"?"}))) or "no unit")
            + ")",
        )
    return dose


def _mark(reasons: pd.Series, subset: np.ndarray, flag: np.ndarray, text: pd.Series) -> None:
    index = reasons.index[subset][flag]
    free = reasons[index] == ""
    reasons[index[free.to_numpy()]] = text.to_numpy()[flag][free.to_numpy()]


def _bad_table(frame: pd.DataFrame, lines: np.ndarray, reasons: pd.Series, bad: np.ndarray) -> pd.DataFrame:
    dose = frame["dose_given"] if "dose_given" in frame.columns else pd.Series("", index=frame.index)
    return pd.DataFrame(
        {
            "line": lines[bad],
            "patient_id": frame["patient_id"][bad].to_numpy(dtype=object),
            "drug": frame["drug"][bad].to_numpy(dtype=object),
            "given_at": frame["given_at"][bad].to_numpy(dtype=object),
            "dose_given": dose[bad].to_numpy(dtype=object),
            "reason": reasons[bad].to_numpy(dtype=object),
        },
        columns=BAD_COLUMNS,
    )


def _describe(bad: pd.DataFrame) -> str:
    shown = [f"line {row.line}: {row.reason}" for row in bad.head(10).itertuples()]
    if len(bad) > 10:
        shown.append(f"... and {len(bad) - 10} more bad row(s)")
    return f"{len(bad)} bad row(s) in the log\n  " + "\n  ".join(shown)
