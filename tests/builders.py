"""Small builders for protocols and cohorts written inline in tests."""

from __future__ import annotations

from typing import Any

import pandas as pd

import dosing
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict

#: Study fields that let a test protocol plan in UTC (a fixed offset, refused without them).
UTC_ALLOWED = {"allow_fixed_offset_zones": True, "fixed_offset_zones_reason": "the test computes in UTC"}


def regimen(regimen_id: str, schedule: dict[str, Any], times: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An open-label regimen of 1 mg oral ``regimen_id`` at 08:00 (or ``times``)."""
    return {
        "id": regimen_id,
        "drug": regimen_id,
        "dose": {"amount": 1, "unit": "mg"},
        "route": "oral",
        "times": times or ["08:00"],
        "schedule": schedule,
        **extra,
    }


def protocol(regimens: list[dict[str, Any]], last_day: int = 28, **extra: Any) -> dosing.Protocol:
    """A one-arm open study of the given regimens (``extra`` goes to the top level, e.g. patient_values)."""
    return protocol_from_dict(
        {
            "study": {
                "id": "T",
                "title": "test",
                "blinding": "open",
                "timezone": "UTC",
                **UTC_ALLOWED,
                "last_day": last_day,
            },
            "arms": [{"id": "a", "label": "A", "regimens": [r["id"] for r in regimens]}],
            "regimens": regimens,
            **extra,
        }
    )


def daily_drug(
    zone: str, times: list[str] | None = None, *, study_id: str = "T", last_day: int = 28, **study: Any
) -> dosing.Protocol:
    """A one-arm open study in ``zone`` of 1 mg oral "Drug" (regimen ``d``) daily at ``times`` (08:00)."""
    return protocol_from_dict(
        {
            "study": {
                "id": study_id,
                "title": "t",
                "blinding": "open",
                "timezone": zone,
                "last_day": last_day,
                **study,
            },
            "arms": [{"id": "a", "label": "A", "regimens": ["d"]}],
            "regimens": [{**regimen("d", {"daily": True}, times), "drug": "Drug"}],
        }
    )


def expand_for(
    proto: dosing.Protocol, start: str = "2027-01-04", zone: str = "UTC", values: dict[str, str] | None = None
) -> pd.DataFrame:
    """Expand ``proto`` for one patient P1 in arm ``a`` starting on ``start``."""
    values = values or {}
    header = ["patient_id", "arm", "start_date", "timezone", *values]
    cohort = cohort_from_rows(header, [(2, ["P1", "a", start, zone, *values.values()])], proto)
    return dosing.expand(proto, cohort)


def days_of(doses: pd.DataFrame, regimen_id: str) -> list[int]:
    return doses.loc[doses["regimen"] == regimen_id, "study_day"].tolist()
