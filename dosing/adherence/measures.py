"""Adherence measures per patient x drug, per cycle and for the cohort (pure, vectorised).

Definitions (DOMAIN.md section 5; choices documented in the README's "Adherence" section):

- due = taken + missed (held and not yet due doses are not due); taken = matched doses.
- taking adherence = taken / due; ``given_ratio`` = (taken + extra) / due, which can pass 100%.
  The flag is raised when taking adherence is below the band's low end or ``given_ratio``
  above its high end (default 80-120%).
- timing adherence = on time / (due - untimed): diary entries (a date alone) have no time,
  so they are left out of the denominator rather than counted as late; blank for a diary
  (entries with dates only and none with a time).
- correct dosing days = days with exactly the planned number of administrations / days with
  doses due (administrations counted on the patient's local date they were given).
- a gap is a run of consecutive dosing days (days with doses due) with no administration;
  ``longest_gap_days`` is the longest; ``drug_holidays`` counts gaps of 3 days or more for
  drugs dosed at least daily (blank for others).
- persistence: first and last day with an administration; ``discontinued`` when the last
  gap reaches the last dosing day and is 3 dosing days or longer (or nothing was ever taken).

Patients and drugs are grouped by plain integer codes (their position in the planned doses'
categories), never by categorical columns: an empty group-by of a categorical with more than 127
categories yields index codes of another width, which pandas cannot reindex against (the crash
at 128 patients). Names come back only in the finished table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TAKEN = ("on_time", "early", "late", "taken")
COUNTS = ["on_time", "early", "late", "taken", "missed", "held", "not_due"]
#: Counts that add up from patients to the cohort (in SUMMARY_COLUMNS order; days_due and
#: correct_days come later there).
SUMMED = [
    "due",
    "taken",
    "missed",
    "extra",
    "on_time",
    "early",
    "late",
    "untimed",
    "wrong_dose",
    "dose_not_judged",
    "held",
    "not_due",
    "days_due",
    "correct_days",
]
SUMMARY_COLUMNS = [
    "level",
    "patient_id",
    "drug",
    "cycle",
    *SUMMED[:-2],
    "taking_adherence",
    "timing_adherence",
    "given_ratio",
    "days_due",
    "correct_days",
    "correct_dosing_days",
    "longest_gap_days",
    "drug_holidays",
    "first_given",
    "last_given",
    "persistence_days",
    "initiated",
    "discontinued",
    "flag",
]
HOLIDAY_DAYS = 3


def summarise(
    doses: pd.DataFrame, given: pd.DataFrame, daily: dict[str, bool], band: tuple[float, float]
) -> pd.DataFrame:
    """``doses``: patient_id, drug, cycle, day, status, wrong_dose (nullable: <NA> = nothing given or
    not judged), dose_note (not "" = not judged, see :mod:`dosing.adherence.blind`; one row per planned dose);
    ``given``: patient_id, drug, cycle, day, extra (one row per administration)."""
    keys = ["patient_id", "drug"]
    patients, drugs = _categories(doses["patient_id"]), _categories(doses["drug"])
    doses, given = _encoded(doses, patients, drugs), _encoded(given, patients, drugs)
    daily_code = {code: bool(daily.get(str(name), False)) for code, name in enumerate(drugs)}
    patient = _level(doses, given, keys, daily_code, band).assign(level="patient", cycle=np.nan)
    cyclic = doses["cycle"].notna()
    cycle = _level(doses[cyclic], given[given["cycle"].notna()], [*keys, "cycle"], daily_code, band)
    cycle = cycle.assign(level="cycle")
    cohort = _cohort(patient, band)
    patient, cycle = (_named(level, patients, drugs) for level in (patient, cycle))
    cohort["drug"] = pd.Categorical.from_codes(cohort["drug"].to_numpy(np.int64), categories=drugs)
    out = pd.concat([cohort, patient, cycle], ignore_index=True)
    out["cycle"] = out["cycle"].astype("Int16")
    order = out["level"].map({"cohort": 0, "patient": 1, "cycle": 2})
    out = out.assign(_o=order).sort_values(["patient_id", "drug", "_o", "cycle"], kind="stable", na_position="first")
    return out.drop(columns="_o").reset_index(drop=True)[SUMMARY_COLUMNS]


def _categories(column: pd.Series) -> pd.Index:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Index(column.cat.categories)
    return pd.Index(pd.unique(column.astype(str)))


def _encoded(frame: pd.DataFrame, patients: pd.Index, drugs: pd.Index) -> pd.DataFrame:
    """``frame`` with patient_id and drug as int64 codes into ``patients`` and ``drugs``."""
    out = frame.copy()
    for column, names in (("patient_id", patients), ("drug", drugs)):
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):  # recode each category once
            recode = np.append(names.get_indexer(values.cat.categories), -1)
            out[column] = recode[values.cat.codes.to_numpy()].astype(np.int64)
        else:
            out[column] = names.get_indexer(pd.Index(values.astype(str))).astype(np.int64)
    return out


def _named(level: pd.DataFrame, patients: pd.Index, drugs: pd.Index) -> pd.DataFrame:
    codes = {"patient_id": patients, "drug": drugs}
    return level.assign(
        **{c: pd.Categorical.from_codes(level[c].to_numpy(np.int64), categories=n) for c, n in codes.items()}
    )


def _level(
    doses: pd.DataFrame, given: pd.DataFrame, keys: list[str], daily: dict[int, bool], band: tuple[float, float]
) -> pd.DataFrame:
    per_status = doses.groupby([*keys, "status"], observed=True).size()  # crosstab, without its Python loop
    counts = per_status.unstack("status", fill_value=0).reindex(columns=COUNTS, fill_value=0)
    counts.columns = list(COUNTS)
    out = counts.rename(columns={"taken": "untimed"})
    out["taken"] = counts[list(TAKEN)].sum(axis=1)
    out["missed"] = counts["missed"]
    out["due"] = out["taken"] + out["missed"]
    judged = doses.groupby(keys, observed=True)
    out["wrong_dose"] = judged["wrong_dose"].sum().reindex(out.index, fill_value=0).astype(np.int64)
    not_judged = (doses["dose_note"] != "").groupby([doses[k] for k in keys], observed=True).sum()
    out["dose_not_judged"] = not_judged.reindex(out.index, fill_value=0).astype(np.int64)
    extra = given[given["extra"]].groupby(keys, observed=True).size()
    out["extra"] = extra.reindex(out.index, fill_value=0).astype(np.int64)
    out = out.join(_days(doses, given, keys, daily)).join(_persistence(given, keys))
    out = out.reset_index()
    _ratios(out, band)
    return finish(out)


def _ratios(out: pd.DataFrame, band: tuple[float, float]) -> None:
    due = out["due"].where(out["due"] > 0)
    out["taking_adherence"] = (100 * out["taken"] / due).round(1)
    diary = (out["untimed"] > 0) & (out["on_time"] + out["early"] + out["late"] == 0)
    timed_due = (out["due"] - out["untimed"]).where(lambda d: (d > 0) & ~diary)
    out["timing_adherence"] = (100 * out["on_time"] / timed_due).round(1)
    out["given_ratio"] = (100 * (out["taken"] + out["extra"]) / due).round(1)
    days = out["days_due"].where(out["days_due"] > 0)
    out["correct_dosing_days"] = (100 * out["correct_days"] / days).round(1)
    low, high = band
    below = out["taking_adherence"] < low
    above = out["given_ratio"] > high
    flag = np.where(below, f"taking adherence below {low:g}%", "")
    flag = np.where(above & ~below, f"doses given above {high:g}% of due", flag)
    out["flag"] = flag


def _days(doses: pd.DataFrame, given: pd.DataFrame, keys: list[str], daily: dict[int, bool]) -> pd.DataFrame:
    """Correct dosing days, longest gap, drug holidays and discontinuation per group."""
    due = doses[doses["status"].isin([*TAKEN, "missed"])]
    per_day = due.groupby([*keys, "day"], observed=True).size().rename("planned")
    had = given.groupby(["patient_id", "drug", "day"], observed=True).size().rename("had")
    table = per_day.reset_index().merge(had.reset_index(), on=["patient_id", "drug", "day"], how="left")
    table["had"] = table["had"].fillna(0).astype(np.int64)
    table = table.sort_values([*keys, "day"], kind="stable").reset_index(drop=True)
    table["correct"] = table["planned"] == table["had"]
    new_group = table.groupby(keys, observed=True, sort=False).cumcount().to_numpy() == 0
    empty = (table["had"] == 0).to_numpy()
    run_id = np.cumsum(new_group | ~empty | np.r_[True, ~empty[:-1]])
    table["run"] = np.where(empty, run_id, -1)
    group = table.groupby(keys, observed=True, sort=False)
    runs = table[empty].groupby([*keys, "run"], observed=True).size().rename("length").reset_index()
    runs["daily"] = runs["drug"].map(daily).fillna(False).astype(bool)
    last_run = group["run"].last().rename("last_run")
    per_group = pd.DataFrame({"days_due": group.size(), "correct_days": group["correct"].sum().astype(np.int64)}).join(
        last_run
    )
    gaps = runs.groupby(keys, observed=True)["length"].max().rename("longest_gap_days")
    holidays = runs[runs["length"] >= HOLIDAY_DAYS].groupby(keys, observed=True).size().rename("drug_holidays")
    tail = runs.set_index([*keys, "run"])["length"]
    per_group = per_group.join(gaps).join(holidays)
    per_group["longest_gap_days"] = per_group["longest_gap_days"].fillna(0).astype(np.int64)
    daily_group = per_group.index.get_level_values("drug").map(daily).fillna(False).to_numpy(dtype=bool)
    per_group["drug_holidays"] = per_group["drug_holidays"].fillna(0).astype("Int64").mask(~daily_group)
    last_len = [
        tail.get((*idx, run), 0) if run >= 0 else 0
        for idx, run in zip(_tuples(per_group.index), per_group["last_run"], strict=True)
    ]
    per_group["trailing_gap"] = np.array(last_len, dtype=np.int64)
    return per_group.drop(columns="last_run")


def _tuples(index: pd.Index) -> list[tuple[object, ...]]:
    return [i if isinstance(i, tuple) else (i,) for i in index]


def _persistence(given: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    days = given.groupby(keys, observed=True)["day"].agg(["min", "max"])
    out = pd.DataFrame(index=days.index)
    out["first_given"] = _iso(days["min"])
    out["last_given"] = _iso(days["max"])
    out["persistence_days"] = (days["max"] - days["min"] + 1).astype(np.int64)
    return out


def _iso(days: pd.Series) -> pd.Series:
    return pd.Series(
        np.datetime_as_string(days.to_numpy(dtype=np.int64).astype("datetime64[D]"), unit="D"), index=days.index
    )


def finish(out: pd.DataFrame) -> pd.DataFrame:
    """Fill what an empty group leaves blank (a group with no administration)."""
    out["persistence_days"] = out["persistence_days"].astype("Int64")
    out["initiated"] = out["taken"] > 0
    out["discontinued"] = (out["due"] > 0) & (~out["initiated"] | (out["trailing_gap"].fillna(0) >= HOLIDAY_DAYS))
    return out


def _cohort(patient: pd.DataFrame, band: tuple[float, float]) -> pd.DataFrame:
    out = patient.groupby("drug", observed=True)[SUMMED].sum().reset_index()
    _ratios(out, band)
    flagged = patient[patient["flag"] != ""].groupby("drug", observed=True).size()
    count = out["drug"].map(flagged).fillna(0).astype(int)
    out["flag"] = np.where(count > 0, count.astype(str) + " patient(s) outside the band", "")
    return out.assign(level="cohort", patient_id="", cycle=np.nan)
