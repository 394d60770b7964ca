"""One controlled-terminology table: protocol routes, dose forms, units and schedules -> CDISC terms.

Terms are the submission values of the CDISC SDTM codelists ROUTE (C66729), FRM (C66726), UNIT
(C71620) and FREQ (C71113). A route, dose form or unit this table cannot map is a
:class:`~dosing.errors.ProtocolError` naming the protocol field: the export never writes a free-text
guess. A schedule FREQ has no term for is ``ONCE`` (each EC/EX record is one administration). Pure.
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
# FREQ (C71113) submission values, checked against the NCI EVS "SDTM Terminology" file of CDISC CT
# 2025-03-25 (tests/fixtures/cdisc-freq-c71113.tsv holds that codelist; a test checks every term here).
# CDISC has no QW, BIW, TIW, Q2W, Q3W or Q4W: weekly terms are EVERY WEEK, 2 TIMES PER WEEK, EVERY 3 WEEKS.
#: Doses per day -> FREQ term of a daily schedule.
PER_DAY = {
    1: "QD",
    2: "BID",
    3: "TID",
    4: "QID",
    5: "5 TIMES PER DAY",
    6: "6 TIMES PER DAY",
    7: "7 TIMES PER DAY",
    8: "8 TIMES PER DAY",
    9: "9 TIMES PER DAY",
}
#: Days between doses (one dose a day) -> FREQ term.
EVERY_N_DAYS = {
    1: "QD",
    2: "QOD",
    3: "Q3D",
    4: "Q4D",
    5: "Q5D",
    6: "Q6D",
    7: "EVERY WEEK",
    14: "EVERY 2 WEEKS",
    21: "EVERY 3 WEEKS",
    28: "EVERY 4 WEEKS",
    35: "EVERY 5 WEEKS",
    42: "EVERY 6 WEEKS",
    49: "EVERY 7 WEEKS",
    56: "EVERY 8 WEEKS",
    70: "EVERY 10 WEEKS",
    84: "EVERY 12 WEEKS",
    91: "EVERY 13 WEEKS",
    112: "EVERY 16 WEEKS",
}
#: Hours between doses (an interval in hours) -> FREQ term.
EVERY_N_HOURS = {
    1: "QH",
    2: "Q2H",
    3: "Q3H",
    4: "Q4H",
    5: "Q5H",
    6: "Q6H",
    7: "Q7H",
    8: "Q8H",
    9: "Q9H",
    10: "Q10H",
    11: "Q11H",
    12: "Q12H",
    13: "Q13H",
    14: "Q14H",
    15: "Q15H",
    16: "Q16H",
    17: "Q17H",
    18: "Q18H",
    19: "Q19H",
    20: "Q20H",
    21: "Q21H",
    22: "Q22H",
    23: "Q23H",
    24: "Q24H",
    36: "Q36H",
    48: "Q48H",
    72: "Q72H",
    96: "Q96H",
}
#: Named weekdays per week (one dose a day) -> FREQ term.
PER_WEEK = {
    1: "EVERY WEEK",
    2: "2 TIMES PER WEEK",
    3: "3 TIMES PER WEEK",
    4: "4 TIMES PER WEEK",
    5: "5 TIMES PER WEEK",
    6: "6 TIMES PER WEEK",
    7: "7 TIMES PER WEEK",
}
#: Doses per cycle, on cycle days that are not one daily run (days 1 and 8 of 21) -> FREQ term.
PER_CYCLE = {2: "2 TIMES PER CYCLE", 3: "3 TIMES PER CYCLE"}
#: Each EC/EX record is one administration: where FREQ has no term for the schedule (days 1, 8, 15 and
#: 22 of a 35-day cycle; every 9 weeks), the record's own frequency, once.
ONCE = "ONCE"
AS_NEEDED = "PRN"
#: Every FREQ term this table may write (tests check them against the codelist).
FREQUENCY_TERMS = frozenset(
    [*PER_DAY.values(), *EVERY_N_DAYS.values(), *EVERY_N_HOURS.values(), *PER_WEEK.values(), *PER_CYCLE.values()]
) | {ONCE, AS_NEEDED}


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
        return [(schedule.start_day, _frequency(protocol, regimen, schedule))]
    terms, day = [], schedule.start_day
    for phase in schedule.phases:
        terms.append((day, _frequency(protocol, regimen, phase)))
        day += int(phase.for_ or 0)
    return terms


def _frequency(protocol: Protocol, regimen: Regimen, schedule: Schedule) -> str:
    if regimen.as_needed is not None:
        return AS_NEEDED  # CDISC FREQ (C71113): as needed
    if schedule.after is not None:
        return frequency_terms(protocol, protocol.regimen(schedule.after))[0][1]
    if schedule.relative_to is not None:  # one dose per dose of the other regimen
        return frequency_terms(protocol, protocol.regimen(schedule.relative_to))[0][1]
    per_day = len(regimen.times) if regimen.times else 1
    term: str | None = None
    if schedule.every_hours is not None:
        term = EVERY_N_HOURS.get(schedule.every_hours)
    elif schedule.cycle_days is not None and not _consecutive(schedule.cycle_days):
        term = _per_cycle(schedule, len(schedule.cycle_days) * per_day)
    elif schedule.daily or schedule.on is not None or schedule.cycle_days is not None:
        term = PER_DAY.get(per_day)
    elif per_day == 1 and schedule.every_days is not None:
        term = EVERY_N_DAYS.get(schedule.every_days)
    elif per_day == 1 and schedule.weekday_from is not None:
        term = PER_WEEK[1]
    elif per_day == 1 and schedule.weekdays:
        term = PER_WEEK.get(len(schedule.weekdays))
    return term or ONCE


def _per_cycle(schedule: Schedule, doses: int) -> str | None:
    """One dose per cycle: the cycle's own interval (day 1 of 21 = EVERY 3 WEEKS); two or three: N
    TIMES PER CYCLE (days 1 and 8 of 21)."""
    if doses == 1 and schedule.cycle_period is not None:
        return EVERY_N_DAYS.get(schedule.cycle_period)
    return PER_CYCLE.get(doses)


def _consecutive(days: list[int]) -> bool:
    """Days 1-14 of a cycle: a daily run of two days or more (days 1 and 8 are not, nor day 1 alone)."""
    return len(days) > 1 and days == list(range(days[0], days[0] + len(days)))


__all__ = ["FREQUENCY_TERMS", "dose_form_term", "frequency_terms", "route_term", "unit_term"]
