"""Relative timing (``relative_to`` + ``offset``), hand-checked, and relative doses after changes.

Patient P1 starts on Monday 2027-03-15 in Europe/Berlin (CET, UTC+1; CEST, UTC+2 from 02:00 on Sunday
2027-03-28). Oxaliplatin is given at 10:00 on day 1 of 14-day cycles (days 1, 15, 29: 03-15, 03-29,
04-12); methotrexate on Saturdays at 08:00 (03-20, 03-27, 04-03, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import dosing
from dosing.errors import ProtocolError
from dosing.io.read.changes import load_changes
from dosing.plan.apply_changes import apply_changes
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from tests.builders import regimen

START = "2027-03-15"


def study(regimens: list[dict[str, Any]], last_day: int = 60) -> dosing.Protocol:
    return protocol_from_dict(
        {
            "study": {"id": "T", "title": "t", "blinding": "open", "timezone": "Europe/Berlin", "last_day": last_day},
            "arms": [{"id": "a", "label": "A", "regimens": [r["id"] for r in regimens]}],
            "regimens": regimens,
        }
    )


def relative(regimen_id: str, to: str, offset: Any, **extra: Any) -> dict[str, Any]:
    reg = regimen(regimen_id, {"relative_to": to, "offset": offset}, **extra)
    del reg["times"]
    return reg


OXALIPLATIN = regimen("oxaliplatin", {"cycle_days": [1], "cycle_length": "14 days", "cycles": 3}, ["10:00"])
METHOTREXATE = {**regimen("mtx", {"weekdays": ["Saturday"]}, ["08:00"]), "drug": "Methotrexate"}


def chemo() -> dosing.Protocol:
    return study([OXALIPLATIN, relative("ondansetron", "oxaliplatin", "-30 minutes")])


def cohort(proto: dosing.Protocol) -> dosing.Cohort:
    return cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone"], [(2, ["P1", "a", START, "Europe/Berlin"])], proto
    )


def of(doses: pd.DataFrame, regimen_id: str) -> pd.DataFrame:
    return doses[doses["regimen"] == regimen_id]


def when(doses: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(doses["date"].astype(str), doses["time"].astype(str), strict=True))


def test_ondansetron_30_minutes_before_each_1000_oxaliplatin() -> None:
    doses = dosing.expand(chemo(), cohort(chemo()))
    onda = of(doses, "ondansetron")
    assert when(onda) == [("2027-03-15", "09:30"), ("2027-03-29", "09:30"), ("2027-04-12", "09:30")]
    assert onda["cycle"].tolist() == [1, 2, 3]
    assert onda["cycle_day"].tolist() == [1, 1, 1]
    assert onda["study_day"].tolist() == [1, 15, 29]
    assert onda["uid"].tolist()[0] == "P1.ondansetron.d001.0930@t.dosing"
    # each ondansetron dose comes just before its oxaliplatin in the table
    assert doses["regimen"].astype(str).tolist()[:2] == ["ondansetron", "oxaliplatin"]


def test_folic_acid_24_hours_after_weekly_methotrexate_in_elapsed_time() -> None:
    proto = study([METHOTREXATE, relative("folic", "mtx", "24 hours")])
    folic = of(dosing.expand(proto, cohort(proto)), "folic")
    # Saturday 03-27 08:00 CET = 07:00Z; 24 h later is 07:00Z on Sunday 03-28 = 09:00 CEST
    assert when(folic)[:3] == [("2027-03-21", "08:00"), ("2027-03-28", "09:00"), ("2027-04-04", "08:00")]
    assert folic["study_day"].tolist()[:3] == [7, 14, 21]
    gaps = folic["planned_at"].to_numpy() - of(dosing.expand(proto, cohort(proto)), "mtx")["planned_at"].to_numpy()
    assert {pd.Timedelta(g) for g in gaps} == {pd.Timedelta(hours=24)}


def test_a_relative_dose_of_a_relative_dose() -> None:
    proto = study(
        [OXALIPLATIN, relative("ondansetron", "oxaliplatin", "-30 minutes"), relative("dexa", "ondansetron", "-15 min")]
    )
    dexa = of(dosing.expand(proto, cohort(proto)), "dexa")
    assert when(dexa)[0] == ("2027-03-15", "09:15")


def test_a_relative_dose_before_day_1_for_every_patient_is_a_protocol_error() -> None:
    """Daily at 00:10 from day 1, 30 minutes before: 23:40 the day before day 1, whatever the weekday."""
    with pytest.raises(ProtocolError) as caught:
        study([regimen("early", {"daily": True}, ["00:10"]), relative("pre", "early", "-30 minutes")])
    assert str(caught.value) == (
        "<protocol>, regimens[1] (id 'pre').schedule.offset: a dose of 'pre' (30 minutes before a dose of 'early') "
        "would fall before study day 1 for every patient (e.g. one whose study day 1 is a Monday)\n"
        "  Fix: start 'early' later (e.g. schedule.start_day = 2, so that a dose the day before its first falls on "
        "study day 1), or change the offset"
    )


def test_an_offset_past_the_last_day_for_every_patient_is_a_protocol_error() -> None:
    """Weekly on Monday, last_day 28: the last Monday is one of days 22-28, so 7 days after it is past day 28
    for every patient."""
    weekly = regimen("x", {"weekdays": ["Monday"]}, ["00:15"])
    with pytest.raises(ProtocolError) as caught:
        study([weekly, relative("post", "x", "7 days")], last_day=28)
    assert str(caught.value).startswith(
        "<protocol>, regimens[1] (id 'post').schedule.offset: a dose of 'post' (7 days after a dose of 'x') would "
        "fall after study.last_day (28) for every patient (e.g. one whose study day 1 is a Monday)"
    )
    # 6 days after: a Monday starter's Mondays are days 1-22 -> days 7-28, inside; only a later starter's
    # last Monday (e.g. day 28 for a Tuesday starter -> day 34) is outside: the cohort's check
    study([weekly, relative("post", "x", "6 days")], last_day=28)


def test_an_offset_outside_the_study_for_some_patients_only_is_the_cohorts_error() -> None:
    """Weekly on Saturday 08:00, the day before at 06:00 (26 hours before): only a patient whose day 1 is a
    Saturday has a dose before day 1; START (2027-03-15) is a Monday, so the protocol and this patient pass,
    and a Saturday starter (2027-03-20) is refused naming the offset as written."""
    proto = study([METHOTREXATE, relative("pre", "mtx", "-26 hours")])
    assert of(dosing.expand(proto, cohort(proto)), "pre")["date"].astype(str).tolist()[0] == "2027-03-19"
    saturday = cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone"], [(2, ["P2", "a", "2027-03-20", "Europe/Berlin"])], proto
    )
    with pytest.raises(ProtocolError) as caught:
        dosing.expand(proto, saturday)
    assert str(caught.value).startswith(
        "<protocol>, regimens[1] (id 'pre').schedule.offset: a dose of 'pre' (26 hours before a dose of 'mtx') "
        "would fall before study day 1\n"
    )


@pytest.mark.parametrize(
    ("regimens", "message"),
    [
        ([OXALIPLATIN, relative("onda", "oxaliplatn", "-30 minutes")], "unknown regimen 'oxaliplatn'"),
        ([relative("onda", "onda", "-30 minutes")], "cannot refer to itself"),
        (
            [relative("x", "y", "1 hour"), relative("y", "x", "1 hour")],
            "circular relation between regimens",
        ),
        ([OXALIPLATIN, {**relative("onda", "oxaliplatin", "-30 minutes"), "times": ["09:30"]}], "leave out times"),
        ([OXALIPLATIN, relative("onda", "oxaliplatin", "-8 days")], "at most 7 days"),
        ([OXALIPLATIN, relative("onda", "oxaliplatin", 1)], "with relative_to, offset is a duration with its unit"),
        ([OXALIPLATIN, relative("onda", "oxaliplatin", "soon")], 'expected a duration such as "-30 minutes"'),
        ([OXALIPLATIN, regimen("onda", {"relative_to": "oxaliplatin"})], "relative_to needs offset"),
        (
            [OXALIPLATIN, regimen("onda", {"after": "oxaliplatin", "offset": "2 hours"})],
            "a duration offset belongs with relative_to",
        ),
        (
            [
                OXALIPLATIN,
                relative("onda", "oxaliplatin", "-30 minutes")
                | {"schedule": {"relative_to": "oxaliplatin", "offset": "-30m", "end_day": 9}},
            ],
            "leave out end_day",
        ),
    ],
)
def test_invalid_relative_timing_is_refused(regimens: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ProtocolError) as err:
        study(regimens)
    assert message in str(err.value)


def test_a_relative_regimen_in_an_arm_without_its_anchor_is_refused() -> None:
    with pytest.raises(ProtocolError, match="do not receive"):
        protocol_from_dict(
            {
                "study": {"id": "T", "title": "t", "blinding": "open", "timezone": "Europe/Berlin", "last_day": 60},
                "arms": [
                    {"id": "a", "label": "A", "regimens": ["oxaliplatin", "onda"]},
                    {"id": "b", "label": "B", "regimens": ["onda"]},
                ],
                "regimens": [OXALIPLATIN, relative("onda", "oxaliplatin", "-30 minutes")],
            }
        )


# ---- after changes -------------------------------------------------------------------------------


def changed(tmp_path: Path, proto: dosing.Protocol, lines: list[str]) -> pd.DataFrame:
    path = tmp_path / "changes.csv"
    path.write_text("patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n" + "\n".join(lines) + "\n")
    group = cohort(proto)
    return apply_changes(dosing.expand(proto, group), load_changes(path, proto, group))


def test_ondansetron_follows_a_delayed_oxaliplatin_cycle(tmp_path: Path) -> None:
    after = changed(tmp_path, chemo(), ["P1,delay,oxaliplatin,2,2027-03-25,,7,,,neutropenia"])
    assert when(of(after, "oxaliplatin")) == [("2027-03-15", "10:00"), ("2027-04-05", "10:00"), ("2027-04-19", "10:00")]
    onda = of(after, "ondansetron")
    assert when(onda) == [("2027-03-15", "09:30"), ("2027-04-05", "09:30"), ("2027-04-19", "09:30")]
    assert onda["study_day"].tolist() == [1, 22, 36]
    assert onda["sequence"].tolist() == [0, 1, 1]
    assert onda["uid"].tolist()[1] == "P1.ondansetron.d015.0930@t.dosing"  # the uid names the planned slot


def test_ondansetron_is_held_with_a_held_oxaliplatin_dose(tmp_path: Path) -> None:
    after = changed(tmp_path, chemo(), ["P1,hold,oxaliplatin,,2027-03-29,,,,,platelets"])
    assert of(after, "ondansetron")["held"].tolist() == [False, True, False]
    assert of(after, "ondansetron")["sequence"].tolist() == [0, 1, 0]


def test_ondansetron_stops_with_a_stopped_oxaliplatin(tmp_path: Path) -> None:
    after = changed(tmp_path, chemo(), ["P1,stop,oxaliplatin,,2027-04-01,,,,,progression"])
    assert when(of(after, "ondansetron")) == [("2027-03-15", "09:30"), ("2027-03-29", "09:30")]


def test_folic_acid_follows_methotrexate_held(tmp_path: Path) -> None:
    proto = study([METHOTREXATE, relative("folic", "mtx", "24 hours")])
    after = changed(tmp_path, proto, ["P1,hold,mtx,,2027-03-27,,,,,infection"])
    folic = of(after, "folic")
    assert folic.loc[folic["date"].astype(str) == "2027-03-28", "held"].tolist() == [True]
    assert int(folic["held"].sum()) == 1


def test_a_delayed_elapsed_cycle_starts_again_at_its_local_time_after_spring_forward(tmp_path: Path) -> None:
    """Vancomycin every 8 hours for 2 days in 14-day cycles from 22:00. Cycle 2 is planned on 03-29
    (after the change): 22:00 CEST, then 06:00, 14:00, 22:00. Patient starts 03-08; delaying cycle 2
    (03-22, CET) by 7 days puts it on 03-29 at 22:00 CEST, the doses still 8 hours apart."""
    proto = study(
        [regimen("vanco", {"every": "8 hours", "for": "2 days", "cycle_length": "14 days", "cycles": 2}, ["22:00"])]
    )
    path = tmp_path / "changes.csv"
    path.write_text(
        "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\nP1,delay,vanco,2,2027-03-20,,7,,,fever\n"
    )
    group = cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone"], [(2, ["P1", "a", "2027-03-08", "Europe/Berlin"])], proto
    )
    planned = dosing.expand(proto, group)
    assert when(of(planned, "vanco"))[4:] == [
        ("2027-03-22", "22:00"),
        ("2027-03-23", "06:00"),
        ("2027-03-23", "14:00"),
        ("2027-03-23", "22:00"),
    ]
    after = apply_changes(planned, load_changes(path, proto, group))
    cycle2 = after[after["cycle"] == 2]
    assert when(cycle2) == [
        ("2027-03-29", "22:00"),
        ("2027-03-30", "06:00"),
        ("2027-03-30", "14:00"),
        ("2027-03-30", "22:00"),
    ]
    assert cycle2["study_day"].tolist() == [22, 23, 23, 23]
    assert set(cycle2["planned_at"].diff().dropna()) == {pd.Timedelta(hours=8)}


def test_the_simulated_daily_total_sees_a_relative_regimen() -> None:
    onda = relative("ondansetron", "oxaliplatin", "-30 minutes", max_daily_dose={"amount": 0.5, "unit": "mg"})
    with pytest.raises(ProtocolError, match=r"above the maximum daily dose of 0\.5 mg"):
        study([OXALIPLATIN, onda])


def test_ondansetron_follows_oxaliplatin_moved_off_a_closed_clinic_day() -> None:
    """The clinic is closed on Mondays and moves in-clinic doses up to a day later: oxaliplatin of
    Monday 03-15 is given on Tuesday 03-16 at 10:00, and ondansetron at 09:30 that day."""
    proto = protocol_from_dict(
        {
            "study": {"id": "T", "title": "t", "blinding": "open", "timezone": "Europe/Berlin", "last_day": 60},
            "arms": [{"id": "a", "label": "A", "regimens": ["oxaliplatin", "ondansetron"]}],
            "regimens": [{**OXALIPLATIN, "in_clinic": True}, relative("ondansetron", "oxaliplatin", "-30 minutes")],
            "clinic": {"closed_weekdays": ["Monday"], "on_closed_day": "move", "move_window": {"early": 0, "late": 1}},
        }
    )
    doses = dosing.expand(proto, cohort(proto))
    assert when(of(doses, "oxaliplatin"))[0] == ("2027-03-16", "10:00")
    assert when(of(doses, "ondansetron"))[0] == ("2027-03-16", "09:30")
    assert of(doses, "ondansetron")["study_day"].tolist()[0] == 2


def test_sdtm_frequency_of_a_relative_regimen_is_its_anchors() -> None:
    from dosing.io.write.sdtm.terminology import frequency_terms

    proto = study([METHOTREXATE, relative("folic", "mtx", "24 hours")])
    assert frequency_terms(proto, proto.regimen("folic")) == [(1, "EVERY WEEK")]  # CDISC FREQ has no QW
