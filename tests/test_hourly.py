"""Intervals in hours (``every = "8 hours"``, ``clock = "elapsed" | "wall"``), hand-checked.

Europe/Berlin: CET (UTC+1) in winter, CEST (UTC+2) in summer; clocks go forward at 02:00 CET on Sunday
2027-03-28 (to 03:00 CEST) and back at 03:00 CEST on Sunday 2027-10-31 (to 02:00 CET).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import dosing
from dosing.errors import ProtocolError
from dosing.plan.load import protocol_from_dict
from tests.builders import expand_for, regimen


def study(regimens: list[dict[str, Any]], last_day: int = 28, zone: str = "Europe/Berlin") -> dosing.Protocol:
    return protocol_from_dict(
        {
            "study": {"id": "T", "title": "t", "blinding": "open", "timezone": zone, "last_day": last_day},
            "arms": [{"id": "a", "label": "A", "regimens": [r["id"] for r in regimens]}],
            "regimens": regimens,
        }
    )


def q8h(first: str, **schedule: Any) -> dosing.Protocol:
    return study([regimen("vanco", {"every": "8 hours", **schedule}, [first])])


def when(doses: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(doses["date"].astype(str), doses["time"].astype(str), strict=True))


def utc(doses: pd.DataFrame) -> list[str]:
    return doses["planned_at"].dt.strftime("%m-%d %H:%M").tolist()


def gaps_in_hours(doses: pd.DataFrame) -> list[float]:
    return (doses["planned_at"].diff().dropna().dt.total_seconds() / 3600).tolist()


def test_vancomycin_every_8_hours_from_0600_for_3_days_is_9_doses() -> None:
    doses = expand_for(q8h("06:00", **{"for": "3 days"}), "2027-01-04", "Europe/Berlin")
    assert when(doses) == [(f"2027-01-0{d}", t) for d in (4, 5, 6) for t in ("06:00", "14:00", "22:00")]
    assert doses["study_day"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert doses["dose_number"].tolist() == list(range(1, 10))
    assert utc(doses)[0] == "01-04 05:00"
    assert set(gaps_in_hours(doses)) == {8.0}


def test_for_counts_doses_by_local_date_so_a_2200_start_gives_7_doses_in_3_days() -> None:
    doses = expand_for(q8h("22:00", **{"for": "3 days"}), "2027-01-04", "Europe/Berlin")
    assert when(doses) == [("2027-01-04", "22:00")] + [
        (f"2027-01-0{d}", t) for d in (5, 6) for t in ("06:00", "14:00", "22:00")
    ]


def test_elapsed_clock_across_spring_forward_stays_8_real_hours_apart() -> None:
    doses = expand_for(q8h("22:00", **{"for": "3 days"}), "2027-03-27", "Europe/Berlin")
    # 22:00 CET = 21:00Z; +8 h = 05:00Z = 07:00 CEST: the wall clock moves an hour later
    assert when(doses) == [
        ("2027-03-27", "22:00"),
        ("2027-03-28", "07:00"),
        ("2027-03-28", "15:00"),
        ("2027-03-28", "23:00"),
        ("2027-03-29", "07:00"),
        ("2027-03-29", "15:00"),
        ("2027-03-29", "23:00"),
    ]
    assert utc(doses) == ["03-27 21:00", "03-28 05:00", "03-28 13:00", "03-28 21:00", "03-29 05:00", *utc(doses)[5:]]
    assert set(gaps_in_hours(doses)) == {8.0}
    assert doses["study_day"].tolist() == [1, 2, 2, 2, 3, 3, 3]


def test_wall_clock_across_spring_forward_keeps_the_local_times() -> None:
    doses = expand_for(q8h("22:00", **{"for": "3 days", "clock": "wall"}), "2027-03-27", "Europe/Berlin")
    assert when(doses) == [("2027-03-27", "22:00")] + [
        (f"2027-03-{d}", t) for d in (28, 29) for t in ("06:00", "14:00", "22:00")
    ]
    assert gaps_in_hours(doses)[:2] == [7.0, 8.0]  # the night clocks go forward is an hour shorter


def test_elapsed_clock_across_fall_back_stays_8_real_hours_apart() -> None:
    doses = expand_for(q8h("22:00", **{"for": "3 days"}), "2027-10-30", "Europe/Berlin")
    # 22:00 CEST = 20:00Z; +8 h = 04:00Z = 05:00 CET: the wall clock moves an hour earlier
    assert when(doses) == [("2027-10-30", "22:00")] + [
        (d, t) for d in ("2027-10-31", "2027-11-01") for t in ("05:00", "13:00", "21:00")
    ]
    assert set(gaps_in_hours(doses)) == {8.0}
    assert doses["uid"].is_unique


def test_wall_clock_across_fall_back_keeps_the_local_times() -> None:
    doses = expand_for(q8h("22:00", **{"for": "3 days", "clock": "wall"}), "2027-10-30", "Europe/Berlin")
    assert when(doses)[:2] == [("2027-10-30", "22:00"), ("2027-10-31", "06:00")]
    assert gaps_in_hours(doses)[:2] == [9.0, 8.0]  # the night clocks go back is an hour longer


def test_uid_names_the_planned_slot_before_the_clock_change() -> None:
    doses = expand_for(q8h("22:00", **{"for": "3 days"}), "2027-03-27", "Europe/Berlin")
    assert doses["uid"].tolist()[:3] == [
        "P1.vanco.d001.2200@t.dosing",
        "P1.vanco.d002.0600@t.dosing",
        "P1.vanco.d002.1400@t.dosing",
    ]
    assert doses["time"].astype(str).tolist()[1] == "07:00"


def test_every_hour_through_the_repeated_hour_has_two_0230_doses_with_distinct_uids() -> None:
    doses = expand_for(
        study([regimen("d", {"every": "1 hour", "for": "2 days"}, ["18:30"])], 3), "2027-10-30", "Europe/Berlin"
    )
    twice = doses[(doses["date"].astype(str) == "2027-10-31") & (doses["time"].astype(str) == "02:30")]
    assert twice["planned_at"].dt.strftime("%H:%M").tolist() == ["00:30", "01:30"]
    assert len(doses) == 6 + 25  # 18:30-23:30 on day 1; day 2 has 25 hours
    assert doses["uid"].is_unique
    assert set(gaps_in_hours(doses)) == {1.0}


def test_back_to_back_one_day_cycles_across_fall_back_never_share_a_uid() -> None:
    """Cycle day 1 of each 1-day cycle starts at 00:30; in the cycle of 2027-10-31 the fourth dose is at
    23:30 CET (planned 00:30 on Nov 1, before the change), and the next cycle's first dose is at 00:30."""
    proto = q8h("00:30", cycle_length="1 day", cycles=3)
    doses = expand_for(proto, "2027-10-30", "Europe/Berlin")
    assert when(doses) == [
        ("2027-10-30", "00:30"),
        ("2027-10-30", "08:30"),
        ("2027-10-30", "16:30"),
        ("2027-10-31", "00:30"),
        ("2027-10-31", "07:30"),
        ("2027-10-31", "15:30"),
        ("2027-10-31", "23:30"),
        ("2027-11-01", "00:30"),
        ("2027-11-01", "08:30"),
        ("2027-11-01", "16:30"),
    ]
    assert doses["cycle"].tolist() == [1, 1, 1, 2, 2, 2, 2, 3, 3, 3]
    assert doses["uid"].is_unique


def test_cycles_rest_start_day_and_count_work_with_hours() -> None:
    proto = q8h("08:00", **{"for": "2 days", "rest": "5 days", "cycles": 2, "start_day": 3})
    doses = expand_for(proto, "2027-01-04", "Europe/Berlin")
    # 08:00 and 16:00 on cycle day 1, then 00:00, 08:00 and 16:00 on cycle day 2
    assert doses["study_day"].tolist() == [3, 3, 4, 4, 4, 10, 10, 11, 11, 11]
    assert doses["time"].astype(str).tolist()[:5] == ["08:00", "16:00", "00:00", "08:00", "16:00"]
    assert doses["cycle_day"].tolist() == [1, 1, 2, 2, 2] * 2
    assert doses["cycle"].tolist() == [1] * 5 + [2] * 5
    counted = expand_for(q8h("20:00", count=4), "2027-01-04", "Europe/Berlin")
    assert when(counted) == [
        ("2027-01-04", "20:00"),
        ("2027-01-05", "04:00"),
        ("2027-01-05", "12:00"),
        ("2027-01-05", "20:00"),
    ]
    ended = expand_for(q8h("06:00", start_day=2, end_day=2), "2027-01-04", "Europe/Berlin")
    assert ended["study_day"].tolist() == [2, 2, 2]


def test_every_36_hours_on_the_elapsed_clock() -> None:
    proto = study([regimen("d", {"every": "36 hours", "end_day": 5}, ["08:00"])])
    doses = expand_for(proto, "2027-01-04", "Europe/Berlin")
    assert when(doses) == [
        ("2027-01-04", "08:00"),
        ("2027-01-05", "20:00"),
        ("2027-01-07", "08:00"),
        ("2027-01-08", "20:00"),
    ]


def test_times_from_gives_each_patient_their_first_time() -> None:
    proto = protocol_from_dict(
        {
            "study": {"id": "T", "title": "t", "blinding": "open", "timezone": "Europe/Berlin", "last_day": 28},
            "patient_values": {"first": {"type": "time"}},
            "arms": [{"id": "a", "label": "A", "regimens": ["d"]}],
            "regimens": [{**regimen("d", {"every": "12 hours", "for": "1 day"}), "times": None, "times_from": "first"}],
        }
    )
    doses = expand_for(proto, "2027-01-04", "Europe/Berlin", {"first": "07:15"})
    assert when(doses) == [("2027-01-04", "07:15"), ("2027-01-04", "19:15")]


@pytest.mark.parametrize(
    ("schedule", "times", "message"),
    [
        ({"every": "8 hours"}, ["06:00", "14:00"], "times gives the first dose's time only"),
        ({"every": "5 hours", "clock": "wall"}, ["06:00"], "the interval must divide 24 hours"),
        ({"every": "2 days", "clock": "wall"}, ["06:00"], "clock applies only to an interval in hours"),
        ({"every": 8}, ["06:00"], 'a unit such as "8 days", got the bare number 8'),
        ({"every": "0 hours"}, ["06:00"], "an interval in hours must be 1 to 168 hours"),
        ({"every": "8 minutes"}, ["06:00"], 'expected an interval such as "2 days", "1 week" or "8 hours"'),
        ({"every": "8 hours", "clock": "sundial"}, ["06:00"], "clock"),
        ({"phases": [{"every": "8 hours", "for": "2 days"}, {"daily": True}]}, ["06:00"], "cannot be one phase"),
    ],
)
def test_invalid_intervals_in_hours_are_refused(schedule: dict[str, Any], times: list[str], message: str) -> None:
    with pytest.raises(ProtocolError, match=None) as err:
        study([regimen("d", schedule, times)])
    assert message in str(err.value)


def test_first_dose_is_refused_with_hours() -> None:
    with pytest.raises(ProtocolError, match="leave out first_dose"):
        study([regimen("d", {"every": "8 hours"}, ["06:00"], first_dose="06:00")])


def test_methotrexate_every_8_hours_is_refused_as_not_weekly() -> None:
    mtx = {**regimen("mtx", {"every": "8 hours"}, ["06:00"]), "drug": "Methotrexate"}
    with pytest.raises(dosing.DosingError, match="every 8 hours"):
        study([mtx])


def limited(schedule: dict[str, Any], first: str, limit: float) -> dosing.Protocol:
    reg = regimen("para", schedule, [first], max_daily_dose={"amount": limit, "unit": "mg"})
    return study([{**reg, "drug": "Paracetamol", "dose": {"amount": 1000, "unit": "mg"}}])


def test_the_simulated_daily_total_counts_24_over_n_doses_a_day() -> None:
    with pytest.raises(ProtocolError, match="4,000 mg of paracetamol"):
        limited({"every": "6 hours"}, "06:00", 3000)
    assert limited({"every": "8 hours"}, "06:00", 3000) is not None


def test_the_25_hour_fall_back_date_can_hold_an_extra_dose_and_the_table_check_sees_it() -> None:
    """Every 6 hours from 00:30 on the elapsed clock: on 2027-10-31 00:30 CEST, then 05:30, 11:30,
    17:30 and 23:30 CET: five doses on one local date, but 23:30 CET is 24 hours after 00:30 CEST, the
    next 24 hours: four doses (4,000 mg) in any 24 hours, within a 4,000 mg maximum. A fifth dose 6 hours
    after 17:30 that is earlier than 24 hours after the first would count (a dose doubled here does)."""
    from dosing.errors import SafetyError
    from dosing.protocol.safety import check_schedule

    proto = limited({"every": "6 hours", "for": "3 days"}, "00:30", 4000)
    doses = expand_for(proto, "2027-10-30", "Europe/Berlin")
    on_31 = doses[doses["date"].astype(str) == "2027-10-31"]
    assert on_31["time"].astype(str).tolist() == ["00:30", "05:30", "11:30", "17:30", "23:30"]
    check_schedule(doses, proto)
    doses.loc[on_31.index[3], "dose"] = doses.loc[on_31.index[3], "dose"] * 2
    with pytest.raises(SafetyError, match=r"5,000 mg .* on 2027-10-31"):
        check_schedule(doses, proto)


def test_sdtm_frequency_of_every_8_hours_is_q8h() -> None:
    from dosing.io.write.sdtm.terminology import frequency_terms

    proto = q8h("06:00", **{"for": "3 days"})
    assert frequency_terms(proto, proto.regimen("vanco")) == [(1, "Q8H")]


def test_fhir_plan_definition_says_every_8_hours_without_fixed_times_of_day() -> None:
    import json

    from dosing.io.write.fhir.plan_definition import plan_definition

    text = json.dumps(plan_definition(q8h("06:00", **{"for": "3 days"}), blinded=False))
    assert '"period": 8, "periodUnit": "h"' in text
    assert "timeOfDay" not in text


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Shanghai"])
def test_properties_over_both_changes_of_the_year(zone: str) -> None:
    """For every interval that divides a day and some that do not, from several first times, over
    a year: doses of one block are exactly N hours apart, uids are unique, and the study day is the
    local date - start date + 1 (elapsed clock); on the wall clock every dose is at one of the times."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=25, deadline=None)
    @given(
        st.sampled_from([1, 2, 3, 5, 6, 8, 12, 24, 36]),
        st.sampled_from(["00:00", "00:30", "01:30", "02:30", "06:00", "22:00", "23:45"]),
        st.sampled_from(["2027-03-10", "2027-10-27", "2027-11-03", "2027-06-01"]),
    )
    def check(hours: int, first: str, start: str) -> None:
        proto = study([regimen("d", {"every": f"{hours} hours", "for": "7 days", "start_day": 2}, [first])], 9, zone)
        doses = expand_for(proto, start, zone)
        assert doses["uid"].is_unique
        assert set(doses["planned_at"].diff().dropna().dt.total_seconds() / 3600) <= {float(hours)}
        local_day = pd.to_datetime(doses["date"].astype(str)) - pd.Timestamp(start)
        assert (local_day.dt.days + 1).tolist() == doses["study_day"].tolist()
        assert doses["study_day"].between(2, 8).all()
        if 24 % hours == 0:
            wall = study([regimen("d", {"every": f"{hours} hours", "clock": "wall", "end_day": 4}, [first])], 9, zone)
            minutes = int(first[:2]) * 60 + int(first[3:])
            times = {f"{(minutes + k * hours * 60) // 60 % 24:02d}:{minutes % 60:02d}" for k in range(24 // hours)}
            shown = set(expand_for(wall, start, zone)["uid"].str.extract(r"\.(\d\d)(\d\d)@")[0])
            assert shown <= {t[:2] for t in times}

    check()
