"""The command line, through click's CliRunner: exact output, files written, clean errors.

Golden files in tests/golden/ are named after the command line that produces them; rewrite
them (after checking the difference by hand) with ``DOSING_REGOLD=1 pytest tests/test_cli.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dosing.cli import main
from tests.conftest import FIXTURES, PROTOCOLS

GOLDEN = Path(__file__).resolve().parent / "golden"
SEED = str(PROTOCOLS / "nct02467504.toml")
SEED_COHORT = str(PROTOCOLS / "nct02467504-cohort.csv")
ONE = str(FIXTURES / "seed-one-patient.csv")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def check_golden(name: str, actual: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("DOSING_REGOLD"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
    assert path.exists(), f"missing golden file {path}; create it with DOSING_REGOLD=1"
    assert actual == path.read_bytes(), f"{name} differs from {path}; if the change is intended, DOSING_REGOLD=1"


def assert_clean_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") or "\nError: " in result.stderr  # ours, or click's usage error
    for fragment in fragments:
        assert fragment in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# ---- validate -----------------------------------------------------------------------------


def test_validate_protocol_and_cohort_prints_a_summary() -> None:
    result = run("validate", SEED, "--cohort", ONE)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"OK  {SEED}",
        "  study NCT02467504: Low-dose IL-2 with methotrexate in active rheumatoid arthritis",
        "  blinding quadruple; time zone Asia/Shanghai; study days 1..168",
        "  arms: active (hrIL-2 1 MIU), placebo (Placebo)",
        "  regimens:",
        "    il2: hrIL-2 1,000,000 IU subcutaneous at 09:00",
        "    il2-placebo: Placebo 1,000,000 IU subcutaneous at 09:00",
        "    methotrexate: Methotrexate patient's own mtx_dose mg oral at 08:00 [methotrexate: once weekly checked]",
        "    folic-acid: Folic acid 1 mg oral at 08:00",
        "    loxoprofen: Loxoprofen 60 mg oral at 08:00, 13:00, 19:00",
        f"OK  {ONE}: 1 patient, 693 planned doses",
        "  warnings: 0",
    ]


@pytest.mark.parametrize("name", ["nct02467504", "nct04077684", "capecitabine"])
def test_validate_every_shipped_protocol(name: str) -> None:
    result = run("validate", str(PROTOCOLS / f"{name}.toml"), "--cohort", str(PROTOCOLS / f"{name}-cohort.csv"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK  ")


def test_validate_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("validate", SEED, "--cohort", SEED_COHORT).exit_code == 0
    assert list(tmp_path.iterdir()) == []


# ---- generate -----------------------------------------------------------------------------


@pytest.mark.slow  # 47 calendars: about 10 s
def test_generate_writes_the_files_and_prints_the_summary(tmp_path: Path) -> None:
    result = run("generate", SEED, "--cohort", SEED_COHORT, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "nct02467504"
    assert result.stdout.splitlines() == [
        f"BLINDED outputs in {folder}",
        "  patients: 47",
        "  dates:    2026-12-08 .. 2027-09-08",  # RA-046 starts last, on 2027-03-25
        "  visits:   329 (0 with a warning, see visits.csv)",  # 47 x 7
        "  warnings: 0",
        "  doses per drug:",
        "    Folic acid             6,768",  # 47 x 144
        "    Loxoprofen            23,688",  # 47 x 504
        "    Methotrexate           1,128",  # 47 x 24
        "    hrIL-2 or placebo        987",  # 47 x 21
        "  files:",
        f"    {folder / 'doses.csv'}",
        f"    {folder / 'worklist.csv'}",
        f"    {folder / 'patients'}/<patient id>/doses.csv, calendar.ics (47 patients)",
        f"    {folder / 'visits.csv'}, visit-worklist.csv, patients/<patient id>/visits.csv",
        f"    {folder / 'staff'}/<site>.ics",
        f"    {folder / 'feeds'}/<token>.ics",
        f"    {folder / 'feeds.csv'}",
    ]
    assert result.stderr == ""  # no progress bar for 47 patients, no unblinding warning
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nct02467504"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "doses.csv",
        "feeds",
        "feeds.csv",
        "patients",
        "staff",
        "visit-worklist.csv",
        "visits.csv",
        "worklist.csv",
    ]
    patients = sorted(p.name for p in (folder / "patients").iterdir())
    assert patients == [f"RA-{i:03d}" for i in range(1, 48)]
    assert sorted(p.name for p in (folder / "patients" / "RA-001").iterdir()) == [
        "calendar.ics",
        "doses.csv",
        "visits.csv",
    ]


def test_generate_one_patient_matches_the_golden_files(tmp_path: Path) -> None:
    result = run("generate", SEED, "--cohort", ONE, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "nct02467504"
    golden = "generate_nct02467504.toml_--cohort_seed-one-patient.csv"
    for name in ("doses.csv", "worklist.csv", "patients/RA-900/doses.csv"):
        check_golden(f"{golden}/{name}", (folder / name).read_bytes())


def test_generate_unblinded_writes_beside_the_blinded_folder_and_warns(tmp_path: Path) -> None:
    assert run("generate", SEED, "--cohort", ONE, "--out", str(tmp_path)).exit_code == 0
    result = run("generate", SEED, "--cohort", ONE, "--out", str(tmp_path), "--unblinded")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("UNBLINDED: outputs show arms and true drugs")
    assert result.stdout.startswith(f"UNBLINDED outputs in {tmp_path / 'nct02467504-UNBLINDED'}\n")
    assert "\n    hrIL-2               21\n" in result.stdout
    assert "or placebo" not in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nct02467504", "nct02467504-UNBLINDED"]
    header = (tmp_path / "nct02467504-UNBLINDED" / "doses.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.endswith(",uid,status,arm,regimen,blinded_label")
    blinded = (tmp_path / "nct02467504" / "doses.csv").read_text(encoding="utf-8-sig")
    assert "active" not in blinded and "hrIL-2 or placebo" in blinded


def test_generate_defaults_to_the_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("generate", SEED, "--cohort", ONE).exit_code == 0
    assert (tmp_path / "output" / "nct02467504" / "doses.csv").is_file()


def test_generate_shows_progress_for_large_cohorts(tmp_path: Path) -> None:
    protocol = tmp_path / "tiny.toml"
    protocol.write_text(
        '[study]\nid = "TINY"\ntitle = "one dose each"\nblinding = "open"\ntimezone = "UTC"\nlast_day = 1\n'
        '[[arms]]\nid = "a"\nlabel = "A"\nregimens = ["d"]\n'
        '[[regimens]]\nid = "d"\ndrug = "Drug"\ndose = { amount = 1, unit = "mg" }\nroute = "oral"\n'
        'times = ["08:00"]\nschedule = { daily = true }\n'
    )
    cohort = tmp_path / "many.csv"
    cohort.write_text("patient_id,arm,start_date\n" + "".join(f"P{i},a,2027-01-04\n" for i in range(200)))
    result = run("generate", str(protocol), "--cohort", str(cohort), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "patients" in result.stderr  # the progress bar's label, on stderr
    assert "patients: 200" in result.stdout


def test_generate_bad_output_folder_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "nct02467504").write_text("a file where the folder should be")
    result = run("generate", SEED, "--cohort", ONE, "--out", str(tmp_path))
    assert_clean_error(result, "exists and is not a folder", "Fix:")


# ---- show ---------------------------------------------------------------------------------


def test_show_groups_by_week_with_exact_first_lines() -> None:
    result = run("show", SEED, "--cohort", ONE, "--patient", "RA-900")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:10] == [
        "NCT02467504  patient RA-900  (blinded)",
        "study day 1 = 2027-01-04, times in Asia/Shanghai",
        "",
        "Week 1 (study days 1-7)",
        "  2027-01-04 Mon  day   1  08:00  Folic acid 1 mg; Loxoprofen 60 mg",
        "  2027-01-04 Mon  day   1  09:00  hrIL-2 or placebo 1,000,000 IU",
        "  2027-01-04 Mon  day   1  13:00  Loxoprofen 60 mg",
        "  2027-01-04 Mon  day   1  19:00  Loxoprofen 60 mg",
        "  2027-01-05 Tue  day   2  08:00  Folic acid 1 mg; Loxoprofen 60 mg",
        "  2027-01-05 Tue  day   2  13:00  Loxoprofen 60 mg",
    ]
    assert "  2027-01-06 Wed  day   3  08:00  Methotrexate 15 mg (once weekly, Wednesday); Loxoprofen 60 mg" in lines
    weeks = [line for line in lines if line.startswith("Week ")]
    assert weeks == [f"Week {w} (study days {7 * w - 6}-{7 * w})" for w in range(1, 25)]
    check_golden("show_nct02467504.toml_--cohort_seed-one-patient.csv_--patient_RA-900.txt", result.stdout.encode())


def test_show_unblinded_names_the_arm_and_the_true_drug() -> None:
    result = run("show", SEED, "--cohort", ONE, "--patient", "RA-900", "--unblinded")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("NCT02467504  patient RA-900  (UNBLINDED, arm active)\n")
    assert "  2027-01-04 Mon  day   1  09:00  hrIL-2 1,000,000 IU" in result.stdout
    assert "or placebo" not in result.stdout


def test_show_hides_doses_that_differ_between_arms() -> None:
    sle = str(PROTOCOLS / "nct04077684.toml")
    result = run("show", sle, "--cohort", str(PROTOCOLS / "nct04077684-cohort.csv"), "--patient", "SLE-001")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:5] == [
        "NCT04077684  patient SLE-001  (blinded)",
        "study day 1 = 2027-01-04, times in Asia/Shanghai",
        "",
        "Week 1 (study days 1-7)",
        "  2027-01-04 Mon  day   1  09:00  Study drug (hrIL-2 or placebo) 1 syringe",
    ]
    assert "IU" not in result.stdout and "200,000" not in result.stdout


def test_show_open_label_study_across_a_dst_change() -> None:
    cape = str(PROTOCOLS / "capecitabine.toml")
    result = run("show", cape, "--cohort", str(PROTOCOLS / "capecitabine-cohort.csv"), "--patient", "CAPE-004")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        "CAPE-ADJ  patient CAPE-004  (open label)",
        "study day 1 = 2027-03-02, times in America/New_York",
        "",
        "Week 1 (study days 1-7)",
        "  2027-03-02 Tue  day   1  20:00  Capecitabine 2,400 mg",
        "  2027-03-03 Wed  day   2  08:00  Capecitabine 2,400 mg",
    ]
    # clocks go forward on Sunday 2027-03-14 (day 13): the doses stay at 08:00 and 20:00
    assert "  2027-03-14 Sun  day  13  08:00  Capecitabine 2,400 mg" in lines
    assert "  2027-03-16 Tue  day  15  08:00  Capecitabine 2,400 mg" in lines
    assert not any("day  15  20:00" in line or "day  16 " in line for line in lines)


def test_show_unknown_patient_is_a_clean_error() -> None:
    assert_clean_error(run("show", SEED, "--cohort", ONE, "--patient", "RA-999"), "no patient 'RA-999'")


def test_show_a_patient_without_doses(tmp_path: Path) -> None:
    protocol = write_tiny(tmp_path, 'times_from = "own_time"\nschedule = { daily = true, start_day = 5 }')
    cohort = tmp_path / "one.csv"
    cohort.write_text("patient_id,arm,start_date,own_time\nP1,a,2027-01-04,07:45\n")
    result = run("show", str(protocol), "--cohort", str(cohort), "--patient", "P1")
    assert result.exit_code == 0, result.output
    assert "Week 1 (study days 1-7)\n  2027-01-08 Fri  day   5  07:45  Drug 1 mg\n" in result.stdout
    protocol = write_tiny(tmp_path, 'times_from = "own_time"\nschedule = { weekdays = "Sunday", end_day = 6 }')
    result = run("show", str(protocol), "--cohort", str(cohort), "--patient", "P1")
    assert result.stdout.endswith("times in UTC\n\nno doses planned\n")


def test_validate_describes_a_time_from_the_cohort(tmp_path: Path) -> None:
    protocol = write_tiny(tmp_path, 'times_from = "own_time"\nschedule = { daily = true }')
    result = run("validate", str(protocol))
    assert result.exit_code == 0, result.output
    assert "    d: Drug 1 mg oral at the patient's own own_time\n" in result.stdout


def write_tiny(folder: Path, when: str) -> Path:
    """A one-regimen open study of 7 days whose regimen's times and schedule are ``when``."""
    path = folder / "tiny.toml"
    path.write_text(
        '[study]\nid = "TINY"\ntitle = "tiny"\nblinding = "open"\ntimezone = "UTC"\nlast_day = 7\n'
        '[patient_values]\nown_time = { type = "time" }\n'
        '[[arms]]\nid = "a"\nlabel = "A"\nregimens = ["d"]\n'
        f'[[regimens]]\nid = "d"\ndrug = "Drug"\ndose = {{ amount = 1, unit = "mg" }}\nroute = "oral"\n{when}\n'
    )
    return path


# ---- bad paths and files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["validate", "missing.toml"], ["missing.toml: file not found", "Fix: check the path"]),
        (["validate", SEED, "--cohort", "missing.csv"], ["missing.csv: file not found"]),
        (["generate", "missing.toml", "--cohort", ONE], ["missing.toml: file not found"]),
        (["generate", SEED, "--cohort", "missing.csv"], ["missing.csv: file not found"]),
        (["show", SEED, "--cohort", "missing.csv", "--patient", "RA-900"], ["missing.csv: file not found"]),
        (["validate", str(FIXTURES)], ["is a directory"]),
    ],
)
def test_bad_paths_are_clean_errors(args: list[str], fragments: list[str], tmp_path: Path) -> None:
    assert_clean_error(run(*args, *(["--out", str(tmp_path)] if args[0] == "generate" else [])), *fragments)
    assert list(tmp_path.iterdir()) == []


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nid = "X\n')
    assert_clean_error(run("validate", str(bad)), "bad.toml: not valid TOML", "line 2")


def test_unknown_key_names_the_field_path(tmp_path: Path) -> None:
    text = Path(SEED).read_text().replace('times = ["09:00"]\nin_clinic', 'tims = ["09:00"]\nin_clinic', 1)
    bad = tmp_path / "typo.toml"
    bad.write_text(text)
    assert_clean_error(run("validate", str(bad)), "regimens[0] (id 'il2').tims", "did you mean 'times'?")


def test_debug_shows_the_traceback() -> None:
    result = run("--debug", "validate", "missing.toml")
    assert result.exit_code != 0
    assert result.exception is not None and not isinstance(result.exception, SystemExit)
