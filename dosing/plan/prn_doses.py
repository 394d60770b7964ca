"""The amount of one dose of an as-needed (PRN) regimen for one patient. Pure.

A PRN regimen has no planned doses, but its dose may be computed per patient (``15 mg/kg`` per
weight, capped) or be the patient's own (``patient_value``): outputs that name the medicine (``show``,
the diary) state the patient's amount, computed exactly as a planned dose's
(:func:`dosing.protocol.formulas.absolute_doses`), with its ``dose_basis`` for unblinded outputs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..protocol.formulas import absolute_doses, is_computed
from ..protocol.model import Protocol, Regimen


def prn_amount(protocol: Protocol, regimen: Regimen, patient: Any) -> tuple[float, str] | None:
    """``(amount in the dose's absolute unit, basis text)`` of one dose for ``patient`` (a cohort row:
    a Series or a namedtuple); None for a fixed dose (its amount is ``dose.amount``) and for a dose
    without one amount (steps)."""
    dose = regimen.dose
    if dose.patient_value is None and (not is_computed(dose) or (dose.amount is None and dose.auc is None)):
        return None
    row = patient._asdict() if hasattr(patient, "_asdict") else dict(patient)
    doses, basis = absolute_doses(
        dose,
        pd.DataFrame([row]),
        values=protocol.patient_values,
        name=repr(regimen.blinded_label if protocol.study.blinded and regimen.blinded_label else regimen.id),
        hide=protocol.study.blinded and regimen.blinded_dose is not None,
    )
    return float(doses[0]), str(basis[0])
