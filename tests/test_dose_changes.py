"""Dose changes that cannot slip (audit of issue 9): a dose change of a blinded group whose true dose
differs by arm is refused alike in every arm; a dose may carry its unit (converted exactly); exponent
notation, inf, nan and doses over ten times the planned dose are refused; a changed dose above a
maximum daily dose names the changes file and line. Also two protocol messages: the daily-limit hint
leads somewhere that works, and a scalar where a table belongs says which table.

Seed patients RA-900 (active) and RA-901 (placebo) start on Monday 2027-01-04; hrIL-2 (or placebo)
1,000,000 IU on odd days 1-13, 29-41, 57-69; loxoprofen 60 mg three times a day (max 180 mg a day).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import dosing
from dosing.cli import main
from dosing.errors import ChangesError
from dosing.io.read.changes import load_changes
from dosing.plan.apply_changes import apply_changes
from tests.conftest import FIXTURES, PROTOCOLS

HEADER = "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n"
NCT04077684 = PROTOCOLS / "nct04077684.toml"
SEED = PROTOCOLS / "nct02467504.toml"


@pytest.fixture(scope="module")
def cohort(seed_protocol: dosing.Protocol) -> dosing.Cohort:
    return dosing.load_cohort(FIXTURES / "changes-two-patients.csv", seed_protocol)


def applied(tmp_path: Path, protocol: dosing.Protocol, cohort: dosing.Cohort, *lines: str) -> pd.DataFrame:
    path = tmp_path / "changes.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return apply_changes(dosing.expand(protocol, cohort), load_changes(path, protocol, cohort))


# ---- a blinded dose that differs by arm ----------------------------------------------------------


def generate(tmp_path: Path, arm: str, *flags: str) -> tuple[int, str]:
    cohort = tmp_path / f"{arm}.csv"
    cohort.write_text(f"patient_id,arm,start_date,timezone,site\nX,{arm},2027-01-04,Asia/Shanghai,S\n")
    changes = tmp_path / "changes.csv"
    changes.write_text(HEADER + "X,dose,il2-low,,2027-01-10,,,500000,,r\n")
    out = tmp_path / f"out-{arm}{''.join(flags)}"
    args = ["generate", str(NCT04077684), "--cohort", str(cohort), "--changes", str(changes), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, *flags])
    assert not out.exists() or not any(out.rglob("doses.csv")), "nothing is written"
    return result.exit_code, result.output


@pytest.mark.parametrize("flags", [(), ("--unblinded",)])
def test_a_dose_change_of_a_blinded_drug_whose_dose_differs_by_arm_is_refused_in_every_arm(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    # before the fix: exit 0, the placebo patient got "Placebo,500000,mL" and the 0.2 MIU twin 500000 IU
    results = {arm: generate(tmp_path, arm, *flags) for arm in ("placebo", "il2-0.2", "il2-0.5", "il2-1.0")}
    assert {code for code, _ in results.values()} == {2}
    for _, output in results.values():
        assert "changes.csv, line 2: a dose change of" in output
        assert "its true dose differs by arm" in output
        assert "the unblinded pharmacist" in output
    if not flags:
        assert len({output for _, output in results.values()}) == 1
        assert "'Study drug (hrIL-2 or placebo)'" in results["placebo"][1]


def test_a_dose_change_of_a_blinded_drug_with_the_same_dose_in_every_arm_stays_allowed(
    tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    after = applied(tmp_path, seed_protocol, cohort, "RA-901,dose,il2,,2027-02-01,,,500000,,x")
    placebo = after[(after["patient_id"] == "RA-901") & (after["regimen"] == "il2-placebo")]
    assert placebo.loc[placebo["dose"] == 500000.0, "study_day"].tolist() == [*range(29, 42, 2), *range(57, 70, 2)]


# ---- a dose with its unit; absurd doses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "dose"),
    [("0.5 MIU", 500000.0), ("500 kIU", 500000.0), ("2000000 IU", 2000000.0), ("750000", 750000.0)],
)
def test_a_dose_may_carry_its_unit_and_is_converted_exactly(
    tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort, text: str, dose: float
) -> None:
    after = applied(tmp_path, seed_protocol, cohort, f"RA-900,dose,il2,,2027-02-01,,,{text},,x")
    il2 = after[(after["patient_id"] == "RA-900") & (after["regimen"] == "il2")]
    assert il2.loc[il2["study_day"] >= 29, "dose"].unique().tolist() == [dose]


def test_a_dose_in_grams_becomes_milligrams(
    tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    after = applied(tmp_path, seed_protocol, cohort, "RA-900,dose,folic-acid,,2027-02-01,,,0.002 g,,x")
    folic = after[(after["patient_id"] == "RA-900") & (after["regimen"] == "folic-acid")]
    assert sorted(folic["dose"].unique().tolist()) == [1.0, 2.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1e6", "column 'dose': '1e6' is in exponent notation; write the number in full"),
        ("1E+300", "column 'dose': '1E+300' is in exponent notation"),
        ("inf", "column 'dose': expected a number in IU"),
        ("nan", "column 'dose': expected a number in IU"),
        ("5 mgs", "column 'dose': unknown unit 'mgs'; did you mean 'mg'?"),
        ("5 mL", "column 'dose': 'mL' cannot be converted to IU, the unit of 'hrIL-2 or placebo'"),
        (
            "10000001",
            "column 'dose': 10,000,001 IU is more than 10 times the planned 1,000,000 IU of 'hrIL-2 or placebo', "
            "probably a typo (a changed dose may be at most 10 times the planned dose)",
        ),
        ("11 MIU", "column 'dose': 11,000,000 IU is more than 10 times the planned 1,000,000 IU"),
    ],
)
def test_absurd_doses_are_refused(
    tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort, text: str, message: str
) -> None:
    with pytest.raises(ChangesError, match=re.escape("line 2: " + message)):
        applied(tmp_path, seed_protocol, cohort, f"RA-900,dose,il2,,2027-02-01,,,{text},,x")


def test_ten_times_the_planned_dose_is_still_allowed(
    tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    after = applied(tmp_path, seed_protocol, cohort, "RA-900,dose,il2,,2027-02-01,,,10 MIU,,x")
    assert 10_000_000.0 in after["dose"].tolist()


def test_a_patient_value_dose_keeps_its_range_and_no_ten_times_rule(
    tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    with pytest.raises(ChangesError, match=re.escape("line 2: column 'dose': 40 mg is outside 7.5-25")):
        applied(tmp_path, seed_protocol, cohort, "RA-900,dose,methotrexate,,2027-02-01,,,40,,x")
    after = applied(tmp_path, seed_protocol, cohort, "RA-900,dose,methotrexate,,2027-02-01,,,0.025 g,,x")
    assert 25.0 in after.loc[after["regimen"] == "methotrexate", "dose"].tolist()


# ---- a changed dose above the daily limit --------------------------------------------------------


def test_a_changed_dose_above_the_daily_limit_names_the_changes_file_and_line(
    tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    # before the fix: "patient RA-901 would receive 300 mg ..." naming neither the file nor the line
    with pytest.raises(ChangesError) as caught:
        applied(
            tmp_path,
            seed_protocol,
            cohort,
            "RA-901,hold,il2,,2027-01-06,,,,,x",
            "RA-901,dose,loxoprofen,,2027-01-20,,,100,,x",
        )
    assert str(caught.value).startswith(
        f"{tmp_path / 'changes.csv'}, line 3: patient RA-901 would receive 300 mg of loxoprofen on 2027-01-20 "
        "(study day 17), above the maximum daily dose of 180 mg, after a dose change"
    )


# ---- protocol messages ---------------------------------------------------------------------------


def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def test_the_hint_for_a_tablet_dose_of_a_drug_with_a_limit_in_mg_leads_to_a_valid_protocol(tmp_path: Path) -> None:
    text = seed_text()
    tablet = text.replace('dose = { amount = 60, unit = "mg" }', 'dose = { amount = 1, unit = "tablet" }')
    tablet = re.sub(r"(?m)^max_daily_dose = .*$", "", tablet)
    assert tablet != text
    (tmp_path / "tablet.toml").write_text(tablet, encoding="utf-8")
    refused = CliRunner().invoke(main, ["validate", str(tmp_path / "tablet.toml")])
    assert refused.exit_code == 2
    assert (
        'Fix: write the dose in mg: dose = { amount = <the amount of one dose in mg>, unit = "mg" }' in refused.output
    )
    assert "in the dose's own unit" not in refused.output
    followed = tablet.replace('dose = { amount = 1, unit = "tablet" }', 'dose = { amount = 60, unit = "mg" }')
    (tmp_path / "followed.toml").write_text(followed, encoding="utf-8")
    assert CliRunner().invoke(main, ["validate", str(tmp_path / "followed.toml")]).exit_code == 0


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        ("move_window = 1", "clinic.move_window: expected a table, e.g. move_window = { early = 1, late = 1 } (got 1)"),
        ('move_window = "x"', "clinic.move_window: expected a table, e.g. move_window = { early = 1, late = 1 }"),
    ],
)
def test_a_scalar_where_a_table_belongs_says_which_table(tmp_path: Path, replacement: str, message: str) -> None:
    # before the fix: "Input should be a valid dictionary or instance of VisitWindow"
    text = re.sub(r'(?m)^on_closed_day = "home"$', f'on_closed_day = "move"\n{replacement}', seed_text())
    (tmp_path / "p.toml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "p.toml")])
    assert result.exit_code == 2
    assert message in result.output
    assert "VisitWindow" not in result.output
