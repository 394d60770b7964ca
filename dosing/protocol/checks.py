"""Cross-field checks that pydantic cannot express per field: references between regimens,
arms and patient values, circular relations, cycles that overrun the study, and the
blinding and medication-safety rules that must hold before anything is generated."""

from __future__ import annotations

import difflib
import math
from typing import TYPE_CHECKING

from ..errors import ProtocolError
from .formula_rules import check_formula_values

if TYPE_CHECKING:
    from .model import Protocol, Regimen, Schedule


def check_references(protocol: Protocol) -> None:
    from .prn import check_prn_relations
    from .safety import check_blinding, check_methotrexate_protocol

    _unique(protocol)
    _arm_refs(protocol)
    _patient_value_names(protocol)
    _finite(protocol)
    # looked up once per reference: sets, not lists, so that the checks take linear time
    ids = set(protocol.regimen_ids)
    arms = {arm.id: set(arm.regimens) for arm in protocol.arms}
    for index, regimen in enumerate(protocol.regimens):
        where = f"regimens[{index}] (id {regimen.id!r})"
        _patient_refs(protocol, regimen, where, ids)
        for path, schedule in _schedules(regimen.schedule, f"{where}.schedule"):
            _regimen_refs(protocol, regimen, schedule, path, (ids, arms))
            _fits_study(protocol, schedule, path)
    _unique_keys(protocol)
    check_prn_relations(protocol)
    dependency_order(protocol)
    check_blinding(protocol)
    _translated_labels(protocol)
    check_methotrexate_protocol(protocol)


def _translated_labels(protocol: Protocol) -> None:
    """blinded_names without a blinded_label (after the blinding check, whose message says more)."""
    for index, regimen in enumerate(protocol.regimens):
        if regimen.blinded_names and regimen.blinded_label is None:
            where = f"regimens[{index}] (id {regimen.id!r}).blinded_names"
            _fail(
                protocol, where, "blinded_names translate the blinded_label", "give blinded_label too, or remove them"
            )


def _fail(protocol: Protocol, where: str, message: str, hint: str | None = None) -> None:
    raise ProtocolError(message, source=protocol.source, where=where, hint=hint)


def _unique(protocol: Protocol) -> None:
    for kind, ids in (("regimen", protocol.regimen_ids), ("arm", [a.id for a in protocol.arms])):
        seen: set[str] = set()
        for item in ids:
            if item in seen:
                _fail(protocol, f"{kind}s", f"{kind} id {item!r} is used twice", f"give each {kind} its own id")
            seen.add(item)


def _unique_keys(protocol: Protocol) -> None:
    """Each drug as shown (a blinded label, or a regimen without one) has its own key in UIDs and
    changes files: two blinded labels, or a label and a regimen id, must not share one."""
    owner: dict[str, str] = {}
    for regimen in protocol.regimens:
        name = regimen.blinded_label or regimen.id
        other = owner.setdefault(regimen.display_key, name)
        if other != name:
            _fail(
                protocol,
                "regimens",
                f"{other!r} and {name!r} would share the key {regimen.display_key!r} in UIDs and changes files",
                "rename one of them (a regimen id, or a blinded label that differs in letters or digits)",
            )


def _arm_refs(protocol: Protocol) -> None:
    known = protocol.regimen_ids
    ids = set(known)
    used: set[str] = set()
    for index, arm in enumerate(protocol.arms):
        for regimen_id in arm.regimens:
            if regimen_id not in ids:
                _fail(
                    protocol,
                    f"arms[{index}] (id {arm.id!r}).regimens",
                    f"unknown regimen {regimen_id!r}",
                    f"use one of the regimen ids: {', '.join(known)}",
                )
        if len(set(arm.regimens)) != len(arm.regimens):
            _fail(protocol, f"arms[{index}] (id {arm.id!r}).regimens", "a regimen is listed twice")
        used.update(arm.regimens)
    for regimen_id in known:
        if regimen_id not in used:
            _fail(
                protocol,
                "arms",
                f"regimen {regimen_id!r} belongs to no arm",
                "list it in the regimens of every arm that receives it",
            )


def _value_ref(protocol: Protocol, name: str, kind: str, where: str) -> None:
    declared = protocol.patient_values
    if name not in declared:
        guess = difflib.get_close_matches(name, list(declared), n=1)
        _fail(
            protocol,
            where,
            f"unknown patient value {name!r}" + (f"; did you mean {guess[0]!r}?" if guess else ""),
            f"declare it under [patient_values] (declared: {', '.join(declared) or 'none'})",
        )
    if declared[name].type != kind:
        _fail(protocol, where, f"patient value {name!r} has type {declared[name].type!r}, expected {kind!r}")


def _dose_value_units(protocol: Protocol, regimen: Regimen, where: str) -> None:
    """A patient value a dose is taken from (or is per) states the unit the dose needs: an
    ``mtx_dose`` in mg for a dose in mg, a ``bsa`` in m2 for a dose in mg/m2."""
    from .units import ALIASES, lookup

    dose = regimen.dose
    unit = lookup(dose.unit)
    for name, key, needed in ((dose.patient_value, "patient_value", unit.symbol), (dose.per, "per", unit.per)):
        if name is None or (key == "per" and dose.bsa is not None):  # bsa = { ... }: computed, not a value
            continue
        spec = protocol.patient_values[name]
        if spec.unit is None or ALIASES.get(spec.unit.strip(), spec.unit.strip()) != needed:
            given = "no unit" if spec.unit is None else f"unit {spec.unit!r}"
            hint = f'give patient_values.{name} unit = "{needed}", or correct the dose unit'
            if key == "per" and needed == "m2":  # nobody declares a weight in m2
                hint = (
                    f'for a dose per m² of body surface write per = "bsa" (with a bsa value or bsa = {{ formula = '
                    f'"mosteller" }}); for a dose per {name} use a unit per {spec.unit or "its unit"} '
                    f'(e.g. "{unit.symbol.split("/")[0]}/{spec.unit or "kg"}")'
                )
            _fail(
                protocol,
                f"{where}.{key}",
                f"the dose is in {dose.unit!r}, so patient value {name!r} must be in {needed!r}; it has {given}",
                hint,
            )


def _patient_refs(protocol: Protocol, regimen: Regimen, where: str, ids: set[str]) -> None:
    if regimen.dose.patient_value is not None:
        _value_ref(protocol, regimen.dose.patient_value, "number", f"{where}.dose.patient_value")
    check_formula_values(protocol, regimen, where)
    if regimen.dose.per is not None and regimen.dose.bsa is None:
        _value_ref(protocol, regimen.dose.per, "number", f"{where}.dose.per")
    _dose_value_units(protocol, regimen, f"{where}.dose")
    if regimen.times_from is not None:
        _value_ref(protocol, regimen.times_from, "time", f"{where}.times_from")
    if regimen.placebo_for is not None and regimen.placebo_for not in ids:
        _fail(
            protocol,
            f"{where}.placebo_for",
            f"unknown regimen {regimen.placebo_for!r}",
            f"use one of: {', '.join(protocol.regimen_ids)}",
        )


def _schedules(schedule: Schedule, path: str) -> list[tuple[str, Schedule]]:
    if schedule.phases is None:
        return [(path, schedule)]
    return [(f"{path}.phases[{i}]", phase) for i, phase in enumerate(schedule.phases)]


def _regimen_refs(
    protocol: Protocol, regimen: Regimen, schedule: Schedule, path: str, index: tuple[set[str], dict[str, set[str]]]
) -> None:
    """``index``: the regimen ids, and each arm's regimen ids."""
    ids, arms = index
    if schedule.weekday_from is not None:
        _value_ref(protocol, schedule.weekday_from, "weekday", f"{path}.weekday_from")
    for key, targets in (
        ("after", [schedule.after] if schedule.after else []),
        ("relative_to", [schedule.relative_to] if schedule.relative_to else []),
        ("except_days_of", schedule.except_days_of or []),
    ):
        for target in targets:
            if target not in ids:
                _fail(
                    protocol,
                    f"{path}.{key}",
                    f"unknown regimen {target!r}",
                    f"use one of: {', '.join(protocol.regimen_ids)}",
                )
            if target == regimen.id:
                _fail(protocol, f"{path}.{key}", "a regimen cannot refer to itself")
            _received_with(protocol, regimen, target, f"{path}.{key}", arms)


def _received_with(protocol: Protocol, regimen: Regimen, target: str, where: str, arms: dict[str, set[str]]) -> None:
    """Every arm that receives ``regimen`` must receive the regimen it refers to; otherwise
    "the day after x" or "except on days of x" means nothing for that arm's patients."""
    for arm in protocol.arms:
        if regimen.id in arms[arm.id] and target not in arms[arm.id]:
            _fail(
                protocol,
                where,
                f"refers to regimen {target!r}, which the patients of arm {arm.id!r} do not receive",
                f"add {target!r} to arm {arm.id!r}, or give that arm its own regimen without this relation",
            )


#: Cohort columns that every cohort has; a patient value may not take their names.
STANDARD_COLUMNS = ("patient_id", "arm", "start_date", "timezone", "site")
#: The longest study (study.last_day may be at most 3660); no duration may be longer.
MAX_DAYS = 3660


def _patient_value_names(protocol: Protocol) -> None:
    for name in protocol.patient_values:
        if name.strip() in STANDARD_COLUMNS or not name.strip() or name != name.strip():
            _fail(
                protocol,
                f"patient_values.{name}",
                f"{name!r} cannot name a patient value (it is empty, padded or a standard cohort column)",
                f"choose another name; the standard columns are {', '.join(STANDARD_COLUMNS)}",
            )


def _finite(protocol: Protocol) -> None:
    """Infinity passes "greater than 0"; no dose, limit or range may be infinite."""
    fields: list[tuple[str, float | None]] = []
    for index, regimen in enumerate(protocol.regimens):
        where = f"regimens[{index}] (id {regimen.id!r})"
        fields += [
            (f"{where}.dose.amount", regimen.dose.amount),
            (f"{where}.dose.round_to", regimen.dose.round_to),
            (f"{where}.max_daily_dose.amount", regimen.max_daily_dose.amount if regimen.max_daily_dose else None),
            (f"{where}.adherence.match_window_hours", regimen.adherence.match_window_hours),
            (f"{where}.adherence.on_time_hours", regimen.adherence.on_time_hours),
        ]
    for name, spec in protocol.patient_values.items():
        fields += [(f"patient_values.{name}.min", spec.min), (f"patient_values.{name}.max", spec.max)]
    band = protocol.study.adherence_band
    fields += [("study.adherence_band.low", band.low), ("study.adherence_band.high", band.high)]
    for where, value in fields:
        if value is not None and not math.isfinite(value):
            _fail(protocol, where, f"expected a finite number, got {value}")


def _fits_study(protocol: Protocol, schedule: Schedule, path: str) -> None:
    last = protocol.study.last_day
    for key in ("every_days", "for_", "rest", "on", "off", "cycle_length"):
        value = getattr(schedule, key)
        if value is not None and value > MAX_DAYS:
            name = key.rstrip("_").removesuffix("_days")
            _fail(protocol, f"{path}.{name}", f"{value} days is longer than any study (at most {MAX_DAYS} days)")
    if schedule.count is not None and schedule.count > MAX_DAYS * 1440:
        _fail(protocol, f"{path}.count", f"{schedule.count} doses cannot fit in any study")
    if schedule.start_day > last:
        _fail(protocol, f"{path}.start_day", f"starts on day {schedule.start_day}, after the study's last day {last}")
    period = schedule.cycle_period
    if period is not None and period > last:
        _fail(
            protocol,
            path,
            f"a {period}-day cycle is longer than the {last}-day study",
            "shorten the cycle or raise study.last_day",
        )
    if schedule.end_day is not None and schedule.end_day > last:
        _fail(
            protocol,
            f"{path}.end_day",
            f"day {schedule.end_day} is after the study's last day {last}",
            "raise study.last_day or lower end_day",
        )


def dependency_order(protocol: Protocol) -> list[str]:
    """Regimen ids ordered so that every regimen comes after those it refers to (a depth-first walk
    with its own stack: a chain of a thousand regimens, each after the one before, is no recursion)."""
    deps = {r.id: sorted(_dependencies(r.schedule)) for r in protocol.regimens}
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in protocol.regimen_ids:
        if root in state:
            continue
        state[root] = 1
        path = [(root, iter(deps[root]))]
        while path:
            node, pending = path[-1]
            dep = next(pending, None)
            if dep is None:
                path.pop()
                state[node] = 2
                order.append(node)
            elif state.get(dep) == 1:
                trail = [n for n, _ in path]
                _circular(protocol, [*trail[trail.index(dep) :], dep])
            elif dep not in state:
                state[dep] = 1
                path.append((dep, iter(deps[dep])))
    return order


def _circular(protocol: Protocol, cycle: list[str]) -> None:
    _fail(
        protocol,
        "regimens",
        f"circular relation between regimens: {' -> '.join(cycle)}",
        "a regimen may depend on another only if that one does not depend back on it",
    )


def _dependencies(schedule: Schedule) -> set[str]:
    found: set[str] = set()
    for phase in schedule.phases or [schedule]:
        if phase.after:
            found.add(phase.after)
        if phase.relative_to:
            found.add(phase.relative_to)
        found.update(phase.except_days_of or [])
    return found
