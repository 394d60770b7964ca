"""Protocol x cohort (x changes) -> one row per planned clinic visit. Pure, vectorised over patients.

Rules (stated in docs/visits-and-changes.md and tested):

* Study day ``d`` >= 1 is ``start_date + (d - 1)``; day ``-d`` is ``start_date - d`` (no day 0).
* The window is ``target - early .. target + late`` (calendar days, inclusive).
* A target on a closed day (a closed weekday or a public holiday of the clinic's country) moves
  to the nearest open day inside the window; when an earlier and a later day are equally near,
  the EARLIER one is chosen (the visit stays closer to the previous dose cycle and a late
  patient still has the rest of the window). With no open day in the window the visit stays on
  its target with ``moved_reason`` and ``warning`` "no open day in window": reported, never
  silently broken.
* Anchors: "day1" fixes the target to the patient's study day 1; a visit id keeps the planned
  distance from that visit's *scheduled* date (a chained visit follows its anchor when it is
  moved or rescheduled); "<regimen> cycle <n>" keeps the planned distance from that cycle's
  first day, which a ``delay`` in the changes moves. Dose anchors ("<regimen> cycle <n> day <m>",
  "last dose of <regimen>", see :mod:`dosing.plan.visit_anchors`) give a date after the changes, and
  the visit's ``day`` counts days after it (0 = on it).
* Visits may fall after ``study.last_day`` (e.g. week 24 = day 169 when doses end on day 168).
* Changes: a ``reschedule`` puts the visit on its date (warning "rescheduled outside window"
  when outside); a ``withdraw`` removes visits on or after its date except those marked
  ``follow_up_after_withdrawal``. ``sequence`` counts the change rows that moved a visit
  (its own reschedule, delays of its cycle anchor, and those of the visit it is chained to).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..protocol.model import Protocol, Visit
from ..protocol.values import WEEKDAYS
from ..protocol.visit_checks import DAY1, CycleAnchor, LastDoseAnchor, blinded_group, parse_anchor, visit_order
from .changes import Changes, each_row
from .clinic_calendar import ClinicCalendar
from .cohort import Cohort
from .visit_anchors import DoseTables, change_rows_of, last_dose_dates

#: Columns users see, in order (visits.csv, patients/<id>/visits.csv).
VISIT_COLUMNS = [
    "patient_id",
    "visit",
    "name",
    "target_date",
    "window_start",
    "window_end",
    "scheduled_date",
    "weekday",
    "time",
    "study_day",
    "moved_reason",
    "warning",
    "procedures",
    "uid",
]
#: Columns the calendar writer needs as well.
CALENDAR_COLUMNS = ["duration_minutes", "sequence", "changed_on", "follow_up"]
NO_OPEN_DAY = "no open day in window"
OUTSIDE = "rescheduled outside window"


def day_offset(day: np.ndarray | int) -> np.ndarray:
    """Calendar days from study day 1 to study day ``day`` (there is no day 0)."""
    day = np.asarray(day)
    return np.where(day >= 1, day - 1, day)


def study_day(dates: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The study day of ``dates`` (datetime64[D]) for patients starting on ``start``."""
    gap = (dates - start).astype(np.int64)
    return np.where(gap >= 0, gap + 1, gap)


def nearest_open(target: np.ndarray, early: int, late: int, calendar: ClinicCalendar) -> tuple[np.ndarray, np.ndarray]:
    """The open day nearest each target inside its window (ties earlier), and whether one was found."""
    chosen = target.astype("datetime64[D]").copy()
    found = np.zeros(len(target), dtype=bool)
    for step in range(max(early, late) + 1):
        for offset in (-step, step) if step else (0,):
            if -early <= offset <= late:
                candidate = target + np.timedelta64(offset, "D")
                fits = ~found & (calendar.closed(candidate) == "")
                chosen[fits] = candidate[fits]
                found |= fits
        if found.all():
            break
    return chosen, found


@dataclass
class _Planned:
    """One visit for all patients, as aligned arrays."""

    target: np.ndarray
    scheduled: np.ndarray
    reason: np.ndarray
    warning: np.ndarray
    sequence: np.ndarray
    stamp: np.ndarray
    keep: np.ndarray  # False: no visit for the patient (a last-dose anchor with no dose left)


def plan_visits(
    protocol: Protocol,
    cohort: Cohort,
    changes: Changes | None = None,
    *,
    doses: pd.DataFrame | None = None,
    planned: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every patient's visits (columns :data:`VISIT_COLUMNS` + :data:`CALENDAR_COLUMNS`), sorted by
    patient (cohort order) and scheduled date. Empty when the protocol plans no visits.

    Visits anchored to "last dose of <regimen>" read the dose tables: ``doses`` is the table after
    ``changes`` (:func:`dosing.apply_changes`), ``planned`` the table before them (:func:`dosing.expand`)
    for this cohort. Pass them when you have them; they are computed when a visit needs them."""
    frame = cohort.patients
    if not protocol.visits:
        return pd.DataFrame(columns=[*VISIT_COLUMNS, *CALENDAR_COLUMNS])
    start = frame["start_date"].to_numpy().astype("datetime64[D]")
    calendar = ClinicCalendar(protocol.clinic, _years(protocol, start))
    plans: dict[str, _Planned] = {}
    parts = []
    tables = DoseTables(protocol, cohort, changes, doses, planned)
    for visit in visit_order(protocol):
        plans[visit.id] = _plan_one(protocol, visit, frame, start, calendar, plans, changes, tables)
        parts.append(_rows(protocol, visit, frame, start, plans[visit.id])[plans[visit.id].keep])
    table = pd.concat(parts, ignore_index=True)
    if changes is not None:
        table = _withdraw(table, changes)
    order = {pid: i for i, pid in enumerate(frame["patient_id"])}
    table["_p"] = table["patient_id"].map(order)
    table["_v"] = table["visit"].map({v.id: i for i, v in enumerate(protocol.visits)})
    table = table.sort_values(["_p", "scheduled_date", "_v"], kind="stable").drop(columns=["_p", "_v"])
    return table.reset_index(drop=True)


def _years(protocol: Protocol, start: np.ndarray) -> range:
    first = pd.Timestamp(start.min()).year - 1
    reach = max(abs(v.target_day) + v.early + v.late for v in protocol.visits)
    if any(v.dose_anchored for v in protocol.visits):  # after a dose: up to study.last_day, then ``day``
        reach += protocol.study.last_day
    return range(first, pd.Timestamp(start.max()).year + reach // 365 + 3)


def _plan_one(
    protocol: Protocol,
    visit: Visit,
    frame: pd.DataFrame,
    start: np.ndarray,
    calendar: ClinicCalendar,
    planned: dict[str, _Planned],
    changes: Changes | None,
    tables: DoseTables,
) -> _Planned:
    sequence = np.zeros(len(frame), dtype=np.int64)
    stamp = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
    reasons: list[np.ndarray] = []
    keep = np.ones(len(frame), dtype=bool)
    anchor = parse_anchor(visit.anchor)
    if isinstance(anchor, LastDoseAnchor):
        dates = last_dose_dates(protocol, anchor, frame, tables)
        keep = ~np.isnat(dates.date)
        target = np.where(keep, dates.date, start.astype("datetime64[D]")) + np.timedelta64(visit.target_day, "D")
        if changes is not None:
            _count_moves(protocol, anchor.regimen, frame, changes, dates.moved, sequence, stamp)
        reasons.append(dates.reason)
    elif isinstance(anchor, CycleAnchor) and anchor.day is not None:
        schedule = protocol.regimen(anchor.regimen).schedule
        assert schedule.cycle_period is not None
        first = schedule.start_day - 1 + (anchor.cycle - 1) * schedule.cycle_period
        target = start + (first + anchor.day - 1 + visit.target_day)
        if changes is not None:
            shift, reason = _cycle_delays(protocol, anchor, frame, changes, sequence, stamp)
            target = target + shift
            reasons.append(reason)
    elif isinstance(anchor, str) and anchor != DAY1:
        other = protocol.visits[[v.id for v in protocol.visits].index(anchor)]
        target = planned[anchor].scheduled + int(day_offset(visit.target_day) - day_offset(other.target_day))
        sequence += planned[anchor].sequence
        stamp = planned[anchor].stamp.copy()
        moved = planned[anchor].scheduled != planned[anchor].target
        reasons.append(np.where(moved, f"follows {other.name}", ""))
    else:
        # a cycle anchor keeps the planned distance from its cycle: the day-1 target plus any delay
        target = start + day_offset(visit.target_day)
        if isinstance(anchor, CycleAnchor) and changes is not None:
            shift, reason = _cycle_delays(protocol, anchor, frame, changes, sequence, stamp)
            target = target + shift
            reasons.append(reason)
    target = target.astype("datetime64[D]")
    scheduled, found = nearest_open(target, visit.early, visit.late, calendar)
    reasons.append(_closed_reason(target, scheduled, found, calendar))
    warning = np.where(found, "", NO_OPEN_DAY).astype(object)
    if changes is not None:
        keep |= _reschedule(visit, frame, target, scheduled, warning, reasons, sequence, stamp, changes)
    return _Planned(target, scheduled, _join(reasons), warning, sequence, stamp, keep)


def _closed_reason(
    target: np.ndarray, scheduled: np.ndarray, found: np.ndarray, calendar: ClinicCalendar
) -> np.ndarray:
    why = calendar.closed(target)
    moved = (scheduled - target).astype(np.int64)
    text = np.full(len(target), "", dtype=object)
    for i in np.flatnonzero((why != "") | ~found):
        if not found[i]:
            text[i] = NO_OPEN_DAY
        else:
            way = "earlier" if moved[i] < 0 else "later"
            days = abs(int(moved[i]))
            text[i] = f"target closed ({why[i]}); moved {days} day{'s' if days != 1 else ''} {way}"
    return text


def _cycle_delays(
    protocol: Protocol,
    anchor: CycleAnchor,
    frame: pd.DataFrame,
    changes: Changes,
    sequence: np.ndarray,
    stamp: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Days each patient's anchor cycle moved (delays of that cycle or an earlier one)."""
    group = blinded_group(protocol, anchor.regimen)
    delays = changes.of("delay")
    delays = delays[delays["regimen"].isin(group) & (delays["cycle"] <= anchor.cycle)]
    shift = np.zeros(len(frame), dtype=np.int64)
    reason = np.full(len(frame), "", dtype=object)
    where = _patient_index(frame)
    for row in each_row(delays):
        i = where[row.patient_id]
        shift[i] += int(row.days)
        sequence[i] += 1
        stamp[i] = _later(stamp[i], row.date.to_datetime64())
        reason[i] = _append(reason[i], f"cycle {row.cycle} delayed {row.days} days: {row.reason}")
    return shift.astype("timedelta64[D]"), reason


def _count_moves(
    protocol: Protocol,
    regimen_id: str,
    frame: pd.DataFrame,
    changes: Changes,
    moved: np.ndarray,
    sequence: np.ndarray,
    stamp: np.ndarray,
) -> None:
    """A visit whose dose anchor the changes moved counts the patient's change rows that can move it
    (delays, holds and stops of the regimen, withdrawals) in its SEQUENCE; its DTSTAMP is the latest."""
    rows = change_rows_of(changes, protocol, regimen_id)
    if rows.empty or not moved.any():
        return
    pids = frame["patient_id"].astype(str)
    by_patient = rows.groupby(rows["patient_id"].astype(str))
    count = pids.map(by_patient.size()).fillna(0).to_numpy(dtype=np.int64)
    latest = pd.to_datetime(pids.map(by_patient["date"].max())).to_numpy(dtype="datetime64[ns]")
    sequence += np.where(moved, count, 0)
    stamp[moved] = latest[moved]


def _reschedule(
    visit: Visit,
    frame: pd.DataFrame,
    target: np.ndarray,
    scheduled: np.ndarray,
    warning: np.ndarray,
    reasons: list[np.ndarray],
    sequence: np.ndarray,
    stamp: np.ndarray,
    changes: Changes,
) -> np.ndarray:
    """Put rescheduled visits on their dates; returns which patients have one."""
    rows = changes.of("reschedule")
    where = _patient_index(frame)
    text = np.full(len(frame), "", dtype=object)
    found = np.zeros(len(frame), dtype=bool)
    for row in each_row(rows[rows["visit"] == visit.id]):
        i = where[row.patient_id]
        found[i] = True
        day = np.datetime64(row.date.date(), "D")
        scheduled[i] = day
        sequence[i] += 1
        stamp[i] = _later(stamp[i], row.date.to_datetime64())
        inside = target[i] - np.timedelta64(visit.early, "D") <= day <= target[i] + np.timedelta64(visit.late, "D")
        warning[i] = "" if inside else OUTSIDE
        text[i] = f"rescheduled: {row.reason}"
        for earlier in reasons:
            earlier[i] = ""
    reasons.append(text)
    return found


def _withdraw(table: pd.DataFrame, changes: Changes) -> pd.DataFrame:
    ends = changes.withdrawals.set_index("patient_id")["from_date"]
    if ends.empty:
        return table
    until = pd.to_datetime(table["patient_id"].map(ends))
    gone = (pd.to_datetime(table["scheduled_date"]) >= until) & ~table["follow_up"]
    return table[~gone.to_numpy()]


def _rows(protocol: Protocol, visit: Visit, frame: pd.DataFrame, start: np.ndarray, plan: _Planned) -> pd.DataFrame:
    def text(days: np.ndarray) -> np.ndarray:
        return np.datetime_as_string(days.astype("datetime64[D]"), unit="D")

    pids = frame["patient_id"].astype(str).to_numpy()
    minutes = int(visit.duration.total_seconds() // 60) if visit.duration else (60 if visit.time else 0)
    return pd.DataFrame(
        {
            "patient_id": pids,
            "visit": visit.id,
            "name": visit.name,
            "target_date": text(plan.target),
            "window_start": text(plan.target - np.timedelta64(visit.early, "D")),
            "window_end": text(plan.target + np.timedelta64(visit.late, "D")),
            "scheduled_date": text(plan.scheduled),
            "weekday": np.array(WEEKDAYS, dtype=object)[(plan.scheduled.astype(np.int64) + 3) % 7],
            "time": visit.time.strftime("%H:%M") if visit.time else "",
            "study_day": study_day(plan.scheduled, start),
            "moved_reason": plan.reason,
            "warning": plan.warning,
            "procedures": "; ".join(visit.procedures),
            "uid": pids + f".visit-{visit.id}@{protocol.study.id.lower()}.dosing",
            "duration_minutes": minutes,
            "sequence": plan.sequence,
            "changed_on": plan.stamp,
            "follow_up": visit.follow_up_after_withdrawal,
        }
    )


def _patient_index(frame: pd.DataFrame) -> dict[str, int]:
    return {str(pid): i for i, pid in enumerate(frame["patient_id"])}


def _later(current: np.datetime64, when: np.datetime64) -> np.datetime64:
    return when if np.isnat(current) else max(current, when)


def _append(text: str, more: str) -> str:
    return f"{text}; {more}" if text else more


def _join(parts: list[np.ndarray]) -> np.ndarray:
    out = np.full(len(parts[0]), "", dtype=object)
    for part in parts:
        out = np.array([_append(a, b) if b else a for a, b in zip(out, part, strict=True)], dtype=object)
    return out


VISIT_WORKLIST_COLUMNS = [
    "scheduled_date",
    "weekday",
    "time",
    "patient_id",
    "site",
    "visit",
    "name",
    "window_start",
    "window_end",
    "target_date",
    "study_day",
    "procedures",
    "moved_reason",
    "warning",
    "uid",
    "attended",
    "seen_by",
    "notes",
]


def visit_worklist(visits: pd.DataFrame, cohort: Cohort) -> pd.DataFrame:
    """The coordinator's list: every visit by date, time and patient, with columns to fill in."""
    sites = cohort.patients.set_index("patient_id")["site"]
    sheet = visits.assign(site=visits["patient_id"].map(sites), attended="", seen_by="", notes="")
    sheet = sheet.sort_values(["scheduled_date", "time", "patient_id", "visit"], kind="stable")
    return sheet[VISIT_WORKLIST_COLUMNS].reset_index(drop=True)
