"""Only dosing's own outputs are replaced (audit of issue 10 section 3, and of issue 9 section 4).

Found before: ``generate`` into a study folder that was a link to a folder of documents, a real
folder of notes, or a link into another output root deleted what was there (exit 0); a study
folder linked to itself gave a ``RuntimeError: Symlink loop`` traceback; under umask 000 the
study folder was 0777 and its files and lock 0666; an ``adherence/`` judged without the changes
survived ``generate --changes`` with "All inputs are as they were"; and the refusal of an
unblinded run without the recorded changes named a manifest that did not exist."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dosing.cli import main
from tests.conftest import PROTOCOLS

SEED = PROTOCOLS / "nct02467504.toml"
COHORT = PROTOCOLS / "nct02467504-cohort.csv"
CHANGES = PROTOCOLS / "nct02467504-changes.csv"
STUDY = "nct02467504"
LOG = "patient_id,drug,given_at\nRA-001,Loxoprofen,2026-12-11 08:00\n"


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def generate(out: Path, *more: object) -> Result:
    return run("generate", SEED, "--cohort", COHORT, "--out", out, "--no-feeds", *more)


def refused(result: Result) -> bool:
    return result.exit_code == 2 and "Fix:" in result.stderr and "Traceback" not in result.output


def test_a_link_to_a_folder_of_documents_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "mydocs" / "sub").mkdir(parents=True)
    (tmp_path / "mydocs" / "thesis.txt").write_text("precious", encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / STUDY).symlink_to(Path("..") / "mydocs")
    result = generate(tmp_path / "out")
    assert refused(result), result.output
    assert "dosing did not write (sub, thesis.txt)" in result.stderr and "no manifest.json" in result.stderr
    assert (tmp_path / "mydocs" / "thesis.txt").read_text(encoding="utf-8") == "precious"
    assert (tmp_path / "out" / STUDY).is_symlink() and (tmp_path / "mydocs" / "sub").is_dir()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".mydocs.lock", "mydocs", "out"]  # the lock (taken before the check), nothing staged or parked


def test_a_real_folder_without_a_manifest_is_refused_and_kept(tmp_path: Path) -> None:
    """Also the outputs of a dosing version older than the manifest: the user deletes them."""
    (tmp_path / "out" / STUDY).mkdir(parents=True)
    (tmp_path / "out" / STUDY / "notes.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "out" / STUDY / "doses.csv").write_text("old", encoding="utf-8")
    result = generate(tmp_path / "out")
    assert refused(result) and "(doses.csv, notes.txt)" in result.stderr
    assert "delete them yourself" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out" / STUDY).iterdir()) == ["doses.csv", "notes.txt"]


def test_a_link_into_another_output_root_is_refused(tmp_path: Path) -> None:
    assert generate(tmp_path / "other").exit_code == 0
    before = sorted(p.name for p in (tmp_path / "other").iterdir())
    assert before == [f".{STUDY}.lock", STUDY]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / STUDY).symlink_to(tmp_path / "other")
    assert refused(generate(tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == before
    assert (tmp_path / "other" / STUDY / "manifest.json").is_file()


def test_an_empty_folder_and_our_own_outputs_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "out" / STUDY).mkdir(parents=True)
    assert generate(tmp_path / "out").exit_code == 0
    assert generate(tmp_path / "out").exit_code == 0
    assert (tmp_path / "out" / STUDY / "manifest.json").is_file()


def test_an_adherence_only_study_folder_is_ours(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(LOG, encoding="utf-8")
    args = ["adherence", SEED, "--cohort", COHORT, "--log", log, "--out", tmp_path / "out", "--as-of", "2026-12-12"]
    assert run(*args).exit_code == 0
    assert [p.name for p in (tmp_path / "out" / STUDY).iterdir()] == ["adherence"]
    result = generate(tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / STUDY / "adherence" / "report.html").is_file()


@pytest.mark.parametrize("command", ["generate", "adherence", "rotate-feed"])
def test_a_study_folder_linked_to_itself_is_a_clear_error(tmp_path: Path, command: str) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / STUDY).symlink_to(STUDY)
    log = tmp_path / "log.csv"
    log.write_text(LOG, encoding="utf-8")
    more = {
        "generate": ["--no-feeds"],
        "adherence": ["--log", log, "--as-of", "2026-12-12"],
        "rotate-feed": ["--patient", "RA-001", "--key-file", tmp_path / "feed.key"],
    }[command]
    result = run(command, SEED, "--cohort", COHORT, "--out", tmp_path / "out", *more)
    assert refused(result), result.output
    assert "leads back to itself (a loop)" in result.stderr and str(tmp_path / "out" / STUDY) in result.stderr


@pytest.fixture
def umask_000() -> object:
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.usefixtures("umask_000")
def test_nothing_is_writable_by_others_under_umask_000(tmp_path: Path) -> None:
    out = tmp_path / "root" / "out"
    result = run("generate", SEED, "--cohort", COHORT, "--out", out, "--key-file", tmp_path / "feed.key")
    assert result.exit_code == 0, result.output
    made = [out, *out.rglob("*")]
    assert out / f".{STUDY}.lock" in made and out / STUDY / "feeds" in made
    assert {p.relative_to(out).as_posix() for p in made if stat.S_IMODE(p.stat().st_mode) & 0o022} == set()
    assert stat.S_IMODE((out / STUDY).stat().st_mode) == 0o755
    assert stat.S_IMODE((out / STUDY / "doses.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((out / f".{STUDY}.lock").stat().st_mode) & 0o022 == 0
    assert os.umask(0) == 0  # put back


def test_adherence_from_another_plan_is_reported_by_generate_and_status(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(LOG, encoding="utf-8")
    out = tmp_path / "outz"
    args = ["adherence", SEED, "--cohort", COHORT, "--log", log, "--out", out, "--as-of", "2026-12-12"]
    assert run(*args).exit_code == 0
    status = run("status", out / STUDY)
    assert status.exit_code == 0 and "another plan" not in status.stdout
    result = generate(out, "--changes", CHANGES)
    assert result.exit_code == 0, result.output
    note = "adherence/ was made from another plan (protocol, cohort or changes): run dosing adherence again"
    assert f"  note: {note}" in result.stdout
    status = run("status", out / STUDY)
    assert note in status.stdout and "All inputs are as they were" not in status.stdout
    assert run(*args).exit_code == 0  # judged again, with the recorded changes
    status = run("status", out / STUDY)
    assert "another plan" not in status.stdout and "All inputs are as they were" in status.stdout
    assert "note:" not in generate(out, "--changes", CHANGES).stdout


def test_the_refusal_names_the_manifest_that_holds_the_record(tmp_path: Path) -> None:
    out = tmp_path / "output"
    assert generate(out, "--changes", CHANGES).exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(LOG, encoding="utf-8")
    args = ["adherence", SEED, "--cohort", COHORT, "--log", log, "--out", out, "--as-of", "2026-12-12"]
    assert run(*args, "--unblinded").exit_code == 0
    assert not (out / f"{STUDY}-UNBLINDED" / "manifest.json").exists()
    result = generate(out, "--unblinded")
    assert refused(result) and "made with the changes file" in result.stderr
    assert f"{out / STUDY / 'manifest.json'}:" in result.stderr
    assert "-UNBLINDED/manifest.json" not in result.stderr
