"""As-needed (PRN) regimens: what such a regimen may say, and how it may relate to the others (pure).

A PRN regimen (``as_needed = { max_per_24h = 3, min_interval = "4 hours" }``) is taken when the
patient needs it, within its limits, on the days its schedule allows. It has no planned doses: no
times of day, nothing in doses.csv, calendars or worklists, and it is never "missed". Adherence
judges its logged doses for over-use (:mod:`dosing.adherence.prn`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ..errors import ProtocolError

if TYPE_CHECKING:
    from .model import Protocol, Regimen

DAY = dt.timedelta(hours=24)
#: The longest minimum interval a protocol may give (a week).
MAX_INTERVAL = dt.timedelta(days=7)
#: Schedule keys that make no sense for a regimen without planned doses.
_NOT_IN_PRN_SCHEDULE = ("after", "except_days_of", "count")


def check_as_needed(regimen: Regimen) -> None:
    """The checks of one PRN regimen (a ValueError, told with the regimen's path by the model)."""
    assert regimen.as_needed is not None
    given = [key for key in ("times", "times_from", "first_dose") if getattr(regimen, key) is not None]
    if given:
        raise ValueError(
            f"an as-needed regimen has no planned times: leave out {', '.join(given)} "
            "(the patient takes it when needed, within as_needed.max_per_24h and min_interval)"
        )
    if regimen.in_clinic:
        raise ValueError(
            "an as-needed regimen cannot be in_clinic: it has no planned doses for the clinic to give "
            "(leave out in_clinic, or give the clinic's doses their own scheduled regimen)"
        )
    for phase in regimen.schedule.phases or [regimen.schedule]:
        used = [key for key in _NOT_IN_PRN_SCHEDULE if getattr(phase, key) is not None]
        if used:
            raise ValueError(
                f"the schedule of an as-needed regimen gives the days on which it may be taken: "
                f"{', '.join(used)} cannot be used there (use daily = true with start_day and end_day, "
                "weekdays, cycle_days ...)"
            )
    _check_limits(regimen.as_needed.max_per_24h, regimen.as_needed.min_interval)


def _check_limits(most: int, interval: dt.timedelta | None) -> None:
    if interval is None:
        return
    if interval > MAX_INTERVAL:
        raise ValueError(f"as_needed.min_interval is at most 7 days, got {_hours(interval)}")
    if most > 1 and (most - 1) * interval >= DAY:
        raise ValueError(
            f"as_needed: {most} doses at least {_hours(interval)} apart cannot fit in 24 hours "
            f"({most - 1} intervals of {_hours(interval)} make {_hours((most - 1) * interval)}), so "
            "max_per_24h could never be reached and the two limits contradict each other; lower max_per_24h "
            f"to {_reachable(interval)} or shorten min_interval below {_hours(DAY / (most - 1))}"
        )


def _reachable(interval: dt.timedelta) -> int:
    """The most doses ``interval`` apart that fit in a 24-hour window (strictly inside it)."""
    return -(-DAY // interval)


def _hours(span: dt.timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if not rest else f"{hours} h {rest} min" if hours else f"{rest} min"


def describe_as_needed(regimen: Regimen) -> str:
    """How outputs state a PRN regimen's limits: "as needed, at most 3 in 24 hours, at least 4 h apart"."""
    assert regimen.as_needed is not None
    text = f"as needed, at most {regimen.as_needed.max_per_24h} in 24 hours"
    if regimen.as_needed.min_interval is not None:
        text += f", at least {_hours(regimen.as_needed.min_interval)} apart"
    return text


def check_prn_relations(protocol: Protocol) -> None:
    """No regimen may be placed relative to a PRN regimen (``after``, ``except_days_of``, ``relative_to``:
    a PRN regimen has no planned dose days or doses), and within an arm a PRN regimen may not share the
    drug as logged (its drug or blinded label) with a scheduled regimen: a logged dose could not be told
    apart."""
    prn = {r.id for r in protocol.regimens if r.prn}
    if not prn:
        return
    for index, regimen in enumerate(protocol.regimens):
        for p, phase in enumerate(regimen.schedule.phases or [regimen.schedule]):
            path = f"regimens[{index}] (id {regimen.id!r}).schedule" + (
                f".phases[{p}]" if regimen.schedule.phases else ""
            )
            for key, targets in (
                ("after", [phase.after]),
                ("except_days_of", phase.except_days_of or []),
                ("relative_to", [phase.relative_to]),
            ):
                for target in targets:
                    if target in prn:
                        what = "planned doses" if key == "relative_to" else "planned dose days"
                        raise ProtocolError(
                            f"{key} refers to {target!r}, an as-needed regimen, which has no {what}",
                            source=protocol.source,
                            where=f"{path}.{key}",
                            hint="refer to a scheduled regimen, or give this regimen its own pattern of days",
                        )
    _shared_labels(protocol, prn)


def _shared_labels(protocol: Protocol, prn: set[str]) -> None:
    for arm in protocol.arms:
        seen: dict[str, str] = {}
        for regimen_id in arm.regimens:
            regimen = protocol.regimen(regimen_id)
            label = " ".join((regimen.blinded_label or regimen.drug).split()).casefold()
            other = seen.setdefault(label, regimen_id)
            if other != regimen_id and (other in prn or regimen_id in prn):
                as_needed, second = (regimen_id, other) if regimen_id in prn else (other, regimen_id)
                kind = "as-needed" if second in prn else "scheduled"
                index = protocol.regimen_ids.index(as_needed)
                raise ProtocolError(
                    f"as-needed regimen {as_needed!r} and {kind} regimen {second!r} are the same drug as a "
                    f"log names it ({regimen.blinded_label or regimen.drug!r}) in arm {arm.id!r}: a logged dose "
                    "could not be told apart",
                    source=protocol.source,
                    where=f"regimens[{index}] (id {as_needed!r})",
                    hint="give the patients of an arm one regimen of this drug when one is as needed",
                )


__all__ = ["check_as_needed", "check_prn_relations", "describe_as_needed"]
