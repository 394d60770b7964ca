"""Write SDTM datasets: CDISC Dataset-JSON 1.1, SAS transport (XPT v5, via pyreadstat) and a metadata
file (``define.json``: every dataset's variables with label, type, length and origin).

Dataset-JSON values: numbers as JSON numbers, dates and texts as strings, an empty value as null.
XPT: numbers as 8-byte floats (missing: the SAS missing value), texts as characters ("" when empty),
each text variable as long as its longest value (at least 1, at most 200).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .variables import DATASETS, Variable

VERSION = "1.1.0"
STANDARD = "SDTMIG 3.4"
ORIGINATOR = "dosing"


def _cells(frame: pd.DataFrame, variables: list[Variable]) -> list[list[object]]:
    """The rows as JSON values, column by column (vectorised): whole numbers as integers, empty as None."""
    columns = [_column(frame[v.name], v) for v in variables]
    return np.column_stack(columns).tolist() if columns and len(frame) else []


def _column(series: pd.Series, variable: Variable) -> np.ndarray:
    values = series.to_numpy(dtype=object)
    missing = pd.isna(values) | (values == "")
    if variable.numeric:
        numbers = np.where(missing, 0.0, values).astype(float)
        out = numbers.astype(object)
        whole = numbers == np.floor(numbers)
        out[whole] = numbers[whole].astype(np.int64).astype(object)  # 1000000, not 1000000.0
    else:
        out = values.astype(str).astype(object)
    out[missing] = None
    return out


def lengths(frame: pd.DataFrame, variables: list[Variable]) -> dict[str, int]:
    """The length of each text variable: its longest value in bytes (at least 1); numbers 8."""
    out = {}
    for v in variables:
        if v.numeric:
            out[v.name] = 8
        else:
            texts = pd.unique(frame[v.name].dropna().to_numpy(dtype=object))  # each distinct text once
            out[v.name] = max([1, *(len(str(text).encode("utf-8")) for text in texts)])
    return out


def dataset_json(name: str, frame: pd.DataFrame, study_id: str, created: dt.datetime) -> bytes:
    """One dataset as CDISC Dataset-JSON 1.1."""
    label, variables, keys = DATASETS[name]
    size = lengths(frame, variables)
    columns = []
    for v in variables:
        column: dict[str, object] = {"itemOID": f"IT.{name}.{v.name}", "name": v.name, "label": v.label}
        column["dataType"] = v.kind
        if not v.numeric:
            column["length"] = size[v.name]
        if v.name in keys:
            column["keySequence"] = keys.index(v.name) + 1
        columns.append(column)
    document = {
        "datasetJSONCreationDateTime": created.isoformat(timespec="seconds"),
        "datasetJSONVersion": VERSION,
        "fileOID": f"{study_id}.SDTM.{name}",
        "originator": ORIGINATOR,
        "studyOID": study_id,
        "metaDataVersionOID": f"MDV.{study_id}.{STANDARD.replace(' ', '.')}",
        "metaDataRef": "define.json",
        "itemGroupOID": f"IG.{name}",
        "records": len(frame),
        "name": name,
        "label": label,
        "columns": columns,
        "rows": _cells(frame, variables),
    }
    return _one_row_a_line(document)


def _one_row_a_line(document: dict[str, object]) -> bytes:
    """The document indented, except each row on one line (readable, diffable, not ten times longer)."""
    rows = document.pop("rows")
    head = json.dumps(document, ensure_ascii=False, indent=1)
    encode = json.JSONEncoder(ensure_ascii=False).encode
    lines = ",\n".join("  " + encode(row) for row in rows)  # type: ignore[attr-defined]
    body = f' "rows": [\n{lines}\n ]' if lines else ' "rows": []'
    return (head[:-2] + ",\n" + body + "\n}\n").encode("utf-8")


def write_xpt(name: str, frame: pd.DataFrame, path: Path) -> None:
    """One dataset as SAS transport version 5 (names ≤ 8 characters, labels ≤ 40)."""
    import pyreadstat  # a runtime dependency; imported here so that other commands do not load it

    label, variables, _ = DATASETS[name]
    data = pd.DataFrame({v.name: _xpt_column(frame[v.name], v) for v in variables})
    pyreadstat.write_xport(
        data,
        str(path),
        file_label=label,
        column_labels=[v.label for v in variables],
        table_name=name,
        file_format_version=5,
    )


def _xpt_column(series: pd.Series, variable: Variable) -> pd.Series:
    """Floats, or texts as plain Python objects: pyreadstat reads those far faster than pandas' string arrays."""
    if variable.numeric:
        return pd.Series(series.to_numpy(dtype=float, na_value=np.nan))
    return pd.Series(series.fillna("").astype(str).to_numpy(dtype=object), dtype=object)


def metadata(frames: dict[str, pd.DataFrame], study_id: str) -> bytes:
    """``define.json``: the datasets written, each with its variables (label, type, length, origin)."""
    datasets = []
    for name, frame in frames.items():
        label, variables, keys = DATASETS[name]
        size = lengths(frame, variables)
        rows = [
            {"name": v.name, "label": v.label, "dataType": v.kind, "xptType": "Num" if v.numeric else "Char",
             "length": size[v.name], "origin": v.origin}
            for v in variables
        ]  # fmt: skip
        entry = {"name": name, "label": label, "records": len(frame), "keys": keys, "variables": rows}
        datasets.append(entry | {"files": [f"{name.lower()}.json", f"{name.lower()}.xpt"]})
    document = {"study": study_id, "standard": STANDARD, "datasetJSONVersion": VERSION, "datasets": datasets}
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


__all__ = ["dataset_json", "metadata", "write_xpt"]
