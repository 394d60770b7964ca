"""Per-patient values: a dose, a time or a weekday from the cohort file.

Regression: a value declared ``required = false`` and left blank crashed expansion with a
TypeError (weekday, time) or gave a dose of NaN (number). Now it may be blank only for patients
who do not receive a regimen that needs it; otherwise it is a cohort error naming patient and column.
"""

from __future__ import annotations

from typing import Any

import pytest

import dosing
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from tests.builders import UTC_ALLOWED

NEEDS = {
    "number": {"dose": {"patient_value": "value", "unit": "mg"}, "times": ["08:00"], "schedule": {"daily": True}},
    "time": {"dose": {"amount": 1, "unit": "mg"}, "times_from": "value", "schedule": {"daily": True}},
    "weekday": {"dose": {"amount": 1, "unit": "mg"}, "times": ["08:00"], "schedule": {"weekday_from": "value"}},
}
GOOD = {"number": "12.5", "time": "21:30", "weekday": "Friday"}


def two_arms(kind: str) -> dosing.Protocol:
    """Arm "plain" gets a fixed daily dose; arm "own" also gets a regimen that needs the value."""
    base = {"drug": "Drug", "route": "oral"}
    return protocol_from_dict(
        {
            "study": {"id": "PV", "title": "t", "blinding": "open", "timezone": "UTC", **UTC_ALLOWED, "last_day": 14},
            "patient_values": {
                "value": {"type": kind, "required": False, **({"unit": "mg"} if kind == "number" else {})}
            },
            "arms": [
                {"id": "plain", "label": "P", "regimens": ["fixed"]},
                {"id": "own", "label": "O", "regimens": ["fixed", "personal"]},
            ],
            "regimens": [
                {
                    "id": "fixed",
                    **base,
                    "dose": {"amount": 1, "unit": "mg"},
                    "times": ["08:00"],
                    "schedule": {"daily": True},
                },
                {"id": "personal", **base, "drug": "Other", **NEEDS[kind]},
            ],
        }
    )


def cohort(protocol: dosing.Protocol, rows: list[list[str]]) -> dosing.Cohort:
    numbered = [(i + 2, row) for i, row in enumerate(rows)]
    return cohort_from_rows(["patient_id", "arm", "start_date", "value"], numbered, protocol)


@pytest.mark.parametrize("kind", sorted(NEEDS))
def test_blank_optional_value_is_fine_for_a_patient_who_does_not_need_it(kind: str) -> None:
    protocol = two_arms(kind)
    doses = dosing.expand(
        protocol, cohort(protocol, [["A", "plain", "2027-01-04", ""], ["B", "own", "2027-01-04", GOOD[kind]]])
    )
    assert (doses.loc[doses["patient_id"] == "A", "regimen"] == "fixed").all()
    assert len(doses[doses["patient_id"] == "A"]) == 14
    personal = doses[(doses["patient_id"] == "B") & (doses["regimen"] == "personal")]
    expected: dict[str, Any] = {
        "number": lambda d: d["dose"].eq(12.5).all() and len(d) == 14,
        "time": lambda d: d["time"].eq("21:30").all() and len(d) == 14,
        "weekday": lambda d: d["weekday"].eq("Friday").all() and d["study_day"].tolist() == [5, 12],
    }
    assert expected[kind](personal)


@pytest.mark.parametrize("kind", sorted(NEEDS))
def test_blank_optional_value_is_an_error_for_a_patient_who_needs_it(kind: str) -> None:
    protocol = two_arms(kind)
    rows = [["A", "plain", "2027-01-04", ""], ["B", "own", "2027-01-04", ""]]
    with pytest.raises(dosing.DosingError, match="patient 'B' has no value, which regimen 'personal' needs"):
        dosing.expand(protocol, cohort(protocol, rows))
