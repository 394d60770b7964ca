"""Units that cannot slip (issue 9, section 2): the unit registry, exact conversions, daily
limits that state their unit, per-size doses shown in absolute units, decimal rounding, and one
dose formatter for every people-facing output. Each defect found has a test here that failed
on the code before dosing/protocol/units.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dosing.cli import main
from dosing.errors import ProtocolError, ValueParseError
from dosing.io.write.ics import dose_description, dose_summary
from dosing.protocol.units import UNITS, convert, dose_texts, factor, format_dose, lookup, per_size_dose, per_size_doses
from tests.builders import expand_for, protocol, regimen
from tests.conftest import PROTOCOLS

# ---- the registry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "symbol", "ucum"),
    [("mg", "mg", "mg"), ("mcg", "µg", "ug"), ("ug", "µg", "ug"), ("μg", "µg", "ug"), ("IU", "IU", "[IU]"),
     ("MIU", "MIU", "M[IU]"), ("mL", "mL", "mL"), ("tablets", "tablet", None), ("mg/m2", "mg/m2", "mg/m2"),
     ("mcg/kg", "µg/kg", "ug/kg"), ("mmol", "mmol", "mmol")],
)  # fmt: skip
def test_known_units_and_their_ucum_codes(written: str, symbol: str, ucum: str | None) -> None:
    unit = lookup(written)
    assert (unit.symbol, unit.ucum) == (symbol, ucum)


def test_the_curated_list_is_complete() -> None:
    for name in ("g", "mg", "µg", "ng", "IU", "kIU", "MIU", "L", "mL", "mmol", "tablet", "capsule", "syringe",
                 "vial", "drop", "puff", "patch", "sachet", "mg/m2", "mg/kg"):  # fmt: skip
        assert name in UNITS


@pytest.mark.parametrize(("written", "guess"), [("mgs", "mg"), ("Mg", "mg"), ("gram", "g"), ("MCG", "µg"),
                                                ("units", "IU"), ("tabs", "tablet"), ("mg/m^2", "mg/m2")])  # fmt: skip
def test_an_unknown_unit_is_an_error_with_a_did_you_mean(written: str, guess: str) -> None:
    with pytest.raises(ValueParseError, match=f"unknown unit '{_re(written)}'; did you mean '{_re(guess)}'"):
        lookup(written)


def _re(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize("written", ["mgs", "Mg", "gram"])
def test_an_unknown_dose_unit_in_a_protocol_names_the_field(written: str) -> None:
    """Before: any non-empty text was a unit, so "mgs" passed and the daily-dose guard saw a unit
    it could not compare (or, for a drug without a limit, nothing at all)."""
    with pytest.raises(ProtocolError) as caught:
        protocol([{**regimen("d", {"daily": True}), "dose": {"amount": 1, "unit": written}}])
    assert f"regimens[0] (id 'd').dose.unit: unknown unit {written!r}; did you mean" in str(caught.value)


# ---- exact conversions -------------------------------------------------------------------------


def test_conversions_are_exact_decimals() -> None:
    assert convert(1, "g", "µg") == Decimal(1_000_000)
    assert convert(0.1, "g", "mg") == Decimal(100)
    assert convert(Decimal("0.2"), "MIU", "IU") == Decimal(200_000)
    assert convert(250, "µg", "mg") == Decimal("0.250")
    assert sum(convert(x, "g", "mg") or 0 for x in (0.1, 0.2)) == Decimal(300)  # 0.1 + 0.2 != 0.3 in floats
    assert factor("mL", "L") == Decimal("0.001")


@pytest.mark.parametrize(("unit", "target"), [("mg", "IU"), ("tablet", "mg"), ("mg/m2", "mg"), ("mg/m2", "mg/kg"),
                                              ("syringe", "vial"), ("mmol", "mg")])  # fmt: skip
def test_units_of_different_kinds_do_not_convert(unit: str, target: str) -> None:
    assert factor(unit, target) is None


# ---- max_daily_dose states its unit ------------------------------------------------------------

LOX_TIMES = ["08:00", "13:00", "19:00"]


def loxoprofen(unit: str = "mg", amount: float = 60, **extra: Any) -> dict[str, Any]:
    lox = {**regimen("lox", {"daily": True}, times=LOX_TIMES), "drug": "Loxoprofen", **extra}
    lox["dose"] = {"amount": amount, "unit": unit}
    return lox


def test_a_bare_max_daily_dose_is_an_error_with_the_fix() -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol([loxoprofen(max_daily_dose=180)])
    assert (
        "regimens[0] (id 'lox').max_daily_dose: max_daily_dose needs its unit: write "
        'max_daily_dose = { amount = 180, unit = "mg" }' in str(caught.value)
    )


def test_loxoprofen_in_grams_cannot_turn_the_limit_into_180_g() -> None:
    """Found: unit = "g" with max_daily_dose = 180 made the limit 180 g a day and scheduled 60 g
    three times a day. Now the limit carries its own unit: in mg, 3 x 60 g is refused; in g, the
    limit is refused as far above the built-in 180 mg."""
    with pytest.raises(ProtocolError, match="would receive 180,000 mg of loxoprofen"):
        protocol([loxoprofen("g", max_daily_dose={"amount": 180, "unit": "mg"})])
    with pytest.raises(ProtocolError) as caught:
        protocol([loxoprofen("g", max_daily_dose={"amount": 180, "unit": "g"})])
    assert "max_daily_dose: 180 g a day is above the built-in limit of Loxoprofen (180 mg a day)" in str(caught.value)
    assert "acknowledge_limit_above_label" in str(caught.value)


def test_loxoprofen_in_tablets_cannot_turn_the_limit_into_180_tablets() -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol([loxoprofen("tablet", 1, max_daily_dose={"amount": 180, "unit": "tablet"})])
    assert "'tablet', which cannot be compared with the built-in limit of Loxoprofen (180 mg a day)" in str(
        caught.value
    )


def test_an_own_limit_tightens_the_built_in_one() -> None:
    with pytest.raises(ProtocolError, match=r"would receive 0\.18 g of loxoprofen .* maximum daily dose of 0\.12 g"):
        protocol([loxoprofen(max_daily_dose={"amount": 0.12, "unit": "g"})])
    assert protocol([loxoprofen(max_daily_dose={"amount": 180_000, "unit": "µg"})]).regimens[0].max_daily_dose


def test_a_limit_above_the_built_in_one_needs_a_named_acknowledgement(tmp_path: Path) -> None:
    four = loxoprofen(times=["08:00", "12:00", "16:00", "20:00"], max_daily_dose={"amount": 240, "unit": "mg"})
    with pytest.raises(ProtocolError, match="above the built-in limit"):
        protocol([four])
    reason = "protocol section 6.2: 240 mg/day for the first week"
    assert protocol([{**four, "acknowledge_limit_above_label": reason}])
    text = (PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8")
    text = text.replace(
        'max_daily_dose = { amount = 180, unit = "mg" }',
        f'max_daily_dose = {{ amount = 240, unit = "mg" }}\nacknowledge_limit_above_label = "{reason}"',
    )
    (tmp_path / "p.toml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "p.toml")])
    assert result.exit_code == 0, result.output
    assert (
        "Loxoprofen 60 mg oral at 08:00, 13:00, 19:00; "
        f"max 240 mg a day (ABOVE the built-in 180 mg a day; acknowledged: {reason})" in result.output
    )


def test_an_acknowledgement_without_a_higher_limit_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="not above the built-in limit"):
        protocol([loxoprofen(max_daily_dose={"amount": 180, "unit": "mg"}, acknowledge_limit_above_label="x")])
    with pytest.raises(ProtocolError, match="there is no max_daily_dose"):
        protocol([loxoprofen(acknowledge_limit_above_label="x")])


def test_a_limit_in_a_per_size_unit_is_refused() -> None:
    with pytest.raises(ProtocolError, match="a daily limit is an absolute amount: use 'mg', not 'mg/m2'"):
        protocol([loxoprofen(max_daily_dose={"amount": 180, "unit": "mg/m2"})])


# ---- per-size doses ----------------------------------------------------------------------------

BSA = {"bsa": {"type": "number", "unit": "m2", "min": 1.0, "max": 3.0}}


def capecitabine(unit: str = "mg/m2", round_to: float | None = 150) -> dict[str, Any]:
    dose: dict[str, Any] = {"amount": 1250, "unit": unit, "per": "bsa"}
    if round_to is not None:
        dose["round_to"] = round_to
    return {**regimen("cape", {"daily": True}, times=["08:00", "20:00"]), "drug": "Capecitabine", "dose": dose}


def test_per_bsa_takes_a_per_size_unit() -> None:
    with pytest.raises(ProtocolError, match='with per = "bsa" the amount is per unit of size: write unit = "mg/m2"'):
        protocol([capecitabine("mg")], patient_values=BSA)
    alone = {**regimen("d", {"daily": True}), "dose": {"amount": 1, "unit": "mg/kg"}}
    with pytest.raises(ProtocolError, match="unit 'mg/kg' is per kg: say of what with per"):
        protocol([alone])


def test_the_per_value_must_be_in_the_size_of_the_unit() -> None:
    weight = {"bsa": {"type": "number", "unit": "kg", "min": 1.0, "max": 3.0}}
    with pytest.raises(ProtocolError, match="patient value 'bsa' must be in 'm2'; it has unit 'kg'"):
        protocol([capecitabine()], patient_values=weight)


def test_a_patient_value_dose_must_be_in_the_value_s_unit() -> None:
    own = {**regimen("d", {"daily": True}), "dose": {"patient_value": "own", "unit": "mg"}}
    grams = {"own": {"type": "number", "unit": "g", "min": 0.001, "max": 0.002}}
    with pytest.raises(ProtocolError, match="patient value 'own' must be in 'mg'; it has unit 'g'"):
        protocol([own], patient_values=grams)


def test_a_per_size_dose_is_shown_in_its_absolute_unit_everywhere(tmp_path: Path) -> None:
    """Found: a dose of mg/m2 per bsa was shown as "1870 mg/m2". The table, the calendar text and
    `dosing show` give the absolute dose in mg."""
    doses = expand_for(protocol([capecitabine(round_to=None)], patient_values=BSA), values={"bsa": "1.496"})
    assert doses["dose"].iloc[0] == 1870.0 and doses["unit"].astype(str).unique().tolist() == ["mg"]
    row = doses.iloc[0]
    assert dose_summary(row) == "Capecitabine 1,870 mg"
    assert "Take: Capecitabine, 1,870 mg" in dose_description(row)
    cohort = tmp_path / "c.csv"
    cohort.write_text("patient_id,arm,start_date,bsa\nC-1,capecitabine,2027-03-01,1.14\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["show", str(PROTOCOLS / "capecitabine.toml"), "--cohort", str(cohort),
                                       "--patient", "C-1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Capecitabine 1,500 mg" in result.output and "mg/m2" not in result.output


# ---- rounding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bsa", "expected"),
    [("1.14", 1500.0),  # 1425 = 9.5 x 150: a half, rounds up (binary floats gave 1350)
     ("1.26", 1650.0),  # 1575 = 10.5 x 150: a half, rounds up
     ("1.82", 2250.0),  # 2275 = 15.17 x 150
     ("1.5", 1950.0)],  # 1875 = 12.5 x 150: a half, rounds up
)  # fmt: skip
def test_halves_round_up_in_decimal(bsa: str, expected: float) -> None:
    doses = expand_for(protocol([capecitabine()], patient_values=BSA), values={"bsa": bsa})
    assert doses["dose"].unique().tolist() == [expected]


def test_rounding_agrees_with_decimal_arithmetic_for_every_bsa() -> None:
    sizes = np.round(np.arange(1.0, 3.0, 0.01), 2)
    got = per_size_doses(1250, sizes, 150)
    for size, dose in zip(sizes, got, strict=True):
        exact = Decimal(1250) * Decimal(repr(float(size))) / 150
        steps = int(exact) + (1 if exact - int(exact) >= Decimal("0.5") else 0)
        assert dose == steps * 150, size
    assert per_size_dose(1250, 1.14, 150) == Decimal(1500)
    assert per_size_dose(2.5, 1.333333, None) == Decimal("3.333333")  # kept to 6 places


def test_the_protocol_check_uses_the_same_rounding() -> None:
    """validate's synthetic patients (largest bsa) round as the dose table does: 1250 x 1.14 = 1425
    is 1500 mg twice a day = 3000 mg, above a limit of 2,900 mg (floats said 2 x 1350 = 2700)."""
    cape = {**capecitabine(), "max_daily_dose": {"amount": 2900, "unit": "mg"}}
    small = {"bsa": {"type": "number", "unit": "m2", "min": 1.0, "max": 1.14}}
    with pytest.raises(ProtocolError, match="would receive 3,000 mg of capecitabine"):
        protocol([cape], patient_values=small)


# ---- one formatter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "unit", "text"),
    [(1_000_000, "IU", "1,000,000 IU"), (1e6, "IU", "1,000,000 IU"), (7.5, "mg", "7.5 mg"), (60.0, "mg", "60 mg"),
     (Decimal("2250.000"), "mg", "2,250 mg"), (2, "tablet", "2 tablets"), (1, "tablet", "1 tablet"),
     (0.5, "tablet", "0.5 tablets"), ("1 syringe", "", "1 syringe"), (0.2, "MIU", "0.2 MIU")],
)  # fmt: skip
def test_format_dose(amount: object, unit: str, text: str) -> None:
    assert format_dose(amount, unit) == text


def test_every_people_facing_output_uses_the_one_formatter(tmp_path: Path) -> None:
    """The IL-2 dose reads "1,000,000 IU" in show and validate, "1 × 10⁶ IU" (as nurses write it, on
    their sheet) in the patient's calendar and diary; doses.csv keeps the plain number."""
    seed, cohort = PROTOCOLS / "nct02467504.toml", PROTOCOLS / "nct02467504-cohort.csv"
    patient = cohort.read_text(encoding="utf-8").splitlines()[1].split(",")[0]
    shown = CliRunner().invoke(main, ["show", str(seed), "--cohort", str(cohort), "--patient", patient, "--unblinded"])
    assert "1,000,000 IU" in shown.output
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(seed), "--cohort", str(cohort), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ics = (out / "nct02467504" / "patients" / patient / "calendar.ics").read_text(encoding="utf-8")
    assert "DESCRIPTION:hrIL-2 or placebo\\, 1 × 10⁶ IU\\, subcutaneous" in ics.replace("\r\n ", "")
    table = (out / "nct02467504" / "doses.csv").read_text(encoding="utf-8-sig")
    assert ",1000000,IU," in table and "1,000,000" not in table
    sheet = pd.read_csv(out / "nct02467504" / "worklist.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    il2 = sheet[sheet["drug"] == "hrIL-2 or placebo"]
    assert set(il2["dose_text"]) == {"1,000,000 IU"} and set(il2["dose"]) == {"1000000"}
    assert set(sheet.loc[sheet["drug"] == "Loxoprofen", "dose_text"]) == {"60 mg"}


def test_the_worklist_shows_a_hidden_dose_and_a_computed_dose_as_people_read_them(tmp_path: Path) -> None:
    cohort = tmp_path / "c.csv"
    cohort.write_text("patient_id,arm,start_date,bsa\nC-1,capecitabine,2027-03-01,1.14\n", encoding="utf-8")
    args = ["generate", str(PROTOCOLS / "capecitabine.toml"), "--cohort", str(cohort), "--out", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    sheet = pd.read_csv(tmp_path / "cape-adj" / "worklist.csv", encoding="utf-8-sig", dtype=str)
    assert set(zip(sheet["dose"], sheet["unit"], sheet["dose_text"], strict=True)) == {("1500", "mg", "1,500 mg")}
    sle = ["generate", str(PROTOCOLS / "nct04077684.toml"), "--cohort", str(PROTOCOLS / "nct04077684-cohort.csv")]
    assert CliRunner().invoke(main, [*sle, "--out", str(tmp_path)]).exit_code == 0
    blinded = pd.read_csv(tmp_path / "nct04077684" / "worklist.csv", encoding="utf-8-sig", dtype=str)
    assert set(blinded["dose_text"]) == {"1 syringe"}  # the blinded dose, whatever the arm


def test_dose_texts_formats_each_distinct_dose_once() -> None:
    amounts = pd.Series([60.0, 1e6, 60.0, "1 syringe", 2.0], dtype=object)
    units = pd.Series(["mg", "IU", "mg", "", "tablet"])
    assert dose_texts(amounts, units).tolist() == ["60 mg", "1,000,000 IU", "60 mg", "1 syringe", "2 tablets"]


def test_a_count_unit_cannot_be_per_size() -> None:
    with pytest.raises(ProtocolError, match="'tablet' cannot be per size"):
        protocol([capecitabine("tablet")], patient_values=BSA)


def test_two_limits_of_one_drug_must_be_comparable() -> None:
    one = {**regimen("a", {"daily": True}), "drug": "X", "max_daily_dose": {"amount": 5, "unit": "mg"}}
    two = {**regimen("b", {"daily": True}, times=["20:00"]), "drug": "X", "allow_same_drug": True}
    two["dose"], two["max_daily_dose"] = {"amount": 1, "unit": "tablet"}, {"amount": 2, "unit": "tablet"}
    one["allow_same_drug"] = True
    with pytest.raises(ProtocolError, match="'tablet' cannot be compared with 'mg', the unit of another limit of X"):
        protocol([one, two])
