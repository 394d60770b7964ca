"""Wall-clock times stay fixed across daylight-saving changes; every instant carries its zone."""

from __future__ import annotations

import pandas as pd

import dosing
from dosing.cohort import cohort_from_rows
from dosing.protocol import protocol_from_dict


def one_drug(times: list[str], zone: str) -> dosing.Protocol:
    return protocol_from_dict(
        {
            "study": {"id": "TZ", "title": "t", "blinding": "open", "timezone": zone, "last_day": 10},
            "arms": [{"id": "a", "label": "A", "regimens": ["d"]}],
            "regimens": [
                {
                    "id": "d",
                    "drug": "Drug",
                    "dose": {"amount": 1, "unit": "mg"},
                    "route": "oral",
                    "times": times,
                    "schedule": {"daily": True},
                }
            ],
        }
    )


def expand_one(protocol: dosing.Protocol, start: str, zone: str) -> pd.DataFrame:
    cohort = cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone"], [(2, ["P1", "a", start, zone])], protocol
    )
    return dosing.expand(protocol, cohort)


def test_berlin_spring_forward_keeps_0800_local() -> None:
    # DST starts in the EU on Sunday 2027-03-28.
    doses = expand_one(one_drug(["08:00"], "Europe/Berlin"), "2027-03-26", "Europe/Berlin")
    assert doses["time"].astype(str).unique().tolist() == ["08:00"]
    utc = doses.set_index(doses["date"].astype(str))["planned_at"]
    assert utc["2027-03-27"] == pd.Timestamp("2027-03-27 07:00", tz="UTC")
    assert utc["2027-03-28"] == pd.Timestamp("2027-03-28 06:00", tz="UTC")


def test_new_york_fall_back_keeps_0800_local() -> None:
    # DST ends in the US on Sunday 2027-11-07.
    doses = expand_one(one_drug(["08:00"], "America/New_York"), "2027-11-05", "America/New_York")
    utc = doses.set_index(doses["date"].astype(str))["planned_at"]
    assert utc["2027-11-06"] == pd.Timestamp("2027-11-06 12:00", tz="UTC")
    assert utc["2027-11-07"] == pd.Timestamp("2027-11-07 13:00", tz="UTC")


def test_time_in_the_skipped_hour_moves_forward_by_the_gap() -> None:
    # 2027-03-14 02:30 does not exist in New York; read as RFC 5545 does: 03:30 EDT (07:30 UTC).
    doses = expand_one(one_drug(["02:30"], "America/New_York"), "2027-03-13", "America/New_York")
    on_the_day = doses[doses["date"].astype(str) == "2027-03-14"].iloc[0]
    assert on_the_day["time"] == "03:30"
    assert on_the_day["planned_at"] == pd.Timestamp("2027-03-14 07:30", tz="UTC")
    other = doses[doses["date"].astype(str) == "2027-03-15"].iloc[0]
    assert other["time"] == "02:30"


def test_repeated_hour_uses_first_occurrence() -> None:
    # 2027-11-07 01:30 happens twice in New York: the first (EDT, 05:30 UTC) is used.
    doses = expand_one(one_drug(["01:30"], "America/New_York"), "2027-11-06", "America/New_York")
    on_the_day = doses[doses["date"].astype(str) == "2027-11-07"].iloc[0]
    assert on_the_day["planned_at"] == pd.Timestamp("2027-11-07 05:30", tz="UTC")


def test_patients_in_different_zones_keep_their_own_wall_clock() -> None:
    protocol = one_drug(["09:00"], "Asia/Shanghai")
    rows = [(2, ["P1", "a", "2027-01-04", "Asia/Shanghai"]), (3, ["P2", "a", "2027-01-04", "Europe/Berlin"])]
    cohort = cohort_from_rows(["patient_id", "arm", "start_date", "timezone"], rows, protocol)
    doses = dosing.expand(protocol, cohort)
    first = doses.groupby("patient_id", observed=True).first()
    assert first.loc["P1", "planned_at"] == pd.Timestamp("2027-01-04 01:00", tz="UTC")
    assert first.loc["P2", "planned_at"] == pd.Timestamp("2027-01-04 08:00", tz="UTC")
