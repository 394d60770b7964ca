"""``dosing export redcap``: a REDCap data dictionary and import file into ``OUT/<study id>/redcap/``
(``-UNBLINDED`` with ``unblinded``): ``data-dictionary.csv`` (upload in Project Setup -> Data
Dictionary) and ``import.csv`` (Data Import Tool). ``dosing adherence --log`` reads REDCap's export of
the ``dose_administration`` instrument back (:mod:`dosing.io.read.redcap`). See
docs/exports-fhir-redcap.md."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.read.redcap import HELD_NOTE
from ..io.study_lock import DEFAULT_WAIT_S
from ..io.write.redcap import data_dictionary, import_records, write_redcap_csv
from ..plan.changes import Changes
from ..plan.cohort import Cohort
from ..protocol.model import Protocol
from .exports import ExportResult, Planned, export_folder, finish, iso_day, planned, study_changes
from .generate import output_folder

#: Adherence statuses (see :data:`dosing.adherence.check.STATUSES`) as the instrument's dose_status.
STATUS_OF = {"taken": "given", "on_time": "given", "early": "given", "late": "given", "missed": "missed"}
STATUS_OF |= {"held": "held", "not_due": "planned"}


def export_redcap(
    protocol: Protocol,
    cohort: Cohort,
    out_dir: str | Path = "output",
    *,
    unblinded: bool = False,
    changes: Changes | None = None,
    discard_changes: bool = False,
    log: str | Path | None = None,
    as_of: dt.date | None = None,
    group: str | None = None,
    wait: float = DEFAULT_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write the REDCap export; all or nothing. With ``log`` the doses judged by ``as_of`` carry
    their status and what was given; a blinded export whose log gives a true dose that differs
    between arms is refused, as for FHIR."""
    changes = study_changes(protocol, cohort, out_dir, unblinded, changes, discard_changes)
    plan = planned(protocol, cohort, unblinded=unblinded, changes=changes, log=log, as_of=as_of)
    records = import_records(cohort.patients, dose_table(plan), plan.visits)
    with export_folder(protocol, out_dir, "redcap", unblinded, group=group, wait=wait, on_wait=on_wait) as folder:
        write_redcap_csv(data_dictionary(), folder / "data-dictionary.csv", neutralise=False)
        write_redcap_csv(records, folder / "import.csv")
        options = {"unblinded": unblinded, "log": None if log is None else str(log), "as_of": iso_day(plan.as_of)}
        options["changes_discarded"] = discard_changes
        finish(folder, "export redcap", protocol, cohort, changes, options)
    final = output_folder(Path(out_dir), protocol, unblinded) / "redcap"
    notes = ["classic project (not longitudinal): import.csv has no redcap_event_name column", *plan.notes()]
    files = [final / "data-dictionary.csv", final / "import.csv"]
    return ExportResult(final, not unblinded, len(cohort), files, notes, not protocol.study.blinded)


def dose_table(plan: Planned) -> pd.DataFrame:
    """The dose table with ``status`` and the given fields (empty without a log)."""
    doses = plan.doses.copy()
    held = doses["held"].to_numpy(dtype=bool)
    doses["status"] = np.where(held, "held", "planned")
    for column in ("given_date", "given_time", "given_amount", "given_by", "notes"):
        doses[column] = ""
    doses.loc[held, "notes"] = held_note(doses["hold_reason"].astype(str).to_numpy()[held])
    if plan.judged is None:
        return doses
    judged = plan.judged.set_index(plan.judged["uid"].astype(str))
    uid = doses["uid"].astype(str)
    doses["status"] = uid.map(judged["status"].astype(str).map(STATUS_OF)).fillna(doses["status"]).to_numpy()
    given = doses["status"].to_numpy() == "given"
    stamps = _local_parts(judged["given_at"].astype(str), judged["timezone"].astype(str))
    for column, values in (("given_date", stamps[0]), ("given_time", stamps[1])):
        doses.loc[given, column] = uid[given].map(values).to_numpy()
    amounts = pd.to_numeric(judged["dose_given"], errors="coerce").map(lambda v: "" if v != v else f"{v:.10g}")
    doses.loc[given, "given_amount"] = uid[given].map(amounts).to_numpy()
    for column in ("given_by", "notes"):
        doses.loc[given, column] = uid[given].map(judged[column].astype(str)).to_numpy()
    return doses


def held_note(reasons: np.ndarray) -> np.ndarray:
    """dose_notes of a dose the changes file holds: :data:`HELD_NOTE` and the file's reason. Reading
    the REDCap export back, a held row with this note is a recorded hold; without it, a site's."""
    return np.array([HELD_NOTE + (f": {r}" if r else "") for r in reasons], dtype=object)


def _local_parts(given_at: pd.Series, zone: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The log's ``given_at`` as a local date and HH:MM in the patient's zone (a date alone has no
    time), computed once per distinct (text, zone)."""
    pairs = pd.DataFrame({"text": given_at, "zone": zone})
    distinct = pairs.drop_duplicates()
    dates, times = {}, {}
    for text, name in distinct.itertuples(index=False):
        dates[(text, name)], times[(text, name)] = _split(text, name)
    keys = list(zip(pairs["text"], pairs["zone"], strict=True))
    index = given_at.index
    return pd.Series([dates[k] for k in keys], index=index), pd.Series([times[k] for k in keys], index=index)


def _split(text: str, zone: str) -> tuple[str, str]:
    if not text:
        return "", ""
    if len(text.strip()) <= 10:
        return text.strip(), ""
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize(zone) if stamp.tzinfo is None else stamp.tz_convert(zone)
    return stamp.strftime("%Y-%m-%d"), stamp.strftime("%H:%M")
