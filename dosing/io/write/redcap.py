"""REDCap: a data dictionary (the 18 columns of REDCap's own "Download the Data Dictionary", in its
order and spelling) for three instruments, and an import file of their records.

* ``patient`` (not repeating): ``record_id`` (the patient id), the start date and time zone;
* ``dose_administration`` (repeating): one instance per planned dose, with its planned date, time,
  drug (the blinded label in a blinded export), dose and status; the "given" fields are filled from
  a log (``dose_status`` 3 = given, 4 = missed, 2 = held, 1 = planned: not judged or not yet due);
* ``visit`` (repeating): one instance per planned visit, with its window.

The project is classic (not longitudinal), so the import has no ``redcap_event_name``: its first
columns are ``record_id``, ``redcap_repeat_instrument`` and ``redcap_repeat_instance``. Field names
obey REDCap's rules (lower case letters, digits and underscores, a letter first, at most 26
characters, none of REDCap's reserved names: tests/test_export_redcap.py checks each). The rows are
built column by column with pandas; nothing loops over doses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...protocol.units import format_amount
from .csv import safe_frame

#: REDCap's data dictionary columns, as REDCap writes them.
DICTIONARY_COLUMNS = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
#: REDCap's reserved field names (REDCap's Project::$reserved_field_names) and the prefix it keeps.
RESERVED = {
    "redcap_event_name", "redcap_csrf_token", "redcap_survey_timestamp", "redcap_survey_identifier",
    "redcap_survey_return_code", "redcap_data_access_group", "hidden_edit_flag", "instance",
    "redcap_repeat_instance", "redcap_repeat_instrument", "submit", "new", "return", "continue", "case",
    "switch", "class", "enum", "catch", "throw", "document", "super", "focus", "elements", "action",
    "event_id", "target", "field_label",
}  # fmt: skip
RESERVED_PREFIX = "redcap_"
DOSE_FORM, VISIT_FORM, PATIENT_FORM = "dose_administration", "visit", "patient"
STATUS_CODES = {"planned": 1, "held": 2, "given": 3, "missed": 4}
STATUS_CHOICES = " | ".join(f"{code}, {name}" for name, code in STATUS_CODES.items())
GIVEN_LOGIC = "[dose_status] = '3'"


@dataclass(frozen=True)
class Field:
    name: str
    form: str
    kind: str  # text, notes, radio
    label: str
    validation: str = ""
    choices: str = ""
    note: str = ""
    logic: str = ""
    annotation: str = ""


FIELDS = [
    Field("record_id", PATIENT_FORM, "text", "Patient id"),
    Field("start_date", PATIENT_FORM, "text", "Study day 1", "date_ymd"),
    Field("timezone", PATIENT_FORM, "text", "Time zone (IANA name)", annotation="@READONLY"),
    Field("dose_uid", DOSE_FORM, "text", "Planned dose id", note="do not edit", annotation="@READONLY"),
    Field("dose_drug", DOSE_FORM, "text", "Drug", annotation="@READONLY"),
    Field("dose_planned_date", DOSE_FORM, "text", "Planned date", "date_ymd", annotation="@READONLY"),
    Field("dose_planned_time", DOSE_FORM, "text", "Planned time (local)", "time", annotation="@READONLY"),
    Field("dose_study_day", DOSE_FORM, "text", "Study day", "integer", annotation="@READONLY"),
    Field("dose_cycle", DOSE_FORM, "text", "Cycle", "integer", annotation="@READONLY"),
    Field("dose_planned_amount", DOSE_FORM, "text", "Planned dose", annotation="@READONLY"),
    Field("dose_planned_unit", DOSE_FORM, "text", "Unit", annotation="@READONLY"),
    Field("dose_route", DOSE_FORM, "text", "Route", annotation="@READONLY"),
    Field("dose_status", DOSE_FORM, "radio", "Status", choices=STATUS_CHOICES),
    Field("dose_given_date", DOSE_FORM, "text", "Date given", "date_ymd", logic=GIVEN_LOGIC),
    Field("dose_given_time", DOSE_FORM, "text", "Time given (local)", "time", note="HH:MM", logic=GIVEN_LOGIC),
    Field("dose_given_amount", DOSE_FORM, "text", "Dose given (in the unit above)", "number", logic=GIVEN_LOGIC),
    Field("dose_given_by", DOSE_FORM, "text", "Given by", logic=GIVEN_LOGIC),
    Field("dose_notes", DOSE_FORM, "notes", "Notes"),
    Field("visit_id", VISIT_FORM, "text", "Visit id", annotation="@READONLY"),
    Field("visit_name", VISIT_FORM, "text", "Visit", annotation="@READONLY"),
    Field("visit_target_date", VISIT_FORM, "text", "Target date", "date_ymd", annotation="@READONLY"),
    Field("visit_window_start", VISIT_FORM, "text", "Window opens", "date_ymd", annotation="@READONLY"),
    Field("visit_window_end", VISIT_FORM, "text", "Window closes", "date_ymd", annotation="@READONLY"),
    Field("visit_scheduled_date", VISIT_FORM, "text", "Scheduled date", "date_ymd"),
    Field("visit_time", VISIT_FORM, "text", "Time (local)", "time"),
    Field("visit_procedures", VISIT_FORM, "notes", "Procedures", annotation="@READONLY"),
    Field("visit_done_date", VISIT_FORM, "text", "Date done", "date_ymd"),
]
IMPORT_COLUMNS = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"] + [f.name for f in FIELDS[1:]]


def data_dictionary() -> pd.DataFrame:
    """The data dictionary: one row per field, REDCap's 18 columns."""
    rows = [
        {
            "Variable / Field Name": f.name,
            "Form Name": f.form,
            "Field Type": f.kind,
            "Field Label": f.label,
            "Choices, Calculations, OR Slider Labels": f.choices,
            "Field Note": f.note,
            "Text Validation Type OR Show Slider Number": f.validation,
            "Branching Logic (Show field only if...)": f.logic,
            "Required Field?": "y" if f.name == "record_id" else "",
            "Field Annotation": f.annotation,
        }
        for f in FIELDS
    ]
    table = pd.DataFrame(rows)
    return pd.DataFrame({column: table.get(column, pd.Series("", index=table.index)) for column in DICTIONARY_COLUMNS})


def import_records(patients: pd.DataFrame, doses: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """The import file: a ``patient`` row per patient, then its dose and visit instances.

    ``doses``: the dose table (blinded or not) with ``status`` one of :data:`STATUS_CODES` and, for
    given doses, ``given_date``, ``given_time``, ``given_amount``, ``given_by``, ``notes``."""
    patient_rows = pd.DataFrame(
        {
            "record_id": patients["patient_id"].astype(str),
            "start_date": patients["start_date"].dt.strftime("%Y-%m-%d"),
            "timezone": patients["timezone"].astype(str),
        }
    )
    parts = [
        patient_rows.assign(_order=0, _n=0),
        _dose_rows(doses).assign(_order=1),
        _visit_rows(visits).assign(_order=2),
    ]
    table = pd.concat(parts, ignore_index=True).fillna("")
    order = {pid: i for i, pid in enumerate(patient_rows["record_id"])}
    table["_patient"] = table["record_id"].map(order)
    table = table.sort_values(["_patient", "_order", "_n"], kind="stable")
    return table.reindex(columns=IMPORT_COLUMNS).astype(object).fillna("")


def _instances(patient: pd.Series) -> np.ndarray:
    """1, 2, ... within each patient (rows already in time order)."""
    return patient.groupby(patient, sort=False).cumcount().to_numpy() + 1


def _dose_rows(doses: pd.DataFrame) -> pd.DataFrame:
    doses = doses.sort_values(["patient_id", "planned_at"], kind="stable")
    pid = doses["patient_id"].astype(str)
    instance = _instances(pid)
    numeric = pd.to_numeric(doses["dose"].astype(object), errors="coerce")
    amount = np.where(
        numeric.notna(), numeric.map(lambda v: format_amount(v).replace(",", "")), doses["dose"].astype(str)
    )
    return pd.DataFrame(
        {
            "record_id": pid.to_numpy(),
            "redcap_repeat_instrument": DOSE_FORM,
            "redcap_repeat_instance": instance.astype(str),
            "dose_uid": doses["uid"].astype(str).to_numpy(),
            "dose_drug": doses["drug"].astype(str).to_numpy(),
            "dose_planned_date": doses["date"].astype(str).to_numpy(),
            "dose_planned_time": doses["time"].astype(str).to_numpy(),
            "dose_study_day": doses["study_day"].astype(str).to_numpy(),
            "dose_cycle": doses["cycle"].astype("Int64").astype(str).replace("<NA>", "").to_numpy(),
            "dose_planned_amount": amount,
            "dose_planned_unit": doses["unit"].astype(str).to_numpy(),
            "dose_route": doses["route"].astype(str).to_numpy(),
            "dose_status": doses["status"].map(STATUS_CODES).astype(int).astype(str).to_numpy(),
            "dose_given_date": doses["given_date"].to_numpy(),
            "dose_given_time": doses["given_time"].to_numpy(),
            "dose_given_amount": doses["given_amount"].to_numpy(),
            "dose_given_by": doses["given_by"].to_numpy(),
            "dose_notes": doses["notes"].to_numpy(),
            "_n": instance,
        }
    )


def _visit_rows(visits: pd.DataFrame) -> pd.DataFrame:
    if not len(visits):
        return pd.DataFrame(columns=["record_id", "_n"])
    pid = visits["patient_id"].astype(str)
    instance = _instances(pid)
    return pd.DataFrame(
        {
            "record_id": pid.to_numpy(),
            "redcap_repeat_instrument": VISIT_FORM,
            "redcap_repeat_instance": instance.astype(str),
            "visit_id": visits["visit"].astype(str).to_numpy(),
            "visit_name": visits["name"].astype(str).to_numpy(),
            "visit_target_date": visits["target_date"].astype(str).to_numpy(),
            "visit_window_start": visits["window_start"].astype(str).to_numpy(),
            "visit_window_end": visits["window_end"].astype(str).to_numpy(),
            "visit_scheduled_date": visits["scheduled_date"].astype(str).to_numpy(),
            "visit_time": visits["time"].astype(str).to_numpy(),
            "visit_procedures": visits["procedures"].astype(str).to_numpy(),
            "visit_done_date": "",
            "_n": instance,
        }
    )


def write_redcap_csv(frame: pd.DataFrame, path: Path, *, neutralise: bool = True) -> None:
    """UTF-8 without a byte-order mark (REDCap reads the first header cell as written), ``\\n`` line
    ends; with ``neutralise`` text cells a spreadsheet would execute are neutralised
    (:func:`dosing.io.write.csv.safe_frame`). The data dictionary is not: its cells are this
    module's own, and its action tags (``@READONLY``) must stay as REDCap reads them."""
    frame = frame.astype(str)
    (safe_frame(frame) if neutralise else frame).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
