"""Adherence: what was really given, against what was planned.

:func:`check_adherence` returns the tables (per planned dose, extra administrations, the
measures and the log's bad rows); :func:`adherence` also writes them with ``report.html``
into ``<out>/<study id>/adherence/`` (``<study id>-UNBLINDED`` with ``unblinded``). The
matching and the measures themselves are pure (:mod:`dosing.adherence_match`,
:mod:`dosing.adherence_measures`); the rules are in the README's "Adherence" section.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from typing import Protocol as Structural

import numpy as np
import pandas as pd

from .adherence_match import Pool, match
from .adherence_measures import summarise
from .blinding import blind, unblind
from .cohort import Cohort
from .expand import expand
from .io.log_file import AdministrationLog, read_log, shown_units
from .protocol import Protocol

DAY_S = 86400
HOUR_S = 3600
DEFAULT_ON_TIME_HOURS = 2.0
EXTRA_COLUMNS = ["line", "patient_id", "drug", "cycle", "given_at", "given_date", "dose_given", "reason"]
STATUSES = ["held", "taken", "on_time", "early", "late", "missed", "not_due"]
STATUS_COLUMNS = ["status", "given_at", "deviation_hours", "dose_given", "wrong_dose", "log_line"]


class ChangesLike(Structural):
    """What adherence needs from a changes file: stopped regimens and withdrawn patients."""

    stops: pd.DataFrame  # patient_id, regimen, from_date
    withdrawals: pd.DataFrame  # patient_id, from_date


@dataclass(frozen=True)
class Rule:
    """A drug's matching window and on-time tolerance, in seconds, and its dosing interval."""

    window_s: int  # the protocol's window, or the typical default (half the median interval)
    on_time_s: int
    interval_s: int | None  # None: the regimen has no two planned doses to measure it
    fixed: bool = False  # True: the protocol's match_window_hours; False: each dose's own default


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

    @property
    def flagged(self) -> pd.DataFrame:
        s = self.summary
        return s[(s["level"] == "patient") & (s["flag"] != "")]

    def summary_text(self) -> str:
        patients = self.summary[self.summary["level"] == "patient"]
        lines = [
            f"{'BLINDED' if self.blinded else 'UNBLINDED'} adherence as of {self.as_of.isoformat()}",
            f"  patients outside the band ({self.band[0]:g}-{self.band[1]:g}%): "
            f"{self.flagged['patient_id'].nunique()} of {patients['patient_id'].nunique()}",
            f"  doses due {int(patients['due'].sum()):,}, taken {int(patients['taken'].sum()):,}, "
            f"missed {int(patients['missed'].sum()):,}, extra {len(self.extra):,}",
            f"  bad log rows: {len(self.bad_rows):,}",
            f"  given after {self.as_of.isoformat()} (left out): {self.after_as_of:,}",
        ]
        if self.folder is not None:
            lines.append(f"  report: {self.folder / 'report.html'}")
        return "\n".join(lines)


def regimen_rules(protocol: Protocol, planned: pd.DataFrame) -> dict[str, Rule]:
    """Per regimen: the protocol's ``match_window_hours`` (``fixed``), else the typical default
    window, half the median spacing of its planned doses rounded down to whole days when a day or
    more (each dose's own default window is computed by :func:`dose_windows`); on time within
    ``on_time_hours`` (default 2 h)."""
    spacing = _median_spacing(planned)
    rules = {}
    for regimen in protocol.regimens:
        interval = int(spacing[regimen.id]) if regimen.id in spacing else None
        window = (interval or DAY_S) // 2
        if window >= DAY_S:
            window -= window % DAY_S
        fixed = regimen.adherence.match_window_hours is not None
        if regimen.adherence.match_window_hours is not None:
            window = int(regimen.adherence.match_window_hours * HOUR_S)
        on_time = regimen.adherence.on_time_hours
        on_time_s = int((DEFAULT_ON_TIME_HOURS if on_time is None else on_time) * HOUR_S)
        rules[regimen.id] = Rule(window, on_time_s, interval, fixed)
    return rules


def _median_spacing(planned: pd.DataFrame) -> pd.Series:
    seconds = _seconds(planned["planned_at"])
    regimen = planned["regimen"].cat.codes.to_numpy()
    patient = planned["patient_id"].cat.codes.to_numpy()
    order = np.lexsort((seconds, patient, regimen))
    seconds, regimen, patient = seconds[order], regimen[order], patient[order]
    same = (regimen[1:] == regimen[:-1]) & (patient[1:] == patient[:-1])
    gaps = pd.Series(np.diff(seconds)[same], index=regimen[1:][same])
    medians = gaps[gaps > 0].groupby(level=0).median()
    names = planned["regimen"].cat.categories
    return pd.Series(medians.to_numpy(), index=[str(names[i]) for i in medians.index])


def _seconds(values: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(values).tz_convert("UTC").tz_localize(None).as_unit("s").asi8.copy()


def check_adherence(
    protocol: Protocol,
    cohort: Cohort,
    log: str | Path | AdministrationLog,
    *,
    changes: str | Path | ChangesLike | None = None,
    as_of: dt.date | None = None,
    strict: bool = False,
    unblinded: bool = False,
    doses: pd.DataFrame | None = None,
) -> AdherenceResult:
    """Match the log to the planned doses and measure adherence. ``doses`` defaults to
    ``expand(protocol, cohort)``; pass a table whose ``held`` column a changes file has set."""
    if not isinstance(log, AdministrationLog):
        log = read_log(log, protocol, cohort, strict=strict)
    stops_and_withdrawals = _changes(changes, protocol, cohort)
    planned = expand(protocol, cohort) if doses is None else doses
    as_of = as_of or dt.date.today()
    rules = regimen_rules(protocol, planned)
    known = log.given["given_day"].to_numpy() <= (as_of - dt.date(1970, 1, 1)).days
    table, given, extra = _judge(protocol, planned, log.given[known], rules, as_of, stops_and_withdrawals)
    daily = _daily(protocol, _label_rules(protocol, rules))
    summary = summarise(table, given, daily, (protocol.study.adherence_band.low, protocol.study.adherence_band.high))
    shown = unblind(planned) if unblinded else blind(planned, protocol)
    dose_table = _dose_table(shown, table, unblinded)
    return AdherenceResult(
        dose_table,
        extra,
        summary,
        log.bad,
        _label_rules(protocol, rules),
        as_of,
        not unblinded,
        protocol.study.id,
        (protocol.study.adherence_band.low, protocol.study.adherence_band.high),
        int((~known).sum()),
    )


def _changes(changes: str | Path | ChangesLike | None, protocol: Protocol, cohort: Cohort) -> ChangesLike | None:
    """A changes file is read by :mod:`dosing.io.changes_file` (the visits work); objects pass through."""
    if isinstance(changes, (str, Path)):
        from .io.changes_file import load_changes  # type: ignore[import-not-found]  # not in this branch yet

        loaded: ChangesLike = load_changes(changes, protocol, cohort)
        return loaded
    return changes


def dose_windows(planned: pd.DataFrame, group: np.ndarray, seconds: np.ndarray, rules: dict[str, Rule]) -> np.ndarray:
    """Each planned dose's matching window (seconds, either side): the regimen's fixed window, else
    half the time to the nearer neighbouring dose of the same patient and drug (as shown), rounded
    down to whole days when a day or more (every other day ±24 h, daily ±12 h, weekly ±3 days; a
    schedule that changes pace, e.g. every other day then weekly, gets each phase's own window).
    Windows so made never overlap, so an administration is in reach of one dose at most."""
    order = np.lexsort((seconds, group))
    g, t = group[order], seconds[order]
    same = g[1:] == g[:-1]
    step = np.where(same & (np.diff(t) > 0), np.diff(t), np.iinfo(np.int64).max)
    none = np.iinfo(np.int64).max
    nearest = np.minimum(np.r_[none, step], np.r_[step, none])
    window = np.where(nearest == none, DAY_S, nearest) // 2
    window = np.where(window >= DAY_S, window - window % DAY_S, window)
    out = np.empty(len(order), dtype=np.int64)
    out[order] = window
    fixed = {rid: rule.window_s for rid, rule in rules.items() if rule.fixed}
    if fixed:
        override = planned["regimen"].map(fixed).to_numpy(dtype=float, na_value=np.nan)
        out = np.where(np.isnan(override), out, override).astype(np.int64)
    return out


def _label_rules(protocol: Protocol, rules: dict[str, Rule]) -> dict[str, Rule]:
    """One rule per drug as shown: the widest window among its regimens that have planned doses."""
    out: dict[str, Rule] = {}
    for regimen in protocol.regimens:
        label = regimen.blinded_label or regimen.drug
        rule, old = rules[regimen.id], out.get(label)
        measured = rule.interval_s is not None
        if old is None or (measured, rule.window_s) > (old.interval_s is not None, old.window_s):
            out[label] = rule
    return out


def _daily(protocol: Protocol, rules: dict[str, Rule]) -> dict[str, bool]:
    """Drugs dosed at least once a day (where drug holidays are counted)."""
    return {label: rule.interval_s is not None and rule.interval_s <= DAY_S for label, rule in rules.items()}


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
    windows = dose_windows(planned, p_group, _seconds(planned["planned_at"]), rules)
    label_codes = planned["label"].cat.codes.to_numpy()
    label_window = np.zeros(len(labels), dtype=np.int64)
    np.maximum.at(label_window, label_codes, windows)
    p_seconds = _seconds(planned["planned_at"])
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
    cycle = _nearest_cycle(planned, p_group, p_seconds, g_group, given["given_s"].to_numpy(np.int64))
    lone = ~matched
    reasons = _reasons(
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
    matched = dose_admin >= 0
    admin = np.maximum(dose_admin, 0)
    timed = given["timed"].to_numpy(dtype=bool)[admin] if len(given) else np.zeros(len(planned), dtype=bool)
    g_seconds = given["given_s"].to_numpy(np.int64)[admin] if len(given) else np.zeros(len(planned), np.int64)
    deviation = np.where(matched & timed, g_seconds - p_seconds, 0)
    on_time_of = {rid: rule.on_time_s for rid, rule in rules.items()}
    on_time = planned["regimen"].astype(str).map(on_time_of).to_numpy(dtype=np.int64)
    as_of_day = (as_of - dt.date(1970, 1, 1)).days
    held = planned["held"].to_numpy(dtype=bool)
    status = np.select(
        [
            held,
            matched & ~timed,
            matched & (np.abs(deviation) <= on_time),
            matched & (deviation < 0),
            matched,
            p_day < as_of_day,
        ],
        list(range(6)),
        default=6,
    )
    dose_given = np.where(matched, given["dose_given"].to_numpy(float)[admin] if len(given) else np.nan, np.nan)
    expected = _expected_amounts(protocol, planned)
    judged = matched & ~np.isnan(dose_given) & ~np.isnan(expected)
    wrong = judged & ~np.isclose(dose_given, expected, rtol=1e-6, atol=1e-9)
    text = _given_text(given["given_at"], admin, matched)
    line = given["line"].to_numpy(np.int64)[admin] if len(given) else np.zeros(len(planned), np.int64)
    return pd.DataFrame(
        {
            "patient_id": planned["patient_id"].to_numpy(),
            "drug": planned["label"].to_numpy(),
            "cycle": planned["cycle"].to_numpy(),
            "day": p_day,
            "status": pd.Categorical.from_codes(status, categories=pd.Index(STATUSES)),
            "given_at": text,
            "deviation_hours": np.where(matched & timed, np.round(deviation / HOUR_S, 2), np.nan),
            "dose_given": dose_given,
            "wrong_dose": wrong,
            "log_line": pd.arrays.IntegerArray(np.where(matched, line, 0), ~matched),
            "admin": dose_admin,
        }
    ).astype({"patient_id": planned["patient_id"].dtype, "drug": planned["label"].dtype})


def _given_text(given_at: pd.Series, admin: np.ndarray, matched: np.ndarray) -> pd.Categorical:
    """``given_at`` as written, per planned dose ("" when not given), kept categorical for speed."""
    cat = given_at.astype("category")
    categories = pd.Index([*map(str, cat.cat.categories), ""]).unique()
    recode = categories.get_indexer([*map(str, cat.cat.categories)])
    codes = recode[cat.cat.codes.to_numpy()[admin]] if len(given_at) else np.zeros(len(admin), dtype=np.int64)
    return pd.Categorical.from_codes(np.where(matched, codes, categories.get_loc("")), categories=categories)


def _expected_amounts(protocol: Protocol, planned: pd.DataFrame) -> np.ndarray:
    """The amount a log should show: the planned dose, or the blinded dose's number where hidden."""
    expected = planned["dose"].to_numpy(dtype=float).copy()
    if protocol.study.blinded:
        for regimen in protocol.regimens:
            if regimen.blinded_dose is not None:
                amount = pd.to_numeric(regimen.blinded_dose.split()[0], errors="coerce")
                expected[(planned["regimen"] == regimen.id).to_numpy()] = amount
    return expected


def _nearest_cycle(
    planned: pd.DataFrame, p_group: np.ndarray, p_seconds: np.ndarray, g_group: np.ndarray, g_seconds: np.ndarray
) -> np.ndarray:
    """The cycle of the planned dose nearest to each administration (for per-cycle counts)."""
    cycle = planned["cycle"].to_numpy(dtype=float, na_value=np.nan)
    order = np.lexsort((p_seconds, p_group))
    if not len(order):
        return np.full(len(g_group), np.nan)
    base = int(min(p_seconds.min(initial=0), g_seconds.min(initial=0)))
    p_key = (p_group[order] << 34) | (p_seconds[order] - base)
    g_key = (np.maximum(g_group, 0) << 34) | (g_seconds - base)
    right = np.searchsorted(p_key, g_key)
    left = np.maximum(right - 1, 0)
    right = np.minimum(right, len(order) - 1)
    pick = np.where(np.abs(p_key[left] - g_key) <= np.abs(p_key[right] - g_key), left, right)
    same = p_group[order][pick] == g_group
    return np.where(same, cycle[order][pick], np.nan)


def _reasons(
    protocol: Protocol,
    given: pd.DataFrame,
    g_group: np.ndarray,
    p_group: np.ndarray,
    reachable: np.ndarray,
    near_held: np.ndarray,
    changes: ChangesLike | None,
) -> np.ndarray:
    withdrew, stopped = _after_changes(protocol, given, changes)
    planned_at_all = np.isin(g_group, np.unique(p_group))
    return np.select(
        [withdrew, stopped, near_held, reachable, ~planned_at_all],
        [
            "after the patient withdrew",
            "after the drug was stopped",
            "during a hold",
            "a second dose: the planned dose near it was already taken",
            "no dose of this drug is planned for this patient",
        ],
        default="no dose planned near it",
    )


def _after_changes(
    protocol: Protocol, given: pd.DataFrame, changes: ChangesLike | None
) -> tuple[np.ndarray, np.ndarray]:
    none = np.zeros(len(given), dtype=bool)
    if changes is None or not len(given):
        return none, none.copy()
    day = given["given_day"].to_numpy(np.int64)
    withdrawn = _from_days(changes.withdrawals).groupby("patient_id")["from_day"].min()
    withdrew = day >= given["patient_id"].map(withdrawn).fillna(np.inf).to_numpy()
    label_of = {r.id: r.blinded_label or r.drug for r in protocol.regimens}
    stops = _from_days(changes.stops)
    stops["label"] = stops["regimen"].astype(str).map(label_of)
    first = stops.groupby(["patient_id", "label"])["from_day"].min()
    keys = pd.MultiIndex.from_arrays([given["patient_id"], given["label"]])
    stopped = day >= first.reindex(keys).fillna(np.inf).to_numpy()
    return withdrew, stopped


def _from_days(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["patient_id"] = out["patient_id"].astype(str)
    dates = pd.to_datetime(out["from_date"].astype(str))
    out["from_day"] = pd.DatetimeIndex(dates).as_unit("s").asi8 // DAY_S
    return out


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
    from .generate import DOSE_COLUMNS, UNBLINDED_COLUMNS

    columns = [c for c in DOSE_COLUMNS if c != "instructions"] + (UNBLINDED_COLUMNS if unblinded else [])
    out = shown[columns].reset_index(drop=True)
    for column in STATUS_COLUMNS:
        out[column] = table[column].to_numpy() if column != "log_line" else table[column].array
    return out


def adherence(
    protocol: Protocol,
    cohort: Cohort,
    log: str | Path | AdministrationLog,
    out_dir: str | Path = "output",
    **options: Any,
) -> AdherenceResult:
    """:func:`check_adherence`, then write doses.csv, extra.csv, summary.csv, bad_rows.csv and
    report.html into ``<out>/<study id>/adherence/`` at once (the study's other outputs stay)."""
    from .generate import output_folder
    from .io.atomic import staged_folder
    from .io.csv_out import write_csv
    from .io.report_html import write_report

    result = check_adherence(protocol, cohort, log, **options)
    final = output_folder(Path(out_dir), protocol, not result.blinded) / "adherence"
    with staged_folder(final) as folder:
        write_csv(result.doses, folder / "doses.csv")
        write_csv(result.extra, folder / "extra.csv")
        write_csv(result.summary, folder / "summary.csv")
        write_csv(result.bad_rows, folder / "bad_rows.csv")
        write_report(result, folder / "report.html")
    result.folder = final
    result.files = [final / name for name in ("doses.csv", "extra.csv", "summary.csv", "bad_rows.csv", "report.html")]
    return result


__all__ = ["AdherenceResult", "ChangesLike", "Rule", "adherence", "check_adherence", "regimen_rules", "shown_units"]
