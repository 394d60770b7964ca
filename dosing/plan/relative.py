"""Relative timing (``relative_to = "oxaliplatin"``, ``offset = "-30 minutes"``). Pure.

A regimen scheduled relative to another has one dose per dose of that (*anchor*) regimen, for the
same patient, at the anchor's instant + ``offset`` in elapsed time (negative: before). Its cycle and
cycle day are the anchor dose's; its study day is its own local date - start date + 1. Its uid names
the anchor's planned slot + offset (wall-clock arithmetic before any daylight-saving adjustment),
so it is unique when the anchor's uids are, and stable when the anchor later moves.

After changes (:func:`follow_anchors`, called by :mod:`dosing.plan.apply_changes`) each relative
dose follows its anchor dose: moved with it (a delay, a closed-clinic move), held with it, and gone
with it (a stop or withdrawal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import ProtocolError
from ..protocol.durations import duration_text
from .hourly import NS_PER_DAY, NS_PER_MINUTE, PatientClock, TimedDoses, utc_to_local

if TYPE_CHECKING:
    from ..protocol.model import Protocol, Regimen


def relative_doses(
    regimen: Regimen,
    anchor: TimedDoses,
    anchor_utc: np.ndarray,
    receives: np.ndarray,
    who: PatientClock,
    protocol: Protocol,
) -> TimedDoses:
    """The doses of ``regimen`` from the doses of its anchor (``anchor_utc``: their UTC ns); only for
    the patients who receive it (``receives``, per patient)."""
    offset = int(regimen.schedule.relative_offset.total_seconds()) * 1_000_000_000
    pick = receives[anchor.patient]
    patient = anchor.patient[pick]
    instant = anchor_utc[pick] + offset
    local = utc_to_local(instant, who.zone[patient])
    day = (local - who.start[patient]) // NS_PER_DAY + 1
    planned = (anchor.planned_day[pick].astype(np.int64) - 1) * NS_PER_DAY + anchor.minutes[pick] * NS_PER_MINUTE
    planned = planned + offset
    _check_inside(regimen, day, protocol)
    return TimedDoses(
        patient,
        day,
        planned % NS_PER_DAY // NS_PER_MINUTE,
        np.maximum(planned // NS_PER_DAY + 1, 0),
        instant,
        anchor.cycle[pick],
        anchor.cycle_day[pick],
        np.zeros(len(patient), dtype=np.int64),
    )


def _check_inside(regimen: Regimen, day: np.ndarray, protocol: Protocol) -> None:
    if not len(day):
        return
    if day.min() < 1 or day.max() > protocol.study.last_day:
        outside_error(protocol, regimen, int(day.min()) if day.min() < 1 else int(day.max()))


def offset_text(offset: dt.timedelta) -> str:
    """An offset of relative timing as written: "26 hours before", "7 days after", "30 minutes before"."""
    minutes = int(offset.total_seconds()) // 60
    return f"{duration_text(abs(minutes))} {'before' if minutes < 0 else 'after'}"


def outside_error(protocol: Protocol, regimen: Regimen, bad: int, whom: str = "") -> None:
    """Raise: a dose of relative ``regimen`` would fall on study day ``bad``, outside the study
    (``whom``: " for a patient whose study day 1 is a Monday" on a synthetic patient)."""
    s = regimen.schedule
    where = "before study day 1" if bad < 1 else f"after study.last_day ({protocol.study.last_day})"
    hint = "change the offset, the other regimen's schedule, or study.last_day"
    if bad < 1:
        hint = (
            f"start {s.relative_to!r} later (e.g. schedule.start_day = 2, so that a dose the day before its "
            "first falls on study day 1), or change the offset"
        )
    raise ProtocolError(
        f"a dose of {regimen.id!r} ({offset_text(s.relative_offset)} a dose of {s.relative_to!r}) would fall "
        f"{where}{whom}",
        source=protocol.source,
        where=f"regimens[{protocol.regimens.index(regimen)}] (id {regimen.id!r}).schedule.offset",
        hint=hint,
    )


def check_relative_inside(protocol: Protocol, anchors: dict[str, np.ndarray], describe: Callable[[int], str]) -> None:
    """Not every synthetic patient has a relative dose outside the study (such an offset is a
    protocol error; one that only some patients' weekdays put outside is left to the check of the
    expanded cohort, e.g. folic acid 24 hours after weekly methotrexate on the last study day): from
    the anchor's dosing days (``anchors``: regimen id -> patients x study days) and its times. Anchors
    given every N hours, at the patient's own times or themselves relative are left to that check too."""
    for regimen in protocol.regimens:
        s = regimen.schedule
        if s.relative_to is None:
            continue
        anchor = protocol.regimen(s.relative_to)
        if anchor.hourly or not anchor.times or anchor.schedule.relative_to is not None:
            continue
        mask = anchors[anchor.id]
        patient, index = np.nonzero(mask)
        if not len(index):
            continue
        offset = int(s.relative_offset.total_seconds()) // 60
        shifts = {(t.hour * 60 + t.minute + offset) // 1440 for t in anchor.times}
        breach = np.zeros(mask.shape[0], dtype=bool)
        first = None
        for shift in sorted(shifts):
            day = index + 1 + shift
            outside = np.flatnonzero((day < 1) | (day > mask.shape[1]))
            breach[patient[outside]] = True
            if len(outside) and first is None:
                first = (int(day[outside[0]]), int(patient[outside[0]]))
        if first is not None and breach.all():
            outside_error(protocol, regimen, first[0], f" for every patient (e.g. one {describe(first[1])})")


def anchor_links(doses: pd.DataFrame, anchors: dict[str, tuple[str, int]]) -> np.ndarray:
    """Per row of ``doses``, the position of its anchor dose (-1: not a relative dose, or no anchor).

    ``anchors`` maps each relative regimen to (anchor regimen, offset in ns). A relative dose's
    anchor is the dose of the same patient and anchor regimen whose instant + offset is its instant
    (the plan before changes: every relative dose has one)."""
    link = np.full(len(doses), -1, dtype=np.int64)
    if not anchors or doses.empty:
        return link
    regimen = doses["regimen"].astype(str).to_numpy()
    patient = doses["patient_id"].astype(str).to_numpy()
    instant = doses["planned_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    for rel, (anchor, offset) in anchors.items():
        mine = np.flatnonzero(regimen == rel)
        theirs = np.flatnonzero(regimen == anchor)
        if not len(mine) or not len(theirs):
            continue
        keys = pd.MultiIndex.from_arrays([patient[theirs], instant[theirs] + offset])
        found = keys.get_indexer(pd.MultiIndex.from_arrays([patient[mine], instant[mine]]))
        link[mine] = np.where(found >= 0, theirs[found], -1)
    return link


def anchors_of(protocol: Protocol) -> dict[str, tuple[str, int]]:
    """Each relative regimen's anchor regimen and offset (ns)."""
    out = {}
    for regimen in protocol.regimens:
        s = regimen.schedule
        if s.relative_to is not None:
            out[regimen.id] = (s.relative_to, int(s.relative_offset.total_seconds()) * 1_000_000_000)
    return out


def relative_days(anchor: np.ndarray, offset: dt.timedelta) -> np.ndarray:
    """The (n, D) days that may carry a relative dose, from its anchor's dosing days: shifted by the
    whole days of ``offset`` and, when it is not whole days, by one day more too (for the checks of
    a simulated cohort, which know days but not times)."""
    days = offset // dt.timedelta(days=1)
    out = _shift(anchor, days)
    if offset % dt.timedelta(days=1):
        out |= _shift(anchor, days + 1)
    return out


def _shift(mask: np.ndarray, days: int) -> np.ndarray:
    out = np.zeros_like(mask)
    width = mask.shape[1]
    if days >= 0:
        out[:, days:] = mask[:, : max(width - days, 0)]
    else:
        out[:, : width + days] = mask[:, -days:]
    return out
