"""Warnings a pharmacist would give about a dose plan. Pure: tables in, :class:`PlanWarning` out.

* ``closed_clinic``: an in-clinic dose (not held) falls on a day the ``[clinic]`` is closed
  (``on_closed_day = "warn"``, a ``"move"`` that found no day, or a delay that moved it there);
  one warning per patient and drug.
* ``past_start``: a patient's first day is more than ``study.max_days_in_past`` days before
  today, so doses already past would reach the patient's calendar; one per patient, except the
  ``published`` ones (an earlier run already wrote their calendar).
* ``end_of_treatment``: a visit with ``after_last_dose_of`` is scheduled before the last dose
  (not held) of that regimen; one per patient and visit.

Messages name what blinded users see (the blinded label, never the regimen id, arm or true
drug), so they may be shown in blinded runs. ``generate`` and ``validate`` return them; the
command prints them as ``Warning: ...`` lines, and ``--strict`` refuses (:class:`WarningsRefused`).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DosingError
from ..protocol.model import Protocol
from .cohort import Cohort

#: At most this many dates are listed in one warning.
SHOWN = 6


@dataclass(frozen=True)
class PlanWarning:
    kind: str  # closed_clinic | past_start | end_of_treatment
    patient_id: str
    message: str

    def __str__(self) -> str:
        return self.message


class WarningsRefused(DosingError):
    """``--strict`` and at least one warning: nothing is written."""

    def __init__(self, warnings: list[PlanWarning]) -> None:
        self.warnings = warnings
        count = f"{len(warnings)} warning{'' if len(warnings) == 1 else 's'}"
        super().__init__(
            f"--strict: {count} (above), nothing written",
            hint="resolve each warning (the protocol's [clinic] on_closed_day, the cohort's start_date, "
            "the changes file), or run without --strict",
        )


def today_in(zone: str) -> dt.date:
    """Today's date in the study's time zone (tests pin it by patching this function)."""
    return dt.datetime.now(zoneinfo.ZoneInfo(zone)).date()


def plan_warnings(
    protocol: Protocol,
    cohort: Cohort,
    doses: pd.DataFrame,
    visits: pd.DataFrame,
    *,
    today: dt.date | None = None,
    published: Collection[str] = (),
) -> list[PlanWarning]:
    """Every warning about ``doses`` (an expanded, possibly changed table, blinded or not) and ``visits``."""
    today = today or today_in(protocol.study.timezone)
    return [
        *closed_clinic(protocol, doses),
        *past_start(protocol, cohort, doses, today, published),
        *end_of_treatment(protocol, doses, visits),
    ]


def _given(doses: pd.DataFrame) -> pd.DataFrame:
    """Doses that will be given (held ones are not)."""
    return doses[~doses["held"].to_numpy(dtype=bool)] if "held" in doses.columns else doses


def _label(doses: pd.DataFrame) -> pd.Series:
    """What blinded users call each dose's drug (``label`` in expand's table, ``drug`` once blinded)."""
    column = "label" if "label" in doses.columns else "blinded_label" if "blinded_label" in doses.columns else "drug"
    return doses[column].astype(str)


def _dates(values: list[str]) -> str:
    more = len(values) - SHOWN
    return ", ".join(values[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def closed_clinic(protocol: Protocol, doses: pd.DataFrame) -> list[PlanWarning]:
    from .visits import ClinicCalendar

    if protocol.clinic is None or "in_clinic" not in doses.columns:
        return []
    mine = _given(doses)
    mine = mine[mine["in_clinic"].to_numpy(dtype=bool)]
    if mine.empty:
        return []
    days = mine["date"].astype(str).to_numpy().astype("datetime64[D]")
    years = pd.DatetimeIndex(days)
    calendar = ClinicCalendar(protocol.clinic, range(int(years.year.min()) - 1, int(years.year.max()) + 2))
    why = calendar.closed(days)
    closed = mine[why != ""].assign(_why=why[why != ""], _label=_label(mine[why != ""]))
    out = []
    for (pid, label), rows in closed.groupby(["patient_id", "_label"], observed=True, sort=False):
        dates = [f"{d} ({w})" for d, w in zip(rows["date"].astype(str), rows["_why"], strict=True)]
        out.append(
            PlanWarning(
                "closed_clinic",
                str(pid),
                f"patient {pid}: {len(rows)} in-clinic dose{'s' if len(rows) != 1 else ''} of {label} "
                f"on days the clinic is closed: {_dates(dates)}",
            )
        )
    return out


def past_start(
    protocol: Protocol, cohort: Cohort, doses: pd.DataFrame, today: dt.date, published: Collection[str] = ()
) -> list[PlanWarning]:
    allowed = protocol.study.max_days_in_past
    frame = cohort.patients
    start = frame["start_date"].dt.date
    new = ~frame["patient_id"].astype(str).isin(list(published))
    late = frame[((start < today - dt.timedelta(days=allowed)) & new).to_numpy(dtype=bool)]
    if late.empty:
        return []
    mine = _given(doses)
    before = mine[mine["date"].astype(str) < today.isoformat()]
    counts = before.groupby(before["patient_id"].astype(str)).size()
    out = []
    for row in late.itertuples(index=False):
        first = row.start_date.date()
        ago = (today - first).days
        past = int(counts.get(str(row.patient_id), 0))
        out.append(
            PlanWarning(
                "past_start",
                str(row.patient_id),
                f"patient {row.patient_id} starts on {first}, {ago} days before today ({today}); "
                f"study.max_days_in_past is {allowed}: {past} dose{'s' if past != 1 else ''} dated before "
                "today would reach the patient's calendar",
            )
        )
    return out


def end_of_treatment(protocol: Protocol, doses: pd.DataFrame, visits: pd.DataFrame) -> list[PlanWarning]:
    from ..protocol.visit_checks import blinded_group

    out: list[PlanWarning] = []
    for visit in protocol.visits:
        if visit.after_last_dose_of is None or visits.empty:
            continue
        regimen = protocol.regimen(visit.after_last_dose_of)
        group = {*blinded_group(protocol, regimen.id), regimen.display_key}
        mine = _given(doses)
        mine = mine[_texts_in(mine["regimen"], group)]
        mine = mine.assign(date=mine["date"].astype(str))
        last = mine.groupby(mine["patient_id"].astype(str)).agg(date=("date", "max"), day=("study_day", "max"))
        planned = visits[visits["visit"] == visit.id]
        last_date = planned["patient_id"].astype(str).map(last["date"].astype(str))
        early = planned[(planned["scheduled_date"].astype(str) < last_date.fillna("")).to_numpy(dtype=bool)]
        label = regimen.blinded_label or regimen.drug
        for pid, on, day in zip(
            early["patient_id"].astype(str), early["scheduled_date"].astype(str), early["study_day"], strict=True
        ):
            out.append(
                PlanWarning(
                    "end_of_treatment",
                    pid,
                    f"patient {pid}: visit {visit.name!r} on {on} (day {day}) is before "
                    f"the last dose of {label} on {last.at[pid, 'date']!s} (day {last.at[pid, 'day']!s}); "
                    "it is meant to follow the end of treatment",
                )
            )
    return out


def counts(warnings: list[PlanWarning]) -> dict[str, int]:
    """How many warnings of each kind (for summaries)."""
    found: dict[str, int] = {}
    for warning in warnings:
        found[warning.kind] = found.get(warning.kind, 0) + 1
    return found


__all__ = ["PlanWarning", "WarningsRefused", "counts", "plan_warnings", "today_in"]


def _texts_in(column: pd.Series, texts: set[str]) -> np.ndarray:
    """``column.astype(str).isin(texts)``, each distinct value converted once."""
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    return np.array([str(v) in texts for v in distinct], dtype=bool)[codes]
