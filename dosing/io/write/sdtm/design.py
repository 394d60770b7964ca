"""Trial design datasets from the protocol: TE (elements), TA (arms, unblinded only) and TV (visits).

The elements follow the protocol's main regimen (the first regimen of the first arm with cycles,
else with phases): screening (when a visit comes before day 1), a treatment element and a rest
element per cycle (or one element per phase, or one treatment element), and follow-up from the
day after treatment to ``study.last_day``. Element names name no drug, so TE is the same blinded
and unblinded. Study days have no day 0. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ....errors import DosingError
from ....plan.blind_view import View
from ....protocol.model import Protocol, Regimen, Visit
from ....protocol.visit_checks import CycleAnchor, LastDoseAnchor, parse_anchor
from .variables import TA, TE, TV


@dataclass(frozen=True)
class Element:
    code: str
    name: str
    start: str
    end: str
    days: int | None
    epoch: str


def add_days(day: int, days: int) -> int:
    """Study day ``days`` calendar days after study day ``day`` (negative: before); no day 0."""
    offset = (day - 1 if day >= 1 else day) + days
    return offset + 1 if offset >= 0 else offset


def _main_regimen(protocol: Protocol) -> Regimen | None:
    first_arm = [protocol.regimen(rid) for rid in protocol.arms[0].regimens]
    for wanted in ("cycles", "phases"):
        for regimen in first_arm:
            if getattr(regimen.schedule, wanted):
                return regimen
    return None


def _cycle_elements(regimen: Regimen, last_day: int) -> tuple[list[Element], int]:
    """A treatment (and rest) element per cycle; with ``cycles = "until stopped"`` per cycle that begins
    by ``study.last_day`` (the planned cycles), the last one ending on the study's last day."""
    s = regimen.schedule
    count = int(s.cycle_count(last_day) or 1)
    length = int(s.cycle_length or 0) or int(s.for_ or 0) + int(s.rest or 0) or int(s.on or 0) + int(s.off or 0)
    dosing = int(s.for_ or s.on or 0) or (max(s.cycle_days) if s.cycle_days else length)
    treat = Element("TRT", f"Treatment (cycle days 1-{dosing})", "First day of a cycle", f"{dosing} days later",
                    dosing, "TREATMENT")  # fmt: skip
    elements = [treat]
    if length > dosing:
        rest = Element("REST", f"Rest (cycle days {dosing + 1}-{length})", f"Cycle day {dosing + 1}",
                       f"{length - dosing} days later", length - dosing, "TREATMENT")  # fmt: skip
        elements.append(rest)
    return elements * count, min(s.start_day - 1 + length * count, last_day) if s.until_stopped else (
        s.start_day - 1 + length * count
    )


def _phase_elements(regimen: Regimen) -> tuple[list[Element], int]:
    elements, day = [], regimen.schedule.start_day
    for number, phase in enumerate(regimen.schedule.phases or [], start=1):
        days = int(phase.for_ or 0)
        elements.append(Element(f"PH{number}", f"Treatment phase {number}", f"Study day {day}",
                                f"{days} days later", days, "TREATMENT"))  # fmt: skip
        day += days
    return elements, day - 1


def _treatment(protocol: Protocol) -> tuple[list[Element], int]:
    """The treatment elements and the study day the last one ends on."""
    regimen = _main_regimen(protocol)
    if regimen is not None and regimen.schedule.cycles:
        return _cycle_elements(regimen, protocol.study.last_day)
    if regimen is not None:
        return _phase_elements(regimen)
    last = protocol.study.last_day
    return [Element("TRT", "Treatment", "Study day 1", f"Study day {last}", last, "TREATMENT")], last


def epochs(protocol: Protocol, days: np.ndarray) -> np.ndarray:
    """The EPOCH of each study day, as TE and TA place the elements: SCREENING before day 1,
    FOLLOW-UP after the last treatment element (when the study goes on), else TREATMENT."""
    _, last = _treatment(protocol)
    days = np.asarray(days, dtype=np.int64)
    follow_up = days > last if protocol.study.last_day > last else np.zeros(len(days), dtype=bool)
    return np.where(days < 1, "SCREENING", np.where(follow_up, "FOLLOW-UP", "TREATMENT")).astype(object)


def elements(protocol: Protocol) -> list[Element]:
    """The elements of every arm, in order."""
    treatment, last = _treatment(protocol)
    screening = [v for v in protocol.visits if not v.dose_anchored and v.target_day < 1]
    out = []
    if screening:
        out.append(Element("SCRN", "Screening", "Informed consent", "Day before the first dose", None, "SCREENING"))
    out += treatment
    if protocol.study.last_day > last:
        days = protocol.study.last_day - last
        out.append(Element("FU", "Follow-up", f"Study day {last + 1}", f"Study day {protocol.study.last_day}",
                           days, "FOLLOW-UP"))  # fmt: skip
    return out


def te_dataset(protocol: Protocol) -> pd.DataFrame:
    unique = {e.code: e for e in elements(protocol)}.values()
    rows = [[e.code, e.name, e.start, e.end, None if e.days is None else f"P{e.days}D"] for e in unique]
    frame = pd.DataFrame(rows, columns=[v.name for v in TE[2:]])
    return _keys(frame, protocol, "TE", TE)


def ta_dataset(protocol: Protocol) -> pd.DataFrame:
    """TA: every arm through the same elements (a blinded protocol has the same schedule in every arm)."""
    trial = elements(protocol)
    rows = [
        [code, arm.label, order, e.code, e.name, None, None, e.epoch]
        for arm, code in zip(protocol.arms, arm_codes(protocol), strict=True)
        for order, e in enumerate(trial, start=1)
    ]
    return _keys(pd.DataFrame(rows, columns=[v.name for v in TA[2:]]), protocol, "TA", TA)


ARMCD_LENGTH = 20


class ArmCodeClash(DosingError):
    """Two arms would get the same ARMCD."""


def arm_codes(protocol: Protocol) -> list[str]:
    """Each arm's ARMCD (at most 20 characters, unique): its id in capitals; an id longer than 20 is
    cut to 17 characters and ends in ``_`` and the arm's number in the protocol (``LOWDOSE-INTERLEUK_01``),
    so that two long ids with the same start never share a code."""
    codes = []
    for number, arm in enumerate(protocol.arms, start=1):
        code = arm.id.upper()
        codes.append(code if len(code) <= ARMCD_LENGTH else f"{code[: ARMCD_LENGTH - 3]}_{number:02d}")
    for code in set(codes):
        clash = [arm.id for arm, other in zip(protocol.arms, codes, strict=True) if other == code]
        if len(clash) > 1:
            raise ArmCodeClash(
                f"arms {', '.join(repr(a) for a in clash)} would share the SDTM arm code {code!r} (ARMCD)",
                hint="give the arms ids that differ in their first 17 characters (ARMCD holds 20)",
            )
    return codes


def _days_between(first: int, last: int) -> int:
    """Calendar days from study day ``first`` to study day ``last`` (no day 0)."""
    return (last - 1 if last >= 1 else last) - (first - 1 if first >= 1 else first)


def _rules(protocol: Protocol, visit: Visit, view: View) -> tuple[str, str]:
    """TVSTRL and TVENRL: the first and last day of the visit's window, as the protocol anchors it."""
    anchor = parse_anchor(visit.anchor)
    if visit.dose_anchored:
        return _dose_rules(protocol, visit, view)
    if anchor == "day1":
        return (
            f"study day {add_days(visit.target_day, -visit.early)}",
            f"study day {add_days(visit.target_day, visit.late)}",
        )
    if isinstance(anchor, CycleAnchor):
        where = f"the first day of cycle {anchor.cycle} of {view.regimen(anchor.regimen)}"
        after = 0
    else:
        other = next(v for v in protocol.visits if v.id == anchor)
        where, after = f"visit {other.name!r}", _days_between(other.target_day, visit.target_day)
    planned = f" (planned study day {add_days(visit.target_day, -visit.early)})"
    ending = f" (planned study day {add_days(visit.target_day, visit.late)})"
    return _relative(after - visit.early, where) + planned, _relative(after + visit.late, where) + ending


def planned_day(protocol: Protocol, visit: Visit) -> int | None:
    """The visit's planned study day (VISITDY): a dose-anchored visit's from its cycle day, None for
    one after the last dose of a regimen (it differs from patient to patient)."""
    anchor = parse_anchor(visit.anchor)
    if isinstance(anchor, LastDoseAnchor):
        return None
    if isinstance(anchor, CycleAnchor) and anchor.day is not None:
        schedule = protocol.regimen(anchor.regimen).schedule
        assert schedule.cycle_period is not None
        return add_days(
            schedule.start_day + (anchor.cycle - 1) * schedule.cycle_period + anchor.day - 1, visit.day or 0
        )
    return visit.target_day


def _dose_rules(protocol: Protocol, visit: Visit, view: View) -> tuple[str, str]:
    anchor = parse_anchor(visit.anchor)
    assert visit.day is not None
    if isinstance(anchor, LastDoseAnchor):
        where = f"the last dose of {view.regimen(anchor.regimen)}"
        return _relative(visit.day - visit.early, where), _relative(visit.day + visit.late, where)
    assert isinstance(anchor, CycleAnchor)
    where = f"day {anchor.day} of cycle {anchor.cycle} of {view.regimen(anchor.regimen)}"
    day = planned_day(protocol, visit)
    assert day is not None
    planned = f" (planned study day {add_days(day, -visit.early)})"
    ending = f" (planned study day {add_days(day, visit.late)})"
    return _relative(visit.day - visit.early, where) + planned, _relative(visit.day + visit.late, where) + ending


def _relative(days: int, where: str) -> str:
    if days == 0:
        return where[0].upper() + where[1:]
    return f"{abs(days)} days {'before' if days < 0 else 'after'} {where}"


def tv_dataset(protocol: Protocol, unblinded: bool) -> pd.DataFrame:
    view = View(protocol, unblinded)
    last = protocol.study.last_day  # a visit after a last dose sorts after the doses

    def day(v: Visit) -> int:
        found = planned_day(protocol, v)
        return found if found is not None else last + (v.day or 0)

    ordered = sorted(protocol.visits, key=lambda v: (day(v), v.id))
    rows = [
        [float(number), v.name, planned_day(protocol, v), *_rules(protocol, v, view)]
        for number, v in enumerate(ordered, 1)
    ]
    return _keys(pd.DataFrame(rows, columns=[v.name for v in TV[2:]]), protocol, "TV", TV)


def _keys(frame: pd.DataFrame, protocol: Protocol, domain: str, variables: list) -> pd.DataFrame:
    frame.insert(0, "DOMAIN", domain)
    frame.insert(0, "STUDYID", protocol.study.id)
    return frame[[v.name for v in variables]]


__all__ = ["ArmCodeClash", "add_days", "arm_codes", "elements", "epochs", "ta_dataset", "te_dataset", "tv_dataset"]
