"""The study folder remembers what made it (issue 9, section 4): manifest.json, the recorded
changes that later commands must not forget, and ``dosing status``.

Found before: ``generate`` after a changes run, without ``--changes``, silently gave withdrawn
RA-005 all her doses back (256 rows -> 693), and ``adherence`` without it counted the stopped and
withdrawn doses as missed and the doses given on their moved days as extra."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from dosing.cli import main
from tests.conftest import PROTOCOLS

SEED = PROTOCOLS / "nct02467504.toml"
STUDY = "nct02467504"


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def study(tmp_path: Path) -> dict[str, Path]:
    """Six seed patients (RA-001..RA-006: every patient of the shipped changes file), generated
    with a copy of the shipped changes file."""
    lines = (PROTOCOLS / "nct02467504-cohort.csv").read_text(encoding="utf-8").splitlines()
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("\n".join(lines[:7]) + "\n", encoding="utf-8")
    changes = tmp_path / "changes.csv"
    shutil.copy(PROTOCOLS / "nct02467504-changes.csv", changes)
    out = tmp_path / "out"
    result = run("generate", SEED, "--cohort", cohort, "--changes", changes, "--out", out)
    assert result.exit_code == 0, result.output
    return {"cohort": cohort, "changes": changes, "out": out, "folder": out / STUDY}


def rows_of(folder: Path, patient: str) -> int:
    doses = pd.read_csv(folder / "doses.csv", dtype=str, encoding="utf-8-sig")
    return int((doses["patient_id"] == patient).sum())


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_generate_records_its_inputs(study: dict[str, Path]) -> None:
    import hashlib

    record = manifest(study["folder"])
    assert record["command"] == "generate" and record["made_by"].startswith("dosing ")
    assert record["written_at"].endswith("Z")
    changes = record["inputs"]["changes"]
    assert changes["path"] == str(study["changes"].resolve())
    assert changes["sha256"] == hashlib.sha256(study["changes"].read_bytes()).hexdigest()
    assert record["inputs"]["protocol"]["sha256"] == hashlib.sha256(SEED.read_bytes()).hexdigest()
    assert record["options"]["unblinded"] is False and record["discarded_changes"] == []


def test_generate_without_changes_after_a_changes_run_stops_and_keeps_the_outputs(study: dict[str, Path]) -> None:
    folder = study["folder"]
    assert rows_of(folder, "RA-005") == 256  # withdrawn on 2027-02-15 (693 without the withdrawal)
    before = (folder / "doses.csv").read_bytes()
    result = run("generate", SEED, "--cohort", study["cohort"], "--out", study["out"])
    assert result.exit_code == 2
    assert "made with the changes file" in result.stderr and str(study["changes"].resolve()) in result.stderr
    assert "Fix: add --changes" in result.stderr and "--discard-changes" in result.stderr
    assert "Traceback" not in result.output
    assert (folder / "doses.csv").read_bytes() == before


def test_discard_changes_drops_them_and_is_recorded(study: dict[str, Path]) -> None:
    result = run("generate", SEED, "--cohort", study["cohort"], "--out", study["out"], "--discard-changes")
    assert result.exit_code == 0, result.output
    assert rows_of(study["folder"], "RA-005") == 693
    record = manifest(study["folder"])
    assert record["inputs"]["changes"] is None
    (dropped,) = record["discarded_changes"]
    assert dropped["path"] == str(study["changes"].resolve()) and dropped["discarded_at"].endswith("Z")
    # nothing is recorded any more: a run without changes is now the normal case
    assert run("generate", SEED, "--cohort", study["cohort"], "--out", study["out"]).exit_code == 0
    assert len(manifest(study["folder"])["discarded_changes"]) == 1


def test_the_same_changes_file_edited_is_accepted(study: dict[str, Path]) -> None:
    with study["changes"].open("a", encoding="utf-8") as handle:
        handle.write("RA-003,withdraw,,,2027-03-01,,,,,moved away\n")
    result = run("generate", SEED, "--cohort", study["cohort"], "--changes", study["changes"], "--out", study["out"])
    assert result.exit_code == 0, result.output
    assert "RA-003" in result.stdout


def test_another_changes_file_stops_unless_it_replaces_the_recorded_one(study: dict[str, Path]) -> None:
    other = study["changes"].with_name("other.csv")
    lines = study["changes"].read_text(encoding="utf-8").splitlines()
    other.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")  # only RA-001's delay
    args = ["generate", SEED, "--cohort", study["cohort"], "--changes", other, "--out", study["out"]]
    result = run(*args)
    assert result.exit_code == 2
    assert f"not {other}" in result.stderr and "--discard-changes to replace it" in result.stderr
    assert run(*args, "--discard-changes").exit_code == 0
    record = manifest(study["folder"])
    assert record["inputs"]["changes"]["path"] == str(other.resolve())
    assert record["discarded_changes"][0]["path"] == str(study["changes"].resolve())
    assert rows_of(study["folder"], "RA-005") == 693


def test_a_first_unblinded_run_does_not_forget_the_blinded_runs_changes(study: dict[str, Path]) -> None:
    result = run("generate", SEED, "--cohort", study["cohort"], "--out", study["out"], "--unblinded")
    assert result.exit_code == 2 and "made with the changes file" in result.stderr
    assert not (study["out"] / f"{STUDY}-UNBLINDED" / "doses.csv").exists()


def filled_worklist(folder: Path, path: Path) -> Path:
    """Every dose of the worklist given exactly on time, as written (held doses not given)."""
    with (folder / "worklist.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if not row["notes"].startswith("HELD"):
            row["given_at"] = f"{row['date']} {row['time']}"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_adherence_uses_the_recorded_changes(study: dict[str, Path], tmp_path: Path) -> None:
    log = filled_worklist(study["folder"], tmp_path / "log.csv")
    args = [
        "adherence",
        SEED,
        "--cohort",
        study["cohort"],
        "--log",
        log,
        "--out",
        study["out"],
        "--as-of",
        "2027-09-30",
    ]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "missed 0, extra 0" in result.stdout  # the old code: stopped doses missed, moved doses extra
    summary = pd.read_csv(study["folder"] / "adherence" / "summary.csv", encoding="utf-8-sig")
    assert summary.loc[summary["level"] == "cohort", "held"].sum() == 1
    record = manifest(study["folder"] / "adherence")
    assert record["inputs"]["changes"]["path"] == str(study["changes"].resolve())
    assert record["inputs"]["log"]["path"] == str(log.resolve())
    # judging without them is possible, but only on purpose, and recorded
    result = run(*args, "--discard-changes")
    assert result.exit_code == 0 and "missed 0," not in result.stdout
    assert manifest(study["folder"] / "adherence")["options"]["changes_discarded"] is True


def test_adherence_stops_when_the_changes_file_changed_since_generate(study: dict[str, Path], tmp_path: Path) -> None:
    log = filled_worklist(study["folder"], tmp_path / "log.csv")
    with study["changes"].open("a", encoding="utf-8") as handle:
        handle.write("RA-003,withdraw,,,2027-03-01,,,,,moved away\n")
    result = run("adherence", SEED, "--cohort", study["cohort"], "--log", log, "--out", study["out"])
    assert result.exit_code == 2
    assert "has changed since this study's outputs were made" in result.stderr
    assert f"dosing generate --changes {study['changes'].resolve()}" in result.stderr
    assert not (study["folder"] / "adherence").exists()


def test_adherence_with_another_cohort_stops(study: dict[str, Path], tmp_path: Path) -> None:
    log = filled_worklist(study["folder"], tmp_path / "log.csv")
    lines = study["cohort"].read_text(encoding="utf-8").splitlines()
    fewer = tmp_path / "fewer.csv"
    fewer.write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    result = run("adherence", SEED, "--cohort", fewer, "--log", log, "--out", study["out"])
    assert result.exit_code == 2 and "made from a different cohort" in result.stderr


def test_show_applies_the_recorded_changes(study: dict[str, Path]) -> None:
    base = ["show", SEED, "--cohort", study["cohort"], "--out", study["out"]]
    withdrawn = run(*base, "--patient", "RA-005")
    assert withdrawn.exit_code == 0, withdrawn.output
    assert "2027-02-14" in withdrawn.stdout and "2027-02-15" not in withdrawn.stdout
    held = run(*base, "--patient", "RA-004")
    (line,) = [line for line in held.stdout.splitlines() if line.startswith("  2026-12-20 Sun  day   5  09:00  ")]
    assert line.startswith("  2026-12-20 Sun  day   5  09:00  hrIL-2 or placebo ")
    assert line.endswith(" [HELD: do not give]")
    dropped = run(*base, "--patient", "RA-005", "--discard-changes")
    assert "2027-02-15" in dropped.stdout


def test_status_says_what_made_the_outputs_and_what_changed(study: dict[str, Path]) -> None:
    result = run("status", study["folder"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{study['folder']}: made by dosing ") and "(generate)" in lines[0]
    assert any(line.startswith("  changes ") and line.endswith("  unchanged") for line in lines)
    assert lines[-1] == "All inputs are as they were when the outputs were made."
    with study["changes"].open("a", encoding="utf-8") as handle:
        handle.write("RA-003,withdraw,,,2027-03-01,,,,,moved away\n")
    study["cohort"].unlink()
    lines = run("status", study["out"]).stdout.splitlines()  # the --out folder: every study in it
    assert any(line.startswith("  changes ") and line.endswith("  CHANGED since") for line in lines)
    assert any(line.startswith("  cohort ") and line.endswith("  MISSING") for line in lines)
    assert lines[-1].startswith("Some inputs changed since")


def test_status_of_a_folder_without_manifest_is_a_clear_error(tmp_path: Path) -> None:
    result = run("status", tmp_path)
    assert result.exit_code == 2 and "no manifest.json here" in result.stderr and "Fix:" in result.stderr


def test_blinded_manifest_hashes_the_cohort_without_its_arms(study: dict[str, Path], tmp_path: Path) -> None:
    """The hash of a randomisation list would confirm a guessed allocation: a blinded folder's
    cohort hash leaves the arm column out (swapping two arms keeps it), an unblinded one's does not."""
    text = study["cohort"].read_text(encoding="utf-8")
    swapped = text.replace(",active,", ",tmp,").replace(",placebo,", ",active,").replace(",tmp,", ",placebo,")
    assert swapped != text
    other = tmp_path / "swapped.csv"
    other.write_text(swapped, encoding="utf-8")
    args = ["--changes", study["changes"], "--no-feeds"]
    assert run("generate", SEED, "--cohort", other, "--out", tmp_path / "o2", *args).exit_code == 0
    blinded = [manifest(f)["inputs"]["cohort"]["sha256"] for f in (study["folder"], tmp_path / "o2" / STUDY)]
    assert blinded[0] == blinded[1]
    for cohort, out in ((study["cohort"], tmp_path / "u1"), (other, tmp_path / "u2")):
        assert run("generate", SEED, "--cohort", cohort, "--out", out, "--unblinded", *args).exit_code == 0
    unblinded = [manifest(tmp_path / u / f"{STUDY}-UNBLINDED")["inputs"]["cohort"]["sha256"] for u in ("u1", "u2")]
    assert unblinded[0] != unblinded[1]


def test_serve_announces_what_made_the_feeds(study: dict[str, Path]) -> None:
    from dosing.jobs.status import describe

    text = describe(study["folder"] / "feeds")
    assert text.startswith(f"{study['folder']}: made by dosing ") and "  changes " in text
    assert text.splitlines()[-1].endswith("  unchanged")
    assert describe(study["out"]) == ""  # not a study folder: nothing to say
