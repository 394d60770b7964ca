"""What a protocol may say about dose formulas: the names of the formulas (with "did you mean"), which
keys go together in a dose, and the patient values each formula reads, declared with their types and units.
The computing is :mod:`dosing.protocol.formulas`. Pure: no I/O."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from ..errors import ProtocolError, ValueParseError
from .units import convert, lookup

if TYPE_CHECKING:
    from .model import Dose, Protocol, Regimen

#: BSA formulas by name, and the name shown in dose_basis.
BSA_FORMULAS = {"mosteller": "Mosteller", "dubois": "DuBois", "haycock": "Haycock"}
DOSE_FORMULAS = ("calvert",)
GFR_FORMULAS = ("cockcroft-gault",)
#: Patient values the formulas read: type, accepted units (the first is the one to write).
INPUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "height": ("number", ("cm",)),
    "weight": ("number", ("kg",)),
    "age": ("number", ("years",)),
    "sex": ("text", ()),
    "creatinine": ("number", ("mg/dL", "umol/L", "µmol/L", "μmol/L")),
}


def _name(value: object, known: tuple[str, ...], what: str, elsewhere: str = "") -> str:
    if not isinstance(value, str):
        raise ValueParseError(f"expected the name of a {what} ({', '.join(known)}), got {value!r}")
    name = value.strip().lower()
    if name in known:
        return name
    guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {guess[0]!r}?" if guess else ""
    raise ValueParseError(f"unknown {what} {value!r}{hint} (known: {', '.join(known)}){elsewhere}")


def bsa_formula_name(value: object) -> str:
    return _name(value, tuple(BSA_FORMULAS), "BSA formula")


def dose_formula_name(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() in BSA_FORMULAS:
        raise ValueParseError(
            f'{value!r} is a BSA formula: write per = "bsa", bsa = {{ formula = "{value.strip().lower()}" }}'
        )
    return _name(value, DOSE_FORMULAS, "dose formula")


def gfr_formula_name(value: object) -> str:
    return _name(value, GFR_FORMULAS, "GFR formula")


# ---- the shape of a dose --------------------------------------------------------------------


def is_computed(dose: Dose) -> bool:
    """A dose computed per patient (per a size, or by a formula), as opposed to fixed or the patient's own."""
    return dose.per is not None or dose.formula is not None


def dose_shape_problem(dose: Dose) -> str | None:
    """What is wrong with the combination of a dose's formula keys, or None."""
    calvert = dose.formula == "calvert"
    if not calvert:
        for key in ("auc", "gfr", "gfr_cap"):
            if getattr(dose, key) is not None:
                return f'{key} applies only to formula = "calvert" (carboplatin by target AUC)'
    else:
        taken = [k for k in ("amount", "per", "patient_value", "bsa") if getattr(dose, k) is not None]
        if taken:
            return f'formula = "calvert" computes the dose from auc: leave out {", ".join(taken)}'
        if lookup(dose.unit).symbol != "mg":
            return f'the Calvert formula gives the dose in mg: write unit = "mg", not {dose.unit!r}'
    if dose.bsa is not None and (dose.per != "bsa" or lookup(dose.unit).per != "m2"):
        return 'bsa = { ... } computes the body-surface area: use it with per = "bsa" and a unit per m2 (e.g. "mg/m2")'
    if not is_computed(dose):
        for key, shown in (("cap", "cap"), ("round_", "round"), ("round_to", "round_to")):
            if getattr(dose, key) is not None:
                return f"{shown} applies only to a computed dose (amount with per, or a formula)"
    if dose.round_ is not None and dose.round_to is not None:
        return "give round_to or round, not both (round_to = 150 is round = { to = 150 })"
    if dose.cap is not None and convert(1, dose.cap.unit, dose.absolute_unit) is None:
        return f"cap is in {dose.cap.unit!r}, which cannot be compared with the dose's {dose.absolute_unit!r}"
    return None


def values_needed(dose: Dose) -> list[str]:
    """The patient values a dose is computed from (each must be filled in for a patient who receives it)."""
    if dose.patient_value is not None:
        return [dose.patient_value]
    if dose.formula == "calvert":
        return ["age", "sex", "weight", "creatinine"]
    if dose.bsa is not None:
        return ["height", "weight"]
    return [dose.per] if dose.per is not None else []


def check_formula_values(protocol: Protocol, regimen: Regimen, where: str) -> None:
    """Every patient value a formula reads is declared, with its type and unit (a unit typo is an error);
    a declared ``bsa`` beside ``bsa = { ... }`` is refused (which one would the dose use?)."""
    dose = regimen.dose
    if dose.per == "bsa" and dose.bsa is None and "bsa" not in protocol.patient_values:
        _fail(
            protocol,
            f"{where}.dose.per",
            "the dose is per bsa, but there is neither a patient value bsa nor a BSA formula",
            'compute it from height and weight: bsa = { formula = "mosteller" } (say cap = 2.0 if the protocol '
            'caps it), or declare bsa = { type = "number", unit = "m2" } under [patient_values]',
        )
    if dose.formula is None and dose.bsa is None:
        return
    declared = protocol.patient_values
    what = "the Calvert formula" if dose.formula == "calvert" else f"the {BSA_FORMULAS[dose.bsa.formula]} BSA formula"  # type: ignore[union-attr]
    if dose.bsa is not None and "bsa" in declared:
        _fail(
            protocol,
            f"{where}.dose.bsa",
            "the body-surface area is both a patient value (patient_values.bsa) and computed (bsa = { ... })",
            "remove patient_values.bsa (and the cohort's bsa column), or remove bsa = { ... } from the dose",
        )
    for name in values_needed(dose):
        kind, units = INPUTS[name]
        example = f'{name} = {{ type = "{kind}"' + (f', unit = "{units[0]}"' if units else "") + " }"
        spec = declared.get(name)
        if spec is None:
            _fail(
                protocol,
                f"{where}.dose",
                f"{what} needs patient value {name!r}, which [patient_values] does not declare",
                f"declare it under [patient_values]: {example}" + (' (or unit = "umol/L")' if len(units) > 1 else ""),
            )
        elif spec.type != kind:
            _fail(protocol, f"patient_values.{name}", f"{what} needs {name!r} of type {kind!r}, not {spec.type!r}")
        elif units and (spec.unit is None or spec.unit.strip() not in units):
            given = "no unit" if spec.unit is None else f"unit {spec.unit!r}"
            guess = difflib.get_close_matches((spec.unit or "").strip(), units, n=1, cutoff=0.5)
            _fail(
                protocol,
                f"patient_values.{name}.unit",
                f"{what} needs {name} in {' or '.join(dict.fromkeys(u.replace('µ', 'u') for u in units))}; "
                f"it has {given}" + (f" (did you mean {guess[0]!r}?)" if guess else ""),
                f"write {example}",
            )
        elif name == "creatinine":
            _check_creatinine_range(protocol, spec.min, spec.max, spec.unit)


def _check_creatinine_range(protocol: Protocol, low: float | None, high: float | None, unit: str | None) -> None:
    """A declared min/max beyond what a creatinine can be in its unit is most likely the other unit's range
    (min = 0.1 with unit = "umol/L"): refused here, before any cohort is read."""
    shown = "µmol/L" if unit is not None and "mol" in unit else "mg/dL"
    plausible = CREATININE_RANGE[shown]
    for key, bound in (("min", low), ("max", high)):
        if bound is not None and not plausible[0] <= bound <= plausible[1]:
            _fail(
                protocol,
                f"patient_values.creatinine.{key}",
                f"{key} = {bound:g} is not a plausible creatinine in {shown} (a creatinine in {shown} lies between "
                f"{plausible[0]:g} and {plausible[1]:g}); is the range, or the unit, the other unit's?",
                f"give min and max in {shown} within {plausible[0]:g}-{plausible[1]:g}, or leave them out "
                "(every value is checked against that range anyway)",
            )


def _fail(protocol: Protocol, where: str, message: str, hint: str | None = None) -> None:
    raise ProtocolError(message, source=protocol.source, where=where, hint=hint)


# ---- plausible creatinine -------------------------------------------------------------------

#: The plausible serum creatinine of an adult or a child, per unit: 0.1-20 mg/dL, 9-1800 µmol/L
#: (1 mg/dL = 88.4 µmol/L). A value outside is almost always the other unit (0.9 mg/dL in a µmol/L
#: column gives a GFR of thousands of mL/min, hidden by gfr_cap at the maximum dose), never a patient.
CREATININE_RANGE = {"mg/dL": (0.1, 20.0), "µmol/L": (9.0, 1800.0)}
_UMOL_PER_MG_DL = 88.4


def creatinine_problem(value: float, unit: str | None) -> str | None:
    """Why ``value`` (a creatinine in ``unit``) cannot be a patient's, naming the likely mix-up; None
    when it is plausible or the unit is not one of creatinine's."""
    if unit is None or unit.strip() not in INPUTS["creatinine"][1]:
        return None
    shown, other = ("µmol/L", "mg/dL") if "mol" in unit else ("mg/dL", "µmol/L")
    low, high = CREATININE_RANGE[shown]
    if low <= value <= high:
        return None
    as_other = value * _UMOL_PER_MG_DL if shown == "µmol/L" else value / _UMOL_PER_MG_DL
    other_low, other_high = CREATININE_RANGE[other]
    mix_up = (
        f"; did you give {other} in a {shown} column? ({value:g} {other} = {as_other:.3g} {shown})"
        if other_low <= value <= other_high
        else ""
    )
    return (
        f"creatinine {value:g} {shown} is not plausible: a creatinine in {shown} lies between {low:g} and "
        f"{high:g}, and a GFR or Calvert dose from it would be wrong{mix_up}"
    )
