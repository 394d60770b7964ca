"""Adherence rules per regimen: matching windows, on-time tolerance, dosing interval (pure).

See the README's "Adherence" section: each dose's default window is half the time to the nearer
neighbouring dose of the same patient and drug, rounded down to whole days when a day or more;
a regimen's ``adherence.match_window_hours`` fixes it; on time within ``adherence.on_time_hours``
(default 2 h).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..protocol.model import Protocol

DAY_S = 86400
HOUR_S = 3600
DEFAULT_ON_TIME_HOURS = 2.0


@dataclass(frozen=True)
class Rule:
    """A drug's matching window and on-time tolerance, in seconds, and its dosing interval."""

    window_s: int  # the protocol's window, or the typical default (half the median interval)
    on_time_s: int
    interval_s: int | None  # None: the regimen has no two planned doses to measure it
    fixed: bool = False  # True: the protocol's match_window_hours; False: each dose's own default


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
    seconds = utc_seconds(planned["planned_at"])
    regimen = planned["regimen"].cat.codes.to_numpy()
    patient = planned["patient_id"].cat.codes.to_numpy()
    order = np.lexsort((seconds, patient, regimen))
    seconds, regimen, patient = seconds[order], regimen[order], patient[order]
    same = (regimen[1:] == regimen[:-1]) & (patient[1:] == patient[:-1])
    gaps = pd.Series(np.diff(seconds)[same], index=regimen[1:][same])
    medians = gaps[gaps > 0].groupby(level=0).median()
    names = planned["regimen"].cat.categories
    return pd.Series(medians.to_numpy(), index=[str(names[i]) for i in medians.index])


def utc_seconds(values: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(values).tz_convert("UTC").tz_localize(None).as_unit("s").asi8.copy()


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


def label_rules(protocol: Protocol, rules: dict[str, Rule]) -> dict[str, Rule]:
    """One rule per drug as shown: the widest window among its regimens that have planned doses."""
    out: dict[str, Rule] = {}
    for regimen in protocol.regimens:
        label = regimen.blinded_label or regimen.drug
        rule, old = rules[regimen.id], out.get(label)
        measured = rule.interval_s is not None
        if old is None or (measured, rule.window_s) > (old.interval_s is not None, old.window_s):
            out[label] = rule
    return out


def daily_drugs(protocol: Protocol, rules: dict[str, Rule]) -> dict[str, bool]:
    """Drugs dosed at least once a day (where drug holidays are counted)."""
    return {label: rule.interval_s is not None and rule.interval_s <= DAY_S for label, rule in rules.items()}
