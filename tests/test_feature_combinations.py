"""Issue 13's features combined in one regimen (built on separate branches, joined in expansion):
step and titration amounts per m² through a BSA formula with its cap, and doses every N hours from a
formula. Every patient starts on Monday 2027-01-04 (study day 1) in UTC."""

from __future__ import annotations

from tests.builders import expand_for, protocol, regimen

SIZE = {
    "height": {"type": "number", "unit": "cm", "min": 40, "max": 230},
    "weight": {"type": "number", "unit": "kg", "min": 2, "max": 300},
}
# Mosteller: sqrt(180 x 80 / 3600) = sqrt(4) = 2.00 m2 exactly; sqrt(200 x 162 / 3600) = sqrt(9) = 3.00 m2
ADULT = {"height": "180", "weight": "80"}
LARGE = {"height": "200", "weight": "162"}


def _by_day(doses, regimen_id):  # type: ignore[no-untyped-def]
    mine = doses[doses["regimen"] == regimen_id]
    return dict(zip(mine["study_day"], zip(mine["dose"], mine["dose_basis"], strict=True), strict=True))


def test_steps_per_m2_go_through_the_bsa_formula_per_step() -> None:
    # 100 mg/m2 on day 1, then 50 mg/m2 on days 2-3, at 2.00 m2: 200 mg, then 100 mg
    x = {
        **regimen("x", {"daily": True, "end_day": 3}),
        "dose": {"unit": "mg/m2", "per": "bsa", "bsa": {"formula": "mosteller"}},
        "steps": [{"days": "1", "amount": 100}, {"days": "2-3", "amount": 50}],
    }
    by_day = _by_day(expand_for(protocol([x], patient_values=SIZE), values=ADULT), "x")
    assert {day: dose for day, (dose, _) in by_day.items()} == {1: 200.0, 2: 100.0, 3: 100.0}
    assert "100 mg/m² × 2.00 m²" in by_day[1][1] and "Mosteller" in by_day[1][1]
    assert "50 mg/m² × 2.00 m²" in by_day[2][1]


def test_a_taper_per_m2_is_capped_at_the_bsa_cap() -> None:
    # 3.00 m2 capped at 2.0 m2: 60, 50, 40 mg/m2 weekly steps -> 120, 100, 80 mg
    x = {
        **regimen("x", {"daily": True, "end_day": 21}),
        "dose": {"unit": "mg/m2", "per": "bsa", "bsa": {"formula": "mosteller", "cap": 2.0}},
        "titrate": {"start": 60, "by": -10, "every": "7 days", "down_to": 40},
    }
    by_day = _by_day(expand_for(protocol([x], patient_values=SIZE), values=LARGE), "x")
    assert [by_day[d][0] for d in (1, 7, 8, 14, 15, 21)] == [120.0, 120.0, 100.0, 100.0, 80.0, 80.0]
    assert "capped" in by_day[1][1]


def test_doses_every_12_hours_carry_their_formula_dose_and_basis() -> None:
    # 25 mg/kg every 12 hours from 08:00 for 2 days, 20 kg (cap 1000 mg not reached): 500 mg x 4
    x = {
        **regimen("x", {"every": "12 hours", "for": "2 days"}),
        "dose": {"amount": 25, "unit": "mg/kg", "per": "weight", "cap": {"amount": 1000, "unit": "mg"}},
    }
    weight = {"weight": SIZE["weight"]}
    doses = expand_for(protocol([x], patient_values=weight), values={"weight": "20"})
    assert doses["time"].astype(str).tolist() == ["08:00", "20:00", "08:00", "20:00"]
    assert doses["dose"].tolist() == [500.0] * 4
    assert all("25 mg/kg × 20 kg" in text for text in doses["dose_basis"])
