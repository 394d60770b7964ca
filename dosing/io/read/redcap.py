"""A REDCap export of the ``dose_administration`` instrument (as ``dosing export redcap`` defines it)
read as an administration log: ``dosing adherence --log <REDCap export>.csv`` needs no hand mapping.

REDCap's "CSV / Microsoft Excel (raw data)" export with variable names as headers is recognised by
its ``record_id``, ``redcap_repeat_instrument`` and ``dose_uid`` columns (see
:func:`dosing.io.read.log`, where the header is read). Its rows become the log's columns:

============================  ==============================================================
log column                    from
============================  ==============================================================
``patient_id``                ``record_id``
``drug``                      ``dose_drug``
``given_at``                  ``dose_given_date`` and ``dose_given_time`` ("2027-01-04 09:00"
                              local; the date alone when no time was entered)
``dose_given``                ``dose_given_amount`` with ``dose_planned_unit``
``uid``                       ``dose_uid``
``given_by``, ``notes``       ``dose_given_by``, ``dose_notes``
============================  ==============================================================

Only ``dose_administration`` rows are read (the patient and visit rows of the same export are not
administrations). The status the site entered (``dose_status``) must agree with the date given:

* "given" (3), or "planned" (1) or no status, with a date: an administration;
* "planned" (1), "missed" (4) or no status without a date: not given, skipped as a blank row of the
  worklist is (the check counts the dose missed once due);
* "held" (2) without a date: skipped when ``dose_notes`` starts with :data:`HELD_NOTE` (the export
  wrote it: the hold is in the study's changes file, which the check applies); otherwise a site's
  hold that only the changes file can record, a bad row saying so (it would count as missed);
* "given" (3) without a date, or "missed" (4) or "held" (2) with a date: contradictory, a bad row.

A bad row is kept with a ``given_at`` that says why (and that no date reader accepts), so that the
log's checks list it with its line number in the REDCap file (a cell spanning lines is counted
exactly) and the reason.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from ...errors import LogError

#: The header cells that mark a REDCap export of the instrument.
MARKS = ("record_id", "redcap_repeat_instrument", "dose_uid")
INSTRUMENT = "dose_administration"
GIVEN_STATUS = ("3", "given")
HELD_STATUS = ("2", "held")
MISSED_STATUS = ("4", "missed")
NO_DATE = "given, no date"
#: The start of dose_notes on a dose the export wrote as held by the study's changes file.
HELD_NOTE = "held by the study's changes file"
#: given_at of a held row the changes file does not know (a bad row: the reason the check shows).
SITE_HOLD = "dose_status 2 (held) entered in REDCap: record the hold with `dosing change` (the changes file)"


def is_redcap_export(header: list[str]) -> bool:
    """True when a log's header is a REDCap export of the dose administration instrument."""
    names = {name.strip() for name in header}
    return all(mark in names for mark in MARKS)


#: The fields of the instrument a REDCap export read as a log must have (the others may be left out).
NEEDED = ("record_id", "redcap_repeat_instrument", "dose_drug", "dose_status", "dose_given_date")


def redcap_log(data: bytes, sep: str, source: str = "<log>") -> tuple[pd.DataFrame, np.ndarray]:
    """The log's columns (all text) and each row's line number in the file."""
    frame, lines = _cells(data, sep)

    def column(name: str) -> pd.Series:
        return frame[name].str.strip() if name in frame.columns else pd.Series("", index=frame.index)

    missing = [name for name in NEEDED if name not in frame.columns]
    if missing:
        raise LogError(
            f"a REDCap export without the column(s) {', '.join(missing)}",
            source=source,
            hint=f"export the {INSTRUMENT} instrument with all its fields (raw data) from REDCap's Data Exports",
        )
    mine = (column("redcap_repeat_instrument") == INSTRUMENT).to_numpy(dtype=bool)
    if len(frame) and not mine.any():
        found = ", ".join(sorted(set(column("redcap_repeat_instrument")) - {""})[:3]) or "nothing"
        raise LogError(
            f"no {INSTRUMENT} rows in this REDCap export (redcap_repeat_instrument holds: {found})",
            source=source,
            hint=f"export raw data, not labels: REDCap names the instrument {INSTRUMENT}",
        )
    frame, lines = frame[mine], lines[mine]

    date, time = column("dose_given_date"), column("dose_given_time")
    status = column("dose_status").str.lower()
    given = status.isin(GIVEN_STATUS).to_numpy()
    held, missed = status.isin(HELD_STATUS).to_numpy(), status.isin(MISSED_STATUS).to_numpy()
    dated = (date != "").to_numpy()
    recorded_hold = column("dose_notes").str.startswith(HELD_NOTE).to_numpy()
    undated = np.where(given, NO_DATE, np.where(held & ~recorded_hold, SITE_HOLD, ""))
    given_at = (date + np.where(time != "", " " + time, "")).where(dated, undated)
    contradiction = "dose_status " + status.map({"2": "2 (held)", "held": "2 (held)"}).fillna("4 (missed)")
    contradiction += " but a date given (" + date + "): set dose_status 3 (given) or clear the date"
    given_at = given_at.where(~(dated & (held | missed)), contradiction)
    amount, unit = column("dose_given_amount"), column("dose_planned_unit")
    log = pd.DataFrame(
        {
            "patient_id": column("record_id"),
            "drug": column("dose_drug"),
            "given_at": given_at,
            "dose_given": (amount + np.where((amount != "") & (unit != ""), " " + unit, "")),
            "uid": column("dose_uid"),
            "given_by": column("dose_given_by"),
            "notes": column("dose_notes"),
        }
    )
    return log.reset_index(drop=True), lines


def _cells(data: bytes, sep: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Every cell as text with the file line each row starts on (notes may span lines)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=sep)
    header = [cell.strip() for cell in next(reader)]
    records, lines = [], []
    line = reader.line_num + 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            records.append((cells + [""] * len(header))[: len(header)])
            lines.append(line)
        line = reader.line_num + 1
    return pd.DataFrame(records, columns=header, dtype=str), np.array(lines, dtype=np.int64)
