"""In-clinic doses on days the clinic is closed: what ``[clinic] on_closed_day`` says. Pure.

* ``"warn"`` (the default): the dose stays; ``validate`` and ``generate`` warn.
* ``"home"``: the dose stays on its day and is given at home (``in_clinic`` false for it).
* ``"move"``: the dose moves to the nearest open day inside ``move_window`` (ties go to the
  earlier day, as visits move), keeping at least ``min_days_between_doses`` days from the
  regimen's previous and next dosing days (so with the default 1 it never lands on a day that
  already has a dose of the regimen, and never passes one), never before study day 1 or after
  ``study.last_day``, never before its cycle's day 1. A dose with no such day stays (and warns).

Moves are decided per dosing day of a patient and regimen, vectorised over patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..protocol.model import ClinicPolicy, Protocol
from .clinic_calendar import ClinicCalendar

_FAR = 10**6


@dataclass
class DosingDays:
    """One regimen's dosing days (one entry per patient and day, sorted by patient and day)."""

    patient: np.ndarray
    day: np.ndarray
    date: np.ndarray  # datetime64[D], the patient's local date of ``day``
    cycle_day: np.ndarray  # 0 for doses outside cycles


def closed_day_plan(
    policy: ClinicPolicy, calendar: ClinicCalendar, days: DosingDays, last_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """The day each dosing day is given on, and whether it is given at home."""
    closed = calendar.closed(days.date) != ""
    if policy.on_closed_day == "home":
        return days.day, closed
    if policy.on_closed_day == "warn" or policy.move_window is None:
        return days.day, np.zeros(len(closed), dtype=bool)
    moved = _move(policy, calendar, days, closed, last_day)
    return moved, np.zeros(len(closed), dtype=bool)


def _move(
    policy: ClinicPolicy, calendar: ClinicCalendar, days: DosingDays, closed: np.ndarray, last_day: int
) -> np.ndarray:
    assert policy.move_window is not None
    early, late, gap = policy.move_window.early, policy.move_window.late, policy.min_days_between_doses
    same = days.patient[1:] == days.patient[:-1]
    prev = np.where(np.r_[False, same], np.r_[0, days.day[:-1]], -_FAR)
    after = np.where(np.r_[same, False], np.r_[days.day[1:], 0], _FAR)
    new = days.day.copy()
    found = ~closed
    for step in range(1, max(early, late) + 1):
        for offset in (-step, step):
            if not -early <= offset <= late or found.all():
                continue
            candidate = days.day + offset
            fits = (
                ~found
                & (candidate >= 1)
                & (candidate <= last_day)
                & (candidate - prev >= gap)
                & (after - candidate >= gap)
                & ((days.cycle_day == 0) | (days.cycle_day + offset >= 1))
            )
            pick = np.flatnonzero(fits)
            pick = pick[calendar.closed(days.date[pick] + np.timedelta64(offset, "D")) == ""]
            new[pick] = candidate[pick]
            found[pick] = True
    return _keep_apart(days, new, gap)


def _keep_apart(days: DosingDays, new: np.ndarray, gap: int) -> np.ndarray:
    """Two neighbouring days that both moved may end up too close: such moves are undone."""
    same = days.patient[1:] == days.patient[:-1]
    while True:
        moved = new != days.day
        close = same & (new[1:] - new[:-1] < gap) & (moved[1:] | moved[:-1])
        if not close.any():
            return new
        undo = np.zeros(len(new), dtype=bool)
        undo[:-1] |= close & moved[:-1]
        undo[1:] |= close & moved[1:]
        new = np.where(undo, days.day, new)


def closed_note(why: np.ndarray, home: np.ndarray, planned: np.ndarray) -> np.ndarray:
    """The text added to a dose's instructions: "at home: clinic closed (Sunday)" or
    "moved from Sat 2027-01-09: clinic closed (Saturday)" (``planned``: datetime64[D])."""
    text = np.datetime_as_string(planned.astype("datetime64[D]"), unit="D")
    weekday = np.array(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], dtype=object)
    day_name = weekday[(planned.astype("datetime64[D]").astype(np.int64) + 3) % 7]
    moved = "moved from " + day_name + " " + text.astype(object) + ": clinic closed (" + why + ")"
    return np.where(home, "at home: clinic closed (" + why + ")", moved)


def home_after_changes(doses: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """With ``on_closed_day = "home"``, the in-clinic doses a changes file touched (a delay moves
    them) are given at home exactly when their new day is closed: ``in_clinic`` and the note in
    ``instructions`` follow the dose. (With ``"move"`` a delay is not moved again: a dose it puts
    on a closed day is warned about.)"""
    policy = protocol.clinic
    if policy is None or policy.on_closed_day != "home" or "changed_on" not in doses.columns:
        return doses
    clinic = {r.id: r.instructions for r in protocol.regimens if r.in_clinic}
    regimen = doses["regimen"].astype(str)
    pick = np.flatnonzero((regimen.isin(list(clinic)) & doses["changed_on"].notna()).to_numpy(dtype=bool))
    if not len(pick):
        return doses
    dates = doses["date"].astype(str).to_numpy()[pick].astype("datetime64[D]")
    years = pd.DatetimeIndex(dates).year
    why = ClinicCalendar(policy, range(int(years.min()) - 1, int(years.max()) + 2)).closed(dates)
    home = why != ""
    base = regimen.iloc[pick].map(clinic).to_numpy(dtype=object)
    note = closed_note(why, np.ones(len(pick), dtype=bool), dates)
    text = np.where(home, np.where(base == "", note, base + "; " + note), base)
    out = doses.copy()
    in_clinic = out["in_clinic"].to_numpy(dtype=bool).copy()
    in_clinic[pick] = ~home
    out["in_clinic"] = in_clinic
    out["instructions"] = with_text(out["instructions"], pick, text)
    return out


def with_text(column: pd.Series, pick: np.ndarray, text: np.ndarray) -> pd.Categorical:
    """A categorical ``column`` with the rows at positions ``pick`` set to ``text``."""
    column = column.astype("category")
    column = column.cat.add_categories(pd.Index(np.unique(text)).difference(column.cat.categories))
    codes = column.cat.codes.to_numpy().copy()
    codes[pick] = column.cat.categories.get_indexer(pd.Index(text))
    return pd.Categorical.from_codes(codes, categories=column.cat.categories)
