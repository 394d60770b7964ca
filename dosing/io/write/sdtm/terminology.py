"""One controlled-terminology table: protocol routes, dose forms, units and schedules -> CDISC terms.

Terms are the submission values of the CDISC SDTM codelists ROUTE (C66729), FRM (C66726), UNIT
(C71620) and FREQ (C71113). A protocol value this table cannot map is a
:class:`~dosing.errors.ProtocolError` naming the protocol field: the export never writes a free-text
guess. Pure.
"""

from __future__ import annotations

from ....errors import ProtocolError
from ....protocol.model import Protocol, Regimen, Schedule

#: Protocol route (lower case, as written) -> ROUTE term.
ROUTES = {
    "subcutaneous": "SUBCUTANEOUS",
    "s.c.": "SUBCUTANEOUS",
    "sc": "SUBCUTANEOUS",
    "oral": "ORAL",
    "po": "ORAL",
    "p.o.": "ORAL",
    "intravenous": "INTRAVENOUS",
    "iv": "INTRAVENOUS",
    "i.v.": "INTRAVENOUS",
    "intramuscular": "INTRAMUSCULAR",
    "im": "INTRAMUSCULAR",
    "i.m.": "INTRAMUSCULAR",
    "intradermal": "INTRADERMAL",
    "topical": "TOPICAL",
    "transdermal": "TRANSDERMAL",
    "sublingual": "SUBLINGUAL",
    "rectal": "RECTAL",
    "nasal": "NASAL",
    "ophthalmic": "OPHTHALMIC",
    "inhalation": "RESPIRATORY (INHALATION)",
}
#: Protocol dose form (lower case) -> FRM term.
DOSE_FORMS = {
    "injection": "INJECTION",
    "solution for injection": "INJECTION, SOLUTION",
    "injection, solution": "INJECTION, SOLUTION",
    "powder for injection": "INJECTION, POWDER, FOR SOLUTION",
    "tablet": "TABLET",
    "film-coated tablet": "TABLET, FILM COATED",
    "tablet, film coated": "TABLET, FILM COATED",
    "capsule": "CAPSULE",
    "solution": "SOLUTION",
    "oral solution": "SOLUTION",
    "suspension": "SUSPENSION",
    "cream": "CREAM",
    "patch": "PATCH",
}
#: Dose-table unit symbol (dosing/protocol/units.py) -> UNIT term.
UNITS = {
    "g": "g",
    "mg": "mg",
    "µg": "ug",
    "ng": "ng",
    "IU": "IU",
    "L": "L",
    "mL": "mL",
    "mmol": "mmol",
    "mg/m2": "mg/m2",
    "mg/kg": "mg/kg",
    "tablet": "TABLET",
    "capsule": "CAPSULE",
}
#: Doses per day -> FREQ term of a daily schedule.
PER_DAY = {1: "QD", 2: "BID", 3: "TID", 4: "QID"}
#: Days between doses (one dose a day) -> FREQ term.
EVERY_N_DAYS = {1: "QD", 2: "QOD", 7: "QW", 14: "Q2W", 21: "Q3W", 28: "Q4W"}
#: Hours between doses (an interval in hours) -> FREQ term (CDISC codelist FREQ, C71113).
EVERY_N_HOURS = {4: "Q4H", 6: "Q6H", 8: "Q8H", 12: "Q12H", 24: "Q24H"}
#: Named weekdays per week (one dose a day) -> FREQ term.
PER_WEEK = {1: "QW", 2: "BIW", 3: "TIW"}
FREQUENCY_HINT = "SDTM has terms for QD, BID, TID, QID, QOD, QW, BIW, TIW, Q2W, Q3W and Q4W schedules only"


def _field(protocol: Protocol, regimen: Regimen, name: str) -> str:
    return f"regimens[{[r.id for r in protocol.regimens].index(regimen.id)}].{name}"


def _unmappable(protocol: Protocol, where: str, value: str, hint: str) -> ProtocolError:
    return ProtocolError(
        f"{value!r} has no CDISC controlled term in the SDTM export's terminology table",
        source=protocol.source,
        where=where,
        hint=hint,
    )


def route_term(protocol: Protocol, regimen: Regimen) -> str:
    """The ROUTE term of a regimen's ``route``."""
    term = ROUTES.get(regimen.route.strip().lower())
    if term is None:
        hint = f"write route as one of: {', '.join(sorted(set(ROUTES)))}"
        raise _unmappable(protocol, _field(protocol, regimen, "route"), regimen.route, hint)
    return term


def dose_form_term(protocol: Protocol, regimen: Regimen) -> str | None:
    """The FRM term of a regimen's ``dose_form`` (None when the protocol gives none)."""
    if regimen.dose_form is None:
        return None
    term = DOSE_FORMS.get(regimen.dose_form.strip().lower())
    if term is None:
        hint = f"write dose_form as one of: {', '.join(sorted(DOSE_FORMS))}"
        raise _unmappable(protocol, _field(protocol, regimen, "dose_form"), regimen.dose_form, hint)
    return term


def unit_term(protocol: Protocol, regimen: Regimen) -> str:
    """The UNIT term of the dose a patient of this regimen receives (mg for a dose in mg/m2 per bsa)."""
    unit = regimen.dose.absolute_unit
    term = UNITS.get(unit)
    if term is None:
        hint = f"write dose.unit as one of: {', '.join(UNITS)}"
        raise _unmappable(protocol, _field(protocol, regimen, "dose.unit"), unit, hint)
    return term


def frequency_terms(protocol: Protocol, regimen: Regimen) -> list[tuple[int, str]]:
    """``(first study day, FREQ term)`` per phase of the regimen's schedule (one pair without phases)."""
    schedule = regimen.schedule
    if not schedule.phases:
        return [(schedule.start_day, _frequency(protocol, regimen, schedule, "schedule"))]
    terms, day = [], schedule.start_day
    for number, phase in enumerate(schedule.phases):
        terms.append((day, _frequency(protocol, regimen, phase, f"schedule.phases[{number}]")))
        day += int(phase.for_ or 0)
    return terms


def _frequency(protocol: Protocol, regimen: Regimen, schedule: Schedule, name: str) -> str:
    if regimen.as_needed is not None:
        return "PRN"  # CDISC FREQ (C71113): as needed
    if schedule.after is not None:
        return frequency_terms(protocol, protocol.regimen(schedule.after))[0][1]
    if schedule.relative_to is not None:  # one dose per dose of the other regimen
        return frequency_terms(protocol, protocol.regimen(schedule.relative_to))[0][1]
    per_day = len(regimen.times) if regimen.times else 1
    term: str | None = None
    if schedule.every_hours is not None:
        term = EVERY_N_HOURS.get(schedule.every_hours)
    elif schedule.daily or schedule.on is not None or _consecutive(schedule.cycle_days):
        term = PER_DAY.get(per_day)
    elif per_day == 1 and schedule.every_days is not None:
        term = EVERY_N_DAYS.get(schedule.every_days)
    elif per_day == 1 and schedule.weekday_from is not None:
        term = "QW"
    elif per_day == 1 and schedule.weekdays:
        term = PER_WEEK.get(len(schedule.weekdays))
    if term is None:
        raise _unmappable(protocol, _field(protocol, regimen, name), _describe(schedule, per_day), FREQUENCY_HINT)
    return term


def _consecutive(days: list[int] | None) -> bool:
    """Days 1-14 of a cycle: a daily run (days 1 and 8 are not)."""
    if not days:
        return False
    return days == list(range(days[0], days[0] + len(days)))


def _describe(schedule: Schedule, per_day: int) -> str:
    given = schedule.model_dump(by_alias=True, exclude_defaults=True, exclude={"phases"})
    return ", ".join(f"{k} = {v}" for k, v in given.items()) + f"; {per_day} dose(s) a day"


__all__ = ["dose_form_term", "frequency_terms", "route_term", "unit_term"]
