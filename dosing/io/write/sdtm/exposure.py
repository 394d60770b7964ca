"""EC (Exposure as Collected) and EX (Exposure) from the dose table, the changes and the adherence check.

EC has one ``SCHEDULED`` record per planned dose and, with a log, one ``PERFORMED`` record per judged
planned dose (``ECOCCUR`` Y for given doses, N with ``ECREASOC`` for held and missed ones; doses not
yet due have none). EX (unblinded only) has one record per dose actually given. A dose's records share
a link id (``ECLNKID``/``EXLNKID``, the dose's UID without its domain). Times are ISO 8601 with the
patient's UTC offset; study days have no day 0. Vectorised; the loops run over regimens and zones.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ....plan.blind_view import View
from ....plan.changes import Changes
from ....plan.cohort import Cohort
from ....plan.visits import study_day
from ....protocol.model import Protocol
from .terminology import dose_form_term, frequency_terms, route_term, unit_term

GIVEN = ("taken", "on_time", "early", "late")
NOT_GIVEN = ("held", "missed")
MISSED = "missed"
TREATMENT = "TREATMENT"


def local_iso(utc: pd.Series | pd.DatetimeIndex, zones: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM+08:00``: each UTC instant in its row's zone, with the offset (vectorised per zone)."""
    instants = pd.DatetimeIndex(utc)
    out = np.empty(len(instants), dtype=object)
    for zone in pd.unique(zones):
        rows = zones == zone
        utc_wall = instants[rows].tz_convert("UTC").tz_localize(None).to_numpy("datetime64[m]")
        wall = instants[rows].tz_convert(str(zone)).tz_localize(None).to_numpy("datetime64[m]")
        minutes = (wall - utc_wall).astype(np.int64)
        offsets, which = np.unique(minutes, return_inverse=True)
        texts = np.array([_offset_text(int(m)) for m in offsets], dtype=object)  # one per distinct offset
        out[rows] = np.char.add(np.datetime_as_string(wall, unit="m").astype(str), texts[which].astype(str))
    return out


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def duration_minutes(doses: pd.DataFrame) -> np.ndarray:
    """Each dose's duration in minutes (an infusion's; 0 for a dose given at a point in time)."""
    if "duration_minutes" not in doses.columns:
        return np.zeros(len(doses), dtype=np.int64)
    return doses["duration_minutes"].fillna(0).to_numpy(dtype=np.int64)


def end_iso(starts: pd.DatetimeIndex, minutes: np.ndarray, zones: np.ndarray, start_texts: np.ndarray) -> np.ndarray:
    """--ENDTC: an infusion's end (its start + its duration, elapsed time, with the end's own UTC
    offset: across a clock change the offset differs from the start's); the start for a point dose."""
    lasts = minutes > 0
    out = np.asarray(start_texts, dtype=object).copy()
    if lasts.any():
        ends = starts[lasts] + pd.to_timedelta(minutes[lasts], unit="min")
        out[lasts] = local_iso(ends, zones[lasts])
    return out


def iso_dates(texts: np.ndarray) -> np.ndarray:
    """The dates (day numbers) of ISO 8601 texts ("2027-01-06T09:00+01:00" -> 2027-01-06)."""
    return np.asarray(texts, dtype=object).astype("U10").astype("datetime64[D]")  # vectorised: the first 10 characters


def _start_days(cohort: Cohort, patients: pd.Series) -> np.ndarray:
    starts = cohort.patients.set_index("patient_id")["start_date"]
    return patients.astype(str).map(starts).to_numpy().astype("datetime64[D]")


def blank_where(mask: np.ndarray, values: np.ndarray | pd.Series) -> np.ndarray:
    """``values`` as objects, None where ``mask``."""
    out = np.asarray(values, dtype=object).copy()
    out[mask] = None
    return out


def _per_regimen(doses: pd.DataFrame, values: Mapping[str, object]) -> np.ndarray:
    return doses["regimen"].astype(str).map(values).to_numpy(dtype=object)


def _frequencies(protocol: Protocol, doses: pd.DataFrame, days: np.ndarray) -> np.ndarray:
    """The FREQ term of each dose: its regimen's, of the schedule phase its study day falls in."""
    out = np.empty(len(doses), dtype=object)
    regimen = doses["regimen"].astype(str).to_numpy()
    for r in protocol.regimens:
        rows = regimen == r.id
        if rows.any():
            starts, terms = zip(*frequency_terms(protocol, r), strict=True)
            phase = np.searchsorted(np.array(starts), days[rows], side="right") - 1
            out[rows] = np.array(terms, dtype=object)[np.maximum(phase, 0)]
    return out


def planned_records(protocol: Protocol, cohort: Cohort, doses: pd.DataFrame, unblinded: bool) -> pd.DataFrame:
    """What EC and EX share per planned dose: subject, link id, treatment, dose, terms, time and day."""
    view = View(protocol, unblinded)
    regimens = {r.id: r for r in protocol.regimens}
    zones = doses["timezone"].astype(str).to_numpy()
    dates = pd.to_datetime(doses["date"].astype(str)).to_numpy(dtype="datetime64[D]")
    hidden = _per_regimen(doses, {rid: view.hides_dose(rid) for rid in regimens}).astype(bool)
    blinded_text = {rid: r.blinded_dose if view.hides_dose(rid) else None for rid, r in regimens.items()}
    if unblinded:
        treatment = _per_regimen(doses, {rid: "PLACEBO" if r.placebo_for else r.drug for rid, r in regimens.items()})
        forms = _per_regimen(doses, {rid: dose_form_term(protocol, r) for rid, r in regimens.items()})
    else:
        treatment = doses["label"].astype(str).to_numpy(dtype=object)
        forms = np.full(len(doses), None, dtype=object)  # a dose form may differ between arms
    units = {rid: unit_term(protocol, r) for rid, r in regimens.items() if not view.hides_dose(rid)}
    # unblinded, a placebo's dose is 0 in its active drug's unit (SDTMIG), in EC as in EX
    placebo = {rid: bool(unblinded and r.placebo_for) for rid, r in regimens.items()}
    for rid, r in regimens.items():
        if placebo[rid] and r.placebo_for in regimens and rid in units:
            units[rid] = unit_term(protocol, regimens[str(r.placebo_for)])
    is_placebo = _per_regimen(doses, placebo).astype(bool)
    start_days = _start_days(cohort, doses["patient_id"])
    minutes = duration_minutes(doses)
    starts = local_iso(doses["planned_at"], zones)
    ends = end_iso(pd.DatetimeIndex(doses["planned_at"]), minutes, zones, starts)
    return pd.DataFrame(
        {
            "patient_id": doses["patient_id"].astype(str).to_numpy(),
            "regimen": doses["regimen"].astype(str).to_numpy(),
            "USUBJID": protocol.study.id + "-" + doses["patient_id"].astype(str).to_numpy(dtype=object),
            "LNKID": doses["uid"].astype(str).str.split("@").str[0].to_numpy(dtype=object),
            "TRT": treatment,
            "DOSE": np.where(
                is_placebo, 0.0, np.where(hidden, np.nan, doses["dose"].to_numpy(dtype=float, na_value=np.nan))
            ),
            "DOSTXT": _per_regimen(doses, blinded_text),
            "DOSU": blank_where(hidden, _per_regimen(doses, units)),
            "DOSFRM": forms,
            "DOSFRQ": _frequencies(protocol, doses, doses["study_day"].to_numpy()),
            "ROUTE": _per_regimen(doses, {rid: route_term(protocol, r) for rid, r in regimens.items()}),
            "EPOCH": TREATMENT,
            "DTC": starts,
            "DY": study_day(dates, start_days),
            "ENDTC": ends,
            "ENDY": study_day(iso_dates(ends), start_days),
            "minutes": minutes,
            "zone": zones,
            "date": dates,
            "held": doses["held"].to_numpy(dtype=bool),
            "placebo": is_placebo,
            "order": pd.DatetimeIndex(doses["planned_at"]).asi8,
        }
    )


def hold_reasons(planned: pd.DataFrame, doses: pd.DataFrame, changes: Changes | None) -> np.ndarray:
    """Per planned dose, the changes file's reason for holding it ("" where none)."""
    out = np.full(len(planned), "", dtype=object)
    if changes is None or not planned["held"].any():
        return out
    holds = changes.of("hold")
    keys = pd.DataFrame(
        {
            "patient_id": planned["patient_id"],
            "regimen": planned["regimen"],
            "date": planned["date"].astype("datetime64[ns]"),
            "minutes": _minutes(doses["time"].astype(str)),
            "row": np.arange(len(planned)),
        }
    )[planned["held"].to_numpy()]
    found = keys.merge(holds.astype({"date": "datetime64[ns]"}), on=["patient_id", "regimen", "date"])
    found = found[found["time"].isna() | (found["time"].astype("Float64") == found["minutes"])]
    out[found["row"].to_numpy()] = found["reason"].astype(str).to_numpy()
    return out


def _minutes(clock: pd.Series) -> np.ndarray:
    parts = clock.str.split(":", expand=True).astype(int)
    return (parts[0] * 60 + parts[1]).to_numpy()


def dose_adjustments(planned: pd.DataFrame, changes: Changes | None) -> np.ndarray:
    """Per planned dose, the reason of the latest dose change in force on its date ("" where none)."""
    out = np.full(len(planned), "", dtype=object)
    if changes is None or changes.of("dose").empty:
        return out
    rows = changes.of("dose")[["patient_id", "regimen", "date", "reason"]].astype({"date": "datetime64[ns]"})
    left = pd.DataFrame(
        {
            "patient_id": planned["patient_id"],
            "regimen": planned["regimen"],
            "date": planned["date"].astype("datetime64[ns]"),
            "row": np.arange(len(planned)),
        }
    ).sort_values("date")
    merged = pd.merge_asof(left, rows.sort_values("date"), on="date", by=["patient_id", "regimen"])
    found = merged["reason"].notna().to_numpy()
    out[merged["row"].to_numpy()[found]] = merged["reason"].to_numpy()[found]
    return out
