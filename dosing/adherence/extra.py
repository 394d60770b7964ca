"""Administrations that match no planned dose: why, and which cycle they fall in (pure)."""

from __future__ import annotations

from typing import Protocol as Structural

import numpy as np
import pandas as pd

from ..protocol.model import Protocol
from .rules import DAY_S


class ChangesLike(Structural):
    """What adherence needs from a changes file: stopped regimens and withdrawn patients."""

    @property
    def stops(self) -> pd.DataFrame: ...  # patient_id, regimen, from_date

    @property
    def withdrawals(self) -> pd.DataFrame: ...  # patient_id, from_date


def nearest_cycle(
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


def extra_reasons(
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
