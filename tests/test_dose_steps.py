"""Steps, titrations and tapers inside one regimen (issue 13, SPEC D): the amounts per dose, by hand.

Every patient here starts on Monday 2027-01-04 (study day 1) in UTC unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dosing.errors import ProtocolError
from dosing.protocol.safety import check_schedule
from tests.builders import expand_for, protocol, regimen

WEIGHT = {"weight": {"type": "number", "unit": "kg", "min": 2, "max": 150}}


def doses_by_day(doses: pd.DataFrame, regimen_id: str) -> dict[int, float]:
    mine = doses[doses["regimen"] == regimen_id]
    return dict(zip(mine["study_day"].tolist(), mine["dose"].tolist(), strict=True))


def stepped(regimen_id: str, schedule: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {**regimen(regimen_id, schedule), "dose": {"unit": "mg"}, **keys}


# ---- hand-checked expansions ----------------------------------------------------------------------


def test_a_loading_dose_then_maintenance_is_one_regimen() -> None:
    # 2 mg on day 1, then 1 mg daily on days 2-28
    proto = protocol([stepped("x", {"daily": True}, steps=[{"days": "1", "amount": 2}, {"days": "2-28", "amount": 1}])])
    by_day = doses_by_day(expand_for(proto), "x")
    assert by_day == {1: 2.0, **{day: 1.0 for day in range(2, 29)}}


def test_weekly_methotrexate_titration_rises_every_two_weeks_up_to_25_mg() -> None:
    # NCT01404429: 7.5 mg weekly, +2.5 mg every 2 weeks, up to 25 mg. Mondays from Monday 2027-01-04.
    mtx = {
        **stepped("mtx", {"weekdays": ["Monday"]}),
        "drug": "Methotrexate",
        "titrate": {"start": 7.5, "by": 2.5, "every": "2 weeks", "up_to": 25},
    }
    by_day = doses_by_day(expand_for(protocol([mtx], last_day=140)), "mtx")
    by_week = {(day - 1) // 7 + 1: dose for day, dose in by_day.items()}
    assert by_week == {
        1: 7.5, 2: 7.5, 3: 10.0, 4: 10.0, 5: 12.5, 6: 12.5, 7: 15.0, 8: 15.0,
        9: 17.5, 10: 17.5, 11: 20.0, 12: 20.0, 13: 22.5, 14: 22.5, 15: 25.0, 16: 25.0,
        17: 25.0, 18: 25.0, 19: 25.0, 20: 25.0,
    }  # fmt: skip


def test_a_titration_counts_from_each_patients_own_first_dose() -> None:
    # a patient starting on Wednesday 2027-01-06: the first Monday is study day 6; two weeks later, day 20
    mtx = {
        **stepped("mtx", {"weekdays": ["Monday"]}),
        "drug": "Methotrexate",
        "titrate": {"start": 7.5, "by": 2.5, "every": "2 weeks", "up_to": 25},
    }
    by_day = doses_by_day(expand_for(protocol([mtx], last_day=35), start="2027-01-06"), "mtx")
    assert by_day == {6: 7.5, 13: 7.5, 20: 10.0, 27: 10.0, 34: 12.5}


def test_a_prednisone_taper_steps_down_every_seven_days_and_holds_at_10_mg() -> None:
    # 60 mg daily for 7 days, then 10 mg less every 7 days down to 10 mg; 49 days of doses
    taper = stepped(
        "pred", {"daily": True, "for": "49 days"}, titrate={"start": 60, "by": -10, "every": "7 days", "down_to": 10}
    )
    by_day = doses_by_day(expand_for(protocol([taper], last_day=56)), "pred")
    expected = {1: 60, 8: 50, 15: 40, 22: 30, 29: 20, 36: 10, 43: 10}
    assert by_day == {day: float(expected[day - (day - 1) % 7]) for day in range(1, 50)}


def test_trastuzumab_like_cycle_steps_8_then_6_mg_per_kg() -> None:
    # 8 mg/kg in cycle 1, 6 mg/kg in cycles 2-17; 21-day cycles; 70 kg: 560 mg, then 420 mg
    tras = {
        **regimen("tras", {"cycle_days": [1], "cycle_length": "21 days", "cycles": 17}),
        "dose": {"unit": "mg/kg", "per": "weight"},
        "steps": [{"cycles": "1", "amount": 8}, {"cycles": "2-17", "amount": 6}],
    }
    doses = expand_for(protocol([tras], last_day=357, patient_values=WEIGHT), values={"weight": "70"})
    assert doses["cycle"].tolist() == list(range(1, 18))
    assert doses["study_day"].tolist() == [1 + 21 * k for k in range(17)]
    assert doses["dose"].tolist() == [560.0] + [420.0] * 16
    assert set(doses["unit"]) == {"mg"}


def test_steps_of_one_drug_need_no_allow_same_drug() -> None:
    proto = protocol([stepped("x", {"daily": True}, steps=[{"days": "1", "amount": 2}, {"days": "2-28", "amount": 1}])])
    check_schedule(expand_for(proto), proto)  # one regimen: the same-drug guard is not involved


# ---- the maximum daily dose sees each day's real total -------------------------------------------


def loxoprofen(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {**stepped("lox", {"daily": True}, steps=steps), "drug": "Loxoprofen", "times": ["08:00", "13:00", "19:00"]}


def test_a_loading_day_above_the_daily_maximum_is_an_error() -> None:
    # day 1: 3 x 80 mg = 240 mg, above loxoprofen's 180 mg a day; days 2-28: 3 x 60 = 180 mg
    with pytest.raises(ProtocolError) as caught:
        protocol([loxoprofen([{"days": "1", "amount": 80}, {"days": "2-28", "amount": 60}])])
    assert "would receive 240 mg of loxoprofen on study day 1" in str(caught.value)
    assert "above the maximum daily dose of 180 mg" in str(caught.value)


def test_a_later_step_above_the_daily_maximum_names_its_own_day() -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol([loxoprofen([{"days": "1-9", "amount": 60}, {"days": "10-28", "amount": 70}])])
    assert "would receive 210 mg of loxoprofen on study day 10" in str(caught.value)


def test_steps_within_the_daily_maximum_pass() -> None:
    proto = protocol([loxoprofen([{"days": "1", "amount": 60}, {"days": "2-28", "amount": 40}])])
    assert doses_by_day(expand_for(proto), "lox")[2] == 40.0


def test_a_titration_above_the_daily_maximum_is_an_error_on_the_day_it_gets_there() -> None:
    # methotrexate (non-oncology) may not exceed 25 mg a day: 20, 25, 30 mg from week 3
    mtx = {
        **stepped("mtx", {"weekdays": ["Monday"]}),
        "drug": "Methotrexate",
        "titrate": {"start": 20, "by": 5, "every": "1 week", "up_to": 30},
    }
    with pytest.raises(ProtocolError) as caught:
        protocol([mtx], last_day=28)
    assert "would receive 30 mg of methotrexate on study day 15" in str(caught.value)


# ---- validation ---------------------------------------------------------------------------------------


def refused(*regimens: dict[str, Any], last_day: int = 28, **extra: Any) -> str:
    with pytest.raises(ProtocolError) as caught:
        protocol(list(regimens), last_day=last_day, **extra)
    return str(caught.value)


def test_overlapping_steps_name_both() -> None:
    message = refused(
        stepped("x", {"daily": True}, steps=[{"days": "1-7", "amount": 2}, {"days": "7-28", "amount": 1}])
    )
    assert "steps[0] (days 1-7) and steps[1] (days 7-28) overlap" in message


def test_a_scheduled_day_no_step_covers_is_named() -> None:
    message = refused(stepped("x", {"daily": True}, steps=[{"days": "1", "amount": 2}, {"days": "3-28", "amount": 1}]))
    assert "regimens[0] (id 'x').steps" in message
    assert "a dose of 'x' is scheduled on study day 2" in message and "which no step covers" in message


def test_a_scheduled_cycle_no_step_covers_is_named() -> None:
    tras = {
        **regimen("t", {"cycle_days": [1], "cycle_length": "21 days", "cycles": 4}),
        "steps": [{"cycles": "1", "amount": 8}, {"cycles": "2-3", "amount": 6}],
        "dose": {"unit": "mg"},
    }
    assert "scheduled on study day 64 (cycle 4)" in refused(tras, last_day=84)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"dose": {"unit": "mg", "amount": 1}}, "with steps, leave out dose.amount"),
        ({"steps": []}, "steps must list at least one step"),
        ({"steps": [{"days": "1", "cycles": "1", "amount": 1}]}, "exactly one"),
        ({"steps": [{"days": "2-1", "amount": 1}]}, "not a range counting from 1 upwards"),
        ({"steps": [{"days": "1", "amount": 0}]}, "greater than 0"),
        ({"steps": [{"days": "1", "amout": 1}]}, "unknown key 'amout'; did you mean 'amount'?"),
        ({"steps": [{"cycles": "1-28", "amount": 1}]}, "steps by cycles need a cyclic schedule"),
        ({"titrate": {"start": 1, "by": 1, "every": "7 days", "up_to": 3}}, "give steps or titrate, not both"),
    ],
)
def test_bad_steps_are_refused(keys: dict[str, Any], message: str) -> None:
    base = {"steps": [{"days": "1-28", "amount": 1}]}
    assert message in refused(stepped("x", {"daily": True}, **{**base, **keys}))


@pytest.mark.parametrize(
    ("titrate", "message"),
    [
        ({"start": 7.5, "by": 2.5, "every": "2 weeks", "up_to": 25, "down_to": 5}, "exactly one"),
        ({"start": 7.5, "by": 2.5, "every": "2 weeks"}, "exactly one"),
        ({"start": 7.5, "by": -2.5, "every": "2 weeks", "up_to": 25}, "needs by > 0 (got -2.5)"),
        ({"start": 60, "by": 10, "every": "7 days", "down_to": 10}, "needs by < 0 (got 10)"),
        ({"start": 60, "by": -10, "every": "7 days", "down_to": 70}, "down_to <= start"),
        ({"start": 7.5, "by": 2.5, "every": 14, "up_to": 25}, 'with a unit such as "14 days"'),
    ],
)
def test_bad_titrations_are_refused(titrate: dict[str, Any], message: str) -> None:
    assert message in refused(stepped("x", {"daily": True}, titrate=titrate))


def test_a_dose_without_amount_and_without_steps_is_refused() -> None:
    assert "dose: give amount (e.g. amount = 60) or patient_value" in refused(stepped("x", {"daily": True}))


# ---- end to end: the summary of `dosing validate`, the patient's calendar -------------------------------

TAPER_TOML = """
[study]
id = "TAPER"
title = "A prednisone taper"
blinding = "open"
timezone = "Europe/Berlin"
last_day = 56

[[arms]]
id = "a"
label = "A"
regimens = ["prednisone"]

[[regimens]]
id = "prednisone"
drug = "Prednisone"
dose = { unit = "mg" }
titrate = { start = 60, by = -10, every = "7 days", down_to = 10 }
route = "oral"
times = ["08:00"]
schedule = { daily = true, for = "49 days" }
"""


def test_validate_describes_a_taper_and_steps() -> None:
    from dosing.jobs.validate import describe_regimen

    taper = dosing_protocol_from(TAPER_TOML).regimens[0]
    assert describe_regimen(taper) == "Prednisone 60 mg, -10 mg every 7 days down to 10 mg oral at 08:00"
    proto = protocol([stepped("x", {"daily": True}, steps=[{"days": "1", "amount": 2}, {"days": "2-28", "amount": 1}])])
    assert describe_regimen(proto.regimens[0]) == "x 2 mg (day 1), 1 mg (days 2-28) oral at 08:00"


def dosing_protocol_from(text: str) -> Any:
    import tomllib

    from dosing.plan.load import protocol_from_dict

    return protocol_from_dict(tomllib.loads(text), source="taper.toml")


def test_the_patients_calendar_shows_each_step_of_the_taper(tmp_path: Path) -> None:
    import icalendar
    import recurring_ical_events
    from click.testing import CliRunner

    from dosing.cli import main

    (tmp_path / "taper.toml").write_text(TAPER_TOML, encoding="utf-8")
    (tmp_path / "cohort.csv").write_text(
        "patient_id,arm,start_date,timezone,site\nT-1,a,2027-01-04,Europe/Berlin,S\n", encoding="utf-8"
    )
    args = ["generate", str(tmp_path / "taper.toml"), "--cohort", str(tmp_path / "cohort.csv")]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    calendar = icalendar.Calendar.from_ical(
        (tmp_path / "out" / "taper" / "patients" / "T-1" / "calendar.ics").read_bytes()
    )
    events = recurring_ical_events.of(calendar).between((2027, 1, 1), (2027, 3, 31))
    by_date = {event["DTSTART"].dt.date().isoformat(): str(event["SUMMARY"]) for event in events}
    assert len(by_date) == 49
    amounts = {
        date: next(w for w in ("60 mg", "50 mg", "40 mg", "30 mg", "20 mg", "10 mg") if w in s)
        for date, s in by_date.items()
    }
    assert (amounts["2027-01-04"], amounts["2027-01-10"], amounts["2027-01-11"]) == ("60 mg", "60 mg", "50 mg")
    assert (amounts["2027-02-07"], amounts["2027-02-08"], amounts["2027-02-21"]) == ("20 mg", "10 mg", "10 mg")


def test_adherence_judges_each_dose_of_a_taper_against_its_own_step() -> None:
    # the taper of TAPER_TOML: 60 mg on days 1-7, 50 mg on days 8-14; the log gives 60 mg on days 7 and 8
    from dosing.adherence.check import judge_adherence
    from dosing.io.read.log import log_from_frame
    from dosing.plan.cohort import cohort_from_rows

    proto = dosing_protocol_from(TAPER_TOML)
    people = cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone"], [(2, ["T-1", "a", "2027-01-04", "Europe/Berlin"])], proto
    )
    sheet = pd.DataFrame(
        {
            "patient_id": ["T-1", "T-1"],
            "drug": ["Prednisone", "Prednisone"],
            "given_at": ["2027-01-10 08:00", "2027-01-11 08:00"],
            "dose_given": ["60 mg", "60 mg"],
        }
    )
    judged = judge_adherence(proto, people, log_from_frame(sheet, proto, people), as_of=dt.date(2027, 1, 11)).doses
    taken = judged[judged["study_day"].isin([7, 8])]
    assert taken["dose"].tolist() == [60.0, 50.0]
    assert taken["wrong_dose"].tolist() == [False, True]


def test_steps_by_day_see_the_doses_first_dose_moves_to_the_next_day() -> None:
    # twice daily on days 1-14 with the first dose the evening of day 1: the last dose is the morning of day 15
    cape = {
        **stepped("c", {"cycle_days": "1-14", "cycle_length": "21 days", "cycles": 2}),
        "times": ["08:00", "20:00"],
        "first_dose": "20:00",
    }
    steps = [{"days": "1-14", "amount": 1000}, {"days": "22-35", "amount": 800}]
    assert "scheduled on study day 15 for a patient" in refused({**cape, "steps": steps}, last_day=42)
    steps = [{"days": "1-15", "amount": 1000}, {"days": "22-36", "amount": 800}]
    by_day = doses_by_day(expand_for(protocol([{**cape, "steps": steps}], last_day=42)), "c")
    assert (by_day[15], by_day[22], by_day[36]) == (1000.0, 800.0, 800.0)


def test_steps_need_cover_only_the_doses_count_keeps() -> None:
    # daily, count = 10: days 1-10 (2 mg on days 1-3, then 1 mg); nothing after day 10 needs a step
    proto = protocol(
        [
            stepped(
                "x", {"daily": True, "count": 10}, steps=[{"days": "1-3", "amount": 2}, {"days": "4-10", "amount": 1}]
            )
        ]
    )
    assert doses_by_day(expand_for(proto), "x") == {**{d: 2.0 for d in (1, 2, 3)}, **{d: 1.0 for d in range(4, 11)}}
    short = protocol([stepped("x", {"daily": True, "count": 12}, steps=[{"days": "1-10", "amount": 1}])])
    with pytest.raises(ProtocolError) as caught:
        expand_for(short)
    assert "a dose of 'x' is scheduled on study day 11, which no step covers" in str(caught.value)
