"""Adherence at every cohort size (issue 10 section 1).

pandas 3 stores a categorical's codes as int8 up to 127 categories, int16 up to 32,767 and int32
beyond; an empty group-by of a categorical with more categories gave an index that could not be
reindexed ("Buffer dtype mismatch, expected 'const int8_t' but got 'short'"). The measures now
group by integer codes; these tests check sizes around each change of width, with hand-counted
statuses and extras.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import dosing
from bench.expand import synthetic_cohort
from dosing.io.read.log import log_from_frame
from dosing.plan.blinding import blind
from dosing.plan.cohort import Cohort
from tests.builders import protocol, regimen

SEED = dosing.load_protocol("protocols/nct02467504.toml")
DAILY = protocol([regimen("d", {"daily": True})], last_day=3)
START = np.datetime64("2027-01-04")
STATUSES = ["on_time", "early", "late", "taken", "missed", "held"]


@pytest.mark.parametrize("extras", [0, 1])
@pytest.mark.parametrize("n", [127, 128, 130])
def test_seed_cohort_with_an_on_time_log_and_few_extras(n: int, extras: int) -> None:
    """130 patients of the seed protocol with every dose on its worklist row on time crashed."""
    cohort = synthetic_cohort(n)
    sheet = blind(dosing.expand(SEED, cohort), SEED)  # the blinded worklist's rows
    frame = pd.DataFrame(
        {
            "patient_id": sheet["patient_id"].astype(str),
            "drug": sheet["drug"].astype(str),
            "given_at": sheet["date"].astype(str) + " " + sheet["time"].astype(str),
            "uid": sheet["uid"].astype(str),
        }
    )
    frame = pd.concat([frame, frame.head(extras)], ignore_index=True)
    result = dosing.check_adherence(SEED, cohort, log_from_frame(frame, SEED, cohort), as_of=dt.date(2029, 1, 1))
    assert len(result.extra) == extras
    patients = result.summary[result.summary["level"] == "patient"]
    assert patients["patient_id"].nunique() == n
    assert patients["missed"].sum() == 0
    assert patients["on_time"].sum() == len(sheet)
    assert patients["extra"].sum() == extras


def test_no_administration_at_all_for_many_patients() -> None:
    cohort = synthetic_cohort(200)
    frame = pd.DataFrame(columns=["patient_id", "drug", "given_at"], dtype=str)
    result = dosing.check_adherence(SEED, cohort, log_from_frame(frame, SEED, cohort), as_of=dt.date(2029, 1, 1))
    patients = result.summary[result.summary["level"] == "patient"]
    assert patients["taken"].sum() == 0
    assert (patients["missed"] == patients["due"]).all()
    assert patients["discontinued"].all()


def _cohort(n: int) -> Cohort:
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:05d}" for i in range(n)],
            "arm": "a",
            "start_date": np.full(n, START).astype("datetime64[s]"),
            "timezone": "UTC",
            "site": "",
        }
    )
    return Cohort(frame, "<synthetic>")


def _log_and_counts(
    planned: pd.DataFrame, status: np.ndarray, extras: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, int]]:
    """A log giving each planned dose as ``status`` says (an index into STATUSES; -1: after the
    as-of date, not given), plus ``extras`` administrations two or more days before any dose."""
    at = pd.to_datetime(planned["planned_at"].astype(str).str[:16])
    shift = {"on_time": 0, "early": -3, "late": 3}
    rows = []
    for code, name in enumerate(STATUSES):
        pick = status == code
        if name in shift:
            text = (at[pick] + pd.Timedelta(hours=shift[name])).dt.strftime("%Y-%m-%d %H:%M")
        elif name == "taken":  # a diary: the date alone
            text = at[pick].dt.strftime("%Y-%m-%d")
        else:
            continue
        rows.append(pd.DataFrame({"patient_id": planned["patient_id"].astype(str)[pick], "given_at": text}))
    ids = planned["patient_id"].cat.categories.to_numpy()
    before = START - np.timedelta64(2, "D") - rng.integers(0, 5 * 24 * 60, extras).astype("timedelta64[m]")
    lone = pd.DataFrame(
        {
            "patient_id": ids[rng.integers(0, len(ids), extras)],
            "given_at": pd.Series(before).dt.strftime("%Y-%m-%d %H:%M"),
        }
    )
    frame = pd.concat([*rows, lone], ignore_index=True).assign(drug="d")
    counts = {name: int((status == code).sum()) for code, name in enumerate(STATUSES)}
    counts["not_due"] = int((status == -1).sum())
    counts["extra"] = extras
    return frame.sample(frac=1, random_state=int(rng.integers(1 << 31))), counts


def _check_cohort(n: int, allowed: list[str], extras: int, seed: int) -> None:
    """Every patient has 3 daily doses at 08:00 UTC (days 1-3); days 1-2 take a status from
    ``allowed`` (none: the check runs before day 1), day 3 is on the as-of date and not given (not due)."""
    rng = np.random.default_rng(seed)
    cohort = _cohort(n)
    planned = dosing.expand(DAILY, cohort)
    day3 = (planned["study_day"] == 3).to_numpy()
    codes = np.array([STATUSES.index(s) for s in allowed] or [-1])
    status = np.where(day3, -1, codes[rng.integers(0, len(codes), len(planned))])
    planned = planned.assign(held=status == STATUSES.index("held"))
    frame, expected = _log_and_counts(planned, status, extras, rng)
    log = log_from_frame(frame, DAILY, cohort)
    assert len(log.bad) == 0
    result = dosing.check_adherence(DAILY, cohort, log, as_of=dt.date(2027, 1, 6 if allowed else 3), doses=planned)
    cohort_row = result.summary[result.summary["level"] == "cohort"].iloc[0]
    expected_taken = sum(expected[s] for s in ("on_time", "early", "late", "taken"))
    assert {k: int(cohort_row[k]) for k in expected} == {**expected, "taken": expected_taken}
    assert int(cohort_row["due"]) == expected_taken + expected["missed"]
    patients = result.summary[result.summary["level"] == "patient"]
    assert len(patients) == n and patients["patient_id"].nunique() == n
    assert int(patients["extra"].sum()) == extras == len(result.extra)


SIZES = st.one_of(st.sampled_from([1, 127, 128, 129, 255, 256, 2_000]), st.integers(1, 2_000))
EXTRAS = st.one_of(st.sampled_from([0, 1]), st.integers(2, 3_000))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(127, ["on_time"], 0, 1)
@example(128, ["on_time"], 0, 2)
@example(129, ["on_time", "late"], 1, 3)
@example(255, [], 0, 4)
@example(256, STATUSES, 1, 5)
@example(256, ["missed"], 500, 6)
@given(SIZES, st.lists(st.sampled_from(STATUSES), unique=True), EXTRAS, st.integers(0, 2**32 - 1))
def test_every_cohort_size_status_mix_and_number_of_extras(n: int, allowed: list[str], extras: int, seed: int) -> None:
    _check_cohort(n, allowed, extras, seed)


@pytest.mark.slow
@pytest.mark.parametrize("n", [32_767, 32_768])
@pytest.mark.parametrize("extras", [0, 1])
def test_where_codes_change_width_to_int32(n: int, extras: int) -> None:
    _check_cohort(n, ["on_time", "late", "missed"], extras, seed=n + extras)
