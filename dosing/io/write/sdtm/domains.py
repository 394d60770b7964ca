"""The EC and EX datasets, assembled from the per-dose records of :mod:`.exposure`.

``judged`` is the adherence check's dose table (:attr:`dosing.AdherenceResult.doses`), row for row
the planned doses; ``given`` the log's administrations by log line (``given_s``, ``timed``,
``given_day``, ``true_terms``). Pure.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ....errors import LogError
from ....plan.cohort import Cohort
from ....plan.visits import study_day
from ....protocol.model import Protocol
from .design import epochs
from .exposure import GIVEN, MISSED, NOT_GIVEN, _start_days, blank_where, end_iso, iso_dates, local_iso
from .variables import EC, EX, Variable

SHARED = ["LNKID", "TRT", "MOOD", "OCCUR", "REASOC", "DOSE", "DOSTXT", "DOSU", "DOSFRM", "DOSFRQ", "ROUTE", "ADJ"]


def _finish(frame: pd.DataFrame, prefix: str, protocol: Protocol, variables: list[Variable]) -> pd.DataFrame:
    """Name the columns, set EPOCH from the study day (as TE/TA define the epochs), number the
    records per subject (--SEQ) and order the variables."""
    study_id = protocol.study.id
    frame = frame.rename(columns={name: prefix + name for name in SHARED})
    frame["EPOCH"] = epochs(protocol, frame["DY"].to_numpy(dtype=np.int64)) if len(frame) else frame["EPOCH"]
    frame[prefix + "STDTC"], frame[prefix + "ENDTC"] = frame["DTC"], frame["ENDTC"]  # a point dose: end = start
    frame[prefix + "STDY"], frame[prefix + "ENDY"] = frame["DY"], frame["ENDY"]
    frame = frame.sort_values(["USUBJID", "order", "rank", prefix + "TRT"], kind="stable").reset_index(drop=True)
    frame[prefix + "SEQ"] = frame.groupby("USUBJID", sort=False).cumcount() + 1
    frame["STUDYID"], frame["DOMAIN"] = study_id, prefix
    return frame[[v.name for v in variables]]


def ec_dataset(
    protocol: Protocol,
    planned: pd.DataFrame,
    performed: pd.DataFrame | None,
) -> pd.DataFrame:
    """EC: the SCHEDULED records, then (sorted in) the PERFORMED ones."""
    scheduled = planned.assign(MOOD="SCHEDULED", OCCUR=None, REASOC=None, rank=0)
    parts = [scheduled] if performed is None else [scheduled, performed.assign(MOOD="PERFORMED", rank=1)]
    return _finish(pd.concat(parts, ignore_index=True), "EC", protocol, EC)


def performed_records(
    cohort: Cohort,
    planned: pd.DataFrame,
    judged: pd.DataFrame,
    given: pd.DataFrame,
    reasons: np.ndarray,
    hides_true_dose: np.ndarray,
    as_of: dt.date,
) -> pd.DataFrame:
    """One record per judged planned dose: given (Y, with the log's time and dose) or held/missed (N).
    ``hides_true_dose``: per planned dose, a log dose in blinded terms (a syringe) is not the true dose,
    so the planned dose is kept. A dose planned on or after ``as_of`` is not due: it has a record only
    if the log gives it (a hold recorded for a later date is planned, not performed)."""
    if not (judged["uid"].astype(str).str.split("@").str[0].to_numpy() == planned["LNKID"].to_numpy()).all():
        raise AssertionError("the adherence table is not row for row the planned doses")  # a bug, never the user
    status = judged["status"].astype(str).to_numpy()
    took = np.isin(status, GIVEN)
    due = planned["date"].to_numpy(dtype="datetime64[D]") < np.datetime64(as_of, "D")
    keep = took | (np.isin(status, NOT_GIVEN) & due)
    lines = judged["log_line"].fillna(0).to_numpy(dtype=np.int64)
    admin = given.reindex(lines)
    out = planned.copy()
    out["OCCUR"] = np.where(took, "Y", "N")
    out["REASOC"] = blank_where(~np.isin(status, NOT_GIVEN), np.where(status == "held", reasons, MISSED))
    zones = planned["zone"].to_numpy()
    out["DTC"] = np.where(took, _given_dtc(admin, zones), planned["DTC"])
    given_days = admin["given_day"].fillna(0).to_numpy(dtype=np.int64).astype("datetime64[D]")
    start_days = _start_days(cohort, planned["patient_id"])
    out["DY"] = np.where(took, study_day(given_days, start_days), planned["DY"])
    ends = _given_end(admin, planned["minutes"].to_numpy(dtype=np.int64), zones, out["DTC"].to_numpy(dtype=object))
    out["ENDTC"] = np.where(took, ends, planned["ENDTC"])
    end_days = study_day(iso_dates(np.where(pd.isna(out["ENDTC"]), out["DTC"], out["ENDTC"])), start_days)
    out["ENDY"] = blank_where(pd.isna(out["ENDTC"]).to_numpy(dtype=bool), end_days)
    dose = judged["dose_given"].to_numpy(dtype=float)
    trusted = ~np.isnan(dose) & ~(hides_true_dose & ~admin["true_terms"].fillna(False).to_numpy(dtype=bool))
    _refuse_partial_blinded_doses(judged, took & ~np.isnan(dose) & ~trusted, lines)
    logged = took & trusted & ~np.isnan(planned["DOSE"]) & ~planned["placebo"].to_numpy(dtype=bool)  # placebo: 0
    out["DOSE"] = np.where(logged, dose, np.where(took, planned["DOSE"], np.nan))
    for column in ("DOSTXT", "DOSU"):
        out[column] = blank_where(~took, planned[column])
    return out[keep].reset_index(drop=True)


def _refuse_partial_blinded_doses(judged: pd.DataFrame, blinded_terms: np.ndarray, lines: np.ndarray) -> None:
    """A dose logged in blinded terms that is not the blinded dose ("0.5 syringe" of "1 syringe") has no
    true amount SDTM could record as collected: writing the planned dose would turn half a dose into a
    whole one. Refuse, naming the log lines (the same in every arm: the text is in blinded terms)."""
    wrong = judged["wrong_dose"].to_numpy(dtype=object)
    partial = blinded_terms & np.array([value is True for value in wrong], dtype=bool)
    if partial.any():
        shown = ", ".join(str(line) for line in lines[partial][:10]) + (" ..." if partial.sum() > 10 else "")
        raise LogError(
            f"{int(partial.sum()):,} dose(s) logged in blinded terms are not the blinded dose (log line(s) {shown}): "
            "SDTM cannot record the amount given",
            hint="correct the log if the whole dose was given; otherwise export unblinded with the true amount "
            "written in the log (e.g. 100,000 IU). Nothing was written",
        )


def _given_dtc(admin: pd.DataFrame, zones: np.ndarray) -> np.ndarray:
    """The log's time with the patient's offset; the date alone where the log gives only a date."""
    seconds = admin["given_s"].fillna(0).to_numpy(dtype=np.int64)
    timed = local_iso(pd.to_datetime(seconds, unit="s", utc=True), zones)
    dates = np.datetime_as_string(admin["given_day"].fillna(0).to_numpy(dtype=np.int64).astype("datetime64[D]"))
    return np.where(admin["timed"].fillna(False).to_numpy(dtype=bool), timed, dates.astype(object))


def _given_end(admin: pd.DataFrame, minutes: np.ndarray, zones: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The end of a given dose: the log records the start only, so an infusion ends its planned duration
    after the logged start; a log giving a date alone says nothing of an infusion's end (blank)."""
    timed = admin["timed"].fillna(False).to_numpy(dtype=bool)
    seconds = admin["given_s"].fillna(0).to_numpy(dtype=np.int64)
    given = pd.DatetimeIndex(pd.to_datetime(seconds, unit="s", utc=True))
    ends = end_iso(given, np.where(timed, minutes, 0), zones, starts)
    return blank_where(~timed & (minutes > 0), ends)


def ex_dataset(protocol: Protocol, performed: pd.DataFrame) -> pd.DataFrame:
    """EX (unblinded): the doses actually given, in protocol units; placebo as PLACEBO with dose 0 in
    its active drug's unit (as in the unblinded EC);
    ``EXADJ`` the reason of the dose change in force (the records' ``ADJ``)."""
    given = performed[performed["OCCUR"] == "Y"].copy()
    given["DOSE"] = np.where(given["TRT"] == "PLACEBO", 0.0, given["DOSE"])
    given["rank"] = 0
    given["ADJ"] = given["ADJ"].replace("", None)
    return _finish(given, "EX", protocol, EX)


__all__ = ["ec_dataset", "ex_dataset", "performed_records"]
