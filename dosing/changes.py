"""Per-patient changes: what really happened to each patient, validated against the protocol
and the cohort. Pure: rows already read from a file (see :mod:`dosing.io.changes_file`) in,
a :class:`Changes` out, or a :class:`~dosing.errors.ChangesError` naming the file and line.

One row per event, each with a ``date`` and a ``reason``. Kinds (column ``change``):

``delay``       cycle ``cycle`` of ``regimen`` and every later cycle move ``days`` days later
                (dated on or before the cycle's first dose; no dose may move past
                ``study.last_day``: both checked when applied, by :mod:`dosing.changes_apply`)
``hold``        the ``regimen`` dose(s) on ``date`` (at ``time``, or all that day) are not given
                and not made up (dates are the actual dates, after any delay)
``stop``        ``regimen`` stops from ``date``: no doses on or after it
``dose``        ``regimen`` is given at ``dose`` (in the regimen's unit) from ``date`` on
``reschedule``  ``visit`` takes place on ``date`` (a warning when outside its window)
``withdraw``    the patient is withdrawn from ``date``: no doses or visits on or after it, except
                visits the protocol marks ``follow_up_after_withdrawal``

``regimen`` is a regimen id or the label blinded staff see: for a blinded patient "il2" also
means the matching placebo (the regimen of the same blinded group the patient receives), so
a changes file never needs to know the arm. Applying changes: :mod:`dosing.changes_apply`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .changes_apply import apply_changes
from .cohort import Cohort
from .errors import ChangesError, ValueParseError
from .parse import parse_date, parse_time
from .protocol import Protocol

__all__ = ["Changes", "apply_changes", "changes_from_rows", "resolve_regimen"]

KINDS = ("delay", "hold", "stop", "dose", "reschedule", "withdraw")
REQUIRED = ("patient_id", "change", "date", "reason")
OPTIONAL = ("regimen", "cycle", "time", "days", "dose", "visit")
#: Which optional columns each kind needs (first tuple) and allows (second).
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "delay": (("regimen", "cycle", "days"), ()),
    "hold": (("regimen",), ("time",)),
    "stop": (("regimen",), ()),
    "dose": (("regimen", "dose"), ()),
    "reschedule": (("visit",), ()),
    "withdraw": ((), ()),
}
ROW_COLUMNS = ["line", "patient_id", "change", "regimen", "cycle", "date", "time", "days", "dose", "visit", "reason"]


@dataclass(frozen=True)
class Changes:
    """Validated changes. ``rows`` has one row per line of the file (columns :data:`ROW_COLUMNS`):
    ``regimen`` is the regimen id the patient actually receives, ``date`` a ``datetime64``
    (midnight), ``time`` minutes after midnight or <NA>, ``cycle``/``days`` nullable ints."""

    rows: pd.DataFrame
    source: str = "<changes>"
    last_day: int | None = None  # the protocol's study.last_day: no delay may move a dose past it

    def of(self, kind: str) -> pd.DataFrame:
        return self.rows[self.rows["change"] == kind]

    def each(self, kind: str) -> Iterator[Any]:
        """The rows of one kind as named tuples (``row.patient_id``, ``row.date``, ...)."""
        return each_row(self.of(kind))

    @property
    def stops(self) -> pd.DataFrame:
        """``patient_id, regimen, from_date``: no doses of the regimen on or after from_date."""
        return self.of("stop")[["patient_id", "regimen", "date"]].rename(columns={"date": "from_date"})

    @property
    def withdrawals(self) -> pd.DataFrame:
        """``patient_id, from_date``: no doses or visits (but follow-up visits) on or after from_date."""
        return self.of("withdraw")[["patient_id", "date"]].rename(columns={"date": "from_date"})

    @property
    def patients(self) -> list[str]:
        return list(dict.fromkeys(self.rows["patient_id"]))

    def where(self, line: int) -> str:
        return f"{self.source}, line {line}"


def each_row(frame: pd.DataFrame) -> Iterator[Any]:
    """A table's rows as named tuples, typed loosely (columns of mixed types)."""
    return frame.itertuples(index=False)


def no_changes(source: str = "<no changes>") -> Changes:
    return Changes(pd.DataFrame({c: pd.Series(dtype=object) for c in ROW_COLUMNS}), source)


def changes_from_rows(
    header: Sequence[str],
    rows: Sequence[tuple[int, Sequence[str]]],
    protocol: Protocol,
    cohort: Cohort,
    source: str = "<changes>",
) -> Changes:
    """Validate changes rows (line number, cells) against the protocol and cohort."""
    columns = _check_header([h.strip() for h in header], source)
    problems: list[str] = []
    records = []
    patients = cohort.patients.set_index("patient_id")
    for line, cells in rows:
        if len(cells) != len(columns):
            problems.append(f"line {line}: {len(cells)} cells where the header has {len(columns)} columns")
            continue
        fields = {c: v.strip() for c, v in zip(columns, cells, strict=True)}
        if _open_quote(fields):
            problems.append(f"line {line}, column {_open_quote(fields)}")
            continue
        record = _record(line, fields, protocol, patients, _reporter(problems, line))
        if record is not None:
            records.append(record)
    if not rows:
        problems.append("the file lists no changes")
    if not problems:
        _contradictions(records, protocol, problems)
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ChangesError(
            "invalid changes file\n  " + "\n  ".join(shown),
            source=source,
            hint="correct those lines; nothing was written",
        )
    frame = pd.DataFrame.from_records(records, columns=ROW_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"])
    for column in ("cycle", "time", "days"):
        frame[column] = frame[column].astype("Int64")
    frame["dose"] = frame["dose"].astype(float)
    return Changes(frame, source, protocol.study.last_day)


def _open_quote(fields: dict[str, str]) -> str | None:
    """A cell running over several lines: most likely a quote left open, swallowing the rows after it."""
    spans = [c for c, v in fields.items() if "\n" in v or "\r" in v]
    return f'{spans[0]!r}: the cell runs over several lines; is a quote (") left open?' if spans else None


def _check_header(header: list[str], source: str) -> list[str]:
    valid = [*REQUIRED, *OPTIONAL]
    for name in header:
        if name not in valid:
            guess = difflib.get_close_matches(name, valid, n=1)
            hint = f"did you mean {guess[0]!r}? " if guess else ""
            raise ChangesError(
                f"unknown column {name!r}", source=source, where="line 1 (header)", hint=f"{hint}columns: {valid}"
            )
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ChangesError(
            f"missing column(s): {', '.join(missing)}",
            source=source,
            where="line 1 (header)",
            hint=f"the columns are {', '.join(valid)} (the last six as needed)",
        )
    if len(set(header)) != len(header):
        raise ChangesError("a column name appears twice", source=source, where="line 1 (header)")
    return header


Bad = Callable[[str], None]


def _reporter(problems: list[str], line: int) -> Bad:
    return lambda message: problems.append(f"line {line}: {message}")


def _record(line: int, cells: dict[str, str], protocol: Protocol, patients: pd.DataFrame, bad: Bad) -> dict | None:
    kind = cells["change"].lower()
    if kind not in KINDS:
        bad(f"unknown change {cells['change']!r}; use one of {', '.join(KINDS)}")
        return None
    pid = cells["patient_id"]
    if pid not in patients.index:
        bad(f"unknown patient {pid!r} (not in the cohort file)")
        return None
    needed, allowed = FIELDS[kind]
    for column in OPTIONAL:
        value = cells.get(column, "")
        if column in needed and not value:
            bad(f"a {kind} needs a value in column {column!r}")
            return None
        if value and column not in needed and column not in allowed:
            bad(f"column {column!r} does not apply to a {kind}; leave it empty")
            return None
    if not cells["reason"]:
        bad("give a reason (column 'reason')")
        return None
    try:
        date = parse_date(cells["date"])
        record = _values(kind, cells, protocol, str(patients.at[pid, "arm"]))
    except ValueParseError as err:
        bad(err.message)
        return None
    start = pd.Timestamp(str(patients.at[pid, "start_date"])).date()
    if date < start and not (kind == "reschedule" and _before_day1(protocol, record["visit"])):
        bad(f"{date} is before patient {pid}'s first day ({start})")
        return None
    return {"line": line, "patient_id": pid, "change": kind, "date": date, "reason": cells["reason"], **record}


def _values(kind: str, cells: dict[str, str], protocol: Protocol, arm: str) -> dict[str, object]:
    out: dict[str, object] = {"regimen": None, "cycle": None, "time": None, "days": None, "dose": None, "visit": None}
    if cells.get("regimen"):
        out["regimen"] = resolve_regimen(protocol, cells["regimen"], arm)
    if cells.get("time"):
        moment = parse_time(cells["time"])
        out["time"] = moment.hour * 60 + moment.minute
    if kind == "delay":
        out["cycle"] = _cycle(protocol, str(out["regimen"]), cells["cycle"])
        out["days"] = _whole(cells["days"], "days", 1, 366)
    if kind == "dose":
        out["dose"] = _dose(protocol, str(out["regimen"]), cells["dose"])
    if kind == "reschedule":
        ids = [v.id for v in protocol.visits]
        if cells["visit"] not in ids:
            raise ValueParseError(f"unknown visit {cells['visit']!r}; the protocol's visits are {', '.join(ids)}")
        out["visit"] = cells["visit"]
    return out


def resolve_regimen(protocol: Protocol, text: str, arm: str) -> str:
    """The id of the regimen ``text`` names (an id or the label blinded staff see) that ``arm`` receives."""
    wanted = text.strip().lower()
    named = [r for r in protocol.regimens if wanted in (r.id.lower(), (r.blinded_label or r.drug).lower())]
    if not named:
        raise ValueParseError(
            f"unknown regimen {text!r}; the protocol's regimens are {', '.join(protocol.regimen_ids)}"
        )
    keys = {r.display_key for r in named}
    received = [r.id for r in protocol.regimens if r.display_key in keys and r.id in protocol.arm(arm).regimens]
    if not received:
        raise ValueParseError(f"the patient does not receive {text!r}")
    return received[0]


def _cycle(protocol: Protocol, regimen_id: str, text: str) -> int:
    schedule = protocol.regimen(regimen_id).schedule
    if schedule.phases is not None or schedule.cycles is None:
        raise ValueParseError(f"regimen {regimen_id!r} has no cycles to delay")
    return _whole(text, "cycle", 1, schedule.cycles)


def _whole(text: str, column: str, low: int, high: int) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValueParseError(f"column {column!r}: expected a whole number, got {text!r}") from None
    if not low <= number <= high:
        raise ValueParseError(f"column {column!r}: {number} is outside {low}-{high}")
    return number


def _dose(protocol: Protocol, regimen_id: str, text: str) -> float:
    regimen = protocol.regimen(regimen_id)
    try:
        amount = float(text)
    except ValueError:
        unit = regimen.dose.absolute_unit
        raise ValueParseError(f"column 'dose': expected a number in {unit}, got {text!r}") from None
    if not amount > 0 or amount == float("inf"):
        raise ValueParseError(f"column 'dose': {text!r} is not a positive amount")
    spec = protocol.patient_values.get(regimen.dose.patient_value or "")
    if spec is not None and (
        (spec.min is not None and amount < spec.min) or (spec.max is not None and amount > spec.max)
    ):
        bounds = "-".join("" if bound is None else f"{bound:g}" for bound in (spec.min, spec.max))
        raise ValueParseError(f"column 'dose': {amount:g} {regimen.dose.absolute_unit} is outside {bounds}")
    return amount


def _before_day1(protocol: Protocol, visit_id: object) -> bool:
    return any(v.id == visit_id and v.target_day - v.early < 1 for v in protocol.visits)


def _contradictions(records: list[dict], protocol: Protocol, problems: list[str]) -> None:
    """Rows that cannot all be true: the same thing recorded twice, or changes after an end."""
    keys = {
        "withdraw": ("patient_id",),
        "stop": ("patient_id", "regimen"),
        "delay": ("patient_id", "regimen", "cycle"),
        "reschedule": ("patient_id", "visit"),
        "dose": ("patient_id", "regimen", "date"),
        "hold": ("patient_id", "regimen", "date", "time"),
    }
    seen: dict[tuple[object, ...], int] = {}
    for r in records:
        key = (r["change"], *(r[k] for k in keys[r["change"]]))
        if key in seen:
            problems.append(f"line {r['line']}: contradicts line {seen[key]} (the same {r['change']} recorded twice)")
        seen.setdefault(key, r["line"])
    follow_up = {v.id for v in protocol.visits if v.follow_up_after_withdrawal}
    for end in records:
        if end["change"] not in ("withdraw", "stop"):
            continue
        for r in records:
            if r is end or r["patient_id"] != end["patient_id"] or r["date"] < end["date"]:
                continue
            same = end["change"] == "withdraw" or r["regimen"] == end["regimen"]
            if same and r["change"] != "withdraw" and not (r["change"] == "reschedule" and r["visit"] in follow_up):
                what = "withdrawal" if end["change"] == "withdraw" else "stop"
                problems.append(
                    f"line {r['line']}: contradicts line {end['line']}: a {r['change']} on {r['date']} "
                    f"is on or after the {what} from {end['date']}"
                )
