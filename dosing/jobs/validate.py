"""``dosing validate``: load and check a protocol (and optionally a cohort); summarise it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ..io.read.files import load_cohort, load_protocol
from ..plan.cohort import Cohort
from ..plan.expand import expand
from ..plan.visits import plan_visits
from ..plan.warnings import PlanWarning, WarningsRefused, plan_warnings
from ..protocol.daily_limits import describe_limit
from ..protocol.dose_steps import describe_amounts
from ..protocol.durations import duration_text
from ..protocol.formulas import describe_computation, describe_dose
from ..protocol.model import Protocol, Regimen
from ..protocol.prn import describe_as_needed
from ..protocol.safety import check_schedule, is_methotrexate
from ..protocol.units import format_dose


@dataclass
class Validation:
    protocol: Protocol
    cohort: Cohort | None
    doses: int | None
    warnings: list[PlanWarning] = field(default_factory=list)

    def summary(self) -> str:
        study = self.protocol.study
        lines = [
            f"OK  {self.protocol.source}",
            f"  study {study.id}: {study.title}",
            f"  blinding {study.blinding}; time zone {study.timezone}; study days 1..{study.last_day}",
            f"  arms: {', '.join(f'{a.id} ({a.label})' for a in self.protocol.arms)}",
            "  regimens:",
        ]
        if study.allow_fixed_offset_zones:
            lines.insert(
                3, f"  zones that are not a place (UTC, Etc/GMT-8, EST) ALLOWED: {study.fixed_offset_zones_reason}"
            )
        for regimen in self.protocol.regimens:
            limit = describe_limit(self.protocol, regimen)
            lines.append(f"    {regimen.id}: {describe_regimen(regimen)}" + (f"; {limit}" if limit else ""))
        if self.cohort is not None:
            patients = f"{len(self.cohort)} patient{'' if len(self.cohort) == 1 else 's'}"
            lines.append(f"OK  {self.cohort.source}: {patients}, {self.doses:,} planned doses")
            lines.append(f"  warnings: {len(self.warnings)}" + (" (printed above)" if self.warnings else ""))
        return "\n".join(lines)


def describe_regimen(regimen: Regimen) -> str:
    dose = regimen.dose
    varying = describe_amounts(regimen)  # steps, titrate, levels
    if varying is not None:
        computed = dose.formula or dose.bsa or dose.cap or dose.round_
        how = describe_computation(dose) if computed else f"{dose.absolute_unit} from {dose.per}" if dose.per else ""
        amount = varying + (f" ({how})" if how else "")
    elif dose.patient_value:
        amount = f"patient's own {dose.patient_value} {dose.unit}"
    elif dose.formula or dose.bsa or dose.cap or dose.round_:
        amount = describe_dose(dose)
    elif dose.per:
        rounding = f", rounded to {format_dose(dose.round_to, dose.absolute_unit)}" if dose.round_to else ""
        amount = f"{format_dose(dose.amount, dose.unit)} ({dose.absolute_unit} from {dose.per}{rounding})"
    else:
        amount = format_dose(dose.amount, dose.unit)
    s = regimen.schedule
    if s.relative_to is not None:
        times = f"{_signed(s.relative_offset)} each dose of {s.relative_to}"
    elif regimen.times:
        times = ", ".join(t.strftime("%H:%M") for t in regimen.times)
    else:
        times = f"the patient's own {regimen.times_from}"
    if regimen.hourly:
        times = f"{times}, then every {s.every_hours or 'N'} hours ({s.clock or 'elapsed'} clock)"
    text = f"{regimen.drug} {amount} {regimen.route} at {times}"
    if regimen.as_needed is not None:
        text = f"{regimen.drug} {amount} {regimen.route}, {describe_as_needed(regimen)} (no planned doses)"
    if regimen.duration is not None:
        text += f" over {duration_text(int(regimen.duration.total_seconds()) // 60)}"
    if is_methotrexate(regimen.drug):
        text += " [methotrexate: once weekly checked]"
    return text


def _signed(offset: dt.timedelta) -> str:
    """ "30 min before" / "24 h after" for an offset of relative timing."""
    minutes = abs(int(offset.total_seconds())) // 60
    size = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
    return f"{size} {'before' if offset < dt.timedelta(0) else 'after'}"


def validate(
    protocol_path: str | Path,
    cohort_path: str | Path | None = None,
    *,
    today: dt.date | None = None,
    strict: bool = False,
    out_dir: str | Path | None = None,
) -> Validation:
    """Load and check everything ``generate`` would, without writing anything.

    With a cohort, the plan's warnings (see :mod:`dosing.plan.warnings`; ``today`` defaults to
    the date in the study's time zone; patients already in ``out_dir``'s outputs, as ``generate``
    would find them, are not warned about a past first day) are in ``.warnings``; ``strict`` raises
    :class:`~dosing.plan.warnings.WarningsRefused` instead when there are any."""
    protocol = load_protocol(protocol_path)
    if cohort_path is None:
        return Validation(protocol, None, None)
    cohort = load_cohort(cohort_path, protocol)
    doses = expand(protocol, cohort)
    check_schedule(doses, protocol)
    from .generate import published_patients

    published = published_patients(Path(out_dir), protocol) if out_dir is not None else set()
    warnings = plan_warnings(
        protocol, cohort, doses, plan_visits(protocol, cohort, doses=doses), today=today, published=published
    )
    if strict and warnings:
        raise WarningsRefused(warnings)
    return Validation(protocol, cohort, len(doses), warnings)
