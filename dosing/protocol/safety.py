"""Medication-safety and blinding rules.

Methotrexate for non-cancer use is taken once weekly; accidental daily dosing has killed
patients (ISMP high-alert list, NHS "never event", FDA label). The protocol is checked
statically when it is loaded, and every expanded schedule is checked again dose by dose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import ProtocolError, SafetyError
from .daily_limits import KNOWN_DAILY_LIMITS, METHOTREXATE_NON_ONCOLOGY_MAX, daily_limits
from .dose_steps import amounts_differ, same_in_blinded_group
from .drugs import drug_key, is_methotrexate
from .units import factor, format_dose

if TYPE_CHECKING:
    from .model import Protocol, Regimen, Schedule


def once_weekly_regimens(protocol: Protocol) -> set[str]:
    """Regimens whose every output must say "once weekly, on <weekday>. Never take it daily.":
    methotrexate given for a non-cancer use, and every regimen sharing its blinded label (so
    that a blinded patient on the matching placebo reads the same words)."""
    weekly = {
        r.id for r in protocol.regimens if is_methotrexate(r.drug) and not daily_methotrexate_allowed(protocol, r)
    }
    labels = {protocol.regimen(r).blinded_label for r in weekly} - {None}
    return weekly | {r.id for r in protocol.regimens if r.blinded_label in labels}


def unit_factor(unit: str, target: str) -> float | None:
    """How many ``target`` one ``unit`` is (1000 for g -> mg, exact in :mod:`dosing.protocol.units`);
    None when the two cannot be compared (e.g. tablets and mg)."""
    ratio = factor(unit, target)
    return None if ratio is None else float(ratio)


def daily_methotrexate_allowed(protocol: Protocol, regimen: Regimen) -> bool:
    return protocol.study.oncology and regimen.acknowledge_daily_methotrexate


def check_methotrexate_protocol(protocol: Protocol) -> None:
    """Refuse a methotrexate schedule that can give more than one dose in a week."""
    for index, regimen in enumerate(protocol.regimens):
        if not is_methotrexate(regimen.drug) or daily_methotrexate_allowed(protocol, regimen):
            continue
        where = f"regimens[{index}] (id {regimen.id!r}).schedule"
        problem = _weekly_problem(regimen)
        if problem:
            raise ProtocolError(
                f"methotrexate would be given {problem}. For rheumatoid arthritis and other non-cancer uses "
                "methotrexate is taken ONCE WEEKLY; daily dosing in error has caused deaths",
                source=protocol.source,
                where=where,
                hint='schedule it on one named weekday (weekdays = ["Monday"] or weekday_from = '
                '"<cohort column>") with one time of day; only an oncology protocol '
                "(study.oncology = true) may set acknowledge_daily_methotrexate = true on the regimen",
            )


def _weekly_problem(regimen: Regimen) -> str | None:
    if regimen.times is not None and len(regimen.times) > 1:
        return f"{len(regimen.times)} times a day"
    for phase in regimen.schedule.phases or [regimen.schedule]:
        problem = _phase_problem(phase)
        if problem:
            return problem
    return None


def _phase_problem(s: Schedule) -> str | None:
    if s.daily or s.on is not None:
        return "daily"
    if s.every_hours is not None:
        return f"every {s.every_hours} hours"
    if s.every_days is not None and s.every_days < 7:
        return f"every {s.every_days} day(s)"
    if s.relative_to is not None:
        return f"with each dose of another regimen ({s.relative_to!r}), which is not a weekly rule"
    if s.weekdays is not None and len(s.weekdays) > 1:
        return f"on {len(s.weekdays)} days of each week"
    if s.cycle_days is not None:
        gaps = np.diff(s.cycle_days)
        if len(gaps) and gaps.min() < 7:
            return f"on cycle days {s.cycle_days} (less than 7 days apart)"
    if s.after is not None:
        return f"on days that follow another regimen ({s.after!r}), which is not a weekly rule"
    return _cycle_wrap_problem(s)


def _cycle_wrap_problem(s: Schedule) -> str | None:
    """The last dose of one cycle and the first of the next may be less than 7 days apart
    (e.g. every 10 days in a 14-day cycle: days 1, 11, then 15)."""
    period = s.cycle_period if s.until_stopped or (isinstance(s.cycles, int) and s.cycles > 1) else None
    if period is None:
        return None
    if s.cycle_days is not None:
        days = list(s.cycle_days)
    elif s.every_days is not None:
        days = list(range(1, (s.active_days or period) + 1, s.every_days))
    else:
        return None
    gap = period - days[-1] + days[0]
    if gap < 7:
        return f"{gap} day(s) apart where one cycle ends and the next begins"
    return None


def check_schedule(doses: pd.DataFrame, protocol: Protocol) -> None:
    """Every dose-level rule on an expanded (and changed) schedule: methotrexate once weekly,
    maximum daily doses, one drug from one regimen a day. Every command that shows or writes a
    schedule calls this first."""
    check_methotrexate_doses(doses, protocol)
    check_max_daily(doses, protocol)
    check_same_drug(doses, protocol)


def check_methotrexate_doses(doses: pd.DataFrame, protocol: Protocol) -> None:
    """Second line of defence on the expanded table: no two methotrexate doses of one
    patient less than 7 days apart (covers per-patient values and changes)."""
    risky = [r.id for r in protocol.regimens if is_methotrexate(r.drug) and not daily_methotrexate_allowed(protocol, r)]
    if not risky or doses.empty:
        return
    given = _given(doses)
    mtx = given[given["regimen"].isin(risky)].sort_values(["patient_id", "planned_at"], kind="stable")
    if mtx.empty:
        return
    same_patient = mtx["patient_id"].eq(mtx["patient_id"].shift()).to_numpy()
    gap = mtx["planned_at"].diff().to_numpy()
    bad = np.flatnonzero(same_patient & (gap < np.timedelta64(6 * 24 + 12, "h")))
    if len(bad):
        row = mtx.iloc[bad[0]]
        hours = int(gap[bad[0]] // np.timedelta64(1, "h"))
        raise SafetyError(
            f"patient {row['patient_id']}: methotrexate dose on {row['date']} ({row['weekday']}, study day "
            f"{row['study_day']}) comes {_span(hours)} after the previous one; methotrexate must be once weekly",
            hint="check the changes file and the patient's weekday in the cohort file",
        )


def _span(hours: int) -> str:
    days, rest = divmod(hours, 24)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{rest} hour{'s' if rest != 1 else ''}"] if rest or not days else []
    return " ".join(parts)


def check_max_daily(doses: pd.DataFrame, protocol: Protocol) -> None:
    """No patient may receive more than the maximum daily dose of any drug on any day.

    Doses are summed per patient, local date and drug (every regimen of the drug, with each
    patient's own amounts); held doses are not given and do not count. A regimen given every N
    elapsed hours keeps its rhythm across a fall-back night, so on that 25-hour date its dose 24
    hours or more after its first dose of the date is not counted with the date's others (it is the
    start of the next 24 hours; on every other date all doses fall within 24 hours)."""
    limits = daily_limits(protocol)
    factors = limit_factors(protocol, limits)
    limited = {regimen_id: drug_key(protocol.regimen(regimen_id).drug) for regimen_id in factors}
    if doses.empty or not limited:
        return
    rows = _given(doses)
    columns = ["patient_id", "date", "study_day", "regimen", "dose"]
    rows = rows.loc[rows["regimen"].isin(list(limited)), columns + (["planned_at"] if "planned_at" in rows else [])]
    rows = rows[~_past_24_hours(rows, protocol)]
    drugs = sorted(set(limited.values()))
    codes = _drug_codes(rows["regimen"], limited, drugs)
    scale = _per_category(rows["regimen"], factors)
    rows = rows.assign(
        _drug=pd.Categorical.from_codes(codes, categories=pd.Index(drugs)),
        dose=rows["dose"].to_numpy(dtype=float) * scale,
    )
    totals = rows.groupby(["patient_id", "date", "_drug"], observed=True, sort=True).agg(
        dose=("dose", "sum"), day=("study_day", "first")
    )
    totals = totals.reset_index()
    per_drug = np.array([limits[str(drug)][0] for drug in totals["_drug"].cat.categories], dtype=float)
    limit = per_drug[totals["_drug"].cat.codes.to_numpy()]  # not Series.map: on Arrow strings it keeps str
    bad = totals[totals["dose"].to_numpy(dtype=float) > limit + 1e-9]
    if not bad.empty:
        row = bad.iloc[0]
        amount, unit = limits[str(row["_drug"])]
        drug = shown_drug(protocol, str(row["_drug"]))
        day = rows[(rows["patient_id"] == row["patient_id"]) & (rows["date"] == row["date"])]
        given = [
            r
            for r in protocol.regimens
            if r.id in set(day["regimen"].astype(str)) and limited.get(r.id) == row["_drug"]
        ]
        hint = "lower the dose or the number of times a day, or correct the regimen's max_daily_dose"
        if any(_elapsed_hourly(r) for r in given):
            hint += ' (for doses at the same clock times every day, across daylight-saving changes too: clock = "wall")'
        raise SafetyError(
            f"patient {row['patient_id']} would receive {format_dose(row['dose'], unit)} of {drug} on "
            f"{row['date']} (study day {row['day']}), above the maximum daily dose of {format_dose(amount, unit)}",
            source=protocol.source,
            where=_where(protocol, given),
            hint=hint,
        )


def _elapsed_hourly(regimen: Regimen) -> bool:
    """Given every N elapsed hours (in one of its phases at least)."""
    return any(p.every_hours and p.clock != "wall" for p in regimen.schedule.phases or [regimen.schedule])


def _past_24_hours(rows: pd.DataFrame, protocol: Protocol) -> npt.NDArray[np.bool_]:
    """The doses of regimens given every N elapsed hours that come 24 hours or more after the
    regimen's first dose of the same local date (only on a 25-hour fall-back date)."""
    elapsed = [r.id for r in protocol.regimens if _elapsed_hourly(r)]
    out = np.zeros(len(rows), dtype=bool)
    if "planned_at" not in rows.columns or not elapsed or rows.empty:
        return out
    pick = rows["regimen"].isin(elapsed).to_numpy(dtype=bool)
    if not pick.any():
        return out
    part = rows[pick]
    instant = pd.Series(pd.to_datetime(part["planned_at"], utc=True).to_numpy(dtype="datetime64[ns]"), index=part.index)
    first = instant.groupby([part["patient_id"], part["date"], part["regimen"]], observed=True, sort=False).transform(
        "min"
    )
    out[pick] = (instant - first).to_numpy() >= np.timedelta64(24, "h")
    return out


def _where(protocol: Protocol, given: list[Regimen]) -> str | None:
    """The protocol field of the limit: the regimen's own max_daily_dose, else its dose (in a blinded
    study, a regimen with a blinded label is named by the label alone)."""
    if not given:
        return None
    regimen = given[0]
    index = protocol.regimens.index(regimen)
    field = "max_daily_dose" if regimen.max_daily_dose is not None else "dose"
    if protocol.study.blinded and regimen.blinded_label:  # the field might differ by arm: the label only
        return f"regimen {shown_regimen(protocol, regimen.id)}"
    return f"regimens[{index}] (id {regimen.id!r}).{field}"


def shown_drug(protocol: Protocol, key: str) -> str:
    """A drug as error messages may name it: in a blinded study, a drug hidden behind a blinded
    label is named by that label (the person running the tool may be blinded staff)."""
    if protocol.study.blinded:
        labels = sorted({r.blinded_label for r in protocol.regimens if drug_key(r.drug) == key and r.blinded_label})
        if labels:
            return " / ".join(labels)
    return key


def shown_regimen(protocol: Protocol, regimen_id: str) -> str:
    """A regimen as error messages may name it: its blinded label in a blinded study, else its id."""
    regimen = protocol.regimen(regimen_id)
    if protocol.study.blinded and regimen.blinded_label:
        return repr(regimen.blinded_label)
    return regimen_id


def _drug_codes(regimen: pd.Series, limited: dict[str, str], drugs: list[str]) -> npt.NDArray[np.int64]:
    """Per row, the index in ``drugs`` of the row's drug, from the regimen's category codes."""
    categorical = regimen.astype("category")
    lookup = np.array([drugs.index(limited.get(str(c), drugs[0])) for c in categorical.cat.categories], dtype=np.int64)
    return lookup[categorical.cat.codes.to_numpy()]


def _per_category(regimen: pd.Series, values: dict[str, float]) -> npt.NDArray[np.float64]:
    """Per row, ``values`` of the row's regimen (1.0 where absent), via the category codes."""
    categorical = regimen.astype("category")
    lookup = np.array([values.get(str(c), 1.0) for c in categorical.cat.categories], dtype=float)
    return lookup[categorical.cat.codes.to_numpy()]


def limit_factors(protocol: Protocol, limits: dict[str, tuple[float, str]]) -> dict[str, float]:
    """Regimen id -> factor from its dose unit to the unit of its drug's daily limit, for every
    regimen whose drug has a limit. A unit that cannot be compared with the limit's is an error:
    a limit that cannot be checked must not be skipped silently."""
    factors: dict[str, float] = {}
    for index, regimen in enumerate(protocol.regimens):
        unit = limit_unit(limits, regimen)
        if unit is None:
            continue
        ratio = unit_factor(regimen.dose.absolute_unit, unit)
        if ratio is None:
            raise ProtocolError(
                f"the maximum daily dose of {drug_key(regimen.drug)} is in {unit}, but this regimen doses it in "
                f"{regimen.dose.unit!r}, so the limit cannot be checked",
                source=protocol.source,
                where=f"regimens[{index}] (id {regimen.id!r}).dose.unit",
                hint=f"write the dose in {unit}: "
                f'dose = {{ amount = <the amount of one dose in {unit}>, unit = "{unit}" }} '
                f"(a limit in {regimen.dose.unit!r} cannot replace a limit in {unit})",
            )
        factors[regimen.id] = ratio
    return factors


def limit_unit(limits: dict[str, tuple[float, str]], regimen: Regimen) -> str | None:
    limit = limits.get(drug_key(regimen.drug))
    return limit[1] if limit else None


def _given(doses: pd.DataFrame) -> pd.DataFrame:
    """Doses that will be given: a held dose (see changes files) is not."""
    if "held" in doses.columns and doses["held"].any():
        return doses[~doses["held"].to_numpy(dtype=bool)]
    return doses


SAME_DRUG_HINT = "remove the overlap, or set allow_same_drug = true on every regimen involved if it is intended"


def check_same_drug(doses: pd.DataFrame, protocol: Protocol) -> None:
    """No patient gets one drug from two regimens on the same day, unless every regimen
    involved sets ``allow_same_drug = true`` (e.g. a loading dose beside a maintenance dose)."""
    risky = shared_drug_regimens(protocol)
    if not risky or doses.empty:
        return
    keys = {r.id: drug_key(r.drug) for r in protocol.regimens}
    frame = doses.loc[doses["regimen"].isin(risky), ["patient_id", "date", "study_day", "regimen"]]
    frame = frame.assign(regimen=frame["regimen"].astype(str)).drop_duplicates(["patient_id", "date", "regimen"])
    frame["_drug"] = frame["regimen"].map(keys)
    frame["_strict"] = ~frame["regimen"].map(lambda rid: protocol.regimen(rid).allow_same_drug)
    groups = frame.groupby(["patient_id", "date", "_drug"], observed=True, sort=True)
    stats = groups.agg(
        regimens=("regimen", "nunique"),
        strict=("_strict", "any"),
        day=("study_day", "first"),
        names=("regimen", lambda names: ", ".join(sorted(shown_regimen(protocol, n) for n in names))),
    )
    bad = stats[(stats["regimens"] > 1) & stats["strict"]].reset_index()
    if not bad.empty:
        row = bad.iloc[0]
        raise SafetyError(
            f"patient {row['patient_id']} would receive {shown_drug(protocol, row['_drug'])} from {row['regimens']} "
            "regimens "
            f"({row['names']}) on {row['date']} (study day {row['day']}); two regimens of the same drug on one "
            "day are usually a mistake",
            source=protocol.source,
            hint=SAME_DRUG_HINT,
        )


def shared_drug_regimens(protocol: Protocol) -> set[str]:
    """Regimens sharing a drug with another regimen of the same arm (unless all of them allow it)."""
    risky: set[str] = set()
    for arm in protocol.arms:
        by_drug: dict[str, list[Regimen]] = {}
        for regimen_id in arm.regimens:
            regimen = protocol.regimen(regimen_id)
            by_drug.setdefault(drug_key(regimen.drug), []).append(regimen)
        for regimens in by_drug.values():
            if len(regimens) > 1 and not all(r.allow_same_drug for r in regimens):
                risky.update(r.id for r in regimens)
    return risky


def check_blinding(protocol: Protocol) -> None:
    """In a blinded study every arm-specific regimen must hide behind a blinded label, and
    regimens sharing a label must look the same in every respect a blinded user can see."""
    if not protocol.study.blinded:
        return
    all_arms = {a.id for a in protocol.arms}
    members_of = {a.id: set(a.regimens) for a in protocol.arms}  # sets: linear time in the regimens
    groups: dict[str, list[Regimen]] = {}
    for regimen in protocol.regimens:
        arms = {a for a, members in members_of.items() if regimen.id in members}
        if regimen.blinded_label is None:
            if arms != all_arms:
                _blind_fail(
                    protocol,
                    regimen,
                    "is given in only some arms, so it would reveal the arm",
                    "give it a blinded_label shared with the matching regimen of the other arms",
                )
            continue
        groups.setdefault(regimen.blinded_label, []).append(regimen)
    for label, members in groups.items():
        _check_group(protocol, label, members, members_of)


#: How a dose is worked out (its attribute, its protocol key): what may fail for a patient, and what
#: the patient must have (height, weight, creatinine ...). Identical within a blinded group; the amounts
#: (``amount``, ``auc``, ``gfr_cap``) may differ behind a blinded_dose.
_DOSE_METHOD = (
    ("patient_value", "patient_value"),
    ("per", "per"),
    ("bsa", "bsa"),
    ("cap", "cap"),
    ("formula", "formula"),
    ("gfr", "gfr"),
    ("round_", "round"),
    ("round_to", "round_to"),
)


def _check_group(protocol: Protocol, label: str, members: list[Regimen], members_of: dict[str, set[str]]) -> None:
    for arm in protocol.arms:
        count = sum(r.id in members_of[arm.id] for r in members)
        if count != 1:
            _blind_fail(
                protocol,
                members[0],
                f"blinded label {label!r} appears {count} times in arm {arm.id!r}",
                "every arm needs exactly one regimen with this blinded_label (a placebo where needed)",
            )
    first = members[0]
    for other in members[1:]:
        for name in (
            "schedule",
            "times",
            "times_from",
            "first_dose",
            "duration",
            "route",
            "instructions",
            "in_clinic",
            "adherence",
            "blinded_dose",
            "as_needed",
            "blinded_names",
            "translated_instructions",
        ):
            if getattr(first, name) != getattr(other, name):
                _blind_fail(
                    protocol,
                    other,
                    f"differs from {first.id!r} in {name}, so blinded outputs would reveal the arm",
                    f"make {name} identical within blinded label {label!r}",
                )
        for key, name in _DOSE_METHOD:
            if getattr(first.dose, key) != getattr(other.dose, key):
                _blind_fail(
                    protocol,
                    other,
                    f"differs from {first.id!r} in dose.{name}, so a patient's dose could fail (a rounding outside "
                    "its within, a missing height or creatinine) in one arm only, which would reveal the arm",
                    f"make dose.{name} identical within blinded label {label!r} (amounts may differ, with a "
                    'blinded_dose; a placebo may be given per bsa too, e.g. unit = "mL/m2")',
                )
        fixed = same_in_blinded_group(first, other)  # steps and levels (dosing.protocol.dose_steps)
        if fixed is not None:
            _blind_fail(
                protocol,
                other,
                f"differs from {first.id!r} in {fixed}, so blinded outputs or changes files would reveal the arm",
                f"make {fixed} identical within blinded label {label!r} (amounts may differ, with a blinded_dose)",
            )
        differs = first.dose != other.dose or amounts_differ(first, other)
        if differs and (other.blinded_dose is None or first.blinded_dose != other.blinded_dose):
            _blind_fail(
                protocol,
                other,
                f"has a different dose from {first.id!r}, which would reveal the arm",
                f'set the same blinded_dose (e.g. "1 syringe") on every regimen labelled {label!r}',
            )


def _blind_fail(protocol: Protocol, regimen: Regimen, message: str, hint: str) -> None:
    index = protocol.regimen_ids.index(regimen.id)
    raise ProtocolError(
        f"blinding: regimen {regimen.id!r} {message}", source=protocol.source, where=f"regimens[{index}]", hint=hint
    )


__all__ = [
    "KNOWN_DAILY_LIMITS",
    "METHOTREXATE_NON_ONCOLOGY_MAX",
    "check_schedule",
    "daily_limits",
    "drug_key",
    "is_methotrexate",
    "limit_factors",
    "unit_factor",
]
