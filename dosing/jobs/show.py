"""``dosing show``: one patient's schedule as a readable text table, grouped by week."""

from __future__ import annotations

import dataclasses
from typing import cast

import pandas as pd

from ..plan.apply_changes import apply_changes
from ..plan.blinding import blind, unblind
from ..plan.changes import Changes
from ..plan.cohort import Cohort
from ..plan.durations import add_end_columns
from ..plan.expand import expand
from ..plan.prn_doses import prn_amount
from ..protocol.model import Protocol
from ..protocol.prn import describe_as_needed
from ..protocol.safety import check_schedule
from ..protocol.units import format_dose


def show(
    protocol: Protocol, cohort: Cohort, patient_id: str, *, unblinded: bool = False, changes: Changes | None = None
) -> str:
    """The patient's doses by study week: one line per day and time, drugs side by side; with
    ``changes`` applied (a held dose is marked, withdrawn and stopped doses are gone)."""
    patient = cohort.patient(patient_id)
    single = Cohort(cohort.patients[cohort.patients["patient_id"] == patient_id].reset_index(drop=True), cohort.source)
    doses = expand(protocol, single)
    if changes is not None:
        mine = changes.rows[changes.rows["patient_id"] == patient_id]
        doses = apply_changes(doses, dataclasses.replace(changes, rows=mine))
    check_schedule(doses, protocol)
    table = add_end_columns(unblind(doses) if unblinded else blind(doses, protocol))
    mode = f"UNBLINDED, arm {patient['arm']}" if unblinded else "blinded" if protocol.study.blinded else "open label"
    head = [
        f"{protocol.study.id}  patient {patient_id}  ({mode})",
        f"study day 1 = {pd.Timestamp(patient['start_date']).date()}, times in {patient['timezone']}",
        *_as_needed(protocol, patient, unblinded),
        "",
    ]
    if table.empty:
        return "\n".join([*head, "no doses planned", ""])
    table = table.assign(week=(table["study_day"] - 1) // 7 + 1, what=_what(table))
    lines = head
    for key, rows in table.groupby("week", sort=True):
        week = cast(int, key)
        lines.append(f"Week {week} (study days {7 * (week - 1) + 1}-{7 * week})")
        for (date, weekday, day, time), slot in rows.groupby(
            ["date", "weekday", "study_day", "time"], observed=True, sort=True
        ):
            lines.append(f"  {date} {str(weekday)[:3]}  day {day:>3}  {time}  {'; '.join(slot['what'])}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _as_needed(protocol: Protocol, patient: pd.Series, unblinded: bool) -> list[str]:
    """The arm's as-needed (PRN) regimens, which have no planned doses: "as needed: Loxoprofen 60 mg, at
    most 3 in 24 hours, at least 4 h apart (study days 1-28)" (named as blinded users see them); a dose
    computed per patient is the patient's, with its basis where the outputs show bases: "Paracetamol
    270 mg (15 mg/kg × 18 kg (weight) = 270 mg), ..."."""
    lines = []
    arm = str(patient["arm"])
    for regimen in protocol.regimens:
        if regimen.as_needed is None or regimen.id not in protocol.arm(arm).regimens:
            continue
        hides = protocol.study.blinded and not unblinded
        name = regimen.blinded_label if hides and regimen.blinded_label else regimen.drug
        dose = regimen.dose
        amount = "" if dose.amount is None or dose.per is not None else format_dose(dose.amount, dose.unit)
        own = prn_amount(protocol, regimen, patient)
        if own is not None:
            amount = format_dose(own[0], dose.absolute_unit)
            amount += f" ({own[1]})" if own[1] and (unblinded or not protocol.study.blinded) else ""
        shown = regimen.blinded_dose if hides and regimen.blinded_dose else amount
        limits = describe_as_needed(regimen).removeprefix("as needed, ")
        last = regimen.schedule.end_day or protocol.study.last_day
        what = f"{name} {shown}".rstrip()
        lines.append(f"as needed: {what}, {limits} (study days {regimen.schedule.start_day}-{last})")
    return lines


def _what(table: pd.DataFrame) -> pd.Series:
    """ "Loxoprofen 60 mg"; methotrexate names its weekday in full: "Methotrexate 15 mg (once weekly, Wednesday)";
    an infusion its end: "Oxaliplatin 153 mg until 11:00", "Fluorouracil 4,320 mg until 2027-01-06 09:00"."""
    dose = pd.Series(
        [format_dose(amount, unit) for amount, unit in zip(table["dose"], table["unit"], strict=True)],
        index=table.index,
    )
    what = (table["drug"].astype(str) + " " + dose).str.rstrip()
    ends = table["end_time"].astype(str) != ""  # an infusion: "... until 11:00", "... until 2027-01-06 09:00"
    day = table["end_date"].astype(str).where(table["end_date"].astype(str) != table["date"].astype(str), "")
    until = " until " + (day + " ").str.lstrip() + table["end_time"].astype(str)
    what = what.where(~ends, what + until)
    weekly = table["once_weekly"].astype(bool)
    what = what.where(~weekly, what + " (once weekly, " + table["weekday"].astype(str) + ")")
    return what.where(~table["held"].astype(bool), what + " [HELD: do not give]")
