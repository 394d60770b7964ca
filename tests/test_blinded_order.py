"""Blinded outputs must not reveal the arm, not even by the order of rows.

Regression: doses at the same instant were ordered by the regimen's position in the protocol, so
with regimens [active, other drug, placebo] all at 08:00 an active patient's rows read
"study drug, other" and a placebo patient's "other, study drug": the order gave the arm away.
Now doses at the same instant are ordered by the first regimen of their blinded group.
"""

from __future__ import annotations

from typing import Any

import dosing
from dosing.plan.blinding import blind
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from tests.builders import UTC_ALLOWED


def regimen(regimen_id: str, drug: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": regimen_id,
        "drug": drug,
        "dose": {"amount": 1, "unit": "mg"},
        "route": "oral",
        "times": ["08:00"],
        "schedule": {"daily": True},
        **extra,
    }


def test_rows_at_the_same_instant_are_in_the_same_order_in_every_arm() -> None:
    protocol = protocol_from_dict(
        {
            "study": {"id": "B", "title": "t", "blinding": "double", "timezone": "UTC", **UTC_ALLOWED, "last_day": 3},
            "arms": [
                {"id": "active", "label": "Active", "regimens": ["drug", "other"]},
                {"id": "placebo", "label": "Placebo", "regimens": ["other", "placebo"]},
            ],
            "regimens": [
                regimen("drug", "Drug", blinded_label="Study drug"),
                regimen("other", "Paracetamol"),
                regimen("placebo", "Placebo", blinded_label="Study drug", placebo_for="drug"),
            ],
        }
    )
    rows = [(2, ["A", "active", "2027-01-04"]), (3, ["P", "placebo", "2027-01-04"])]
    cohort = cohort_from_rows(["patient_id", "arm", "start_date"], rows, protocol)
    table = blind(dosing.expand(protocol, cohort), protocol)
    active = table.loc[table["patient_id"] == "A", ["study_day", "drug", "dose_number", "dose"]]
    placebo = table.loc[table["patient_id"] == "P", ["study_day", "drug", "dose_number", "dose"]]
    assert active["drug"].tolist() == ["Study drug", "Paracetamol"] * 3
    assert active.reset_index(drop=True).equals(placebo.reset_index(drop=True))
