"""Dose formulas (BSA by Mosteller, DuBois or Haycock, weight-based doses with a cap, carboplatin by
Calvert with Cockcroft-Gault) and dose banding (to a step, to tablets, within a percentage), each
checked against values computed by hand in the comments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dosing
from dosing.errors import CohortError, ProtocolError, SafetyError
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from dosing.protocol.banding import to_step, to_tablets
from dosing.protocol.formulas import absolute_doses, bsa, cockcroft_gault
from dosing.protocol.safety import check_max_daily
from tests.builders import UTC_ALLOWED

VALUES: dict[str, dict[str, Any]] = {
    "height": {"type": "number", "unit": "cm", "min": 40, "max": 230},
    "weight": {"type": "number", "unit": "kg", "min": 2, "max": 300},
    "age": {"type": "number", "unit": "years", "min": 0, "max": 120},
    "sex": {"type": "text"},
    "creatinine": {"type": "number", "unit": "mg/dL", "min": 0.1, "max": 15},
}


def study(dose: dict[str, Any], values: dict[str, Any] | None = None, **regimen: Any) -> dosing.Protocol:
    """An open study of one regimen "x" ("Oncodrug", day 1 of one 21-day cycle at 09:00) with ``dose``."""
    return protocol_from_dict(
        {
            "study": {
                "id": "F",
                "title": "formulas",
                "blinding": "open",
                "timezone": "UTC",
                **UTC_ALLOWED,
                "last_day": 21,
            },
            "patient_values": VALUES if values is None else values,
            "arms": [{"id": "a", "label": "A", "regimens": ["x"]}],
            "regimens": [
                {
                    "id": "x",
                    "drug": "Oncodrug",
                    "dose": dose,
                    "route": "intravenous",
                    "times": ["09:00"],
                    "schedule": {"cycle_days": [1], "cycle_length": "21 days", "cycles": 1},
                    **regimen,
                }
            ],
        },
        source="test.toml",
    )


def patients(proto: dosing.Protocol, *rows: dict[str, str]) -> dosing.Cohort:
    names = list(proto.patient_values)
    header = ["patient_id", "arm", "start_date", *names]
    cells = [(i + 2, [f"P{i + 1}", "a", "2027-01-04", *(row.get(n, "") for n in names)]) for i, row in enumerate(rows)]
    return cohort_from_rows(header, cells, proto, source="cohort.csv")


def first_doses(proto: dosing.Protocol, *rows: dict[str, str]) -> pd.DataFrame:
    doses = dosing.expand(proto, patients(proto, *rows))
    return doses.drop_duplicates("patient_id").set_index("patient_id")[["dose", "dose_basis"]]


ADULT = {"height": "170", "weight": "74", "age": "64", "sex": "F", "creatinine": "0.9"}
CHILD = {"height": "110", "weight": "18", "age": "5", "sex": "M", "creatinine": "0.4"}
YOUNG_MAN = {"height": "180", "weight": "80", "age": "30", "sex": "M", "creatinine": "0.6"}
BIG = {"height": "190", "weight": "110", "age": "50", "sex": "M", "creatinine": "1.0"}


# ---- the formulas themselves ------------------------------------------------------------------


def test_bsa_formulas_by_hand() -> None:
    # Mosteller sqrt(h*w/3600): sqrt(170*74/3600) = sqrt(3.49444) = 1.8693; child sqrt(110*18/3600) = 0.7416
    # DuBois 0.007184 * w^0.425 * h^0.725: 0.007184 * 74^0.425 (6.229) * 170^0.725 (41.41) = 1.8530; child 0.7411
    # Haycock 0.024265 * w^0.5378 * h^0.3964: 0.024265 * 74^0.5378 (10.12) * 170^0.3964 (7.658) = 1.8811; child 0.7401
    h, w = np.array([170.0, 110.0]), np.array([74.0, 18.0])
    assert bsa("mosteller", h, w) == pytest.approx([1.8693, 0.7416], abs=5e-5)
    assert bsa("dubois", h, w) == pytest.approx([1.8530, 0.7411], abs=5e-5)
    assert bsa("haycock", h, w) == pytest.approx([1.8811, 0.7401], abs=5e-5)


def test_cockcroft_gault_by_hand() -> None:
    # (140 - 64) * 70 / (72 * 0.9) = 5320 / 64.8 = 82.10, x 0.85 for a woman = 69.78 mL/min
    # (140 - 30) * 80 / (72 * 0.6) = 8800 / 43.2 = 203.70 mL/min for a man
    got = cockcroft_gault([64, 30], [70, 80], [True, False], [0.9, 0.6])
    assert got == pytest.approx([69.784, 203.704], abs=1e-3)


def test_steps_and_tablets_round_in_each_direction() -> None:
    # 1912 mg to 50 mg: nearest 1900 (38.24 steps), down 1900, up 1950; a half (1925 = 38.5 steps) rounds up
    assert [to_step(Decimal(1912), 50, d) for d in ("nearest", "down", "up")] == [1900, 1900, 1950]
    assert to_step(Decimal(1925), 50, "nearest") == 1950
    # 2337.5 mg of 150 and 500 mg tablets: totals are 500a + 150b; 2300 (4 x 500 + 2 x 150) and 2350
    # (2 x 500 + 9 x 150: 10a + 3b = 47 has only a = 2, b = 9) lie either side; 2350 is nearer (12.5 vs 37.5)
    assert to_tablets(Decimal("2337.5"), (150, 500), "nearest") == (Decimal(2350), (9, 2))
    assert to_tablets(Decimal("2337.5"), (150, 500), "down") == (Decimal(2300), (2, 4))
    assert to_tablets(Decimal("2337.5"), (150, 500), "up") == (Decimal(2350), (9, 2))
    assert to_tablets(Decimal(100), (150, 500), "down") is None  # no whole tablet is 100 mg or less


# ---- doses in the expanded table, with their basis --------------------------------------------


def test_mosteller_dose_and_its_basis() -> None:
    # BSA 1.8693 -> 1.87 m2 (2 places); 1000 mg/m2 x 1.87 m2 = 1870 mg
    proto = study({"amount": 1000, "unit": "mg/m2", "per": "bsa", "bsa": {"formula": "mosteller"}})
    got = first_doses(proto, ADULT)
    assert got.loc["P1", "dose"] == 1870.0
    assert got.loc["P1", "dose_basis"] == "1000 mg/m² × 1.87 m² (Mosteller, 170 cm, 74 kg) = 1870 mg"


@pytest.mark.parametrize(
    ("formula", "shown", "adult", "child"),
    [("mosteller", "Mosteller", 1870, 740), ("dubois", "DuBois", 1850, 740), ("haycock", "Haycock", 1880, 740)],
)  # 1.8693 -> 1.87, 1.8530 -> 1.85, 1.8811 -> 1.88 m2; the child 0.7416, 0.7411, 0.7401 -> 0.74 m2
def test_each_bsa_formula_for_an_adult_and_a_child(formula: str, shown: str, adult: int, child: int) -> None:
    proto = study({"amount": 1000, "unit": "mg/m2", "per": "bsa", "bsa": {"formula": formula}})
    got = first_doses(proto, ADULT, CHILD)
    assert got["dose"].tolist() == [adult, child]
    assert got.loc["P2", "dose_basis"] == f"1000 mg/m² × 0.74 m² ({shown}, 110 cm, 18 kg) = 740 mg"


def test_bsa_is_mosteller_by_default_and_capped_when_the_protocol_says() -> None:
    # 190 cm, 110 kg: sqrt(190*110/3600) = sqrt(5.8056) = 2.4095 -> 2.41 m2, capped at 2.0 m2: 1000 x 2.00 = 2000 mg
    capped = study({"amount": 1000, "unit": "mg/m2", "per": "bsa", "bsa": {"cap": 2.0}})
    got = first_doses(capped, BIG, ADULT)
    assert got["dose"].tolist() == [2000.0, 1870.0]
    assert got.loc["P1", "dose_basis"] == (
        "1000 mg/m² × 2.00 m² (Mosteller, 190 cm, 110 kg: 2.41 m², capped at 2.00 m²) = 2000 mg"
    )
    uncapped = study({"amount": 1000, "unit": "mg/m2", "per": "bsa", "bsa": {}})
    assert first_doses(uncapped, BIG).loc["P1", "dose"] == 2410.0


def test_carboplatin_by_calvert_with_cockcroft_gault() -> None:
    # GFR (140 - 64) * 70 / (72 * 0.9) * 0.85 = 69.78 -> 69.8 mL/min; AUC 5 x (69.8 + 25) = 5 x 94.8 = 474 mg
    proto = study({"formula": "calvert", "auc": 5, "unit": "mg"})
    patient = {**ADULT, "weight": "70"}
    got = first_doses(proto, patient)
    assert got.loc["P1", "dose"] == 474.0
    assert got.loc["P1", "dose_basis"] == (
        "AUC 5 × (GFR 69.8 + 25) = 474 mg (Calvert; Cockcroft-Gault: 64 y, F, 70 kg, creatinine 0.9 mg/dL)"
    )


def test_the_gfr_is_capped_at_125_ml_per_minute() -> None:
    # a young man with low creatinine: (140 - 30) * 80 / (72 * 0.6) = 203.7 mL/min, capped at 125:
    # AUC 5 x (125 + 25) = 750 mg, the most AUC 5 can give
    proto = study({"formula": "calvert", "auc": 5, "unit": "mg", "gfr": "cockcroft-gault"})
    got = first_doses(proto, YOUNG_MAN)
    assert got.loc["P1", "dose"] == 750.0
    assert "GFR 203.7 mL/min, capped at 125 mL/min" in got.loc["P1", "dose_basis"]
    own_cap = study({"formula": "calvert", "auc": 5, "unit": "mg", "gfr_cap": 100})
    assert first_doses(own_cap, YOUNG_MAN)["dose"].iloc[0] == 625


def test_creatinine_in_micromoles_per_litre() -> None:
    # 80 umol/L / 88.4 = 0.905 mg/dL; (140 - 64) * 70 / (72 * 0.905) * 0.85 = 69.40 -> 69.4; 5 x 94.4 = 472 mg
    values = {**VALUES, "creatinine": {"type": "number", "unit": "umol/L", "min": 10, "max": 1300}}
    proto = study({"formula": "calvert", "auc": 5, "unit": "mg"}, values)
    got = first_doses(proto, {**ADULT, "weight": "70", "creatinine": "80"})
    assert got.loc["P1", "dose"] == 472.0
    assert got.loc["P1", "dose_basis"].endswith("creatinine 80 µmol/L)")


@pytest.mark.parametrize(
    ("unit", "value", "fragments"),
    [
        # 0.9 mg/dL given in a µmol/L column: GFR (140 - 64) * 70 * 0.85 / (72 * 0.9 / 88.4) = 6,493 mL/min,
        # hidden by gfr_cap at the maximum dose (finding 2); 0.9 mg/dL = 0.9 * 88.4 = 79.6 µmol/L
        ("umol/L", "0.9", ("creatinine 0.9 µmol/L is not plausible", "between 9 and 1800",
                           "did you give mg/dL in a µmol/L column? (0.9 mg/dL = 79.6 µmol/L)")),
        # 80 µmol/L in a mg/dL column: GFR 0.8 mL/min, a dose of 129 mg; 80 / 88.4 = 0.905 mg/dL
        ("mg/dL", "80", ("creatinine 80 mg/dL is not plausible", "between 0.1 and 20",
                         "did you give µmol/L in a mg/dL column? (80 µmol/L = 0.905 mg/dL)")),
        ("mg/dL", "0.05", ("creatinine 0.05 mg/dL is not plausible", "between 0.1 and 20")),
        ("umol/L", "2500", ("creatinine 2500 µmol/L is not plausible", "between 9 and 1800")),
    ],
)  # fmt: skip
def test_a_creatinine_implausible_for_its_unit_is_refused(unit: str, value: str, fragments: tuple[str, ...]) -> None:
    """The protocol gives no min/max of its own; the unit-specific plausible range (0.1-20 mg/dL,
    9-1800 µmol/L) refuses these, naming the patient, the line and the column."""
    values = {**VALUES, "creatinine": {"type": "number", "unit": unit}}  # no min/max of its own
    proto = study({"formula": "calvert", "auc": 5, "unit": "mg"}, values)
    plausible = {**ADULT, "creatinine": "0.9" if unit == "mg/dL" else "80"}
    with pytest.raises(CohortError) as caught:
        patients(proto, plausible, {**ADULT, "weight": "70", "creatinine": value})
    message = str(caught.value)
    assert "line 3, column 'creatinine': patient 'P2': " in message
    for fragment in fragments:
        assert fragment in message
    assert "line 2" not in message
    if unit == "mg/dL":
        assert len(patients(proto, {**ADULT, "creatinine": "0.1"}, {**ADULT, "creatinine": "20"}).patients) == 2
    else:
        assert len(patients(proto, {**ADULT, "creatinine": "9"}, {**ADULT, "creatinine": "1800"}).patients) == 2


@pytest.mark.parametrize(
    ("unit", "bounds", "fragment"),
    [
        ("umol/L", {"min": 0.1, "max": 1500}, "min = 0.1 is not a plausible creatinine in µmol/L"),  # a mg/dL min
        ("mg/dL", {"min": 0.1, "max": 1500}, "max = 1500 is not a plausible creatinine in mg/dL"),  # a µmol/L max
    ],
)
def test_a_declared_creatinine_range_implausible_for_its_unit_is_refused(
    unit: str, bounds: dict[str, float], fragment: str
) -> None:
    values = {**VALUES, "creatinine": {"type": "number", "unit": unit, **bounds}}
    with pytest.raises(ProtocolError) as caught:
        study({"formula": "calvert", "auc": 5, "unit": "mg"}, values)
    assert fragment in str(caught.value)
    assert f"patient_values.creatinine.{fragment[:3]}" in str(caught.value)


def test_capecitabine_rounded_to_tablets() -> None:
    # 1250 mg/m2 x 1.87 m2 = 2337.5 mg -> 2350 mg = 2 x 500 mg + 9 x 150 mg (0.53% above); down: 2300 mg
    dose = {"amount": 1250, "unit": "mg/m2", "per": "bsa", "bsa": {"formula": "mosteller"}}
    nearest = study({**dose, "round": {"tablets": [150, 500], "within": "10%"}})
    got = first_doses(nearest, ADULT)
    assert got.loc["P1", "dose"] == 2350.0
    assert got.loc["P1", "dose_basis"] == (
        "1250 mg/m² × 1.87 m² (Mosteller, 170 cm, 74 kg) = 2337.5 mg, rounded to 2350 mg: 2 × 500 mg + 9 × 150 mg"
    )
    down = study({**dose, "round": {"tablets": [150, 500], "direction": "down"}})
    assert first_doses(down, ADULT)["dose_basis"].iloc[0].endswith("rounded down to 2300 mg: 4 × 500 mg + 2 × 150 mg")


def test_rounding_to_a_step_says_so() -> None:
    # 1000 x 1.87 = 1870 mg: to 50 mg nearest 1850 (37.4 steps), up 1900
    dose = {"amount": 1000, "unit": "mg/m2", "per": "bsa", "bsa": {}}
    got = first_doses(study({**dose, "round": {"to": 50}}), ADULT)
    assert got.loc["P1", "dose"] == 1850.0
    assert got.loc["P1", "dose_basis"].endswith("= 1870 mg, rounded to 1850 mg (to the nearest 50 mg)")
    up = first_doses(study({**dose, "round": {"to": 50, "direction": "up"}}), ADULT)
    assert up.loc["P1", "dose"] == 1900.0
    assert up.loc["P1", "dose_basis"].endswith(", rounded up to 1900 mg (to 50 mg)")


def test_round_to_stays_as_it_was() -> None:
    # the shipped capecitabine protocol: 1250 mg/m2 x 1.82 m2 = 2275 mg -> 2250 mg (to 150 mg), halves up:
    # 1250 x 1.14 = 1425 = 9.5 steps -> 1500 mg
    values = {"bsa": {"type": "number", "unit": "m2", "min": 1.0, "max": 3.0}}
    proto = study({"amount": 1250, "unit": "mg/m2", "per": "bsa", "round_to": 150}, values)
    got = first_doses(proto, {"bsa": "1.82"}, {"bsa": "1.14"})
    assert got["dose"].tolist() == [2250.0, 1500.0]
    assert (
        got.loc["P1", "dose_basis"]
        == "1250 mg/m² × 1.82 m² (bsa) = 2275 mg, rounded to 2250 mg (to the nearest 150 mg)"
    )


def test_a_weight_based_paediatric_dose_with_a_cap() -> None:
    # 15 mg/kg: 18 kg -> 270 mg; 80 kg -> 1200 mg, capped at 1 g = 1000 mg
    values = {"weight": VALUES["weight"]}
    proto = study({"amount": 15, "unit": "mg/kg", "per": "weight", "cap": {"amount": 1, "unit": "g"}}, values)
    got = first_doses(proto, {"weight": "18"}, {"weight": "80"})
    assert got["dose"].tolist() == [270.0, 1000.0]
    assert got.loc["P1", "dose_basis"] == "15 mg/kg × 18 kg (weight) = 270 mg"
    assert got.loc["P2", "dose_basis"] == "15 mg/kg × 80 kg (weight) = 1200 mg, capped at 1000 mg"


def test_a_rounded_dose_never_goes_above_the_cap() -> None:
    # 15 mg/kg x 70 kg = 1050 mg, capped at 1000; to 300 mg nearest would be 900 (3.33 steps) - fine;
    # with direction up it would be 1200, above the cap, so it rounds down to 900 (10% below: within 10%)
    values = {"weight": VALUES["weight"]}
    dose = {"amount": 15, "unit": "mg/kg", "per": "weight", "cap": {"amount": 1000, "unit": "mg"}}
    got = first_doses(study({**dose, "round": {"to": 300, "direction": "up"}}, values), {"weight": "70"})
    assert got.loc["P1", "dose"] == 900.0


def test_a_dose_rounded_further_than_within_is_refused_naming_the_patient() -> None:
    # 15 mg/kg x 18 kg = 270 mg; to 500 mg it becomes 500 mg, (500 - 270) / 270 = 85.2% away
    values = {"weight": VALUES["weight"]}
    proto = study({"amount": 15, "unit": "mg/kg", "per": "weight", "round": {"to": 500}}, values)
    with pytest.raises(CohortError) as caught:
        first_doses(proto, {"weight": "70"}, {"weight": "18"})  # 1050 mg -> 1000 mg, 4.8% away: fine
    message = str(caught.value)
    assert "patient 'P2': the computed dose of 'x' is 270 mg; rounded to 500 mg it is 85.2% away" in message
    assert "more than within = 10%" in message
    assert caught.value.hint is not None and caught.value.hint.endswith('(now 10%; e.g. within = "15%")')


def test_every_patient_whose_dose_cannot_be_rounded_is_named_at_once() -> None:
    # to 500 mg: 18 kg -> 270 mg -> 500 mg (85.2% away); 20 kg -> 300 mg -> 500 mg (66.7% away); 70 kg fine
    values = {"weight": VALUES["weight"]}
    proto = study({"amount": 15, "unit": "mg/kg", "per": "weight", "round": {"to": 500}}, values)
    with pytest.raises(CohortError) as caught:
        first_doses(proto, {"weight": "18"}, {"weight": "70"}, {"weight": "20"})
    assert caught.value.message.startswith(
        "patient 'P1': the computed dose of 'x' is 270 mg; rounded to 500 mg it is 85.2% away, more than within = "
        "10% allows (15 mg/kg × 18 kg (weight) = 270 mg, rounded to 500 mg (to the nearest 500 mg))\n"
        "  patient 'P3': the computed dose of 'x' is 300 mg; rounded to 500 mg it is 66.7% away"
    )
    assert "'P2'" not in caught.value.message


def test_a_dose_per_m2_of_a_weight_says_to_use_bsa_or_a_unit_per_kg() -> None:
    with pytest.raises(ProtocolError) as caught:
        study({"amount": 100, "unit": "mg/m2", "per": "weight"}, {"weight": VALUES["weight"]})
    assert caught.value.hint == (
        'for a dose per m² of body surface write per = "bsa" (with a bsa value or bsa = { formula = "mosteller" }); '
        'for a dose per weight use a unit per kg (e.g. "mg/kg")'
    )


def test_a_misspelt_patient_value_gets_a_did_you_mean() -> None:
    with pytest.raises(ProtocolError) as caught:
        study({"amount": 15, "unit": "mg/kg", "per": "wieght"}, {"weight": VALUES["weight"]})
    assert "unknown patient value 'wieght'; did you mean 'weight'?" in str(caught.value)


def test_the_same_dose_gives_the_same_numbers_as_absolute_doses_for_many_amounts() -> None:
    """The function steps and dose levels use: one amount per row (e.g. 1250 and 950 mg/m2)."""
    proto = study({"amount": 1250, "unit": "mg/m2", "per": "bsa", "bsa": {}, "round": {"to": 50}})
    frame = patients(proto, ADULT, ADULT).patients
    doses, basis = absolute_doses(proto.regimens[0].dose, frame, np.array([1250.0, 950.0]), proto.patient_values)
    # 1250 x 1.87 = 2337.5 -> 2350 (46.75 steps); 950 x 1.87 = 1776.5 -> 1800 (35.53 steps)
    assert doses.tolist() == [2350.0, 1800.0]
    assert basis[1].startswith("950 mg/m² × 1.87 m²")


def test_fixed_doses_have_a_blank_basis() -> None:
    proto = study({"amount": 60, "unit": "mg"}, {})
    got = first_doses(proto, {})
    assert got.loc["P1", "dose_basis"] == ""


# ---- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dose", "values", "message"),
    [
        (
            {"formula": "calvert", "auc": 5, "unit": "mg"},
            {k: v for k, v in VALUES.items() if k != "creatinine"},
            "the Calvert formula needs patient value 'creatinine', which [patient_values] does not declare",
        ),
        (
            {"amount": 1, "unit": "mg/m2", "per": "bsa", "bsa": {"formula": "mostellar"}},
            VALUES,
            "unknown BSA formula 'mostellar'; did you mean 'mosteller'?",
        ),
        ({"formula": "calvret", "auc": 5, "unit": "mg"}, VALUES, "did you mean 'calvert'?"),
        (
            {"amount": 1, "unit": "mg/m2", "per": "bsa", "bsa": {}},
            {**VALUES, "height": {"type": "number", "unit": "cn"}},
            "needs height in cm; it has unit 'cn' (did you mean 'cm'?)",
        ),
        (
            {"amount": 1, "unit": "mg/m2", "per": "bsa", "bsa": {}},
            {**VALUES, "bsa": {"type": "number", "unit": "m2"}},
            "the body-surface area is both a patient value (patient_values.bsa) and computed",
        ),
        ({"formula": "calvert", "unit": "mg"}, VALUES, 'formula = "calvert" needs auc'),
        ({"formula": "calvert", "auc": 5, "unit": "g"}, VALUES, 'write unit = "mg"'),
        ({"amount": 5, "unit": "mg", "auc": 5}, VALUES, 'auc applies only to formula = "calvert"'),
        ({"amount": 5, "unit": "mg", "cap": {"amount": 1, "unit": "mg"}}, VALUES, "cap applies only to a computed"),
        (
            {"amount": 1, "unit": "mg/kg", "per": "weight", "round": {"to": 5}, "round_to": 5},
            VALUES,
            "give round_to or round, not both",
        ),
        ({"amount": 1, "unit": "mg/kg", "per": "weight", "round": {"to": 5, "within": 10}}, VALUES, 'within = "10%"'),
        ({"amount": 1, "unit": "mg/kg", "per": "weight", "round": {}}, VALUES, "give to = <step> or tablets"),
        (
            {"amount": 1, "unit": "mg/kg", "per": "weight", "cap": {"amount": 1, "unit": "IU"}},
            VALUES,
            "cannot be compared",
        ),
    ],
)
def test_formula_mistakes_are_refused(dose: dict[str, Any], values: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        study(dose, values)
    assert message in str(caught.value)


def test_a_blank_value_of_a_patient_who_receives_the_formula_is_refused() -> None:
    values = {**VALUES, "creatinine": {**VALUES["creatinine"], "required": False}}
    proto = study({"formula": "calvert", "auc": 5, "unit": "mg"}, values)
    with pytest.raises(CohortError, match="patient 'P1' has no creatinine, which regimen 'x' needs"):
        first_doses(proto, {**ADULT, "creatinine": ""})


def test_sex_must_be_f_or_m() -> None:
    proto = study({"formula": "calvert", "auc": 5, "unit": "mg"})
    with pytest.raises(CohortError, match=r"patient 'P1' has sex 'female'; .* needs F or M"):
        first_doses(proto, {**ADULT, "sex": "female"})


def test_every_bad_sex_is_reported_with_its_line_at_once() -> None:
    proto = study({"formula": "calvert", "auc": 5, "unit": "mg"})
    with pytest.raises(CohortError) as caught:
        patients(proto, {**ADULT, "sex": "female"}, {**ADULT, "sex": "f"}, {**ADULT, "sex": "Male"})
    assert str(caught.value).startswith(
        "cohort.csv: invalid cohort\n"
        "  line 2, column 'sex': patient 'P1' has sex 'female'; the Calvert formula (Cockcroft-Gault) needs F or M\n"
        "  line 4, column 'sex': patient 'P3' has sex 'Male'; the Calvert formula (Cockcroft-Gault) needs F or M"
    )


# ---- safety checks see the computed dose -----------------------------------------------------


def test_the_maximum_daily_dose_sees_the_computed_dose() -> None:
    # validation: the largest Calvert dose at AUC 5 is 5 x (125 + 25) = 750 mg, above a 700 mg limit
    dose = {"formula": "calvert", "auc": 5, "unit": "mg"}
    with pytest.raises(
        ProtocolError, match=r"would receive 750 mg of oncodrug .* its formula allows \(Calvert at the GFR cap\), above"
    ):
        study(dose, max_daily_dose={"amount": 700, "unit": "mg"})
    # on the expanded table: 474 mg for the patient of the hand example, against a 400 mg limit
    proto = study(dose, max_daily_dose={"amount": 800, "unit": "mg"})
    doses = dosing.expand(proto, patients(proto, {**ADULT, "weight": "70"}))
    strict = proto.model_copy(
        update={"regimens": [proto.regimens[0].model_copy(update={"max_daily_dose": _limit(400)})]}
    )
    with pytest.raises(SafetyError, match="would receive 474 mg of oncodrug"):
        check_max_daily(doses, strict)


def test_the_largest_bsa_dose_is_checked_at_validation() -> None:
    # height 230 cm and weight 300 kg at most: sqrt(230*300/3600) = 4.378 -> capped at 2.0 m2: 1000 x 2 = 2000 mg
    dose = {"amount": 1000, "unit": "mg/m2", "per": "bsa", "bsa": {"cap": 2.0}}
    study(dose, max_daily_dose={"amount": 2000, "unit": "mg"})
    with pytest.raises(ProtocolError, match="would receive 2,000 mg"):
        study(dose, max_daily_dose={"amount": 1999, "unit": "mg"})


def _limit(amount: float) -> Any:
    from dosing.protocol.model import DailyLimit

    return DailyLimit(amount=amount, unit="mg")


# ---- the examples of docs/protocol-format.md ---------------------------------------------------


def _docs_block(start: str) -> str:
    import re

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "protocol-format.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```toml\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    return next(b for b in blocks if start in b)


def test_the_documented_gemcitabine_carboplatin_example_computes_by_hand() -> None:
    import tomllib

    proto = protocol_from_dict(tomllib.loads(_docs_block('id = "GEMCARBO-DOC"')), source="docs")
    header = ["patient_id", "arm", "start_date", "height", "weight", "age", "sex", "creatinine"]
    rows = [(2, ["P1", "gemcarbo", "2027-01-04", "170", "70", "64", "F", "0.9"])]
    doses = dosing.expand(proto, cohort_from_rows(header, rows, proto))
    first = doses.drop_duplicates("regimen").set_index("regimen")
    # gemcitabine: sqrt(170*70/3600) = sqrt(3.3056) = 1.8181 -> 1.82 m2 (below the 2.0 cap): 1820 mg
    assert first.loc["gemcitabine", "dose"] == 1820.0
    assert first.loc["gemcitabine", "dose_basis"] == "1000 mg/m² × 1.82 m² (Mosteller, 170 cm, 70 kg) = 1820 mg"
    # carboplatin: GFR 69.8 (see above): 5 x 94.8 = 474 mg
    assert first.loc["carboplatin", "dose"] == 474.0


def test_the_documented_rounding_fragment_gives_the_doses_it_says() -> None:
    import tomllib

    regimens = tomllib.loads(_docs_block('id = "capecitabine-50"'))["regimens"]
    values = {"bsa": {"type": "number", "unit": "m2", "min": 1.0, "max": 3.0}}
    proto = protocol_from_dict(
        {
            "study": {"id": "D", "title": "d", "blinding": "open", "timezone": "UTC", **UTC_ALLOWED, "last_day": 168},
            "patient_values": values,
            "arms": [{"id": "a", "label": "A", "regimens": [r["id"] for r in regimens]}],
            "regimens": regimens,
        }
    )
    doses = dosing.expand(proto, patients(proto, {"bsa": "1.82"}))
    first = doses.drop_duplicates("regimen").set_index("regimen")["dose"]
    # 1250 x 1.82 = 2275 mg: to 50 nearest 2300 (45.5 steps, halves up), down 2250; tablets 2250 and 2300
    # are both 25 mg away, a tie rounds up: 2300 = 4 x 500 + 2 x 150
    assert first.to_dict() == {"capecitabine-50": 2300.0, "capecitabine-down": 2250.0, "capecitabine-tablets": 2300.0}


# ---- dose_basis is unblinded-only ----------------------------------------------------------------


def _blinded_study(placebo: dict[str, Any] | None = None, **active: Any) -> dosing.Protocol:
    """Double blind: BSA-dosed active drug or a placebo infusion (its volume per m², worked out the same
    way) behind one label, and a BSA-dosed drug that every arm receives."""
    values = {k: VALUES[k] for k in ("height", "weight")}
    shared = {
        "route": "intravenous",
        "times": ["09:00"],
        "schedule": {"cycle_days": [1], "cycle_length": "21 days", "cycles": 2},
    }
    label = {"blinded_label": "Study infusion", "blinded_dose": "1 infusion"}
    return protocol_from_dict(
        {
            "study": {"id": "BLINDBSA", "title": "b", "blinding": "double", "timezone": "UTC", **UTC_ALLOWED,
                      "last_day": 42},
            "patient_values": values,
            "arms": [
                {"id": "active", "label": "Active", "regimens": ["active", "gem"]},
                {"id": "placebo", "label": "Placebo", "regimens": ["placebo", "gem"]},
            ],
            "regimens": [
                {"id": "active", "drug": "Activedrug", **shared, **label,
                 "dose": {"amount": 100, "unit": "mg/m2", "per": "bsa", "bsa": {"formula": "dubois", "cap": 2.0},
                          **active}},
                {"id": "placebo", "drug": "Placebo", **shared, **label, "placebo_for": "active",
                 "dose": placebo or {"amount": 50, "unit": "mL/m2", "per": "bsa",
                                     "bsa": {"formula": "dubois", "cap": 2.0}, **active}},
                {"id": "gem", "drug": "Gemcitabine", **shared,
                 "dose": {"amount": 1000, "unit": "mg/m2", "per": "bsa", "bsa": {"formula": "mosteller"}}},
            ],
        },
        source="blind.toml",
    )  # fmt: skip


def test_a_blinded_run_never_writes_the_dose_basis(tmp_path: Any) -> None:
    proto = _blinded_study()
    header = ["patient_id", "arm", "start_date", "height", "weight"]
    rows = [(2, ["B1", "active", "2027-01-04", "170", "74"]), (3, ["B2", "placebo", "2027-01-04", "110", "18"])]
    cohort = cohort_from_rows(header, rows, proto)
    dosing.generate(proto, cohort, tmp_path / "blinded")
    written = [p for p in (tmp_path / "blinded").rglob("*") if p.is_file()]
    assert any(p.name == "doses.csv" for p in written)
    for path in written:
        data = path.read_bytes()
        for secret in (b"dose_basis", b"DuBois", b"Mosteller", "m²".encode(), b"1.87"):
            assert secret not in data, f"{secret!r} in {path}"
    dosing.generate(proto, cohort, tmp_path / "unblinded", unblinded=True)
    (table,) = [
        p for p in (tmp_path / "unblinded").rglob("doses.csv") if p.parent.name != "B1" and p.parent.name != "B2"
    ]
    doses = pd.read_csv(table, keep_default_na=False)
    assert "dose_basis" in doses.columns
    first = doses.drop_duplicates(["patient_id", "regimen"]).set_index(["patient_id", "regimen"])["dose_basis"]
    # DuBois 1.8530 -> 1.85 m2: 100 x 1.85 = 185 mg; Mosteller 1.87 m2 and, for the child, 0.74 m2
    assert first[("B1", "active")] == "100 mg/m² × 1.85 m² (DuBois, 170 cm, 74 kg) = 185 mg"
    assert first[("B2", "placebo")] == "50 mL/m² × 0.74 m² (DuBois, 110 cm, 18 kg) = 37 mL"
    assert first[("B2", "gem")] == "1000 mg/m² × 0.74 m² (Mosteller, 110 cm, 18 kg) = 740 mg"


def test_the_changes_file_knows_the_planned_dose_of_a_formula() -> None:
    """A changed dose may be at most 10 times the planned dose: the planned dose of a BSA formula is 1870 mg."""
    from dosing.plan.changes import _planned_dose

    proto = study({"amount": 1000, "unit": "mg/m2", "per": "bsa", "bsa": {}})
    row = patients(proto, ADULT).patients.iloc[0]
    assert _planned_dose(proto.regimens[0], row, proto) == Decimal(1870)


def test_validate_and_fhir_describe_a_formula() -> None:
    from dosing.protocol.formulas import describe_dose

    calvert = study({"formula": "calvert", "auc": 5, "unit": "mg"}).regimens[0].dose
    assert describe_dose(calvert) == "AUC 5 (mg by Calvert, GFR by Cockcroft-Gault capped at 125 mL/min)"
    capped = {
        "amount": 1000,
        "unit": "mg/m2",
        "per": "bsa",
        "bsa": {"cap": 2},
        "round": {"to": 50, "direction": "down"},
    }
    assert describe_dose(study(capped).regimens[0].dose) == (
        "1000 mg/m2 (mg from BSA by Mosteller, capped at 2 m2; rounded down to 50 mg within 10%)"
    )


def test_a_blinded_rounding_error_names_the_label_and_hides_the_amounts() -> None:
    # the child on the active drug: DuBois 0.7411 -> 0.74 m2, 100 x 0.74 = 74 mg; to 50 mg: 50 mg, 32% away
    proto = _blinded_study(round={"to": 50})
    header = ["patient_id", "arm", "start_date", "height", "weight"]
    rows = [(2, ["B1", "active", "2027-01-04", "110", "18"])]
    with pytest.raises(CohortError) as caught:
        dosing.expand(proto, cohort_from_rows(header, rows, proto))
    message = str(caught.value)
    assert "patient 'B1': the dose of 'Study infusion' cannot be rounded as its round = { ... } says" in message
    for secret in ("74", "50 mg", "active", "Activedrug", "DuBois", "m²"):
        assert secret not in message


@pytest.mark.parametrize(
    ("placebo", "key"),
    [
        ({"amount": 100, "unit": "mL"}, "dose.per"),  # a fixed placebo: nothing to round, no height needed
        ({"amount": 50, "unit": "mL/m2", "per": "bsa", "bsa": {"formula": "dubois", "cap": 2.0}}, "dose.round"),
        (
            {"amount": 50, "unit": "mL/m2", "per": "bsa", "bsa": {"formula": "dubois", "cap": 2.0},
             "round": {"to": 50, "within": "20%"}},
            "dose.round",
        ),
        (
            {"amount": 50, "unit": "mL/m2", "per": "bsa", "bsa": {"formula": "mosteller", "cap": 2.0},
             "round": {"to": 50}},
            "dose.bsa",
        ),
    ],
)  # fmt: skip
def test_a_blinded_label_must_work_out_every_dose_alike(placebo: dict[str, Any], key: str) -> None:
    """The active drug rounds to 50 mg within 10 %: a placebo that does not round (or rounds within
    another margin, or computes the BSA another way) could never fail where the active drug fails, so
    the error itself would tell the arm (finding 5: "patient 'P-1': ... cannot be rounded", active arm
    only). Refused at load, before any patient is involved."""
    with pytest.raises(ProtocolError) as caught:
        _blinded_study(placebo, round={"to": 50})
    message = str(caught.value)
    assert "regimens[1]: blinding: regimen 'placebo' differs from 'active' in " + key in message
    assert f"make {key} identical within blinded label 'Study infusion'" in message
    assert _blinded_study(round={"to": 50}).regimen("placebo").dose.round_ is not None  # alike: accepted


def test_a_blinded_rounding_error_is_the_same_in_either_arm() -> None:
    """Twin runs (finding 5): 160 cm, 50 kg is DuBois 1.5011 -> 1.50 m2. Active 100 mg/m2: 150 mg, on a step
    of 50; placebo 50 mL/m2: 75 mL, 25 mL (33 %) from 50 or 100, beyond the 10 % within. Only the placebo's
    dose fails, but the patient is refused alike in either arm (else the error tells the arm)."""
    proto = _blinded_study(round={"to": 50})
    header = ["patient_id", "arm", "start_date", "height", "weight"]
    messages = []
    for arm in ("active", "placebo"):
        rows = [(2, ["B1", arm, "2027-01-04", "160", "50"])]
        with pytest.raises(CohortError) as caught:
            dosing.expand(proto, cohort_from_rows(header, rows, proto))
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "patient 'B1': the dose of 'Study infusion' cannot be rounded as its round = { ... } says" in messages[0]
    # 170 cm, 74 kg: DuBois 1.85 m2, 185 mg -> 200 mg and 92.5 mL -> 100 mL (8.1 %): roundable in both arms;
    # gemcitabine 1000 mg/m2 x Mosteller 1.87 m2 = 1870 mg
    fine = cohort_from_rows(header, [(2, ["B1", "active", "2027-01-04", "170", "74"])], proto)
    assert set(dosing.expand(proto, fine)["dose"]) == {200.0, 1870.0}


def test_absolute_doses_refuses_a_blank_value_naming_the_patient() -> None:
    """The contract for callers other than expansion (steps, dose levels): a blank value is an error."""
    values = {**VALUES, "weight": {**VALUES["weight"], "required": False}}
    proto = study({"amount": 15, "unit": "mg/kg", "per": "weight"}, values)
    frame = patients(proto, ADULT, {**ADULT, "weight": ""}).patients
    with pytest.raises(CohortError, match="patient 'P2' has no weight, which 'x' needs"):
        absolute_doses(proto.regimens[0].dose, frame, values=proto.patient_values, name="'x'")


def test_per_bsa_without_a_value_or_a_formula_says_how_to_compute_it() -> None:
    with pytest.raises(ProtocolError, match=r"neither a patient value bsa nor a BSA formula") as caught:
        study({"amount": 1000, "unit": "mg/m2", "per": "bsa"})
    assert 'bsa = { formula = "mosteller" }' in str(caught.value)


def test_an_open_label_study_shows_the_dose_basis_in_its_doses_csv(tmp_path: Any) -> None:
    from tests.conftest import PROTOCOLS

    proto = dosing.load_protocol(PROTOCOLS / "capecitabine.toml")
    cohort = dosing.load_cohort(PROTOCOLS / "capecitabine-cohort.csv", proto)
    dosing.generate(proto, cohort, tmp_path)
    doses = pd.read_csv(tmp_path / "cape-adj" / "doses.csv", keep_default_na=False, encoding="utf-8-sig")
    assert list(doses.columns[-2:]) == ["status", "dose_basis"]
    # CAPE-001 has bsa 1.82: 1250 x 1.82 = 2275 mg -> 2250 mg (15.17 steps of 150 mg)
    assert (
        doses.loc[0, "dose_basis"] == "1250 mg/m² × 1.82 m² (bsa) = 2275 mg, rounded to 2250 mg (to the nearest 150 mg)"
    )


def test_a_dose_change_says_so_in_the_basis_and_keeps_what_was_planned(tmp_path: Any) -> None:
    from dosing.io.read.changes import load_changes
    from dosing.plan.apply_changes import apply_changes
    from tests.conftest import PROTOCOLS

    proto = dosing.load_protocol(PROTOCOLS / "capecitabine.toml")
    cohort = dosing.load_cohort(PROTOCOLS / "capecitabine-cohort.csv", proto)
    path = tmp_path / "changes.csv"
    path.write_text(
        "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n"
        "CAPE-001,dose,capecitabine,,2027-03-22,,,1800,,toxicity\n"
        "CAPE-001,dose,capecitabine,,2027-04-12,,,1500,,toxicity\n",
        encoding="utf-8",
    )
    doses = apply_changes(dosing.expand(proto, cohort), load_changes(path, proto, cohort))
    mine = doses[doses["patient_id"] == "CAPE-001"]
    on = {day: mine[mine["date"].astype(str) == day].iloc[0] for day in ("2027-03-01", "2027-03-22", "2027-04-12")}
    planned = "1250 mg/m² × 1.82 m² (bsa) = 2275 mg, rounded to 2250 mg (to the nearest 150 mg)"
    assert on["2027-03-01"]["dose_basis"] == planned
    assert on["2027-03-22"]["dose"] == 1800
    assert on["2027-03-22"]["dose_basis"] == f"set by the changes file, line 2; planned {planned}"
    assert on["2027-04-12"]["dose_basis"] == f"set by the changes file, line 3; planned {planned}"
    other = doses[doses["patient_id"] == "CAPE-002"]["dose_basis"].iloc[0]
    assert other.startswith("1250 mg/m² × 1.65 m² (bsa)")  # 1250 x 1.65 = 2062.5 -> 2100 mg


def test_a_blinded_dose_level_that_cannot_be_rounded_in_one_arm_is_refused_alike_in_both() -> None:
    """160 cm, 50 kg: DuBois 1.50 m2. Level -1 of the active drug, 75 mg/m2 x 1.50 = 112.5 mg, rounds to
    100 mg (11.1 %, beyond the 10 % within); the placebo's level -1, 70 mL/m2 = 105 mL, rounds to 100 mL
    (4.8 %). A dose_level -1 row is refused for the patient in either arm with the same words, or the
    refusal would tell the arm."""
    from dosing.errors import ChangesError
    from dosing.plan.changes import changes_from_rows

    bsa = {"per": "bsa", "bsa": {"formula": "dubois"}, "round": {"to": 50}}
    shared = {
        "route": "intravenous",
        "times": ["09:00"],
        "blinded_label": "Study infusion",
        "blinded_dose": "1 bag",
        "schedule": {"cycle_days": [1], "cycle_length": "21 days", "cycles": 2},
    }
    proto = protocol_from_dict(
        {
            "study": {"id": "BLINDLVL", "title": "b", "blinding": "double", "timezone": "UTC", **UTC_ALLOWED,
                      "last_day": 42},
            "patient_values": {k: VALUES[k] for k in ("height", "weight")},
            "arms": [{"id": "active", "label": "Active", "regimens": ["active"]},
                     {"id": "placebo", "label": "Placebo", "regimens": ["placebo"]}],
            "regimens": [
                {"id": "active", "drug": "Activedrug", **shared, "dose": {"unit": "mg/m2", **bsa},
                 "levels": {"0": 100, "-1": 75}},
                {"id": "placebo", "drug": "Placebo", **shared, "placebo_for": "active",
                 "dose": {"unit": "mL/m2", **bsa}, "levels": {"0": 100, "-1": 70}},
            ],
        },
        source="blind.toml",
    )  # fmt: skip
    header = ["patient_id", "change", "regimen", "cycle", "date", "time", "days", "dose", "visit", "reason"]
    messages = []
    for arm in ("active", "placebo"):
        people = cohort_from_rows(
            ["patient_id", "arm", "start_date", "height", "weight"],
            [(2, ["B1", arm, "2027-01-04", "160", "50"])],
            proto,
        )
        row = ["B1", "dose_level", "Study infusion", "2", "2027-01-20", "", "", "", "", "neutropenia", "-1"]
        with pytest.raises(ChangesError) as caught:
            changes_from_rows([*header, "dose_level"], [(2, row)], proto, people, source="changes.csv")
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "'Study infusion'" in messages[0] and "cannot be rounded" in messages[0]
    assert "112" not in messages[0] and "105" not in messages[0]
