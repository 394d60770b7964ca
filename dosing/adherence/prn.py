"""As-needed (PRN) doses in the log: judged for over-use, never matched to planned doses (pure, vectorised).

A PRN regimen has no planned doses (:mod:`dosing.protocol.prn`), so its logged doses are never "extra"
and nothing of it is ever "missed" or counted in the adherence percentage. Each logged dose of a PRN
regimen (a row whose drug, as the log names it, is a PRN regimen the patient's arm receives) is judged:

- **over-use**: it is dose number max_per_24h + 1 or more within 24 hours (a rolling window: the doses
  taken in the 24 hours up to and including it, a dose exactly 24 hours earlier not counted); one
  *episode* is a run of such doses one after the other;
- **too close**: it comes less than ``min_interval`` after the patient's previous dose of the regimen
  (both with a time: a date alone has none);
- **outside the PRN period**: its local date is not a day the regimen's schedule allows, or it is
  after the drug was stopped or the patient withdrew (the changes file).

A date alone (a diary) counts as taken at the start of that day. The drug is named as the log's other
tables name it: the blinded label where there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from ..plan.cohort import Cohort
from ..plan.schedule import Patients, day_plan
from ..protocol.model import Protocol, Regimen
from .extra import ChangesLike, _after_changes
from .rules import DAY_S, HOUR_S

DOSE_COLUMNS = [
    "line",
    "patient_id",
    "drug",
    "given_at",
    "given_date",
    "study_day",
    "dose_given",
    "given_by",
    "notes",
    "doses_in_24h",
    "hours_since_previous",
    "over_use",
    "too_close",
    "outside_period",
    "finding",
]
SUMMARY_COLUMNS = [
    "patient_id",
    "drug",
    "max_per_24h",
    "min_interval_hours",
    "doses_taken",
    "over_use_episodes",
    "over_limit_doses",
    "too_close",
    "outside_period",
    "flag",
]
_SHIFT = 40  # group code << 40 | seconds from the first dose: 2**40 s is 34,000 years


@dataclass(frozen=True)
class PrnJudgement:
    """``doses``: one row per logged PRN dose (:data:`DOSE_COLUMNS`); ``summary``: one row per patient and
    PRN drug the patient's arm receives (:data:`SUMMARY_COLUMNS`)."""

    doses: pd.DataFrame
    summary: pd.DataFrame

    @property
    def flagged(self) -> pd.DataFrame:
        return self.summary[self.summary["flag"] != ""]


def prn_regimens(protocol: Protocol) -> list[Regimen]:
    return [r for r in protocol.regimens if r.prn]


def split_prn(protocol: Protocol, cohort: Cohort, given: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The log rows that are not PRN doses, and per row of ``given`` the index into
    :func:`prn_regimens` of the PRN regimen it is a dose of (-1: none)."""
    which = _prn_index(protocol, cohort, given)
    return given[which < 0], which


def judge_prn(
    protocol: Protocol, cohort: Cohort, given: pd.DataFrame, which: np.ndarray, changes: ChangesLike | None = None
) -> PrnJudgement:
    """Judge the PRN doses of ``given`` (``which`` from :func:`split_prn`)."""
    regimens = prn_regimens(protocol)
    rows = given[which >= 0]
    reg = which[which >= 0]
    patient = _patient_codes(cohort, rows)
    order = np.lexsort((rows["given_s"].to_numpy(np.int64), reg, patient))
    rows, reg, patient = rows.iloc[order], reg[order], patient[order]
    seconds = rows["given_s"].to_numpy(np.int64)
    group = patient.astype(np.int64) * max(len(regimens), 1) + reg
    most = np.array([r.as_needed.max_per_24h for r in regimens if r.as_needed], dtype=np.int64)[reg]
    in_24h = _in_window(group, seconds)
    over = in_24h > most
    gap, close = _too_close(regimens, group, seconds, rows["timed"].to_numpy(dtype=bool), reg)
    day = rows["given_day"].to_numpy(np.int64) - _start_days(cohort)[patient] + 1
    outside, why = _outside(protocol, cohort, regimens, (rows, reg, patient, day), changes)
    doses = _dose_table(rows, day, (in_24h, gap, over, close, outside), _findings(in_24h, most, gap, close, why))
    episode = over & ~_after_previous(over, group)
    return PrnJudgement(doses, _summary(protocol, cohort, regimens, group, (over, episode, close, outside)))


def _prn_index(protocol: Protocol, cohort: Cohort, given: pd.DataFrame) -> np.ndarray:
    """Per log row, the PRN regimen its patient's arm receives under the row's drug (as shown), or -1."""
    regimens = prn_regimens(protocol)
    if not regimens or given.empty:
        return np.full(len(given), -1, dtype=np.int64)
    arms = [a.id for a in protocol.arms]
    labels = pd.Index(sorted({r.blinded_label or r.drug for r in protocol.regimens}))
    table = np.full((len(arms), len(labels)), -1, dtype=np.int64)
    for i, regimen in enumerate(regimens):
        for a, arm in enumerate(protocol.arms):
            if regimen.id in arm.regimens:
                table[a, labels.get_loc(regimen.blinded_label or regimen.drug)] = i
    frame = cohort.patients
    arm_of = pd.Index(arms).get_indexer(pd.Index(frame["arm"].astype(str)))
    patient = _patient_codes(cohort, given)
    label = _codes_in(given["label"], labels)
    known = (patient >= 0) & (label >= 0)
    out = np.full(len(given), -1, dtype=np.int64)
    out[known] = table[arm_of[patient[known]], label[known]]
    return out


def _patient_codes(cohort: Cohort, rows: pd.DataFrame) -> np.ndarray:
    return _codes_in(rows["patient_id"], pd.Index(cohort.patients["patient_id"].astype(str)))


def _codes_in(column: pd.Series, names: pd.Index) -> np.ndarray:
    """Per row, the position of its text in ``names`` (-1: absent), each distinct text looked up once."""
    cat = column.astype("category")
    recode = np.append(names.get_indexer(pd.Index(cat.cat.categories.astype(str))), -1)
    return recode[cat.cat.codes.to_numpy()].astype(np.int64)


def _start_days(cohort: Cohort) -> np.ndarray:
    return cohort.patients["start_date"].to_numpy().astype("datetime64[D]").astype(np.int64)


def _in_window(group: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Per dose (sorted by group, time): the doses of its group in the 24 hours up to it, itself included."""
    if not len(group):
        return np.zeros(0, dtype=np.int64)
    key = (group << _SHIFT) | (seconds - seconds.min())
    first = np.searchsorted(key, group << _SHIFT, side="left")
    since = np.maximum(np.searchsorted(key, key - DAY_S, side="right"), first)
    return np.arange(len(key)) - since + 1


def _too_close(
    regimens: list[Regimen], group: np.ndarray, seconds: np.ndarray, timed: np.ndarray, reg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the group's previous dose (-1: none, or a date alone), and whether under min_interval."""
    same = _after_previous(timed, group) & timed
    gap = np.where(same, seconds - np.r_[seconds[:1], seconds[:-1]], -1)
    least = np.array([_interval_s(r) for r in regimens], dtype=np.int64)[reg] if len(reg) else np.zeros(0, np.int64)
    return gap, same & (gap < least)


def _after_previous(mask: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per row (sorted by group): the previous row is of the same group and ``mask`` holds there."""
    out = np.zeros(len(group), dtype=bool)
    out[1:] = mask[:-1] & (group[1:] == group[:-1])
    return out


def _interval_s(regimen: Regimen) -> int:
    interval = regimen.as_needed.min_interval if regimen.as_needed else None
    return 0 if interval is None else int(interval.total_seconds())


def _outside(
    protocol: Protocol,
    cohort: Cohort,
    regimens: list[Regimen],
    where: tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray],
    changes: ChangesLike | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per dose: outside the PRN period, and why (an index into :data:`_OUTSIDE`)."""
    rows, reg, patient, day = where
    last = protocol.study.last_day
    frame = cohort.patients
    patients = Patients.of(protocol, frame)
    allowed = np.zeros(len(rows), dtype=bool)
    inside = (day >= 1) & (day <= last)
    for i, regimen in enumerate(regimens):
        pick = np.flatnonzero((reg == i) & inside)
        if len(pick):
            mask = np.broadcast_to(day_plan(regimen.schedule, patients, {}).mask, (patients.n, last))
            allowed[pick] = mask[patient[pick], day[pick] - 1]
    withdrew, stopped = _after_changes(protocol, rows, changes)
    why = np.select([withdrew, stopped, ~allowed], [1, 2, 3], default=0)
    return why > 0, why


#: The flag per patient and PRN drug: over-use (more than max_per_24h in 24 hours, or too close), and
#: doses outside the PRN period (days the schedule does not allow, after a stop or withdrawal).
_FLAGS = np.array(
    ["", "over-use", "doses outside the PRN period", "over-use; doses outside the PRN period"], dtype=object
)
_OUTSIDE = np.array(
    ["", "after the patient withdrew", "after the drug was stopped", "outside the PRN period"], dtype=object
)


def _findings(in_24h: np.ndarray, most: np.ndarray, gap: np.ndarray, close: np.ndarray, why: np.ndarray) -> np.ndarray:
    """Per dose, what is wrong with it ("" when nothing), the parts joined by "; ". Each distinct finding
    is written once (a million doses have a few thousand distinct ones) and spread back with numpy."""
    over = np.where(in_24h > most, in_24h * 100 + most, 0)  # max_per_24h is at most 48
    centi = np.where(close, np.round(gap / 36).astype(np.int64), -1)  # hundredths of an hour, under 7 days
    key = (over * 10_000_000 + centi + 1) * len(_OUTSIDE) + why
    unique, inverse = np.unique(key, return_inverse=True)
    texts = np.array([_finding(int(k)) for k in unique], dtype=object)
    return texts[inverse.reshape(-1)] if len(key) else np.zeros(0, dtype=object)


def _finding(key: int) -> str:
    rest, why = divmod(key, len(_OUTSIDE))
    over, centi = divmod(rest, 10_000_000)
    parts = [f"over-use: dose {over // 100} within 24 hours (at most {over % 100})"] if over else []
    if centi:
        parts.append(f"only {(centi - 1) / 100:g} h after the previous dose (closer than the minimum interval)")
    return "; ".join([*parts, *([str(_OUTSIDE[why])] if why else [])])


def _dose_table(
    rows: pd.DataFrame, day: np.ndarray, judged: tuple[np.ndarray, ...], finding: np.ndarray
) -> pd.DataFrame:
    in_24h, gap, over, close, outside = judged
    days, inverse = np.unique(rows["given_day"].to_numpy(np.int64), return_inverse=True)
    text = pd.Index(np.datetime_as_string(days.astype("datetime64[D]"), unit="D"))
    date = pd.Categorical.from_codes(inverse.reshape(-1), categories=text)  # one text per distinct day
    return pd.DataFrame(
        {
            "line": rows["line"].to_numpy(),
            "patient_id": _as_written(rows["patient_id"]),
            "drug": _as_written(rows["label"]),
            "given_at": _as_written(rows["given_at"]),
            "given_date": date,
            "study_day": day,
            "dose_given": rows["dose_given"].to_numpy(dtype=float),
            "given_by": _as_written(rows["given_by"]),
            "notes": _as_written(rows["notes"]),
            "doses_in_24h": in_24h,
            "hours_since_previous": np.where(gap >= 0, np.round(gap / HOUR_S, 2), np.nan),
            "over_use": over,
            "too_close": close,
            "outside_period": outside,
            "finding": finding,
        },
        columns=DOSE_COLUMNS,
    )


def _as_written(column: pd.Series) -> pd.Categorical:
    """A text column of the log, kept categorical (each distinct text once), without unused texts."""
    return cast(pd.Categorical, column.astype("category").cat.remove_unused_categories().array)


def _summary(
    protocol: Protocol, cohort: Cohort, regimens: list[Regimen], group: np.ndarray, judged: tuple[np.ndarray, ...]
) -> pd.DataFrame:
    """One row per patient and PRN regimen the patient's arm receives, in cohort order."""
    over, episode, close, outside = judged
    size = len(cohort) * max(len(regimens), 1)
    counts = [np.bincount(group, weights=w, minlength=size).astype(np.int64) for w in (None, over, episode, close)]
    counts.append(np.bincount(group, weights=outside, minlength=size).astype(np.int64))
    taken, over_n, episodes, near, out = counts
    arms = cohort.patients["arm"].astype(str).to_numpy()
    receives = np.stack([np.isin(arms, [a.id for a in protocol.arms if r.id in a.regimens]) for r in regimens], 1)
    pick = np.flatnonzero(receives.reshape(-1)) if len(regimens) else np.zeros(0, np.int64)
    patient, reg = pick // max(len(regimens), 1), pick % max(len(regimens), 1)
    code = ((episodes[pick] > 0) | (near[pick] > 0)).astype(np.int64) + 2 * (out[pick] > 0)
    flag = _FLAGS[code]
    ids = cohort.patients["patient_id"].astype(str).to_numpy()
    return pd.DataFrame(
        {
            "patient_id": ids[patient],
            "drug": np.array([r.blinded_label or r.drug for r in regimens], dtype=object)[reg],
            "max_per_24h": np.array([r.as_needed.max_per_24h for r in regimens if r.as_needed])[reg],
            "min_interval_hours": np.array([_interval_s(r) / HOUR_S or np.nan for r in regimens])[reg],
            "doses_taken": taken[pick],
            "over_use_episodes": episodes[pick],
            "over_limit_doses": over_n[pick],
            "too_close": near[pick],
            "outside_period": out[pick],
            "flag": flag,
        },
        columns=SUMMARY_COLUMNS,
    )


def empty_judgement() -> PrnJudgement:
    return PrnJudgement(pd.DataFrame(columns=DOSE_COLUMNS), pd.DataFrame(columns=SUMMARY_COLUMNS))


__all__ = ["DOSE_COLUMNS", "SUMMARY_COLUMNS", "PrnJudgement", "empty_judgement", "judge_prn", "split_prn"]
