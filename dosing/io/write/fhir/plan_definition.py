"""The protocol as a FHIR R4 ``PlanDefinition`` (type clinical-protocol): one action per regimen.

A regimen's action carries a ``timingTiming`` read from its schedule (frequency per period, times of
day, weekdays, ``count``, a bounded length) and a description in words (study days, the patient's own
weekday, "not on the methotrexate day"). A cyclic regimen is a parent cycle action, as in FHIR's
oncology example plan KDN5 ("21-day cycle for 6 cycles"): the parent's ``timingTiming`` repeats
``count`` cycles of ``duration`` days, and the child action's ``timingTiming`` lists the dosing days
of each cycle in the core extension ``timing-daysOfCycle``. The exact dates are per patient, in each
patient's bundle (:mod:`.bundle`).

Blinded (the default), a blinded label is one action (regimens sharing it have the same schedule,
times and route, :func:`dosing.protocol.safety.check_blinding`), named by the label and showing the
blinded dose where the dose differs between arms; arms are not listed. Unblinded, each arm is a
parent action (titled by the arm's label) with an action per regimen, named by its drug, and the arms
are listed in the description. Phases are ordered: each phase action after the first starts at the end
of the previous one (``relatedAction`` after-end) and names its study days. A regimen's
``first_dose`` time is said in its description and in each timed action's text.
"""

from __future__ import annotations

from collections.abc import Callable

from ....plan.blind_view import View
from ....protocol.dose_steps import describe_amounts
from ....protocol.formulas import describe_dose
from ....protocol.model import Protocol, Regimen, Schedule
from ....protocol.prn import describe_as_needed
from ....protocol.units import format_dose
from .bundle import plan_url
from .codes import DAYS_OF_CYCLE, PLAN_TYPE, WEEKDAY_CODES, route_coding
from .timing import duration

Namer = Callable[[str], str]


def plan_definition(protocol: Protocol, blinded: bool) -> dict:
    """The ``PlanDefinition`` of the protocol as the blinded (or unblinded) user may see it."""
    study = protocol.study
    shown: dict[str, Regimen] = {}
    for regimen in protocol.regimens:
        key = regimen.display_key if blinded else regimen.id
        shown.setdefault(key, regimen)
    description = f"{study.title} ({study.registry or study.id}); study days 1 to {study.last_day}"
    if blinded:
        actions = [_action(protocol, key, regimen, blinded) for key, regimen in shown.items()]
    else:  # one parent action per arm with its regimens (ids prefixed by the arm: a regimen may be in two)
        arms = "; ".join(f"{a.id}: {', '.join(a.regimens)}" for a in protocol.arms)
        description += f". Arms: {arms}"
        actions = [
            {
                "id": f"arm-{arm.id}",
                "title": arm.label,
                "description": f"Arm {arm.id}: its regimens, given together",
                "action": [
                    _action(protocol, f"{arm.id}-{rid}", protocol.regimen(rid), blinded) for rid in arm.regimens
                ],
            }
            for arm in protocol.arms
        ]
    return {
        "resourceType": "PlanDefinition",
        "id": study.id.lower().replace("_", "-")[:64],
        "url": plan_url(protocol),
        "identifier": [{"system": "urn:dosing:study", "value": study.id}],
        "name": "".join(ch for ch in study.id if ch.isalnum()) or "Study",
        "title": study.title,
        "type": {"coding": [{"system": PLAN_TYPE, "code": "clinical-protocol", "display": "Clinical Protocol"}]},
        "status": "active",
        "description": description,
        "action": actions,
    }


def _action(protocol: Protocol, key: str, regimen: Regimen, blinded: bool) -> dict:
    view = View(protocol, unblinded=not blinded)

    def name(regimen_id: str) -> str:
        return view.regimen(regimen_id).strip("'\"")

    hides = blinded and protocol.study.blinded and regimen.blinded_label is not None
    title = str(regimen.blinded_label) if hides else regimen.drug
    if hides and regimen.blinded_dose is not None:
        dose = regimen.blinded_dose
    elif regimen.dose.patient_value is not None:
        dose = f"the patient's own dose ({regimen.dose.patient_value}, {regimen.dose.unit})"
    elif regimen.dose.formula or regimen.dose.bsa or regimen.dose.cap or regimen.dose.round_:
        dose = describe_dose(regimen.dose)  # "AUC 5 (mg by Calvert, ...)", "1000 mg/m2 (mg from BSA by ...)"
    else:
        per = f" per {regimen.dose.per}" if regimen.dose.per else ""
        dose = (describe_amounts(regimen) or format_dose(regimen.dose.amount, regimen.dose.unit)) + per
    route = route_coding(regimen.route, protocol, regimen.id)
    base = {
        "id": key,
        "title": title,
        "description": f"{dose} {route['text']}" + (f", {regimen.instructions}" if regimen.instructions else ""),
    }
    if regimen.first_dose is not None:
        base["description"] += f"; the first dose at {regimen.first_dose.strftime('%H:%M')}"
    if regimen.as_needed is not None:  # no planned doses: "up to N a day" on the days the schedule allows
        base["description"] += f"; {describe_as_needed(regimen)}"
    schedule = regimen.schedule
    if schedule.phases is not None:
        return base | {"action": _phases(regimen, key, name)}
    timed = _scheduled(regimen, schedule, f"{key}-schedule", name)
    return base | ({"action": [timed]} if schedule.is_cyclic else timed)


def _phases(regimen: Regimen, key: str, name: Namer) -> list[dict]:
    """One action per phase, in order: each starts when the previous ends (``relatedAction``
    after-end) and says its study days (the first phase starts on the schedule's start day)."""
    actions: list[dict] = []
    day = regimen.schedule.start_day
    for number, phase in enumerate(regimen.schedule.phases or [], start=1):
        action = _scheduled(regimen, phase, f"{key}-phase-{number}", name, start=day)
        if actions:
            action["relatedAction"] = [{"actionId": actions[-1]["id"], "relationship": "after-end"}]
        actions.append(action)
        day += int(phase.for_ or 0)
    return actions


def _scheduled(regimen: Regimen, schedule: Schedule, action_id: str, name: Namer, start: int | None = None) -> dict:
    """A timed action, or a cycle action with its dosing days as a child. ``start``: a phase's first
    study day (a phase has none of its own)."""
    words = _words(schedule, name, start)
    if regimen.first_dose is not None:
        words += f"; the first dose at {regimen.first_dose.strftime('%H:%M')}"
    if not schedule.is_cyclic:
        return {"id": action_id, "textEquivalent": words, "timingTiming": _timing(regimen, schedule)}
    assert schedule.cycle_period is not None
    days = _cycle_days(schedule)
    child: dict = {
        "id": f"{action_id}-days",
        "title": "Dosing days of each cycle",
        "timingTiming": _timing(regimen, schedule),
    }
    if days:
        extension = [{"url": "day", "valueInteger": d} for d in days]
        child["timingTiming"]["extension"] = [{"url": DAYS_OF_CYCLE, "extension": extension}]
    if schedule.until_stopped:  # no count: Timing repeats until the request is stopped
        cycle = {"repeat": {"duration": schedule.cycle_period, "durationUnit": "d"}}
        title = f"{schedule.cycle_period}-day cycle until stopped"
        words += "; cycles repeat until stopped"
    else:
        cycle = {"repeat": {"count": schedule.cycles, "duration": schedule.cycle_period, "durationUnit": "d"}}
        title = f"{schedule.cycle_period}-day cycle for {schedule.cycles} cycle{'s' if schedule.cycles != 1 else ''}"
    return {"id": action_id, "title": title, "textEquivalent": words, "timingTiming": cycle, "action": [child]}


def _cycle_days(schedule: Schedule) -> list[int]:
    """Cycle days carrying doses (cycle day 1 is the cycle's first day); [] when they depend on the patient."""
    assert schedule.cycle_period is not None
    active = schedule.active_days or schedule.cycle_period
    if schedule.cycle_days is not None:
        return [d for d in schedule.cycle_days if d <= active]
    if schedule.every_days is not None:
        return list(range(1, active + 1, schedule.every_days))
    if schedule.daily or schedule.on is not None or schedule.every_hours is not None:
        return list(range(1, active + 1))
    return []


def _timing(regimen: Regimen, schedule: Schedule) -> dict:
    repeat: dict = {}
    count = len(regimen.times) if regimen.times else 1
    if schedule.every_days is not None and not schedule.is_cyclic:
        repeat = {"frequency": count, "period": schedule.every_days, "periodUnit": "d"}
    elif schedule.every_hours is not None:
        repeat = {"frequency": 1, "period": schedule.every_hours, "periodUnit": "h"}
    elif schedule.weekdays is not None:
        repeat = {"frequency": count, "period": 1, "periodUnit": "d"}
        repeat["dayOfWeek"] = [WEEKDAY_CODES[d] for d in sorted(schedule.weekdays)]
    elif schedule.weekday_from is not None:
        repeat = {"frequency": count, "period": 1, "periodUnit": "wk"}
    elif schedule.after is None and schedule.relative_to is None:
        repeat = {"frequency": count, "period": 1, "periodUnit": "d"}
    if regimen.times and schedule.every_hours is None:  # every N hours from a first time: no fixed times of day
        repeat["timeOfDay"] = [t.strftime("%H:%M:%S") for t in regimen.times]
    if regimen.as_needed is not None and "frequency" in repeat:  # as needed: at most, not every day
        del repeat["frequency"]
        repeat = {"frequencyMax": regimen.as_needed.max_per_24h, **repeat}
    if regimen.duration is not None:  # each dose lasts (an infusion): 46 h
        repeat |= duration(int(regimen.duration.total_seconds()) // 60)
    if schedule.count is not None:
        repeat["count"] = schedule.count
    if schedule.for_ is not None and not schedule.is_cyclic:
        repeat["boundsDuration"] = {
            "value": schedule.for_,
            "unit": "d",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        }
    return {"repeat": repeat} if repeat else {}


def _words(s: Schedule, name: Namer, start: int | None = None) -> str:
    """The schedule in words, for what Timing cannot say (study days, relations, own weekday)."""
    parts = []
    if s.every_days is not None:
        parts.append(f"every {s.every_days} days")
    if s.every_hours is not None:
        parts.append(f"every {s.every_hours} hours ({s.clock or 'elapsed'} clock)")
    if s.relative_to is not None:
        parts.append(f"{s.relative_offset} from each dose of {name(s.relative_to)}")
    if s.daily:
        parts.append("daily")
    if s.weekdays is not None:
        parts.append("on " + ", ".join(WEEKDAY_CODES[d] for d in s.weekdays))
    if s.weekday_from is not None:
        parts.append(f"once weekly on the patient's own weekday ({s.weekday_from})")
    if s.cycle_days is not None:
        parts.append("on cycle days " + ", ".join(map(str, s.cycle_days)))
    if s.after is not None:
        parts.append(f"{s.after_days} day(s) after each dose of {name(s.after)}")
    if s.on is not None:
        parts.append(f"{s.on} days on, {s.off} days off")
    if s.for_ is not None:
        parts.append(f"for {s.for_} days" + (f" then {s.rest} days rest" if s.rest else ""))
    if s.except_days_of:
        parts.append("not on the days of " + ", ".join(map(name, s.except_days_of)))
    if start is not None:  # a phase: its own study days
        end = f" to {start + int(s.for_) - 1}" if s.for_ is not None else ""
        parts.append(f"from study day {start}{end}")
    elif s.phases is None:
        parts.append(f"from study day {s.start_day}" + (f" to {s.end_day}" if s.end_day else ""))
    return "; ".join(parts)
