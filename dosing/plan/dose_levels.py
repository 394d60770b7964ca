"""Dose-level changes (changes-file rows with ``change = dose_level``): read, checked and applied.

A row ``patient_id, dose_level, regimen, date, dose_level = -1`` gives the regimen at level -1 from
``date`` on, or, when ``cycle`` is given, from that cycle's first dose on (the row is then dated on or
before that dose, like a delay). The patient's dose is the level's amount converted for the patient as
the planned dose is (:func:`dosing.protocol.formulas.absolute_doses`: per size or formula, cap, rounding),
and a computed dose's ``dose_basis`` becomes that computation, prefixed ``level -1 (changes file, line 2): ``.

Refused, each naming the file and line with the fix: a regimen without levels, a level not listed, a
level below the floor (``lowest_level``: below it the patient is off treatment, a stop), a level above
the patient's current one without ``reescalation = true`` (the current level is that of the patient's
latest earlier dose_level row of the regimen, by date; 0 before any), and ``dose`` rows beside
``dose_level`` rows for the same patient and regimen (one of them would silently win).

Blinding: levels are named alike in every arm of a blinded group (checked with the protocol), so no
message here differs by arm; a level's amount (which may differ by arm) is never printed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ChangesError, CohortError, ValueParseError
from ..protocol.dose_steps import level_amount, lowest_level
from ..protocol.formulas import absolute_doses
from .expand import rounding_twins

if TYPE_CHECKING:
    from ..protocol.model import Regimen
    from .blind_view import View
    from .changes import Changes

KIND = "dose_level"
COLUMN = "dose_level"


def level_values(view: View, regimen_id: str, cells: dict[str, str], patient: pd.Series) -> dict[str, object]:
    """The ``dose_level``, ``cycle`` and the patient's ``dose`` of one row (ValueParseError: why not)."""
    regimen = view.protocol.regimen(regimen_id)
    if regimen.levels is None:
        raise ValueParseError(
            f"{view.regimen(regimen_id)} has no dose levels in the protocol; record a dose change "
            '(change = dose) instead, or list the levels in the protocol (levels = { "0" = ..., "-1" = ... })'
        )
    level = _level(cells[COLUMN])
    listed = sorted((int(key) for key in regimen.levels), reverse=True)
    floor = lowest_level(regimen)
    if level < floor:
        raise ValueParseError(
            f"dose level {level} is below the lowest level ({floor}) of {view.regimen(regimen_id)}: below it the "
            "patient is off treatment; record a stop of the regimen instead"
        )
    if level not in listed:
        raise ValueParseError(
            f"dose level {level} is not a level of {view.regimen(regimen_id)} "
            f"(its levels: {', '.join(map(str, listed))}); use one of those"
        )
    cycle = _from_cycle(view, regimen, cells.get("cycle", ""))
    frame = pd.DataFrame([patient]).assign(patient_id=str(patient.name))  # the patient, as errors name them
    try:
        for twin in [*rounding_twins(view.protocol, regimen), regimen]:  # a rounding error alike in every arm
            doses, basis = absolute_doses(
                twin.dose,
                frame,
                level_amount(twin, level),
                values=view.protocol.patient_values,
                name=view.regimen(regimen_id),
                hide=view.hides_dose(regimen_id),
            )
    except CohortError as err:  # the level's dose cannot be rounded as the protocol says
        raise ValueParseError(err.message) from None
    dose = float(doses[0])
    return {COLUMN: level, "cycle": cycle, "dose": dose, "dose_basis": str(basis[0])}


def _level(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueParseError(f"column 'dose_level': expected a whole number such as -1, got {text!r}") from None


def _from_cycle(view: View, regimen: Regimen, text: str) -> int | None:
    if not text:
        return None
    schedule = regimen.schedule
    last_day = view.protocol.study.last_day  # "until stopped": the cycles that begin in the study
    total = sum(p.cycle_count(last_day) or 0 for p in schedule.phases or [schedule])
    if not total:
        raise ValueParseError(
            f"{view.regimen(regimen.id)} has no cycles: give the dose level from a date (leave 'cycle' empty)"
        )
    try:
        number = int(text)
    except ValueError:
        raise ValueParseError(f"column 'cycle': expected a cycle number from 1 to {total}, got {text!r}") from None
    if not 1 <= number <= total:
        raise ValueParseError(f"column 'cycle': expected a cycle number from 1 to {total}, got {text!r}")
    return number


def level_problems(records: list[dict], view: View) -> list[str]:
    """Problems across rows: a re-escalation the protocol does not allow, and dose rows beside
    dose_level rows of one patient's regimen."""
    problems: list[str] = []
    levels = sorted((r for r in records if r["change"] == KIND), key=lambda r: (r["date"], r["line"]))
    current: dict[tuple[str, str], tuple[int, int]] = {}
    for row in levels:
        key = (row["patient_id"], row["regimen"])
        before, line = current.get(key, (0, 0))
        regimen = view.protocol.regimen(row["regimen"])
        if row[COLUMN] > before and not regimen.reescalation:
            since = f" (line {line})" if line else " (the starting level)"
            problems.append(
                f"line {row['line']}: dose level {row[COLUMN]} of {view.regimen(row['regimen'])} is above the "
                f"patient's current level {before}{since}, and the protocol does not allow re-escalation "
                "(reescalation = false): record the current or a lower level"
            )
        current[key] = (row[COLUMN], row["line"])
    for row in records:
        if row["change"] == "dose" and (row["patient_id"], row["regimen"]) in current:
            problems.append(
                f"line {row['line']}: a dose change of {view.regimen(row['regimen'])}, whose dose this file sets "
                f"by dose level (line {current[(row['patient_id'], row['regimen'])][1]}): record the new dose "
                "as a dose level"
            )
    return problems


def apply_levels(work: Any, changes: Changes) -> None:
    """Set the dose of every dose a dose_level row reaches (in date order, a later row winning), raising
    the dose's SEQUENCE and stamping ``changed_on`` like a dose change. ``work`` is the applier's
    table of the changed patients' rows (:class:`dosing.plan.apply_changes._Work`)."""
    rows = changes.of(KIND)
    if rows.empty:
        return
    ordered: Iterable[Any] = rows.sort_values(["date", "line"], kind="stable").itertuples(index=False)
    for row in ordered:
        mine = (work.patient == row.patient_id) & (work.regimen == row.regimen)
        if pd.isna(row.cycle):
            mask = mine & (work.dates >= row.date.strftime("%Y-%m-%d"))
        else:
            mask = mine & (work.cycle >= row.cycle)
            _check_not_begun(work, row, mine & (work.cycle == row.cycle), changes)
        work.dose[mask] = row.dose
        work.touch(mask, row.date.to_datetime64())
        if work.basis is not None and isinstance(row.dose_basis, str) and row.dose_basis:
            work.basis[mask] = f"level {row.dose_level} (changes file, line {row.line}): {row.dose_basis}"


def _check_not_begun(work: Any, row: Any, cycle: np.ndarray, changes: Changes) -> None:
    if not cycle.any():
        return
    first = min(work.dates[cycle].astype(str).tolist())
    if row.date.strftime("%Y-%m-%d") > first:
        raise ChangesError(
            f"a dose level of {changes.name(row.regimen)} from cycle {row.cycle} for patient {row.patient_id} is "
            f"dated {row.date.strftime('%Y-%m-%d')}, after the cycle's first dose on {first}: it would change "
            "doses already given",
            source=changes.source,
            where=f"line {row.line}",
            hint="date the row on or before that cycle's first dose, or give the level from the next cycle",
        )


def changed_by_levels(after: pd.DataFrame, changes: Changes) -> int:
    """How many of one patient's doses (kept after stops) a dose_level row reaches (for the summary)."""
    rows = changes.of(KIND)
    if not len(after) or rows.empty:
        return 0
    regimen, dates = after["regimen"].astype(str).to_numpy(), after["date"].astype(str).to_numpy()
    cycle = after["cycle"].to_numpy(dtype=float, na_value=np.nan)
    hit = np.zeros(len(after), dtype=bool)
    mine: Iterable[Any] = rows[rows["patient_id"] == after["patient_id"].iloc[0]].itertuples(index=False)
    for row in mine:
        reach = dates >= row.date.strftime("%Y-%m-%d") if pd.isna(row.cycle) else cycle >= row.cycle
        hit |= (regimen == row.regimen) & reach
    return int(hit.sum())


def level_adjustments(doses: pd.DataFrame, changes: Changes | None, reasons: np.ndarray) -> np.ndarray:
    """``reasons`` (one per dose of ``doses``, e.g. SDTM's EXADJ) with the reason of the latest
    dose_level row in force on each dose it reaches (a later row winning, as when applied)."""
    if changes is None or changes.of(KIND).empty or doses.empty:
        return reasons
    out = reasons.copy()
    patient, regimen = doses["patient_id"].astype(str).to_numpy(), doses["regimen"].astype(str).to_numpy()
    dates = doses["date"].astype(str).to_numpy()
    cycle = doses["cycle"].to_numpy(dtype=float, na_value=np.nan)
    ordered: Iterable[Any] = changes.of(KIND).sort_values(["date", "line"], kind="stable").itertuples(index=False)
    for row in ordered:
        reach = dates >= row.date.strftime("%Y-%m-%d") if pd.isna(row.cycle) else cycle >= row.cycle
        out[(patient == row.patient_id) & (regimen == row.regimen) & reach] = row.reason
    return out
