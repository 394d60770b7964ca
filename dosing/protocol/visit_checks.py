"""Cross checks of a protocol's visit plan: unique ids, anchors that exist, no circular
anchors, and cycle anchors that name a cycle every arm receives (visit plans are the same
for every arm, so they must never depend on which arm a patient is in)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ProtocolError

if TYPE_CHECKING:
    from .model import Protocol, Visit

DAY1 = "day1"
_CYCLE_ANCHOR = re.compile(r"^\s*(\S+)\s+cycle\s+(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class CycleAnchor:
    """``anchor = "il2 cycle 2"``: the first day of cycle 2 of regimen il2 (or of its blinded twin)."""

    regimen: str
    cycle: int


def parse_anchor(anchor: str) -> str | CycleAnchor:
    """ "day1", a visit id, or a :class:`CycleAnchor`."""
    match = _CYCLE_ANCHOR.match(anchor)
    if match:
        return CycleAnchor(match.group(1), int(match.group(2)))
    return anchor.strip()


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
        elif anchor != DAY1 and anchor not in known:
            _fail(
                protocol,
                f"{where}.anchor",
                f"unknown anchor {visit.anchor!r}",
                f'use "day1", a visit id ({", ".join(ids)}) or "<regimen id> cycle <n>"',
            )
        elif anchor == visit.id:
            _fail(protocol, f"{where}.anchor", "a visit cannot be anchored to itself", 'use "day1" or another visit')
        if visit.after_last_dose_of is not None:
            _check_end_of_treatment(protocol, visit.after_last_dose_of, f"{where}.after_last_dose_of")
    visit_order(protocol)


def _check_end_of_treatment(protocol: Protocol, regimen_id: str, where: str) -> None:
    """``after_last_dose_of`` names a regimen that every arm receives (or a blinded twin of it)."""
    if regimen_id not in protocol.regimen_ids:
        _fail(protocol, where, f"unknown regimen {regimen_id!r}", f"use one of: {', '.join(protocol.regimen_ids)}")
    _every_arm_receives(protocol, regimen_id, where)


def _check_cycle_anchor(protocol: Protocol, visit: Visit, anchor: CycleAnchor, where: str) -> None:
    if anchor.regimen not in protocol.regimen_ids:
        _fail(protocol, where, f"unknown regimen {anchor.regimen!r}", f"use one of: {', '.join(protocol.regimen_ids)}")
    regimen = protocol.regimen(anchor.regimen)
    schedule = regimen.schedule
    if schedule.phases is not None or schedule.cycles is None:
        _fail(protocol, where, f"regimen {anchor.regimen!r} has no cycles to anchor to", 'anchor to "day1" instead')
    assert schedule.cycles is not None
    if not 1 <= anchor.cycle <= schedule.cycles:
        _fail(protocol, where, f"regimen {anchor.regimen!r} has cycles 1-{schedule.cycles}, not {anchor.cycle}")
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
