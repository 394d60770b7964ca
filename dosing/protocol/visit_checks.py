"""Cross checks of a protocol's visit plan: unique ids, anchors that exist, no circular
anchors, and cycle and dose anchors that name a regimen (and cycle) every arm receives (visit plans
are the same for every arm, so they must never depend on which arm a patient is in).

Anchor forms: "day1"; another visit's id; "<regimen> cycle <n>" (the planned distance from that
cycle's first day is kept); and the dose anchors "<regimen> cycle <n> day <m>" and
"last dose of <regimen>", from which the visit's ``day`` counts days (0 = on the anchor's date)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ProtocolError

if TYPE_CHECKING:
    from .model import Protocol, Visit

DAY1 = "day1"
_CYCLE_ANCHOR = re.compile(r"^\s*(\S+)\s+cycle\s+(\d+)(?:\s+day\s+(\d+))?\s*$", re.IGNORECASE)
_LAST_DOSE_ANCHOR = re.compile(r"^\s*last\s+dose\s+of\s+(\S+)\s*$", re.IGNORECASE)
#: Text that tries to be a dose or cycle anchor (checked against the accepted forms when it is not one).
_DOSE_WORDS = re.compile(r"\b(cycle|dose|last)\b", re.IGNORECASE)
ANCHOR_FORMS = (
    '"day1", a visit id, "<regimen id> cycle <n>", "<regimen id> cycle <n> day <m>" or "last dose of <regimen id>"'
)


@dataclass(frozen=True)
class CycleAnchor:
    """``anchor = "il2 cycle 2"``: the first day of cycle 2 of regimen il2 (or of its blinded twin); the
    visit keeps its planned distance (in study days) from it. ``"il2 cycle 3 day 8"`` (``day`` set): day 8
    of cycle 3, a dose anchor: the visit's ``day`` counts days after that date."""

    regimen: str
    cycle: int
    day: int | None = None


@dataclass(frozen=True)
class LastDoseAnchor:
    """``anchor = "last dose of il2"``: the patient's last dose (not held) of il2 (or of its blinded
    twin) after the changes; the visit's ``day`` counts days after that dose's date (0 = on it)."""

    regimen: str


Anchor = str | CycleAnchor | LastDoseAnchor


def parse_anchor(anchor: str) -> Anchor:
    """ "day1", a visit id, a :class:`CycleAnchor` or a :class:`LastDoseAnchor`."""
    match = _CYCLE_ANCHOR.match(anchor)
    if match:
        day = None if match.group(3) is None else int(match.group(3))
        return CycleAnchor(match.group(1), int(match.group(2)), day)
    match = _LAST_DOSE_ANCHOR.match(anchor)
    if match:
        return LastDoseAnchor(match.group(1))
    return anchor.strip()


def is_dose_anchor(anchor: str) -> bool:
    """An anchor on a dose date ("last dose of X", "X cycle N day M"): the visit's ``day`` counts days
    after it (0 = on it) instead of naming a study day."""
    parsed = parse_anchor(anchor)
    return isinstance(parsed, LastDoseAnchor) or (isinstance(parsed, CycleAnchor) and parsed.day is not None)


def blinded_group(protocol: Protocol, regimen_id: str) -> list[str]:
    """Regimen ids shown to blinded users as the same thing (the regimen and its blinded twins)."""
    key = protocol.regimen(regimen_id).display_key
    return [r.id for r in protocol.regimens if r.display_key == key]


def visit_order(protocol: Protocol) -> list[Visit]:
    """Visits ordered so that every visit comes after the visit it is anchored to (each visit has at
    most one anchor: follow the chain to a placed visit, then place the chain backwards; no recursion)."""
    by_id = {v.id: v for v in protocol.visits}
    order: list[Visit] = []
    placed: set[str] = set()
    for visit in protocol.visits:
        chain: list[str] = []
        on_chain: set[str] = set()
        node: str | None = visit.id
        while node is not None and node not in placed:
            if node in on_chain:
                loop = " -> ".join([*chain[chain.index(node) :], node])
                _fail(protocol, "visits", f"circular visit anchors: {loop}", "anchor one of them to day1")
            chain.append(node)
            on_chain.add(node)
            anchor = parse_anchor(by_id[node].anchor)
            node = anchor if isinstance(anchor, str) and anchor != DAY1 else None
        for visit_id in reversed(chain):
            placed.add(visit_id)
            order.append(by_id[visit_id])
    return order


def check_visits(protocol: Protocol) -> None:
    """Raise ProtocolError (with the field path) for a visit plan that cannot be scheduled."""
    ids = [v.id for v in protocol.visits]
    known = set(ids)  # sets, not lists: linear time in the visits
    seen: set[str] = set()
    for index, visit in enumerate(protocol.visits):
        where = f"visits[{index}] (id {visit.id!r})"
        if visit.id in seen:
            _fail(protocol, f"{where}.id", f"visit id {visit.id!r} is used twice", "give each visit its own id")
        seen.add(visit.id)
        anchor = parse_anchor(visit.anchor)
        if isinstance(anchor, CycleAnchor):
            _check_cycle_anchor(protocol, visit, anchor, f"{where}.anchor")
        elif isinstance(anchor, LastDoseAnchor):
            _check_last_dose_anchor(protocol, visit, anchor, where)
        elif anchor != DAY1 and anchor not in known:
            looks = " (not one of the accepted forms)" if _DOSE_WORDS.search(anchor) else ""
            _fail(protocol, f"{where}.anchor", f"unknown anchor {visit.anchor!r}{looks}", _anchor_hint(ids))
        elif anchor == visit.id:
            _fail(protocol, f"{where}.anchor", "a visit cannot be anchored to itself", 'use "day1" or another visit')
        elif anchor != DAY1:
            _check_chain(protocol, anchor, f"{where}.anchor")
        if visit.after_last_dose_of is not None:
            _check_end_of_treatment(protocol, visit.after_last_dose_of, f"{where}.after_last_dose_of")
    visit_order(protocol)


def _anchor_hint(ids: list[str]) -> str:
    return "use " + ANCHOR_FORMS.replace("a visit id", f"a visit id ({', '.join(ids)})")


def _check_chain(protocol: Protocol, anchor: str, where: str) -> None:
    """A visit anchored to another keeps its planned distance in study days: the other visit must
    name a study day (not days after a dose)."""
    other = next(v for v in protocol.visits if v.id == anchor)
    if is_dose_anchor(other.anchor):
        _fail(
            protocol,
            where,
            f"visit {other.id!r} is anchored to a dose ({other.anchor!r}), so it has no planned study day to "
            "keep a distance from",
            f'anchor this visit to the dose too: anchor = "{other.anchor.strip()}" with day = <days after it>',
        )


def _check_last_dose_anchor(protocol: Protocol, visit: Visit, anchor: LastDoseAnchor, where: str) -> None:
    """``last dose of X``: X exists and every arm receives it (or its blinded twin); with
    ``after_last_dose_of`` of the same regimen, the visit may not be planned before that dose."""
    if anchor.regimen not in protocol.regimen_ids:
        _fail(
            protocol,
            f"{where}.anchor",
            f"unknown regimen {anchor.regimen!r} in anchor {visit.anchor!r}",
            f"use one of: {', '.join(protocol.regimen_ids)}",
        )
    _every_arm_receives(protocol, anchor.regimen, f"{where}.anchor")
    end = visit.after_last_dose_of
    before = visit.day is not None and visit.day < 0
    if before and end in protocol.regimen_ids and _same_group(protocol, str(end), anchor.regimen):
        _fail(
            protocol,
            f"{where}.day",
            f"day = {visit.day} plans the visit before the last dose of {anchor.regimen!r}, "
            "which after_last_dose_of says it must follow",
            "use day = 0 or later, or leave out after_last_dose_of",
        )


def _check_end_of_treatment(protocol: Protocol, regimen_id: str, where: str) -> None:
    """``after_last_dose_of`` names a regimen that every arm receives (or a blinded twin of it)."""
    if regimen_id not in protocol.regimen_ids:
        _fail(protocol, where, f"unknown regimen {regimen_id!r}", f"use one of: {', '.join(protocol.regimen_ids)}")
    _every_arm_receives(protocol, regimen_id, where)


def _same_group(protocol: Protocol, one: str, other: str) -> bool:
    return set(blinded_group(protocol, one)) == set(blinded_group(protocol, other))


def _check_cycle_anchor(protocol: Protocol, visit: Visit, anchor: CycleAnchor, where: str) -> None:
    if anchor.regimen not in protocol.regimen_ids:
        _fail(
            protocol,
            where,
            f"unknown regimen {anchor.regimen!r} in anchor {visit.anchor!r}",
            f"use one of: {', '.join(protocol.regimen_ids)}",
        )
    regimen = protocol.regimen(anchor.regimen)
    schedule = regimen.schedule
    if schedule.phases is not None or schedule.cycles is None:
        _fail(protocol, where, f"regimen {anchor.regimen!r} has no cycles to anchor to", 'anchor to "day1" instead')
    count = schedule.cycle_count(protocol.study.last_day)
    assert count is not None and schedule.cycle_period is not None
    if not 1 <= anchor.cycle <= count:
        until = (
            f" (until stopped: the cycles that begin by day {protocol.study.last_day})"
            if schedule.until_stopped
            else ""
        )
        _fail(protocol, where, f"regimen {anchor.regimen!r} has cycles 1-{count}{until}, not {anchor.cycle}")
    if anchor.day is not None and not 1 <= anchor.day <= schedule.cycle_period:
        _fail(
            protocol,
            where,
            f"regimen {anchor.regimen!r} has a {schedule.cycle_period}-day cycle: it has no day {anchor.day}",
            f"use a cycle day from 1 to {schedule.cycle_period}",
        )
    _every_arm_receives(protocol, anchor.regimen, where)
    if visit.days is not None:
        _fail(protocol, where, "a days range is planned from day 1; it cannot follow a cycle", 'use "day1"')


def _every_arm_receives(protocol: Protocol, regimen_id: str, where: str) -> None:
    regimen = protocol.regimen(regimen_id)
    group = set(blinded_group(protocol, regimen_id))
    for arm in protocol.arms:
        if group.isdisjoint(arm.regimens):  # no set built per arm and visit
            _fail(
                protocol,
                where,
                f"arm {arm.id!r} receives no {regimen.blinded_label or regimen.drug!r}",
                "visit plans are the same for every arm: name a regimen every arm receives",
            )


def _fail(protocol: Protocol, where: str, message: str, hint: str | None = None) -> None:
    raise ProtocolError(message, source=protocol.source, where=where, hint=hint)
