"""Dose formulas: the absolute dose each patient receives, and the sum that gave it (``dose_basis``).

The contract (used by expansion, and by steps, titrations and dose levels, whose amounts go through
the same formula and rounding per patient)::

    doses, basis = absolute_doses(dose, frame, amount, values, name=..., source=..., hide=...)

* ``dose``: the regimen's :class:`~dosing.protocol.model.Dose` (its unit, ``per``, ``bsa``, ``formula``,
  ``cap``, ``round``/``round_to``).
* ``frame``: one row per patient to compute for, with ``patient_id`` and the patient values as cohort
  columns (:attr:`dosing.plan.cohort.Cohort.patients`, or some of its rows). Give only patients who
  receive the dose: a blank value or a sex other than F/M is an error naming the patient.
* ``amount``: the amount in the dose's own unit (mg/m2, mg/kg, mg; the target AUC for Calvert), a number
  or an array with one amount per row of ``frame`` (a step or dose level); None means the dose's own
  ``amount`` (or ``auc``).
* ``values``: the protocol's ``[patient_values]`` (the unit of ``creatinine``, mg/dL or umol/L).
* ``name``/``hide``: how errors name the regimen, and whether they may show amounts (not where a
  blinded run hides the dose); ``source`` names the cohort file in errors.
* Returns two arrays aligned with ``frame``: the absolute doses (float, in ``dose.absolute_unit``) and
  the basis texts ("" for a fixed dose or a patient's own dose). Raises CohortError when a rounded dose
  is further from the computed dose than ``round.within`` allows, cannot be made of whole tablets, or
  rounds to nothing.

How a dose is computed, in this order (each number shown in ``dose_basis`` is the one used next):

1. the size: BSA (m2) by the named formula (Mosteller, DuBois, Haycock) from height (cm) and weight
   (kg), rounded to 2 decimal places, then capped at ``bsa.cap``; or the patient value ``per``; for
   Calvert, the GFR (mL/min) by Cockcroft-Gault, rounded to 1 decimal place, capped at ``gfr_cap``;
2. the dose, exactly in decimal: amount x size, or AUC x (GFR + 25);
3. capped at ``cap``; 4. rounded by ``round`` (a rounded dose never goes above ``cap``: it rounds down
   instead); 5. the ``within`` check against the dose of step 3.

Formulas are evaluated with numpy over all patients; the decimal steps run once per distinct set of
inputs (a cohort has far fewer distinct heights and weights than doses). What a protocol may say (formula
names, which keys go together, the patient values each formula reads) is
:mod:`dosing.protocol.formula_rules`; rounding is :mod:`dosing.protocol.banding`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import CohortError
from .banding import MAX_TABLETS, deviation, plain, tablet_text, to_step, to_tablets
from .formula_rules import BSA_FORMULAS, is_computed, values_needed
from .units import convert, exact, lookup

if TYPE_CHECKING:
    from .model import Dose, PatientValue

DEFAULT_GFR_CAP = 125.0
UMOL_PER_MG_DL = Decimal("88.4")
_TWO = Decimal("0.01")
_ONE = Decimal("0.1")
_PLACES = Decimal("0.000001")


def bsa(formula: str, height: npt.ArrayLike, weight: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Body-surface area in m2 from height (cm) and weight (kg), unrounded."""
    h, w = np.asarray(height, dtype=float), np.asarray(weight, dtype=float)
    if formula == "mosteller":
        return np.asarray(np.sqrt(h * w / 3600.0))
    if formula == "dubois":
        return np.asarray(0.007184 * w**0.425 * h**0.725)
    if formula == "haycock":
        return np.asarray(0.024265 * w**0.5378 * h**0.3964)
    raise ValueError(formula)


def cockcroft_gault(
    age: npt.ArrayLike, weight: npt.ArrayLike, female: npt.ArrayLike, creatinine_mg_dl: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Creatinine clearance (mL/min), unrounded: (140 - age) x weight / (72 x creatinine), x 0.85 for women."""
    crcl = (140.0 - np.asarray(age, dtype=float)) * np.asarray(weight, dtype=float)
    crcl = crcl / (72.0 * np.asarray(creatinine_mg_dl, dtype=float))
    return np.asarray(np.where(np.asarray(female, dtype=bool), crcl * 0.85, crcl))


# ---- computing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rounding:
    to: float | None
    tablets: tuple[float, ...] | None
    direction: str
    within: float


def _rounding(dose: Dose) -> _Rounding | None:
    if dose.round_ is not None:
        r = dose.round_
        return _Rounding(r.to, tuple(r.tablets) if r.tablets else None, r.direction, r.within)
    if dose.round_to is not None:
        return _Rounding(dose.round_to, None, "nearest", 10.0)
    return None


def absolute_doses(
    dose: Dose,
    frame: pd.DataFrame,
    amount: float | npt.NDArray[np.float64] | None = None,
    values: Mapping[str, PatientValue] | None = None,
    *,
    name: str = "the regimen",
    source: str = "<cohort>",
    hide: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.object_]]:
    """Each row's absolute dose and its basis text (see the module docstring for the contract)."""
    n = len(frame)
    blank = np.full(n, "", dtype=object)
    if dose.patient_value is not None:
        return frame[dose.patient_value].to_numpy(dtype=float), blank
    own = dose.auc if dose.formula == "calvert" else dose.amount
    amounts = np.broadcast_to(np.asarray(own if amount is None else amount, dtype=float), (n,))
    if not is_computed(dose) or n == 0:
        return np.array(amounts, dtype=float), blank
    _check_filled(dose, frame, (name, source))
    columns = _inputs(dose, frame, values or {}, source)
    matrix = np.column_stack([amounts, *columns])
    distinct, inverse = np.unique(matrix, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    results = [_one(dose, row, values or {}) for row in distinct]
    problems = [r.problem for r in results]
    if any(problems):
        failing = np.flatnonzero(np.array([bool(p) for p in problems])[inverse])
        _refuse(frame, failing, [results[inverse[r]] for r in failing[:10]], dose, (name, source, hide))
    doses = np.array([float(r.dose) for r in results], dtype=float)[inverse]
    texts = np.array([r.basis for r in results], dtype=object)[inverse]
    return doses, texts


def _inputs(dose: Dose, frame: pd.DataFrame, values: Mapping[str, PatientValue], source: str) -> list[np.ndarray]:
    """The numbers each row's dose depends on (after the amount), evaluated over all rows with numpy."""
    if dose.formula == "calvert":
        female = _female(frame, source)
        age, weight, creatinine = (frame[k].to_numpy(dtype=float) for k in ("age", "weight", "creatinine"))
        mg_dl = creatinine / float(UMOL_PER_MG_DL) if _in_umol(values) else creatinine
        return [age, female, weight, creatinine, cockcroft_gault(age, weight, female, mg_dl)]
    if dose.bsa is not None:
        height, weight = frame["height"].to_numpy(dtype=float), frame["weight"].to_numpy(dtype=float)
        return [height, weight, bsa(dose.bsa.formula, height, weight)]
    assert dose.per is not None
    return [frame[dose.per].to_numpy(dtype=float)]


def _check_filled(dose: Dose, frame: pd.DataFrame, naming: tuple[str, str]) -> None:
    """Every value the dose is computed from is filled in (expansion checks this first, for every regimen)."""
    for value in values_needed(dose):
        blank = frame[value].isna().to_numpy()
        if blank.any():
            raise CohortError(
                f"patient {frame['patient_id'].iloc[int(np.flatnonzero(blank)[0])]!r} has no {value}, "
                f"which {naming[0]} needs",
                source=naming[1],
                where=f"column {value!r}",
                hint=f"fill in {value} for every patient who receives {naming[0]}",
            )


def _in_umol(values: Mapping[str, PatientValue]) -> bool:
    spec = values.get("creatinine")
    return spec is not None and spec.unit is not None and "mol" in spec.unit


def _female(frame: pd.DataFrame, source: str) -> np.ndarray:
    sex = frame["sex"].astype("string").str.strip().str.upper()
    bad = ~sex.isin(["F", "M"]).to_numpy(dtype=bool, na_value=False)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise CohortError(
            f"patient {frame['patient_id'].iloc[first]!r} has sex {frame['sex'].iloc[first]!r}; the Calvert "
            "formula (Cockcroft-Gault) needs F or M",
            source=source,
            where="column 'sex'",
            hint="write F or M in the sex column",
        )
    return (sex == "F").to_numpy(dtype=bool, na_value=False)


@dataclass(frozen=True)
class _Result:
    dose: Decimal
    basis: str
    computed: Decimal  # the dose before rounding (after cap)
    problem: str = ""


def _one(dose: Dose, row: np.ndarray, values: Mapping[str, PatientValue]) -> _Result:
    """One distinct set of inputs: the dose, exactly, and the sum that gave it."""
    unit = dose.absolute_unit
    amount = exact(float(row[0]))
    after = ""
    if dose.formula == "calvert":
        product, text, after = _calvert(dose, amount, row, values)
    elif dose.bsa is not None:
        product, text = _by_bsa(dose, amount, row)
    else:
        size = exact(float(row[1]))
        size_unit = lookup(dose.unit).per or ""
        product = amount * size
        text = f"{plain(amount)} {_shown(dose.unit)} × {plain(size)} {_shown(size_unit)} ({dose.per})"
    product = product.quantize(_PLACES, rounding=ROUND_HALF_UP)
    text += f" = {plain(product)} {unit}{after}"
    ceiling = None
    if dose.cap is not None:
        ceiling = convert(dose.cap.amount, dose.cap.unit, unit)
        assert ceiling is not None
        if product > ceiling:
            product = ceiling
            text += f", capped at {plain(ceiling)} {unit}"
    return _round(dose, product, ceiling, text)


def _by_bsa(dose: Dose, amount: Decimal, row: np.ndarray) -> tuple[Decimal, str]:
    assert dose.bsa is not None
    height, weight, raw = (float(v) for v in row[1:4])
    area = exact(raw).quantize(_TWO, rounding=ROUND_HALF_UP)
    inputs = f"{BSA_FORMULAS[dose.bsa.formula]}, {plain(exact(height))} cm, {plain(exact(weight))} kg"
    if dose.bsa.cap is not None and area > exact(dose.bsa.cap):
        cap = exact(dose.bsa.cap).quantize(_TWO)
        inputs += f": {area} m², capped at {cap} m²"
        area = cap
    return amount * area, f"{plain(amount)} {_shown(dose.unit)} × {area} m² ({inputs})"


def _calvert(dose: Dose, auc: Decimal, row: np.ndarray, values: Mapping[str, PatientValue]) -> tuple[Decimal, str, str]:
    """AUC x (GFR + 25), the sum, and its inputs (shown after the result)."""
    age, female, weight, creatinine, crcl = (float(v) for v in row[1:6])
    gfr = exact(crcl).quantize(_ONE, rounding=ROUND_HALF_UP)
    spec = values.get("creatinine")
    shown_unit = (spec.unit or "mg/dL").strip().replace("umol", "µmol").replace("μmol", "µmol") if spec else "mg/dL"
    inputs = (
        f"Calvert; Cockcroft-Gault: {plain(exact(age))} y, {'F' if female else 'M'}, {plain(exact(weight))} kg, "
        f"creatinine {plain(exact(creatinine))} {shown_unit}"
    )
    cap = exact(dose.gfr_cap if dose.gfr_cap is not None else DEFAULT_GFR_CAP)
    if gfr > cap:
        inputs += f": GFR {gfr} mL/min, capped at {plain(cap)} mL/min"
        gfr = cap
    return auc * (gfr + 25), f"AUC {plain(auc)} × (GFR {plain(gfr)} + 25)", f" ({inputs})"


def _round(dose: Dose, computed: Decimal, ceiling: Decimal | None, text: str) -> _Result:
    rule = _rounding(dose)
    if rule is None:
        return _Result(computed, text, computed)
    unit = dose.absolute_unit
    direction = rule.direction
    rounded, made = _rounded(rule, computed, direction, unit)
    if rounded is not None and ceiling is not None and rounded > ceiling:
        direction = "down"  # never above the cap
        rounded, made = _rounded(rule, computed, direction, unit)
    way = "" if direction == "nearest" else f"{direction} "
    if rounded is None:
        strengths = " and ".join(plain(s) for s in rule.tablets or ())
        problem = f"no dose of 1 to {MAX_TABLETS} tablets of {strengths} {unit} lies {_WAY[direction]} it"
        return _Result(computed, text, computed, problem)
    if made is not None:
        text += f", rounded {way}to {plain(rounded)} {unit}: {made}"
    else:
        step = "the nearest " if direction == "nearest" else ""
        text += f", rounded {way}to {plain(rounded)} {unit} (to {step}{plain(exact(rule.to))} {unit})"
    if rounded <= 0:
        return _Result(rounded, text, computed, f"it rounds to {plain(rounded)} {unit}")
    off = deviation(computed, rounded)
    if off > exact(rule.within):
        problem = (
            f"rounded to {plain(rounded)} {unit} it is {off:.1f}% away, more than within = {plain(rule.within)}% allows"
        )
        return _Result(rounded, text, computed, problem)
    return _Result(rounded, text, computed)


_WAY = {"nearest": "near", "down": "at or below", "up": "at or above"}


def _rounded(rule: _Rounding, value: Decimal, direction: str, unit: str) -> tuple[Decimal | None, str | None]:
    if rule.tablets is None:
        assert rule.to is not None
        return to_step(value, rule.to, direction), None
    found = to_tablets(value, rule.tablets, direction)
    if found is None:
        return None, None
    total, counts = found
    return total, tablet_text(rule.tablets, counts, unit)


def _refuse(
    frame: pd.DataFrame, rows: np.ndarray, results: list[_Result], dose: Dose, naming: tuple[str, str, bool]
) -> None:
    """The patients whose dose cannot be rounded as the protocol says (all at once, up to ten): named,
    with the computed and rounded dose and the sum (unless the run hides the dose: a blinded run where
    the dose differs by arm)."""
    name, source, hide = naming
    lines = []
    for row, result in zip(rows[:10].tolist(), results, strict=False):
        pid = frame["patient_id"].iloc[row]
        if hide:
            line = f"patient {pid!r}: the dose of {name} cannot be rounded as its round = {{ ... }} says"
            line += " (the amounts are hidden in a blinded run)"
        else:
            line = (
                f"patient {pid!r}: the computed dose of {name} is {plain(result.computed)} {dose.absolute_unit}; "
                f"{result.problem} ({result.basis})"
            )
        lines.append(line)
    if len(rows) > 10:
        lines.append(f"... and {len(rows) - 10} more")
    rule = _rounding(dose)
    now = exact(rule.within if rule is not None else 10.0)
    raise CohortError(
        "\n  ".join(lines),
        source=source,
        hint="check the patients' values; or round to a finer step, add a tablet strength, or allow more with "
        f'round.within (now {plain(now)}%; e.g. within = "{plain(now + 5)}%")',
    )


def _shown(unit: str) -> str:
    return unit.replace("m2", "m²")


# ---- what the protocol allows at most, and how validate describes a dose --------------------------


def largest_dose(dose: Dose, values: Mapping[str, PatientValue]) -> float | None:
    """The most one dose can be for any patient the declared ranges allow (None: no declared maximum):
    the largest size (or the GFR cap, for Calvert), then the dose's cap and rounding."""
    if dose.patient_value is not None:
        return _max(values, dose.patient_value)
    if not is_computed(dose):
        return dose.amount
    if dose.formula == "calvert":
        assert dose.auc is not None
        cap = exact(dose.gfr_cap if dose.gfr_cap is not None else DEFAULT_GFR_CAP)
        product = exact(dose.auc) * (cap + 25)
    elif dose.bsa is not None:
        height, weight = _max(values, "height"), _max(values, "weight")
        if height is None or weight is None or dose.amount is None:
            return None
        area = exact(float(bsa(dose.bsa.formula, height, weight))).quantize(_TWO, rounding=ROUND_HALF_UP)
        if dose.bsa.cap is not None:
            area = min(area, exact(dose.bsa.cap))
        product = exact(dose.amount) * area
    else:
        size = _max(values, str(dose.per))
        if size is None or dose.amount is None:
            return None
        product = exact(dose.amount) * exact(size)
    ceiling = None if dose.cap is None else convert(dose.cap.amount, dose.cap.unit, dose.absolute_unit)
    if ceiling is not None:
        product = min(product, ceiling)
    return float(_round(dose, product.quantize(_PLACES, rounding=ROUND_HALF_UP), ceiling, "").dose)


def _max(values: Mapping[str, PatientValue], name: str) -> float | None:
    spec = values.get(name)
    return None if spec is None else spec.max


def describe_dose(dose: Dose) -> str:
    """How ``dosing validate`` states a computed dose: "1000 mg/m2 (mg from BSA by Mosteller, BSA capped
    at 2.0 m2; rounded to 50 mg)"."""
    if dose.formula == "calvert":
        return f"AUC {plain(exact(dose.auc))} ({describe_computation(dose)})"
    return f"{plain(exact(dose.amount))} {dose.unit} ({describe_computation(dose)})"


def describe_computation(dose: Dose) -> str:
    """How a computed dose becomes the patient's, without its amount (a regimen with dose levels or
    steps has several): "mg from BSA by Mosteller, not capped; rounded to tablets of 150/500 mg within 10%"."""
    unit = dose.absolute_unit
    if dose.formula == "calvert":
        cap = plain(exact(dose.gfr_cap if dose.gfr_cap is not None else DEFAULT_GFR_CAP))
        head = f"mg by Calvert, GFR by Cockcroft-Gault capped at {cap} mL/min"
    elif dose.bsa is not None:
        capped = f" capped at {plain(exact(dose.bsa.cap))} m2" if dose.bsa.cap is not None else " not capped"
        head = f"{unit} from BSA by {BSA_FORMULAS[dose.bsa.formula]},{capped}"
    else:
        head = f"{unit} from {dose.per}"
    parts = [head]
    if dose.cap is not None:
        parts.append(f"dose capped at {plain(exact(dose.cap.amount))} {dose.cap.unit}")
    rule = _rounding(dose)
    if rule is not None:
        how = "" if rule.direction == "nearest" else f"{rule.direction} "
        to = (
            f"{plain(exact(rule.to))} {unit}"
            if rule.to is not None
            else "tablets of " + "/".join(plain(exact(s)) for s in rule.tablets or ()) + f" {unit}"
        )
        parts.append(f"rounded {how}to {to} within {plain(exact(rule.within))}%")
    return "; ".join(parts)


__all__ = [
    "BSA_FORMULAS",
    "DEFAULT_GFR_CAP",
    "absolute_doses",
    "bsa",
    "cockcroft_gault",
    "describe_computation",
    "describe_dose",
    "is_computed",
    "largest_dose",
    "values_needed",
]
