"""Per-patient changes: what really happened to each patient, validated against the protocol
and the cohort. Pure: rows already read from a file (see :mod:`dosing.io.read.changes`) in,
a :class:`Changes` out, or a :class:`~dosing.errors.ChangesError` naming the file and line.

One row per event, each with a ``date`` and a ``reason``. Kinds (column ``change``):

``delay``       cycle ``cycle`` of ``regimen`` and every later cycle move ``days`` days later
                (dated on or before the cycle's first dose; no dose may move past
                ``study.last_day``: both checked when applied, by :mod:`dosing.plan.apply_changes`)
``hold``        the ``regimen`` dose(s) on ``date`` (at ``time``, or all that day) are not given
                and not made up (dates are the actual dates, after any delay)
``stop``        ``regimen`` stops from ``date``: no doses on or after it
``dose``        ``regimen`` is given at ``dose`` from ``date`` on: a plain decimal number in the
                regimen's unit, or a number and a unit (``0.5 g``, ``5 MIU``) converted exactly to it;
                at most :data:`MAX_DOSE_CHANGE` times the planned dose (a bigger one is a probable
                typo); refused for a blinded group whose true dose differs by arm (see
                :func:`_refuse_hidden_dose`)
``dose_level``  ``regimen`` is given at level ``dose_level`` (a level the protocol lists) from ``date``
                on, or from cycle ``cycle`` on when given (see :mod:`dosing.plan.dose_levels`)
``reschedule``  ``visit`` takes place on ``date`` (a warning when outside its window)
``withdraw``    the patient is withdrawn from ``date``: no doses or visits on or after it, except
                visits the protocol marks ``follow_up_after_withdrawal``

``regimen`` is a regimen id or the label blinded staff see: for a blinded patient "il2" also
means the matching placebo (the regimen of the same blinded group the patient receives), so
a changes file never needs to know the arm. Applying changes: :mod:`dosing.plan.apply_changes`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from ..errors import ChangesError, CohortError, ValueParseError
from ..protocol.formulas import absolute_doses, is_computed, values_needed
from ..protocol.model import Protocol, Regimen
from ..protocol.units import exact, factor, format_dose, lookup
from ..protocol.values import decimal_comma, parse_date, parse_time
from .blind_view import View
from .cohort import Cohort
from .dose_levels import level_problems, level_values

__all__ = ["Changes", "changes_from_rows", "resolve_regimen"]

KINDS = ("delay", "hold", "stop", "dose", "reschedule", "withdraw", "dose_level")
REQUIRED = ("patient_id", "change", "date", "reason")
OPTIONAL = ("regimen", "cycle", "time", "days", "dose", "visit", "dose_level")
#: Which optional columns each kind needs (first tuple) and allows (second).
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "delay": (("regimen", "cycle", "days"), ()),
    "hold": (("regimen",), ("time",)),
    "stop": (("regimen",), ()),
    "dose": (("regimen", "dose"), ()),
    "reschedule": (("visit",), ()),
    "withdraw": ((), ()),
    "dose_level": (("regimen", "dose_level"), ("cycle",)),
}
#: A changed dose may be at most this many times the planned dose of its regimen.
MAX_DOSE_CHANGE = 10
#: A changes-file dose: a plain decimal number (no exponent, inf or nan), optionally followed by a unit
#: (which starts with a letter: "12,5" is a decimal comma, not a unit).
DOSE_TEXT = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*([^\W\d_].*)?")
ROW_COLUMNS = [
    "line",
    "patient_id",
    "change",
    "regimen",
    "cycle",
    "date",
    "time",
    "days",
    "dose",
    "visit",
    "reason",
    "dose_level",
    "dose_basis",
]


@dataclass(frozen=True)
class Changes:
    """Validated changes. ``rows`` has one row per line of the file (columns :data:`ROW_COLUMNS`):
    ``regimen`` is the regimen id the patient actually receives, ``date`` a ``datetime64``
    (midnight), ``time`` minutes after midnight or <NA>, ``cycle``/``days`` nullable ints; a dose_level
    row's ``dose_basis`` is how the level's dose was computed for the patient ("" for a fixed dose)."""

    rows: pd.DataFrame
    source: str = "<changes>"
    last_day: int | None = None  # the protocol's study.last_day: no delay may move a dose past it
    view: View | None = None  # how messages name regimens (blinded unless --unblinded); None: by id

    def name(self, regimen_id: str) -> str:
        """A regimen as the user who runs the command sees it (quoted), for messages."""
        return self.view.regimen(regimen_id) if self.view is not None else repr(regimen_id)

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
    *,
    unblinded: bool = False,
) -> Changes:
    """Validate changes rows (line number, cells) against the protocol and cohort. Messages name
    regimens, doses and units as a blinded user sees them unless ``unblinded``."""
    view = View(protocol, unblinded)
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
        record = _record(line, fields, view, patients, _reporter(problems, line), source)
        if record is not None:
            records.append(record)
    if not rows:
        problems.append("the file lists no changes")
    if not problems:
        _contradictions(records, protocol, problems)
        problems += level_problems(records, view)
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ChangesError(
            "invalid changes file\n  " + "\n  ".join(shown),
            source=source,
            hint="correct those lines; nothing was written",
        )
    frame = pd.DataFrame.from_records(records, columns=ROW_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"])
    for column in ("cycle", "time", "days", "dose_level"):
        frame[column] = frame[column].astype("Int64")
    frame["dose"] = frame["dose"].astype(float)
    return Changes(frame, source, protocol.study.last_day, view)


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
            hint=f"the columns are {', '.join(valid)} (the last seven as needed)",
        )
    if len(set(header)) != len(header):
        raise ChangesError("a column name appears twice", source=source, where="line 1 (header)")
    return header


Bad = Callable[[str], None]


def _reporter(problems: list[str], line: int) -> Bad:
    return lambda message: problems.append(f"line {line}: {message}")


def _record(
    line: int, cells: dict[str, str], view: View, patients: pd.DataFrame, bad: Bad, source: str = "<changes>"
) -> dict | None:
    protocol = view.protocol
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
        record = _values(kind, cells, view, pd.Series(patients.loc[pid]))
    except ValueParseError as err:
        bad(err.message)
        return None
    if kind == "dose":
        _refuse_hidden_dose(view, str(record["regimen"]), source, line)
    start = pd.Timestamp(str(patients.at[pid, "start_date"])).date()
    if date < start and not (kind == "reschedule" and _before_day1(protocol, record["visit"])):
        bad(f"{date} is before patient {pid}'s first day ({start})")
        return None
    return {"line": line, "patient_id": pid, "change": kind, "date": date, "reason": cells["reason"], **record}


def _values(kind: str, cells: dict[str, str], view: View, patient: pd.Series) -> dict[str, object]:
    protocol = view.protocol
    arm = str(patient["arm"])
    out: dict[str, object] = {"regimen": None, "cycle": None, "time": None, "days": None, "dose": None, "visit": None}
    out["dose_level"] = None
    if cells.get("regimen"):
        out["regimen"] = resolve_regimen(protocol, cells["regimen"], arm, view)
        if kind in ("hold", "delay", "dose") and protocol.regimen(str(out["regimen"])).prn:
            raise ValueParseError(
                f"regimen {view.regimen(str(out['regimen']))} is taken as needed (no planned doses): a {kind} "
                "does not apply to it; a stop does (a new dose needs a new protocol version)"
            )
    if cells.get("time"):
        moment = parse_time(cells["time"])
        out["time"] = moment.hour * 60 + moment.minute
    if kind == "delay":
        out["cycle"] = _cycle(view, str(out["regimen"]), cells["cycle"])
        out["days"] = _whole(cells["days"], "days", 1, 366)
    if kind == "dose":
        regimen = protocol.regimen(str(out["regimen"]))
        out["dose"] = None if _hides_dose(protocol, regimen) else _dose(view, regimen, cells["dose"], patient)
    if kind == "dose_level":
        out.update(level_values(view, str(out["regimen"]), cells, patient))
    if kind == "reschedule":
        ids = [v.id for v in protocol.visits]
        if cells["visit"] not in ids:
            raise ValueParseError(f"unknown visit {cells['visit']!r}; the protocol's visits are {', '.join(ids)}")
        out["visit"] = cells["visit"]
    return out


def resolve_regimen(protocol: Protocol, text: str, arm: str, view: View | None = None) -> str:
    """The id of the regimen ``text`` names (an id or the label blinded staff see) that ``arm`` receives.
    An unknown name lists the regimens as ``view`` (default: blinded) shows them."""
    wanted = text.strip().lower()
    named = [r for r in protocol.regimens if wanted in (r.id.lower(), (r.blinded_label or r.drug).lower())]
    if not named:
        known = ", ".join(repr(name) for name in (view or View(protocol)).regimen_names())
        raise ValueParseError(f"unknown regimen {text!r}; the protocol's regimens are {known}")
    keys = {r.display_key for r in named}
    received = [r.id for r in protocol.regimens if r.display_key in keys and r.id in protocol.arm(arm).regimens]
    if not received:
        raise ValueParseError(f"the patient does not receive {text!r}")
    return received[0]


def _cycle(view: View, regimen_id: str, text: str) -> int:
    schedule = view.protocol.regimen(regimen_id).schedule
    if schedule.phases is not None or schedule.cycles is None:
        raise ValueParseError(f"regimen {view.regimen(regimen_id)} has no cycles to delay")
    count = schedule.cycle_count(view.protocol.study.last_day)  # "until stopped": the cycles that begin in the study
    assert count is not None
    return _whole(text, "cycle", 1, count)


def _whole(text: str, column: str, low: int, high: int) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValueParseError(f"column {column!r}: expected a whole number, got {text!r}") from None
    if not low <= number <= high:
        raise ValueParseError(f"column {column!r}: {number} is outside {low}-{high}")
    return number


def _hides_dose(protocol: Protocol, regimen: Regimen) -> bool:
    """True when the true dose of the regimen's blinded group is hidden or differs between arms."""
    group = [r for r in protocol.regimens if r.display_key == regimen.display_key]
    doses = {(r.dose.amount, lookup(r.dose.unit).symbol, r.dose.patient_value, r.dose.per) for r in group}
    return any(r.blinded_dose is not None for r in group) or len(doses) > 1


def _refuse_hidden_dose(view: View, regimen_id: str, source: str, line: int) -> None:
    """A dose change of a blinded group whose true dose differs by arm (IU in one arm, mL in another,
    hidden as "1 syringe") cannot be recorded here: a number without the arm's unit would be applied
    in each arm's own unit. Refused in every run and every arm alike (it depends on the group only)."""
    if _hides_dose(view.protocol, view.protocol.regimen(regimen_id)):
        raise ChangesError(
            f"a dose change of {view.regimen(regimen_id)}: its true dose differs by arm and is hidden from "
            "blinded staff, so the changes file cannot say which amount and unit it means",
            source=source,
            where=f"line {line}",
            hint="a dose change of a blinded study drug whose dose differs by arm cannot be recorded in the "
            "changes file; the unblinded pharmacist adjusts the dispensed dose outside the blinded record, "
            "or record a hold, stop or withdraw instead",
        )


def _dose(view: View, regimen: Regimen, text: str, patient: pd.Series) -> float:
    unit = regimen.dose.absolute_unit
    amount = _dose_amount(view, regimen, text)
    if not amount > 0:
        raise ValueParseError(f"column 'dose': {text!r} is not a positive amount")
    spec = view.protocol.patient_values.get(regimen.dose.patient_value or "")
    if spec is not None:
        if (spec.min is not None and amount < exact(spec.min)) or (spec.max is not None and amount > exact(spec.max)):
            bounds = "-".join("" if bound is None else f"{bound:g}" for bound in (spec.min, spec.max))
            raise ValueParseError(f"column 'dose': {format_dose(amount, unit)} is outside {bounds}")
        return float(amount)
    planned = _planned_dose(regimen, patient, view.protocol)
    if planned is not None and amount > MAX_DOSE_CHANGE * planned:
        raise ValueParseError(
            f"column 'dose': {format_dose(amount, unit)} is more than {MAX_DOSE_CHANGE} times the planned "
            f"{format_dose(planned, unit)} of {view.regimen(regimen.id)}, probably a typo "
            f"(a changed dose may be at most {MAX_DOSE_CHANGE} times the planned dose)"
        )
    return float(amount)


def _dose_amount(view: View, regimen: Regimen, text: str) -> Decimal:
    """The amount ``text`` says, in the regimen's absolute unit, exactly."""
    unit = regimen.dose.absolute_unit
    match = DOSE_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValueParseError(
            f"column 'dose': expected a number in {unit} (optionally with a unit: 60, 0.06 g), "
            f"got {text!r}{decimal_comma(text)}"
        )
    number, written = Decimal(match.group(1)), match.group(2)
    if written is not None and re.fullmatch(r"[eE][-+]?\d+", written):
        raise ValueParseError(f"column 'dose': {text!r} is in exponent notation; write the number in full")
    if written is None:
        return number
    try:
        symbol = lookup(written).symbol
    except ValueParseError as err:
        raise ValueParseError(f"column 'dose': {err.message}") from None
    ratio = factor(symbol, unit)
    if ratio is None:
        raise ValueParseError(
            f"column 'dose': {written.strip()!r} cannot be converted to {unit}, the unit of {view.regimen(regimen.id)}"
        )
    return number * ratio


def _planned_dose(regimen: Regimen, patient: pd.Series, protocol: Protocol) -> Decimal | None:
    """The regimen's planned dose for the patient (a computed dose as expansion computes it: per size, by a
    formula, capped and rounded); None where the patient's values do not give one."""
    dose = regimen.dose
    if not is_computed(dose):
        return None if dose.amount is None else exact(dose.amount)
    if any(pd.isna(patient.get(name)) for name in values_needed(dose)):
        return None
    try:
        doses, _ = absolute_doses(dose, patient.to_frame().T, values=protocol.patient_values)
    except CohortError:  # the patient's dose cannot be rounded as the protocol says: the plan refuses it
        return None
    return exact(float(doses[0]))


def _before_day1(protocol: Protocol, visit_id: object) -> bool:
    return any(v.id == visit_id and not v.dose_anchored and v.target_day - v.early < 1 for v in protocol.visits)


def _contradictions(records: list[dict], protocol: Protocol, problems: list[str]) -> None:
    """Rows that cannot all be true: the same thing recorded twice, or changes after an end."""
    keys = {
        "withdraw": ("patient_id",),
        "stop": ("patient_id", "regimen"),
        "delay": ("patient_id", "regimen", "cycle"),
        "reschedule": ("patient_id", "visit"),
        "dose": ("patient_id", "regimen", "date"),
        "hold": ("patient_id", "regimen", "date", "time"),
        "dose_level": ("patient_id", "regimen", "date", "cycle"),
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
