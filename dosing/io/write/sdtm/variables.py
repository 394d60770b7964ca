"""The SDTM variables of each dataset the export writes: name, label, type and origin (SDTMIG 3.4).

Names are at most 8 characters and labels at most 40 (SAS transport v5); ``kind`` is the
Dataset-JSON 1.1 ``dataType`` ("string", "integer", "double" or "datetime"); ``origin`` the
Define-XML origin type (Assigned, Derived, Protocol, Collected). Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    kind: str
    origin: str

    @property
    def numeric(self) -> bool:
        return self.kind in ("integer", "double")


def _v(name: str, label: str, kind: str = "string", origin: str = "Derived") -> Variable:
    return Variable(name, label, kind, origin)


_KEYS = [
    _v("STUDYID", "Study Identifier", origin="Assigned"),
    _v("DOMAIN", "Domain Abbreviation", origin="Assigned"),
]
_SUBJECT = [*_KEYS, _v("USUBJID", "Unique Subject Identifier")]
_TIMING = [
    ("STDTC", "Start Date/Time of Treatment", "datetime"),
    ("ENDTC", "End Date/Time of Treatment", "datetime"),
    ("STDY", "Study Day of Start of Treatment", "integer"),
    ("ENDY", "Study Day of End of Treatment", "integer"),
]


def _timing(prefix: str, origin: str) -> list[Variable]:
    return [
        _v(prefix + tail, label, kind, origin if kind == "datetime" else "Derived") for tail, label, kind in _TIMING
    ]


EC = [
    *_SUBJECT,
    _v("ECSEQ", "Sequence Number", "integer"),
    _v("ECLNKID", "Link ID"),
    _v("ECTRT", "Name of Treatment", origin="Protocol"),
    _v("ECMOOD", "Mood"),
    _v("ECOCCUR", "Occurrence", origin="Collected"),
    _v("ECREASOC", "Reason for Occur Value", origin="Collected"),
    _v("ECDOSE", "Dose", "double", "Collected"),
    _v("ECDOSTXT", "Dose Description", origin="Protocol"),
    _v("ECDOSU", "Dose Units", origin="Protocol"),
    _v("ECDOSFRM", "Dose Form", origin="Protocol"),
    _v("ECDOSFRQ", "Dosing Frequency per Interval", origin="Protocol"),
    _v("ECROUTE", "Route of Administration", origin="Protocol"),
    _v("EPOCH", "Epoch"),
    *_timing("EC", "Collected"),
]
EX = [
    *_SUBJECT,
    _v("EXSEQ", "Sequence Number", "integer"),
    _v("EXLNKID", "Link ID"),
    _v("EXTRT", "Name of Treatment", origin="Protocol"),
    _v("EXDOSE", "Dose", "double"),
    _v("EXDOSU", "Dose Units", origin="Protocol"),
    _v("EXDOSFRM", "Dose Form", origin="Protocol"),
    _v("EXDOSFRQ", "Dosing Frequency per Interval", origin="Protocol"),
    _v("EXROUTE", "Route of Administration", origin="Protocol"),
    _v("EXADJ", "Reason for Dose Adjustment", origin="Collected"),
    _v("EPOCH", "Epoch"),
    *_timing("EX", "Derived"),
]
TA = [
    *_KEYS,
    _v("ARMCD", "Planned Arm Code", origin="Protocol"),
    _v("ARM", "Description of Planned Arm", origin="Protocol"),
    _v("TAETORD", "Planned Order of Element within Arm", "integer", "Protocol"),
    _v("ETCD", "Element Code", origin="Protocol"),
    _v("ELEMENT", "Description of Element", origin="Protocol"),
    _v("TABRANCH", "Branch", origin="Protocol"),
    _v("TATRANS", "Transition Rule", origin="Protocol"),
    _v("EPOCH", "Epoch", origin="Protocol"),
]
TE = [
    *_KEYS,
    _v("ETCD", "Element Code", origin="Protocol"),
    _v("ELEMENT", "Description of Element", origin="Protocol"),
    _v("TESTRL", "Rule for Start of Element", origin="Protocol"),
    _v("TEENRL", "Rule for End of Element", origin="Protocol"),
    _v("TEDUR", "Planned Duration of Element", origin="Protocol"),
]
TV = [
    *_KEYS,
    _v("VISITNUM", "Visit Number", "double", "Protocol"),
    _v("VISIT", "Visit Name", origin="Protocol"),
    _v("VISITDY", "Planned Study Day of Visit", "integer", "Protocol"),
    _v("TVSTRL", "Visit Start Rule", origin="Protocol"),
    _v("TVENRL", "Visit End Rule", origin="Protocol"),
]
#: Dataset name -> (label, variables, key variables in order).
DATASETS: dict[str, tuple[str, list[Variable], list[str]]] = {
    # --LNKID ends the keys: a log may give several doses of a day as a date alone (same --STDTC)
    "EC": ("Exposure as Collected", EC, ["STUDYID", "USUBJID", "ECTRT", "ECSTDTC", "ECMOOD", "ECLNKID"]),
    "EX": ("Exposure", EX, ["STUDYID", "USUBJID", "EXTRT", "EXSTDTC", "EXLNKID"]),
    "TA": ("Trial Arms", TA, ["STUDYID", "ARMCD", "TAETORD"]),
    "TE": ("Trial Elements", TE, ["STUDYID", "ETCD"]),
    "TV": ("Trial Visits", TV, ["STUDYID", "VISITNUM"]),
}

__all__ = ["DATASETS", "Variable"]
