"""UIDs: ``<patient>.<drug key>.d<day>.<HHMM>@<study>.dosing``, one per dose, the same in every arm."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dosing.plan.expand import _distinct
from tests.builders import expand_for, protocol, regimen


def test_uid_text_for_own_times_and_long_studies() -> None:
    own = {"id": "own", "drug": "Own", "dose": {"amount": 1, "unit": "mg"}, "route": "oral", "times_from": "t"}
    proto = protocol(
        [regimen("fixed", {"every": "500 days"}, times=["07:05"]), {**own, "schedule": {"daily": True}}],
        last_day=1200,
        patient_values={"t": {"type": "time"}},
    )
    doses = expand_for(proto, values={"t": "23:59"})
    fixed = doses.loc[doses["regimen"] == "fixed", "uid"].tolist()
    assert fixed == ["P1.fixed.d001.0705@t.dosing", "P1.fixed.d501.0705@t.dosing", "P1.fixed.d1001.0705@t.dosing"]
    assert doses.loc[doses["regimen"] == "own", "uid"].iloc[-1] == "P1.own.d1200.2359@t.dosing"
    assert doses["uid"].is_unique


@given(st.lists(st.integers(0, 50), max_size=200))
def test_distinct_is_unique_with_inverse(values: list[int]) -> None:
    codes = np.array(values, dtype=np.int64)
    present, position = _distinct(codes, 51)
    unique, inverse = np.unique(codes, return_inverse=True)
    assert present.tolist() == unique.tolist()
    assert position.tolist() == inverse.tolist()
