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
administrations); a row whose ``dose_status`` is not "given" (3) and has no date given is a dose not
given and is skipped, as a blank row of the worklist is. A "given" row without a date is kept with
``given_at`` "given, no date" so that the log's checks list it as a bad row, with its line number in
the REDCap file (a cell spanning lines is counted exactly).
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

#: The header cells that mark a REDCap export of the instrument.
MARKS = ("record_id", "redcap_repeat_instrument", "dose_uid")
INSTRUMENT = "dose_administration"
GIVEN_STATUS = ("3", "given")
NO_DATE = "given, no date"


def is_redcap_export(header: list[str]) -> bool:
    """True when a log's header is a REDCap export of the dose administration instrument."""
    names = {name.strip() for name in header}
    return all(mark in names for mark in MARKS)


def redcap_log(data: bytes, sep: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The log's columns (all text) and each row's line number in the file."""
    frame, lines = _cells(data, sep)

    def column(name: str) -> pd.Series:
        return frame[name].str.strip() if name in frame.columns else pd.Series("", index=frame.index)

    mine = (column("redcap_repeat_instrument") == INSTRUMENT).to_numpy(dtype=bool)
    frame, lines = frame[mine], lines[mine]

    date, time = column("dose_given_date"), column("dose_given_time")
    given = column("dose_status").str.lower().isin(GIVEN_STATUS).to_numpy()
    given_at = (date + np.where(time != "", " " + time, "")).where(date != "", np.where(given, NO_DATE, ""))
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
