"""Adherence: what was really given, against what was planned.

:func:`check_adherence` returns the tables (per planned dose, extra administrations, the
measures and the log's bad rows); :func:`adherence` also writes them with ``report.html``
into ``<out>/<study id>/adherence/`` (``<study id>-UNBLINDED`` with ``unblinded``). The
matching and the measures themselves are pure (:mod:`dosing.adherence.match`,
:mod:`dosing.adherence.measures`); the rules are in the README's "Adherence" section.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from ..plan.apply_changes import apply_changes
from ..plan.blinding import blind, unblind
from ..plan.changes import Changes
from ..plan.cohort import Cohort
from ..plan.columns import DOSE_COLUMNS, UNBLINDED_COLUMNS
from ..plan.durations import add_end_columns
from ..plan.expand import expand, utc_text
from ..protocol.model import Protocol
from .blind import WHY_NOT_JUDGED, blind_judgement
from .extra import ChangesLike, extra_reasons, nearest_cycle
from .log import AdministrationLog, blinded_dose, unit_symbol
from .match import Pool, match
from .measures import summarise
from .prn import PrnJudgement, empty_judgement, judge_prn, prn_regimens, split_prn
from .rules import DAY_S, HOUR_S, Rule, daily_drugs, dose_windows, label_rules, regimen_rules, utc_seconds

EXTRA_COLUMNS = [
    "line",
    "patient_id",
    "drug",
    "cycle",
    "given_at",
    "given_date",
    "dose_given",
    "given_by",
    "notes",
    "reason",
]
STATUSES = ["held", "taken", "on_time", "early", "late", "missed", "not_due"]
STATUS_COLUMNS = [
    "status",
    "given_at",
    "deviation_hours",
    "dose_given",
    "wrong_dose",
    "dose_note",
    "log_line",
    "given_by",
    "notes",
]


NAMED = 10  # the summary names this many patients outside the band, then says how many more


@dataclass
class AdherenceResult:
    """The tables of an adherence check (blinded unless ``blinded`` is False)."""

    doses: pd.DataFrame
    extra: pd.DataFrame
    summary: pd.DataFrame
    bad_rows: pd.DataFrame
    rules: dict[str, Rule]
    as_of: dt.date
    blinded: bool
    study_id: str
    band: tuple[float, float]
    after_as_of: int = 0  # administrations given after the as-of date: left out
    folder: Path | None = None
    files: list[Path] = field(default_factory=list)
    prn: PrnJudgement = field(default_factory=empty_judgement)  # as-needed doses (dosing.adherence.prn)
    open_label: bool = False  # an open study: the summary says "Open-label", not "BLINDED"

    @property
    def flagged(self) -> pd.DataFrame:
        s = self.summary
        return s[(s["level"] == "patient") & (s["flag"] != "")]

    @staticmethod
    def _not_judged(patients: pd.DataFrame) -> list[str]:
        count = int(patients["dose_not_judged"].sum())
        return [f"  doses not judged: {count:,} ({WHY_NOT_JUDGED})"] if count else []

    def _outside(self, patients: pd.DataFrame) -> str:
        """Who is outside the band, of the patients started (a dose due by the as-of date): "3 of 36
        started (RA-007, RA-012, RA-035); 11 not started yet"; the first ids, then how many more."""
        due = patients.groupby("patient_id", sort=False, observed=True)["due"].sum()
        started, waiting = int((due > 0).sum()), int((due == 0).sum())
        ids = self.flagged["patient_id"].astype(str).drop_duplicates().tolist()
        shown = ", ".join(ids[:NAMED])
        more = f" and {len(ids) - NAMED:,} more" if len(ids) > NAMED else ""
        names = f" ({shown}{more})" if ids else ""
        later = f"; {waiting:,} not started yet" if waiting else ""
        return f"{len(ids):,} of {started:,} started{names}{later}"

    def _as_needed(self) -> list[str]:
        """The as-needed (PRN) doses: never due, missed or extra; who over-used them."""
        summary = self.prn.summary
        if summary.empty:
            return []
        ids = self.prn.flagged["patient_id"].astype(str).drop_duplicates().tolist()
        more = f" and {len(ids) - NAMED:,} more" if len(ids) > NAMED else ""
        names = f" ({', '.join(ids[:NAMED])}{more})" if ids else ""
        return [
            f"  as-needed (PRN) doses taken: {int(summary['doses_taken'].sum()):,}; "
            f"patients with over-use or doses outside the PRN period: {len(ids):,}{names}"
        ]

    def summary_text(self) -> str:
        patients = self.summary[self.summary["level"] == "patient"]
        lines = [
            f"{'Open-label' if self.open_label else 'BLINDED' if self.blinded else 'UNBLINDED'} adherence as of "
            f"{self.as_of.isoformat()}",
            f"  patients outside the band ({self.band[0]:g}-{self.band[1]:g}%): {self._outside(patients)}",
            f"  doses due {int(patients['due'].sum()):,}, taken {int(patients['taken'].sum()):,}, "
            f"missed {int(patients['missed'].sum()):,}, extra {len(self.extra):,}",
            f"  bad log rows: {len(self.bad_rows):,}",
            *self._not_judged(patients),
            f"  given after {self.as_of.isoformat()} (left out): {self.after_as_of:,}",
            *self._as_needed(),
        ]
        if self.folder is not None:
            lines.append(f"  report: {self.folder / 'report.html'}")
        return "\n".join(lines)


def judge_adherence(
    protocol: Protocol,
    cohort: Cohort,
    log: AdministrationLog,
    *,
    changes: ChangesLike | None = None,
    as_of: dt.date | None = None,
    unblinded: bool = False,
    doses: pd.DataFrame | None = None,
) -> AdherenceResult:
    """Match the log to the planned doses and measure adherence. ``doses`` defaults to
    ``expand(protocol, cohort)`` with ``changes`` (:class:`dosing.plan.changes.Changes`)
    applied: held doses are ``held``, never ``missed``; doses after a stop or withdrawal are not due.
    Reading the log and changes files: :func:`dosing.jobs.adherence.check_adherence`."""
    stops_and_withdrawals = changes
    planned = expand(protocol, cohort) if doses is None else doses
    if doses is None and isinstance(stops_and_withdrawals, Changes):
        planned = apply_changes(planned, stops_and_withdrawals)  # held doses stay, marked held
    as_of = as_of or dt.date.today()
    rules = regimen_rules(protocol, planned)
    known = log.given["given_day"].to_numpy() <= (as_of - dt.date(1970, 1, 1)).days
    scheduled, prn = _as_needed(protocol, cohort, log.given[known], stops_and_withdrawals)
    table, given, extra = _judge(protocol, planned, scheduled, rules, as_of, stops_and_withdrawals)
    table = blind_judgement(protocol, planned, table, scheduled, unblinded)
    daily = daily_drugs(protocol, label_rules(protocol, rules))
    summary = summarise(table, given, daily, (protocol.study.adherence_band.low, protocol.study.adherence_band.high))
    shown = unblind(planned) if unblinded else blind(planned, protocol)
    dose_table = _dose_table(shown, table, unblinded)
    as_needed = {r.blinded_label or r.drug for r in prn_regimens(protocol)}
    return AdherenceResult(
        dose_table,
        extra,
        summary,
        log.bad,
        {label: rule for label, rule in label_rules(protocol, rules).items() if label not in as_needed},
        as_of,
        not unblinded,
        protocol.study.id,
        (protocol.study.adherence_band.low, protocol.study.adherence_band.high),
        int((~known).sum()),
        prn=prn,
        open_label=not protocol.study.blinded,
    )


def _as_needed(
    protocol: Protocol, cohort: Cohort, given: pd.DataFrame, changes: ChangesLike | None
) -> tuple[pd.DataFrame, PrnJudgement]:
    """The log rows to match to planned doses, and the judgement of the as-needed (PRN) doses: these
    are never matched, extra or missed (:mod:`dosing.adherence.prn`)."""
    if not prn_regimens(protocol):
        return given, empty_judgement()
    scheduled, which = split_prn(protocol, cohort, given)
    return scheduled, judge_prn(protocol, cohort, given, which, changes)


def _groups(planned: pd.DataFrame, given: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    patients = planned["patient_id"].cat.categories
    labels = planned["label"].cat.categories
    p_group = planned["patient_id"].cat.codes.to_numpy(np.int64) * len(labels) + planned["label"].cat.codes.to_numpy(
        np.int64
    )
    g_pat = _codes(given["patient_id"], patients)
    g_lab = _codes(given["label"], labels)
    g_group = np.where((g_pat >= 0) & (g_lab >= 0), g_pat * len(labels) + g_lab, -1 - np.arange(len(given)))
    return p_group, g_group, labels


def _codes(values: pd.Series, categories: pd.Index) -> np.ndarray:
    """Codes of ``values`` in ``categories`` (-1 where absent), recoding each distinct value once."""
    cat = values.astype("category")
    recode = np.append(pd.Index(categories).get_indexer(cat.cat.categories), -1)
    return recode[cat.cat.codes.to_numpy()].astype(np.int64)


def _planned_days(planned: pd.DataFrame) -> np.ndarray:
    dates = planned["date"].cat
    days = pd.DatetimeIndex(pd.to_datetime(dates.categories.astype(str))).as_unit("s").asi8 // DAY_S
    return days[dates.codes.to_numpy()]


def _judge(
    protocol: Protocol,
    planned: pd.DataFrame,
    given: pd.DataFrame,
    rules: dict[str, Rule],
    as_of: dt.date,
    changes: ChangesLike | None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    p_group, g_group, labels = _groups(planned, given)
    windows = dose_windows(planned, p_group, utc_seconds(planned["planned_at"]), rules)
    label_codes = planned["label"].cat.codes.to_numpy()
    label_window = np.zeros(len(labels), dtype=np.int64)
    np.maximum.at(label_window, label_codes, windows)
    p_seconds = utc_seconds(planned["planned_at"])
    p_day = _planned_days(planned)
    held = planned["held"].to_numpy(dtype=bool)
    p_pool = Pool(p_group, p_seconds, windows, planned["uid"].to_numpy())
    g_label = _codes(given["label"], labels)
    g_window = np.where(g_label >= 0, label_window[np.maximum(g_label, 0)], 0)
    g_pool = Pool(g_group, given["given_s"].to_numpy(np.int64), g_window, given["uid"].to_numpy())
    timed = given["timed"].to_numpy(dtype=bool)
    g_day = given["given_day"].to_numpy(np.int64)
    found = match(p_pool, held, p_day, g_pool, timed, g_day)
    table = _status(protocol, planned, given, found.dose_admin, p_seconds, p_day, rules, as_of)
    matched = np.zeros(len(given), dtype=bool)
    matched[found.dose_admin[found.dose_admin >= 0]] = True
    cycle = nearest_cycle(planned, p_group, p_seconds, g_group, given["given_s"].to_numpy(np.int64))
    lone = ~matched
    reasons = extra_reasons(
        protocol, given[lone], g_group[lone], p_group, found.reachable[lone], found.near_held[lone], changes
    )
    local_date = np.datetime_as_string(given["given_day"].to_numpy(np.int64)[lone].astype("datetime64[D]"), unit="D")
    extra = given[lone].assign(cycle=cycle[lone], given_date=local_date, reason=reasons)
    extra = extra.rename(columns={"label": "drug"})[EXTRA_COLUMNS].reset_index(drop=True)
    extra["cycle"] = extra["cycle"].astype("Int16")
    admins = _admin_rows(table, given, matched, cycle)
    return table, admins, extra


def _status(
    protocol: Protocol,
    planned: pd.DataFrame,
    given: pd.DataFrame,
    dose_admin: np.ndarray,
    p_seconds: np.ndarray,
    p_day: np.ndarray,
    rules: dict[str, Rule],
    as_of: dt.date,
) -> pd.DataFrame:
    """One row per planned dose: its status, what was given and how far from the plan."""
    matched = dose_admin >= 0
    admin = np.maximum(dose_admin, 0)
    timed = matched & _pick(given["timed"], admin, False)
    deviation = np.where(timed, _pick(given["given_s"], admin, 0) - p_seconds, 0)
    status = _classify(planned, matched, timed, deviation, p_day, rules, as_of)
    dose_given = np.where(matched, _pick(given["dose_given"], admin, np.nan), np.nan)
    wrong_dose = _wrong_doses(protocol, planned, given, admin, matched & ~np.isnan(dose_given), dose_given)
    line = _pick(given["line"], admin, 0)
    return pd.DataFrame(
        {
            "patient_id": planned["patient_id"].to_numpy(),
            "drug": planned["label"].to_numpy(),
            "cycle": planned["cycle"].to_numpy(),
            "day": p_day,
            "status": pd.Categorical.from_codes(status, categories=pd.Index(STATUSES)),
            "given_at": _given_text(given["given_at"], admin, matched),
            "given_by": _given_text(given["given_by"], admin, matched),
            "notes": _given_text(given["notes"], admin, matched),
            "deviation_hours": np.where(timed, np.round(deviation / HOUR_S, 2), np.nan),
            "dose_given": dose_given,
            "wrong_dose": wrong_dose,
            "log_line": pd.arrays.IntegerArray(np.where(matched, line, 0).astype(np.int64), ~matched),
            "admin": dose_admin,
        }
    ).astype({"patient_id": planned["patient_id"].dtype, "drug": planned["label"].dtype})


def _pick(column: pd.Series, rows: np.ndarray, fill: object) -> np.ndarray:
    values = column.to_numpy()
    return values[rows] if len(values) else np.full(len(rows), fill)


def _classify(
    planned: pd.DataFrame,
    matched: np.ndarray,
    timed: np.ndarray,
    deviation: np.ndarray,
    p_day: np.ndarray,
    rules: dict[str, Rule],
    as_of: dt.date,
) -> np.ndarray:
    """Codes into :data:`STATUSES`: held, taken (a date alone), on time, early, late, missed, not due."""
    on_time = planned["regimen"].map({rid: rule.on_time_s for rid, rule in rules.items()}).to_numpy(dtype=np.int64)
    as_of_day = (as_of - dt.date(1970, 1, 1)).days
    choices = [
        planned["held"].to_numpy(dtype=bool),
        matched & ~timed,
        timed & (np.abs(deviation) <= on_time),
        timed & (deviation < 0),
        timed,
        p_day < as_of_day,
    ]
    return np.select(choices, list(range(len(choices))), default=len(choices))


def _given_text(given_at: pd.Series, admin: np.ndarray, matched: np.ndarray) -> pd.Categorical:
    """A text as written (``given_at``, ``given_by``, ``notes``) per planned dose ("" when not given),
    kept categorical for speed."""
    cat = given_at.astype("category")
    written = [*map(str, cat.cat.categories)]
    categories = pd.Index([*written, ""]).unique()
    recode = categories.get_indexer(pd.Index(written))
    codes = recode[cat.cat.codes.to_numpy()[admin]] if len(given_at) else np.zeros(len(admin), dtype=np.int64)
    empty = int(categories.get_indexer(pd.Index([""]))[0])
    return cast(pd.Categorical, pd.Categorical.from_codes(np.where(matched, codes, empty), categories=categories))


def _wrong_doses(
    protocol: Protocol,
    planned: pd.DataFrame,
    given: pd.DataFrame,
    admin: np.ndarray,
    judged: np.ndarray,
    dose_given: np.ndarray,
) -> np.ndarray:
    """Per planned dose: given, but not the amount (or unit, where written) it should be. A row in true
    terms is compared with the true dose and unit, any other with what the blinded worklist shows."""
    true_terms = _pick(given["true_terms"], admin, False).astype(bool)
    written = _pick(given["dose_unit"], admin, "").astype(object)
    amount, unit = _expected_amounts(protocol, planned, true_terms)
    unit_ok = (written == "") | (written == unit)
    return judged & ~np.isnan(amount) & ~(np.isclose(dose_given, amount, rtol=1e-6, atol=1e-9) & unit_ok)


def _expected_amounts(
    protocol: Protocol, planned: pd.DataFrame, true_terms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The amount and unit (a registry symbol, as the log reader gives it) a log should show per
    planned dose: the planned dose where ``true_terms``, else the blinded dose where the blinded
    worklist hides it."""
    amount = planned["dose"].to_numpy(dtype=float).copy()
    codes, written = pd.factorize(planned["unit"].astype(str), use_na_sentinel=False)
    unit = np.array([unit_symbol(str(u)) for u in written], dtype=object)[codes]  # once per distinct unit
    for regimen in protocol.regimens:
        hidden = blinded_dose(regimen, protocol)
        if hidden is not None:
            rows = (planned["regimen"] == regimen.id).to_numpy() & ~true_terms
            amount[rows], unit[rows] = hidden[0], unit_symbol(hidden[1])
    return amount, unit


def _admin_rows(table: pd.DataFrame, given: pd.DataFrame, matched: np.ndarray, cycle: np.ndarray) -> pd.DataFrame:
    """One row per administration for the day-based measures: its local day, cycle and extra flag."""
    dose_cycle = np.full(len(given), np.nan)
    took = table["admin"].to_numpy() >= 0
    dose_cycle[table["admin"].to_numpy()[took]] = table["cycle"].to_numpy(dtype=float, na_value=np.nan)[took]
    return pd.DataFrame(
        {
            "patient_id": pd.Categorical.from_codes(
                _codes(given["patient_id"], patients := table["patient_id"].cat.categories), categories=patients
            ),
            "drug": pd.Categorical.from_codes(
                _codes(given["label"], labels := table["drug"].cat.categories), categories=labels
            ),
            "cycle": pd.array(np.where(matched, dose_cycle, cycle)).astype("Int16"),
            "day": given["given_day"].to_numpy(np.int64),
            "extra": ~matched,
        }
    )


def _dose_table(shown: pd.DataFrame, table: pd.DataFrame, unblinded: bool) -> pd.DataFrame:

    columns = [c for c in DOSE_COLUMNS if c not in ("instructions", "status")] + (
        UNBLINDED_COLUMNS if unblinded else []
    )
    out = add_end_columns(shown.assign(planned_utc=utc_text(shown["planned_at"])))[columns].reset_index(drop=True)
    for column in STATUS_COLUMNS:
        out[column] = table[column].to_numpy() if column != "log_line" else table[column].array
    return out


__all__ = ["AdherenceResult", "ChangesLike", "Rule", "dose_windows", "judge_adherence", "regimen_rules"]
