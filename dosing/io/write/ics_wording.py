"""What calendar events say: the staff wording (the dose table's own words, for clinic calendars) or
the patient's wording, in the patient's language (issue 12).

A patient reads an in-clinic dose as "Injection at the clinic, 09:00" with the site's address as
``LOCATION``, a home dose as "Take Loxoprofen 60 mg"; a once-weekly drug's warning names the
weekday once (the protocol's own weekly instruction is not repeated beside it). Every patient-facing
text goes through the ``calendar`` gettext domain (:mod:`dosing.io.write.i18n`); drug, blinded label,
instruction and visit names in the patient's language come from the protocol. Blinded calendars
show only the blinded label (the dose table's ``drug`` column), translated through the protocol's
``blinded_names``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...protocol.durations import duration_text
from ...protocol.model import Protocol
from ...protocol.safety import is_methotrexate
from ...protocol.units import format_dose, format_dose_written
from .i18n import Translate, translator

#: Routes a patient reads as an injection.
INJECTED = frozenset({"subcutaneous", "intramuscular", "intravenous", "intradermal", "injection"})
ORAL = frozenset({"oral", "by mouth", "sublingual"})
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The note :func:`dosing.plan.clinic_days.closed_note` adds to the instructions of a dose on a closed day.
_CLOSED = re.compile(r"^(?:at home|moved from \w{3} (\d{4}-\d{2}-\d{2})): clinic closed \((.+)\)$")
#: The per-dose line of a description, with and without a cycle (``str.format`` fields of the dose table).
#: ``dose_number`` counts per regimen: a bolus and a pump of one drug are two regimens, numbered apart.
PER_DOSE = (
    "Study day {study_day}, cycle {cycle} day {cycle_day}, dose {dose_number} of this regimen",
    "Study day {study_day}, dose {dose_number} of this regimen",
)


def _once_weekly(row: Any) -> bool:
    """The dose table says so (``once_weekly``: methotrexate and its blinded placebo); a table
    without that column falls back on the drug's name."""
    flag = row.get("once_weekly")
    return bool(flag) if flag is not None else is_methotrexate(str(row["drug"]))


def _lasts(row: Any) -> int:
    """The dose's duration in minutes (an infusion; 0: none, or a table without the column)."""
    minutes = row.get("duration_minutes")
    return 0 if minutes is None or pd.isna(minutes) else int(minutes)


def dose_summary(row: Any) -> str:
    """Short text for a phone: "Loxoprofen 60 mg", "Methotrexate 20 mg (weekly, Sunday)",
    "Fluorouracil 4,320 mg over 46 hours"."""
    amount = format_dose(row["dose"], row["unit"])
    text = f"{row['drug']} {amount}".strip()
    if _lasts(row):
        text += f" over {duration_text(_lasts(row))}"
    if _once_weekly(row):
        text += f" (weekly, {row['weekday']})"
    return text


def dose_description(row: Any, *, per_dose: bool = True) -> str:
    """What to take, how, and (for methotrexate) the named weekday written in full."""
    amount = format_dose(row["dose"], row["unit"])
    lines = [f"Take: {row['drug']}, {amount}", f"Route: {row['route']}"]
    if _lasts(row):
        lines.append(f"Duration: {duration_text(_lasts(row))} (the event ends when the dose does)")
    if row["instructions"]:
        lines.append(f"Instructions: {row['instructions']}")
    if _once_weekly(row):
        lines.append(f"Once weekly, on {row['weekday']}. Never take it daily.")
    if per_dose:
        where = f"Study day {row['study_day']}"
        if not pd.isna(row["cycle"]):
            where += f", cycle {row['cycle']} day {row['cycle_day']}"
        lines.append(where + f", dose {row['dose_number']} of this regimen")
    return "\n".join(lines)


@dataclass(frozen=True)
class Wording:
    """How dose events read. ``summary`` and ``description`` (the general lines) take one dose row and
    depend only on the ``keys`` columns; ``per_dose`` are the templates of the per-dose line (with
    and without a cycle); ``location`` is the LOCATION ("" for none); ``reminder`` the alarm's text."""

    keys: tuple[str, ...]
    summary: Callable[[Mapping[str, Any]], str]
    description: Callable[[Mapping[str, Any]], str]
    per_dose: tuple[str, str] = PER_DOSE
    location: str = ""
    reminder: str = "Reminder: {text}"


STAFF = Wording(
    keys=("drug", "dose", "unit", "route", "instructions", "once_weekly", "weekday", "duration_minutes"),
    summary=dose_summary,
    description=lambda row: dose_description(row, per_dose=False),
)


@dataclass(frozen=True)
class VisitWording:
    """How visit events read: ``translate`` (gettext), visit names by visit id, the LOCATION."""

    translate: Translate = str
    names: Mapping[str, str] = field(default_factory=dict)
    location: str = ""

    def summary(self, row: Mapping[Any, Any]) -> str:
        name = self.names.get(str(row.get("visit", "")), str(row["name"]))
        return self.translate("Clinic visit: {name}").format(name=name)

    def description(self, row: Mapping[Any, Any]) -> str:
        _ = self.translate
        window = _("Window: {start} to {end} (target {target})")
        lines = [window.format(start=row["window_start"], end=row["window_end"], target=row["target_date"])]
        if row["procedures"]:
            lines.append(_("Procedures:"))
            lines += [f"- {item}" for item in str(row["procedures"]).split("; ")]
        lines.append(_("Study day {day}").format(day=row["study_day"]))
        if row["moved_reason"]:
            lines.append(_("Moved: {reason}").format(reason=row["moved_reason"]))
        if row["warning"]:
            lines.append(_("WARNING: {warning}; please call the clinic").format(warning=row["warning"]))
        return "\n".join(lines)


STAFF_VISITS = VisitWording()


@dataclass(frozen=True)
class PatientText:
    """Everything one patient's calendar says in the patient's language: its name, dose and visit
    wording (see :func:`patient_text`)."""

    name: str
    doses: Wording
    visits: VisitWording


def patient_text(protocol: Protocol, patient_id: str, language: str, site: str, blinded: bool) -> PatientText:
    """The words of ``patient_id``'s calendar: the protocol's calendar name (else "<study> <patient>"),
    the site's address as the LOCATION of in-clinic doses and visits."""
    _ = translator(language, "calendar")
    address = (protocol.clinic.address_of(site) if protocol.clinic is not None else None) or ""
    drugs: dict[str, str] = {}
    for regimen in protocol.regimens:
        shown = (regimen.blinded_label or regimen.drug) if blinded else regimen.drug
        drugs.setdefault(shown, regimen.label_in(language) if blinded else regimen.drug_in(language))
    instructions = {r.instructions: r.instructions_in(language) for r in protocol.regimens if r.instructions}
    words = _PatientDoses(_, drugs, instructions, address)
    doses = Wording(
        keys=(*STAFF.keys, "in_clinic", "time"),
        summary=words.summary,
        description=words.description,
        per_dose=(_(PER_DOSE[0]), _(PER_DOSE[1])),
        location=address,
        reminder=_("Reminder: {text}"),
    )
    visits = VisitWording(_, {v.id: v.name_in(language) for v in protocol.visits}, address)
    name = protocol.calendar.name_in(language) or f"{protocol.study.id} {patient_id}"
    return PatientText(name, doses, visits)


@dataclass(frozen=True)
class _PatientDoses:
    translate: Translate
    drugs: Mapping[str, str]
    instructions: Mapping[str, str]
    address: str

    def _drug(self, row: Mapping[str, Any]) -> str:
        return self.drugs.get(str(row["drug"]), str(row["drug"]))

    def _weekday(self, row: Mapping[str, Any]) -> str:
        return self.translate(str(row["weekday"]))

    def _instructions(self, text: str) -> str:
        """The protocol's instructions in the patient's language, and the note a closed clinic
        added to them ("; at home: clinic closed (Sunday)", see :mod:`dosing.plan.clinic_days`)."""
        base, _, note = text.rpartition("; ")
        found = _CLOSED.match(note)
        if not base or found is None:
            return self.instructions.get(text, text)
        moved, why = found.group(1), self.translate(found.group(2))
        if moved is None:
            extra = self.translate("at home: the clinic is closed ({why})").format(why=why)
        else:
            extra = self.translate("moved from {date}: the clinic is closed ({why})").format(date=moved, why=why)
        return f"{self.instructions.get(base, base)}{self.translate('; ')}{extra}"  # Chinese: "；"

    def summary(self, row: Mapping[str, Any]) -> str:
        """ "Injection at the clinic, 09:00", "Injection at home, 09:00", "Infusion at the clinic, 11:00" (a
        dose with a duration), "Take Loxoprofen 60 mg",
        "Take Methotrexate 20 mg (weekly, Sunday)"."""
        _ = self.translate
        route = str(row["route"]).lower()
        place = _("at the clinic") if bool(row.get("in_clinic")) else _("at home")
        if route in INJECTED:
            kind = _("Infusion {place}, {time}") if _lasts(row) else _("Injection {place}, {time}")
            return kind.format(place=place, time=row["time"])
        if bool(row.get("in_clinic")):
            return _("{drug} {place}, {time}").format(drug=self._drug(row), place=place, time=row["time"])
        template = _("Take {drug} {dose}") if route in ORAL else _("Use {drug} {dose}")
        text = template.format(drug=self._drug(row), dose=format_dose_written(row["dose"], row["unit"])).strip()
        if _once_weekly(row):
            text = _("{text} (weekly, {weekday})").format(text=text, weekday=self._weekday(row))
        return text

    def description(self, row: Mapping[str, Any]) -> str:
        """What, how and where; the weekly warning once, naming the day."""
        _ = self.translate
        amount = format_dose_written(row["dose"], row["unit"])  # as the nurses' sheet writes it: "1 × 10⁶ IU"
        lines = [_("{drug}, {dose}, {route}").format(drug=self._drug(row), dose=amount, route=_(str(row["route"])))]
        weekly = _once_weekly(row)
        instructions = str(row["instructions"] or "")
        if instructions and not (weekly and "week" in instructions.lower()):  # the warning below says it
            lines.append(self._instructions(instructions))
        if weekly:
            lines.append(_("Once weekly, on {weekday}. Never take it daily.").format(weekday=self._weekday(row)))
        if bool(row.get("in_clinic")) and self.address:
            lines.append(_("At the clinic: {address}").format(address=self.address))
        return "\n".join(lines)
