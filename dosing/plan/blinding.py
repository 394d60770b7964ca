"""What blinded users may see. Blinded outputs are the default everywhere.

A blinded table has no arm and no true drug: each regimen appears under its blinded label
(or its drug name when it is the same in every arm), keyed by a regimen key that is the
same for every arm, and a dose that differs between arms is replaced by its blinded dose
(e.g. "1 syringe"). The protocol validation (:func:`dosing.protocol.safety.check_blinding`)
guarantees that everything else a blinded user sees is identical across arms.
"""

from __future__ import annotations

import pandas as pd

from ..protocol.model import Protocol

#: Columns only unblinded outputs may carry.
UNBLINDED_ONLY = ("arm", "regimen", "drug", "dose_basis")


def blind(doses: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """A copy of an expanded table fit for blinded users.

    ``drug`` becomes the blinded label, ``regimen`` the arm-independent regimen key, ``arm`` and (in a
    blinded study) ``dose_basis`` (how a computed dose was computed) are dropped, and ``dose``/``unit`` of groups
    whose blinded dose is set become that text and an empty unit.
    """
    secret = ["dose_basis"] if "dose_basis" in doses.columns and protocol.study.blinded else []  # open: nothing hidden
    out = doses.drop(columns=["arm", "drug", *secret]).copy()
    out.insert(list(out.columns).index("label"), "drug", out.pop("label"))
    keys = {r.id: r.display_key for r in protocol.regimens}
    out["regimen"] = out["regimen"].astype(str).map(keys).astype("category")
    hidden = {r.id for r in protocol.regimens if r.blinded_dose is not None and protocol.study.blinded}
    if hidden:
        texts = {r.id: r.blinded_dose for r in protocol.regimens if r.id in hidden}
        pick = doses["regimen"].astype(str).isin(hidden).to_numpy()
        dose = out["dose"].astype(object)
        dose[pick] = doses["regimen"].astype(str)[pick].map(texts)
        out["dose"] = dose
        unit = out["unit"].astype(object)
        unit[pick] = ""
        out["unit"] = unit.astype("category")
    return out


def unblind(doses: pd.DataFrame) -> pd.DataFrame:
    """A copy for unblinded users: the true drug, with the blinded label kept beside it."""
    out = doses.copy()
    out = out.rename(columns={"label": "blinded_label"})
    return out


def is_blinded_frame(frame: pd.DataFrame) -> bool:
    return not any(column in frame.columns for column in ("arm",)) and "blinded_label" not in frame.columns


__all__ = ["UNBLINDED_ONLY", "blind", "is_blinded_frame", "unblind"]
