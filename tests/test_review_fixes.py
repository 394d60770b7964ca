"""Regressions found in review: a damaged token versions file, a busy port, one patient's summary,
and checking a filled unblinded worklist."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, PROTOCOLS

import dosing
from dosing.cli import main

SEED = [str(PROTOCOLS / "nct02467504.toml"), "--cohort", str(FIXTURES / "ics-three-sites.csv")]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{bad", "cannot read the feed token versions"),
        ("[1, 2]", "the feed token versions file is damaged"),
        ('{"NCT02467504": {"RA-102": "one"}}', "the feed token versions file is damaged"),
    ],
)
@pytest.mark.parametrize("command", ["generate", "rotate-feed"])
def test_a_damaged_versions_file_is_an_error_naming_the_file(
    tmp_path: Path, command: str, content: str, problem: str
) -> None:
    out, key = tmp_path / "out", tmp_path / "secret" / "feed.key"
    first = CliRunner().invoke(main, ["generate", *SEED, "--out", str(out), "--key-file", str(key)])
    assert first.exit_code == 0, first.output
    versions = key.with_name("feed.key.versions.json")
    versions.write_text(content, encoding="utf-8")
    extra = ["--patient", "RA-102"] if command == "rotate-feed" else []
    result = CliRunner().invoke(main, [command, *SEED, *extra, "--out", str(out), "--key-file", str(key)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {versions}: {problem}")
    assert "Fix: restore it from a backup" in result.output and "Traceback" not in result.output
    assert versions.read_text(encoding="utf-8") == content  # never overwritten


def test_serving_on_a_port_in_use_is_an_error_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{port} (address already in use)\n")
    assert "choose another --port" in result.output and "Serving" not in result.output


def test_serving_on_an_unknown_host_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    result = CliRunner().invoke(main, ["serve", str(tmp_path), "--host", "no-such-host.invalid", "--port", "0"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: cannot listen on no-such-host.invalid:0 (unknown host")


def test_the_summary_of_one_patient_says_patient(tmp_path: Path) -> None:
    cohort = tmp_path / "one.csv"
    lines = (PROTOCOLS / "nct02467504-cohort.csv").read_text(encoding="utf-8").splitlines()
    cohort.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    args = [str(PROTOCOLS / "nct02467504.toml"), "--cohort", str(cohort), "--out", str(tmp_path / "out"), "--no-feeds"]
    result = CliRunner().invoke(main, ["generate", *args])
    assert result.exit_code == 0, result.output
    assert "calendar.ics (1 patient)\n" in result.output


IL2 = [str(PROTOCOLS / "nct04077684.toml"), "--cohort", str(PROTOCOLS / "nct04077684-cohort.csv")]


@pytest.fixture(scope="module")
def il2_worklists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """The IL-2 study's blinded and unblinded worklists (432 doses: 8 patients x 54), filled as given on time."""
    out = tmp_path_factory.mktemp("il2")
    sheets = {}
    for kind, flags in (("blinded", []), ("unblinded", ["--unblinded"])):
        result = CliRunner().invoke(main, ["generate", *IL2, "--out", str(out), "--no-feeds", *flags])
        assert result.exit_code == 0, result.output
        folder = out / ("nct04077684-UNBLINDED" if flags else "nct04077684")
        sheet = pd.read_csv(folder / "worklist.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        sheets[kind] = sheet.assign(given_at=sheet["date"] + " " + sheet["time"], given_by="nurse")
    return sheets


def check_il2(tmp_path: Path, sheet: pd.DataFrame, unblinded: bool) -> tuple[str, pd.DataFrame]:
    log = tmp_path / "filled.csv"
    sheet.to_csv(log, index=False, encoding="utf-8-sig")
    flags = ["--unblinded"] if unblinded else []
    args = ["adherence", *IL2, "--log", str(log), "--as-of", "2028-01-01", "--out", str(tmp_path), *flags]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    folder = tmp_path / ("nct04077684-UNBLINDED" if unblinded else "nct04077684") / "adherence"
    summary = pd.read_csv(folder / "summary.csv", encoding="utf-8-sig")
    return result.stdout, summary[summary["level"] == "cohort"]


@pytest.mark.parametrize("written", ["200000 IU", "200000"], ids=["with unit", "number only"])
def test_a_filled_unblinded_worklist_checks_clean(
    tmp_path: Path, il2_worklists: dict[str, pd.DataFrame], written: str
) -> None:
    sheet = il2_worklists["unblinded"]
    assert set(zip(sheet["drug"], sheet["dose"], sheet["unit"], strict=True)) == {
        ("hrIL-2", "200000", "IU"),
        ("hrIL-2", "500000", "IU"),
        ("hrIL-2", "1000000", "IU"),
        ("Placebo", "1", "mL"),
    }
    dose = sheet["dose"] + " " + sheet["unit"] if " " in written else sheet["dose"]
    out, cohort = check_il2(tmp_path, sheet.assign(dose_given=dose), unblinded=True)
    assert "bad log rows: 0\n" in out
    assert cohort[["due", "taken", "wrong_dose"]].values.tolist() == [[432, 432, 0]]


def test_a_filled_blinded_worklist_keeps_the_blinded_comparison(
    tmp_path: Path, il2_worklists: dict[str, pd.DataFrame]
) -> None:
    sheet = il2_worklists["blinded"]
    assert set(sheet["dose"] + "|" + sheet["unit"]) == {"1 syringe|"}
    out, cohort = check_il2(tmp_path, sheet.assign(dose_given=sheet["dose"]), unblinded=False)
    assert "bad log rows: 0\n" in out and cohort["wrong_dose"].tolist() == [0]
    _, cohort = check_il2(tmp_path, sheet.assign(dose_given="2"), unblinded=False)
    assert cohort[["taken", "wrong_dose"]].values.tolist() == [[432, 432]]  # 2 syringes, never 1


def test_a_true_dose_is_judged_against_the_patients_own_arm_only_when_unblinded(
    tmp_path: Path, il2_worklists: dict[str, pd.DataFrame]
) -> None:
    """200000 IU is right for the two 0.2 MIU patients only: wrong amount for 0.5 and 1 MIU, wrong unit for placebo.
    Unblinded, that is the judgement; blinded, it would tell the arm, so no such dose is judged, in any arm."""
    sheet = il2_worklists["unblinded"].assign(dose_given="200000 IU")
    _, cohort = check_il2(tmp_path, sheet, unblinded=True)
    assert cohort[["taken", "wrong_dose", "dose_not_judged"]].values.tolist() == [[432, 324, 0]]
    out, cohort = check_il2(tmp_path, sheet, unblinded=False)
    assert cohort[["taken", "wrong_dose", "dose_not_judged"]].values.tolist() == [[432, 0, 432]]
    assert "doses not judged: 432 (a blinded check cannot compare a true dose; run with --unblinded)" in out
    doses = pd.read_csv(tmp_path / "nct04077684" / "adherence" / "doses.csv", encoding="utf-8-sig", dtype=str)
    taken = doses[doses["dose_given"].notna()]
    assert taken["wrong_dose"].isna().all() and len(taken) == 432
    assert set(taken["dose_note"]) == {"not judged: a blinded check cannot compare a true dose; run with --unblinded"}


def test_a_unit_no_worklist_shows_is_a_bad_row_that_hides_true_units_when_blinded(
    tmp_path: Path, il2_worklists: dict[str, pd.DataFrame]
) -> None:
    sheet = il2_worklists["blinded"].head(1).assign(dose_given="1 mg")
    for unblinded, expected in ((False, "syringe"), (True, "IU or mL or syringe")):
        log = tmp_path / "one.csv"
        sheet.to_csv(log, index=False)
        protocol = dosing.load_protocol(PROTOCOLS / "nct04077684.toml")
        cohort = dosing.load_cohort(PROTOCOLS / "nct04077684-cohort.csv", protocol)
        result = dosing.check_adherence(protocol, cohort, log, as_of=dt.date(2028, 1, 1), unblinded=unblinded)
        assert result.bad_rows["reason"].tolist() == [f"dose_given '1 mg' is in another unit (expected {expected})"]
