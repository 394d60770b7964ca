"""Dose levels (issue 13, SPEC G): ``levels`` in the protocol, ``dose_level`` rows in the changes file.

Capecitabine 1250 mg/m2 twice daily (first dose the evening of day 1), days 1-14 of 21-day cycles x 8,
levels 0 / -1 / -2 = 1250 / 950 / 750 mg/m2. Patient P1 (BSA 1.82 m2) starts on Monday 2027-01-04:
level 0 is 1250 x 1.82 = 2275 mg, level -1 950 x 1.82 = 1729 mg, level -2 750 x 1.82 = 1365 mg.
Cycle 3 starts on study day 43 (2027-02-15); its first dose is that evening.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import dosing
from dosing.errors import ChangesError, ProtocolError
from dosing.plan.apply_changes import apply_changes, change_effects
from dosing.plan.changes import changes_from_rows
from dosing.plan.cohort import cohort_from_rows
from tests.builders import protocol

NAN = float("nan")
BSA = {"bsa": {"type": "number", "unit": "m2", "min": 1.0, "max": 2.2}}
BSA_INPUTS = {
    "height": {"type": "number", "unit": "cm", "min": 100, "max": 230},
    "weight": {"type": "number", "unit": "kg", "min": 30, "max": 250},
}
HEADER = ["patient_id", "change", "regimen", "cycle", "date", "time", "days", "dose", "visit", "reason", "dose_level"]


def capecitabine(**keys: Any) -> dict[str, Any]:
    return {
        "id": "cape",
        "drug": "Capecitabine",
        "dose": {"unit": "mg/m2", "per": "bsa"},
        "route": "oral",
        "times": ["08:00", "20:00"],
        "first_dose": "20:00",
        "schedule": {"cycle_days": "1-14", "cycle_length": "21 days", "cycles": 8},
        "levels": {"0": 1250, "-1": 950, "-2": 750},
        **keys,
    }


def study(**keys: Any) -> dosing.Protocol:
    return protocol([capecitabine(**keys)], last_day=168, patient_values=BSA)


def cohort(proto: dosing.Protocol, bsa: str = "1.82") -> dosing.Cohort:
    return cohort_from_rows(
        ["patient_id", "arm", "start_date", "timezone", "bsa"], [(2, ["P1", "a", "2027-01-04", "UTC", bsa])], proto
    )


def changes(proto: dosing.Protocol, people: dosing.Cohort, *rows: str) -> dosing.Changes:
    cells = [(i + 2, row.split(",")) for i, row in enumerate(rows)]
    return changes_from_rows(HEADER, cells, proto, people, source="changes.csv")


def refusal(proto: dosing.Protocol, *rows: str) -> str:
    with pytest.raises(ChangesError) as caught:
        changes(proto, cohort(proto), *rows)
    return str(caught.value)


# ---- the protocol ---------------------------------------------------------------------------------------


def test_level_0_is_the_planned_dose() -> None:
    proto = study()
    assert proto.regimens[0].dose.amount == 1250
    doses = dosing.expand(proto, cohort(proto))
    assert set(doses["dose"]) == {2275.0} and len(doses) == 8 * 28


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"levels": {"-1": 950, "-2": 750}}, 'levels must list level "0"'),
        ({"dose": {"unit": "mg/m2", "per": "bsa", "amount": 1000}}, "level 0 (1250) differs from dose.amount (1000)"),
        ({"lowest_level": -3}, "lowest_level = -3 is not one of the levels (-2, -1, 0)"),
        ({"levels": {"0": 1250, "-1": 1300}}, "dose level -1 (1300) is not below level 0 (1250)"),
        ({"levels": {"0": 1250, "-01": 950}}, "dose level '-01': name levels by whole numbers written plainly"),
        ({"levels": {"0": 1250, "-1": 0}}, "the amount must be a finite number above 0"),
        (
            {"levels": None, "dose": {"unit": "mg/m2", "per": "bsa", "amount": 1250}, "reescalation": True},
            "needs levels",
        ),
        ({"levels": None, "dose": {"unit": "mg/m2", "per": "bsa", "amount": 1250}, "lowest_level": -1}, "needs levels"),
        ({"reescalation": "yes"}, "reescalation"),
        # finding 8: a quoted level is text, as reescalation = "yes" is, not -1
        ({"lowest_level": "-1"}, "regimens[0] (id 'cape').lowest_level: Input should be a valid integer"),
        # finding 7: the nan is in levels."0" (it used to be told as "dose.amount", a key the protocol lacks)
        ({"levels": {"0": NAN, "-1": 950}}, "dose level 0: the amount must be a finite number above 0, got nan"),
        ({"levels": {"0": 0, "-1": 950}}, "dose level 0: the amount must be a finite number above 0, got 0"),
        ({"levls": {}}, "did you mean 'levels'?"),
    ],
)
def test_bad_levels_are_refused(keys: dict[str, Any], message: str) -> None:
    regimen = {k: v for k, v in capecitabine(**keys).items() if v is not None}
    with pytest.raises(ProtocolError) as caught:
        protocol([regimen], last_day=168, patient_values=BSA)
    assert message in str(caught.value)


def test_a_blinded_titration_beside_a_fixed_placebo_is_called_titrate() -> None:
    """Finding 7: the group differs in titrate (the protocol has no steps), and the message says so."""
    shared = {"route": "oral", "times": ["08:00"], "schedule": {"weekdays": ["Monday"]}, "blinded_dose": "1 tablet"}
    data = {
        "study": {"id": "B", "title": "b", "blinding": "double", "timezone": "Europe/Berlin", "last_day": 84},
        "arms": [{"id": "a", "label": "A", "regimens": ["drug"]}, {"id": "p", "label": "P", "regimens": ["pbo"]}],
        "regimens": [
            {"id": "drug", "drug": "Zolbetux", "blinded_label": "Study tablets", "dose": {"unit": "mg"},
             "titrate": {"start": 7.5, "by": 2.5, "every": "14 days", "up_to": 15}, **shared},
            {"id": "pbo", "drug": "Placebo", "blinded_label": "Study tablets", "dose": {"amount": 1, "unit": "tablet"},
             **shared},
        ],
    }  # fmt: skip
    with pytest.raises(ProtocolError) as caught:
        dosing.plan.load.protocol_from_dict(data)
    message = str(caught.value)
    assert "blinding: regimen 'pbo' differs from 'drug' in titrate, so blinded outputs" in message
    assert "make titrate identical within blinded label 'Study tablets'" in message
    assert "steps" not in message


def test_a_blinded_group_names_its_levels_alike_in_every_arm() -> None:
    def arm_regimen(regimen_id: str, levels: dict[str, float]) -> dict[str, Any]:
        return capecitabine(id=regimen_id, levels=levels, blinded_label="Study tablets", blinded_dose="as dispensed")

    data = {
        "study": {"id": "B", "title": "b", "blinding": "double", "timezone": "Europe/Berlin", "last_day": 168},
        "patient_values": BSA,
        "arms": [{"id": "hi", "label": "H", "regimens": ["hi"]}, {"id": "lo", "label": "L", "regimens": ["lo"]}],
        "regimens": [
            arm_regimen("hi", {"0": 1250, "-1": 950, "-2": 750}),
            arm_regimen("lo", {"0": 1000, "-1": 750}),
        ],
    }
    with pytest.raises(ProtocolError) as caught:
        dosing.plan.load.protocol_from_dict(data)
    assert "differs from 'hi' in levels (their names)" in str(caught.value)
    data["regimens"][1] = arm_regimen("lo", {"0": 1000, "-1": 750, "-2": 600})  # amounts may differ: hidden
    assert dosing.plan.load.protocol_from_dict(data).regimens[1].levels == {"0": 1000, "-1": 750, "-2": 600}


# ---- the changes file --------------------------------------------------------------------------------------


def test_dose_level_minus_1_from_cycle_3() -> None:
    proto = study()
    people = cohort(proto)
    planned = dosing.expand(proto, people)
    after = apply_changes(planned, changes(proto, people, "P1,dose_level,cape,3,2027-02-10,,,,,neutropenia grade 2,-1"))
    early, late = after[after["cycle"] <= 2], after[after["cycle"] >= 3]
    assert (len(early), len(late)) == (56, 168)
    assert set(early["dose"]) == {2275.0} and set(late["dose"]) == {1729.0}
    assert (late["date"].iloc[0], late["time"].iloc[0]) == ("2027-02-15", "20:00")  # cycle 3's first dose
    assert set(early["sequence"]) == {0} and set(late["sequence"]) == {1}  # like a dose change
    assert early["changed_on"].isna().all() and set(late["changed_on"]) == {pd.Timestamp("2027-02-10")}
    assert after["uid"].tolist() == planned["uid"].tolist()


def test_dose_level_from_a_date_and_then_lower() -> None:
    proto = study()
    people = cohort(proto)
    rows = ("P1,dose_level,cape,,2027-02-01,,,,,hand-foot syndrome,-1", "P1,dose_level,cape,,2027-03-08,,,,,again,-2")
    after = apply_changes(dosing.expand(proto, people), changes(proto, people, *rows))
    dates = after["date"].astype(str)
    assert set(after.loc[dates < "2027-02-01", "dose"]) == {2275.0}
    assert set(after.loc[(dates >= "2027-02-01") & (dates < "2027-03-08"), "dose"]) == {1729.0}
    assert set(after.loc[dates >= "2027-03-08", "dose"]) == {1365.0}
    assert set(after.loc[dates >= "2027-03-08", "sequence"]) == {2}  # reached by both rows
    effects = change_effects(
        dosing.expand(proto, people), after, pd.DataFrame(), pd.DataFrame(), changes(proto, people, *rows)
    )
    assert effects["doses_changed"].tolist() == [int((dates >= "2027-02-01").sum())]  # each dose once


def test_a_level_is_converted_per_patient_with_the_doses_rounding() -> None:
    # round_to = 50: level -1 for 1.82 m2 is 1729 mg -> 1750 mg; level 0 is 2275 mg -> 2300 mg (halves up)
    proto = study(dose={"unit": "mg/m2", "per": "bsa", "round_to": 50})
    people = cohort(proto)
    after = apply_changes(
        dosing.expand(proto, people), changes(proto, people, "P1,dose_level,cape,2,2027-01-20,,,,,x,-1")
    )
    assert after.groupby("cycle")["dose"].first().tolist() == [2300.0] + [1750.0] * 7


def test_reescalation_is_allowed_only_where_the_protocol_says() -> None:
    rows = ("P1,dose_level,cape,,2027-02-01,,,,,toxicity,-1", "P1,dose_level,cape,,2027-03-01,,,,,recovered,0")
    message = refusal(study(), *rows)
    assert "changes.csv" in message
    assert "line 3: dose level 0 of 'cape' is above the patient's current level -1 (line 2)" in message
    assert "reescalation = false" in message
    proto = study(reescalation=True)
    people = cohort(proto)
    after = apply_changes(dosing.expand(proto, people), changes(proto, people, *rows))
    assert set(after.loc[after["date"].astype(str) >= "2027-03-01", "dose"]) == {2275.0}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("P1,dose_level,cape,,2027-02-01,,,,,x,-3", "line 2: dose level -3 is below the lowest level (-2) of 'cape'"),
        (
            "P1,dose_level,cape,,2027-02-01,,,,,x,1",
            "line 2: dose level 1 is not a level of 'cape' (its levels: 0, -1, -2)",
        ),
        ("P1,dose_level,cape,,2027-02-01,,,,,x,minus one", "column 'dose_level': expected a whole number such as -1"),
        ("P1,dose_level,cape,9,2027-02-01,,,,,x,-1", "column 'cycle': expected a cycle number from 1 to 8, got '9'"),
        ("P1,dose_level,cape,,2027-02-01,,,,,x,", "a dose_level needs a value in column 'dose_level'"),
        ("P1,dose_level,cape,,2027-02-01,,3,,,x,-1", "column 'days' does not apply to a dose_level"),
        ("P1,dose,cape,,2027-02-01,,,1000,,x,-1", "column 'dose_level' does not apply to a dose"),
    ],
)
def test_bad_dose_level_rows_are_refused_naming_the_line(row: str, message: str) -> None:
    text = refusal(study(), row)
    assert "changes.csv" in text and message in text


def test_a_level_below_a_stated_floor_is_off_treatment() -> None:
    assert "below the lowest level (-1) of 'cape'" in refusal(
        study(lowest_level=-1), "P1,dose_level,cape,,2027-02-01,,,,,x,-2"
    )


def test_a_dose_level_for_a_regimen_without_levels_is_refused() -> None:
    proto = protocol(
        [{**capecitabine(), "levels": None, "dose": {"unit": "mg", "amount": 1000}}], last_day=168, patient_values=BSA
    )
    message = refusal(proto, "P1,dose_level,cape,,2027-02-01,,,,,x,-1")
    assert "line 2: 'cape' has no dose levels in the protocol; record a dose change" in message


def test_a_dose_change_beside_dose_levels_is_refused() -> None:
    rows = ("P1,dose_level,cape,,2027-02-01,,,,,x,-1", "P1,dose,cape,,2027-03-01,,,1500,,y,")
    assert "line 3: a dose change of 'cape', whose dose this file sets by dose level (line 2)" in refusal(
        study(), *rows
    )


def test_a_level_from_a_cycle_already_begun_is_refused() -> None:
    proto = study()
    people = cohort(proto)
    late = changes(proto, people, "P1,dose_level,cape,3,2027-02-16,,,,,x,-1")
    with pytest.raises(ChangesError) as caught:
        apply_changes(dosing.expand(proto, people), late)
    assert "line 2" in str(caught.value) and "after the cycle's first dose on 2027-02-15" in str(caught.value)


def test_the_same_level_twice_on_one_date_contradicts() -> None:
    rows = ("P1,dose_level,cape,,2027-02-01,,,,,x,-1", "P1,dose_level,cape,,2027-02-01,,,,,y,-2")
    assert "line 3: contradicts line 2 (the same dose_level recorded twice)" in refusal(study(), *rows)


def test_a_changes_file_without_the_dose_level_column_still_reads() -> None:
    proto = study()
    people = cohort(proto)
    read = changes_from_rows(
        HEADER[:-1], [(2, ["P1", "withdraw", "", "", "2027-02-01", "", "", "", "", "x"])], proto, people
    )
    assert np.isnan(read.rows["dose"].iloc[0]) and read.rows["dose_level"].isna().all()


def test_the_reason_of_a_dose_level_is_each_reached_doses_adjustment() -> None:
    # SDTM EXADJ: the reason of the dose_level row in force, per dose (from cycle 3: the 57th dose on)
    from dosing.plan.dose_levels import level_adjustments

    proto = study()
    people = cohort(proto)
    rows = changes(proto, people, "P1,dose_level,cape,3,2027-02-10,,,,,neutropenia grade 2,-1")
    after = apply_changes(dosing.expand(proto, people), rows)
    reasons = level_adjustments(after, rows, np.full(len(after), "", dtype=object))
    assert reasons.tolist() == [""] * 56 + ["neutropenia grade 2"] * 168


def test_one_blinded_dose_level_row_means_each_arms_own_amount() -> None:
    # tests/fixtures/blinded-levels.toml: the study drug's level -1 is 15 mg in arm x20 and 7.5 mg in arm x10;
    # the changes file names the blinded label and the level only
    from dosing.io.read.files import load_cohort, load_protocol
    from tests.conftest import FIXTURES

    proto = load_protocol(FIXTURES / "blinded-levels.toml")
    people = load_cohort(FIXTURES / "blinded-levels-cohort.csv", proto)
    rows = ("LV-001,dose_level,Study drug,,2027-01-20,,,,,x,-1", "LV-002,dose_level,Study drug,,2027-01-20,,,,,x,-1")
    after = apply_changes(dosing.expand(proto, people), changes(proto, people, *rows))
    drug = after[after["label"] == "Study drug"]
    before_change = drug["date"].astype(str) < "2027-01-20"
    by_patient = drug.groupby([drug["patient_id"].astype(str), before_change])["dose"].unique()
    assert {key: value.tolist() for key, value in by_patient.items()} == {
        ("LV-001", True): [20.0],
        ("LV-001", False): [15.0],
        ("LV-002", True): [10.0],
        ("LV-002", False): [7.5],
    }


def test_a_levels_dose_basis_is_the_levels_computation() -> None:
    # level -1 from cycle 2: 950 x 1.82 = 1729 mg -> 1750 mg (round_to 50); the basis ends with the dose
    proto = study(dose={"unit": "mg/m2", "per": "bsa", "round_to": 50})
    people = cohort(proto)
    after = apply_changes(
        dosing.expand(proto, people), changes(proto, people, "P1,dose_level,cape,2,2027-01-20,,,,,x,-1")
    )
    first = after.groupby("cycle")[["dose", "dose_basis"]].first()
    planned = "1250 mg/m² × 1.82 m² (bsa) = 2275 mg, rounded to 2300 mg (to the nearest 50 mg)"
    assert first.loc[1, "dose_basis"] == planned
    assert set(after.loc[after["cycle"] >= 2, "dose_basis"]) == {
        "level -1 (changes file, line 2): 950 mg/m² × 1.82 m² (bsa) = 1729 mg, rounded to 1750 mg "
        "(to the nearest 50 mg)"
    }
    assert first.loc[2, "dose"] == 1750.0


def test_validate_states_a_leveled_doses_formula_and_rounding() -> None:
    from dosing.jobs.validate import describe_regimen

    dose = {"unit": "mg/m2", "per": "bsa", "bsa": {"formula": "mosteller"}, "round": {"tablets": [150, 500]}}
    leveled = protocol([capecitabine(dose=dose)], last_day=168, patient_values=BSA_INPUTS)
    assert describe_regimen(leveled.regimen("cape")) == (
        "Capecitabine 1,250 mg/m2 (dose levels 0, -1, -2) (mg from BSA by Mosteller, not capped; rounded to tablets "
        "of 150/500 mg within 10%) oral at 08:00, 20:00"
    )
    assert describe_regimen(study().regimen("cape")) == (
        "Capecitabine 1,250 mg/m2 (dose levels 0, -1, -2) (mg from bsa) oral at 08:00, 20:00"
    )
