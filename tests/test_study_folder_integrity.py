"""Runs that overlap, and the study folder's integrity (issue 10, section 3): one run at a time
per study folder, recovery after a kill at each step of the swap (also when the next command is
``adherence``), symbolic links, collision-free and portable names, owner-only sensitive outputs."""

from __future__ import annotations

import grp
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import dosing
from dosing.cli import main
from dosing.errors import CohortError, OutputError
from dosing.io.study_lock import study_lock
from tests.conftest import PROTOCOLS

ROOT = Path(__file__).resolve().parent.parent
SEED = PROTOCOLS / "nct02467504.toml"
STUDY = "nct02467504"

#: Runs the ``dosing`` command with the swap of the atomic output folder interfered with, as a
#: fault would: STEP=pause waits (holding the study's lock) until the file RELEASE exists;
#: park / between / installed kill the process (SIGKILL) before the first rename, between the
#: two renames, and after the second rename (before the parked backup is deleted).
HARNESS = """
import os, signal, sys, time
from pathlib import Path
import dosing.io.atomic as atomic

step, real_swap, real_replace = os.environ["STEP"], atomic._swap, os.replace

def paused_swap(staging, final):
    Path(os.environ["MARK"]).write_text("in the swap")
    deadline = time.monotonic() + 60
    while not Path(os.environ["RELEASE"]).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    real_swap(staging, final)

def replace(src, dst):
    if step == "park" and ".previous-" in str(dst):
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
    if (step == "between" and ".previous-" in str(dst)) or (step == "installed" and ".partial-" in str(src)):
        os.kill(os.getpid(), signal.SIGKILL)

if step == "pause":
    atomic._swap = paused_swap
else:
    atomic.os.replace = replace
from dosing.cli import main
main(prog_name="dosing")
"""


def harness(tmp_path: Path, step: str, *args: object) -> subprocess.Popen[str]:
    script = tmp_path / "harness.py"
    script.write_text(HARNESS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STEP": step}
    env |= {"MARK": str(tmp_path / f"mark-{step}"), "RELEASE": str(tmp_path / f"release-{step}")}
    command = [sys.executable, str(script), *map(str, args)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cohort_file(folder: Path, patients: int, name: str = "cohort.csv") -> Path:
    lines = (PROTOCOLS / "nct02467504-cohort.csv").read_text(encoding="utf-8").splitlines()
    path = folder / name
    path.write_text("\n".join(lines[: patients + 1]) + "\n", encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def visible(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name != f".{STUDY}.lock")


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached its swap"
        time.sleep(0.02)


def test_a_second_run_waits_for_the_first_and_loses_nothing(tmp_path: Path) -> None:
    """Before: the run without changes (B), paused just before its swap, let the --changes run (A)
    finish and report "changes applied", then replaced A's outputs with its own: changes gone."""
    cohort, out = cohort_file(tmp_path, 6), tmp_path / "out"
    changes = PROTOCOLS / "nct02467504-changes.csv"
    plain = harness(tmp_path, "pause", "generate", SEED, "--cohort", cohort, "--out", out, "--no-feeds")
    wait_for(tmp_path / "mark-pause", plain)  # B holds the study folder, about to swap
    args = ["generate", SEED, "--cohort", cohort, "--out", out, "--changes", changes, "--no-feeds"]
    told = tmp_path / "stderr.txt"
    with told.open("w") as stderr:
        with_changes = subprocess.Popen(
            [sys.executable, "-m", "dosing", *map(str, args)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        deadline = time.monotonic() + 90
        while "waiting" not in told.read_text() and with_changes.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert with_changes.poll() is None, "the second run must wait while the first holds the study folder"
        assert "another dosing run is writing" in told.read_text()
        (tmp_path / "release-pause").touch()
        assert plain.wait(60) == 0
        stdout, _ = with_changes.communicate(timeout=120)
    assert with_changes.returncode == 0, told.read_text()
    assert "changes applied" in stdout
    doses = (out / STUDY / "doses.csv").read_text(encoding="utf-8-sig")
    assert "HELD" not in doses and ",held\n" in doses  # RA-004's held injection is in the final outputs
    assert dosing.io.manifest.read_manifest(out / STUDY)["inputs"]["changes"] is not None  # type: ignore[index]


def test_a_run_that_waits_too_long_gives_up_clearly(tmp_path: Path) -> None:
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(cohort_file(tmp_path, 1), protocol)
    told: list[str] = []
    with study_lock(tmp_path / "out" / STUDY), pytest.raises(OutputError) as caught:
        dosing.generate(protocol, cohort, tmp_path / "out", wait=0.3, on_wait=told.append)
    assert told and "waiting" in told[0]
    assert "still writing this study folder after 0.3 s; nothing was written" in str(caught.value)
    assert "Fix:" in str(caught.value)
    assert not (tmp_path / "out" / STUDY).exists()


LOG = "patient_id,drug,given_at\nRA-001,Loxoprofen,2026-12-11 08:00\n"


@pytest.mark.parametrize("step", ["park", "between", "installed"])
def test_a_kill_at_each_step_of_the_swap_then_adherence_keeps_the_outputs(tmp_path: Path, step: str) -> None:
    """Before: killed between the renames, then ``adherence``: the study folder held only
    ``adherence/``, and the next ``generate`` deleted the parked previous outputs."""
    cohort, out = cohort_file(tmp_path, 3), tmp_path / "out"
    base = ["generate", SEED, "--cohort", cohort, "--out", out, "--no-feeds"]
    assert CliRunner().invoke(main, [str(a) for a in base]).exit_code == 0
    previous = snapshot(out / STUDY)
    killed = harness(tmp_path, step, *base, "--ics-style", "expanded")
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    log = tmp_path / "log.csv"
    log.write_text(LOG, encoding="utf-8")
    args = ["adherence", SEED, "--cohort", cohort, "--log", log, "--out", out, "--as-of", "2026-12-12"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert visible(out) == [STUDY]  # no parked or partial folder left
    now = snapshot(out / STUDY)
    assert (out / STUDY / "adherence" / "report.html").exists()
    calendar = now["patients/RA-001/calendar.ics"]
    assert isinstance(calendar, bytes)
    if step == "installed":  # the new outputs were complete and in place
        assert b"RRULE" not in calendar
    else:  # the previous outputs, byte for byte
        assert {k: v for k, v in now.items() if not k.startswith("adherence")} == previous
    assert CliRunner().invoke(main, [str(a) for a in base]).exit_code == 0
    assert (out / STUDY / "adherence" / "report.html").exists() and visible(out) == [STUDY]


def test_outputs_parked_by_an_older_version_beside_an_adherence_only_folder_are_put_back(tmp_path: Path) -> None:
    """The state the old code left (study folder with only adherence/, outputs parked): recovered."""
    cohort, out = cohort_file(tmp_path, 2), tmp_path / "out"
    base = ["generate", SEED, "--cohort", cohort, "--out", out, "--no-feeds"]
    assert CliRunner().invoke(main, [str(a) for a in base]).exit_code == 0
    previous = snapshot(out / STUDY)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    os.replace(out / STUDY, out / f".{STUDY}.previous-{dead.pid}")
    (out / STUDY / "adherence").mkdir(parents=True)
    (out / STUDY / "adherence" / "report.html").write_text("newer", encoding="utf-8")
    dosing.io.atomic.recover(out / STUDY)
    now = snapshot(out / STUDY)
    assert now.pop("adherence/report.html") == b"newer"
    assert {k: v for k, v in now.items() if k != "adherence"} == previous


def test_a_symlinked_study_folder_keeps_its_link_and_nothing_stale_behind_it(tmp_path: Path) -> None:
    """Before: the link itself was renamed away and replaced by a real folder, leaving the old
    feeds (rotated-away tokens too) in the link's target."""
    target = tmp_path / "disk" / "study"
    cohort = cohort_file(tmp_path, 2)
    args = ["generate", SEED, "--cohort", cohort, "--out", tmp_path / "disk"]
    assert CliRunner().invoke(main, [str(a) for a in args]).exit_code == 0
    os.replace(tmp_path / "disk" / STUDY, target)
    (target / "feeds" / "rotated-away-token-aaaaaaaaaaaa.ics").write_text("old", encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / STUDY).symlink_to(target)
    args = ["generate", SEED, "--cohort", cohort, "--out", tmp_path / "out"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / STUDY).is_symlink() and (tmp_path / "out" / STUDY).resolve() == target
    assert not (target / "feeds" / "rotated-away-token-aaaaaaaaaaaa.ics").exists()
    assert len(list((target / "feeds").iterdir())) == 2 and (target / "manifest.json").exists()
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == ["study"]


def test_a_dangling_symlinked_study_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / STUDY).symlink_to(tmp_path / "nowhere")
    args = ["generate", SEED, "--cohort", cohort_file(tmp_path, 1), "--out", tmp_path / "out"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2 and "is a symbolic link to" in result.stderr and "Fix:" in result.stderr
    assert (tmp_path / "out" / STUDY).is_symlink() and not (tmp_path / "nowhere").exists()


def test_sites_whose_names_would_share_a_file_get_their_own_calendar(tmp_path: Path) -> None:
    """Before: North Clinic, North-Clinic and North/Clinic all became staff/North-Clinic.ics."""
    lines = (PROTOCOLS / "nct02467504-cohort.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:4]]
    site = header.index("site") if "site" in header else None
    sites = ["North Clinic", "North-Clinic", "North/Clinic"]
    if site is None:
        header.append("site")
        rows = [[*row, s] for row, s in zip(rows, sites, strict=True)]
    else:
        for row, s in zip(rows, sites, strict=True):
            row[site] = s
    cohort = tmp_path / "sites.csv"
    cohort.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    args = ["generate", SEED, "--cohort", cohort, "--out", tmp_path / "out", "--no-feeds"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    staff = sorted((tmp_path / "out" / STUDY / "staff").iterdir())
    assert len(staff) == 3 and len({p.name.casefold() for p in staff}) == 3
    patients = [{pid for pid in ("RA-001", "RA-002", "RA-003") if pid.encode() in p.read_bytes()} for p in staff]
    assert sorted(map(sorted, patients)) == [["RA-001"], ["RA-002"], ["RA-003"]]


@pytest.mark.parametrize("patient_id", ["CON", "nul.txt", "COM1", "LPT9.csv", "RA-001.", "RA..."])
def test_patient_ids_that_break_windows_or_macos_are_refused(tmp_path: Path, patient_id: str) -> None:
    protocol = dosing.load_protocol(SEED)
    path = cohort_file(tmp_path, 1)
    text = path.read_text(encoding="utf-8").replace("RA-001,", f"{patient_id},", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CohortError) as caught:
        dosing.load_cohort(path, protocol)
    message = str(caught.value)
    assert "line 2, column 'patient_id'" in message and repr(patient_id) in message
    assert "Windows" in message


@pytest.fixture
def umask_022() -> object:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_feeds_and_unblinded_outputs_are_owner_only_under_umask_022(tmp_path: Path) -> None:
    cohort = cohort_file(tmp_path, 2)
    for extra in ([], ["--unblinded"]):
        args = ["generate", SEED, "--cohort", cohort, "--out", tmp_path / "out", *extra]
        assert CliRunner().invoke(main, [str(a) for a in args]).exit_code == 0
    blinded, unblinded = tmp_path / "out" / STUDY, tmp_path / "out" / f"{STUDY}-UNBLINDED"
    assert mode(blinded) == 0o755 and mode(blinded / "doses.csv") == 0o644  # shared with the team
    assert mode(blinded / "feeds") == 0o700 and mode(blinded / "feeds.csv") == 0o600
    assert {mode(p) for p in (blinded / "feeds").iterdir()} == {0o600}
    assert {mode(p) for p in [unblinded, *unblinded.rglob("*")] if p.is_dir()} == {0o700}
    assert {mode(p) for p in unblinded.rglob("*") if p.is_file()} == {0o600}
    log = tmp_path / "log.csv"
    log.write_text(LOG, encoding="utf-8")
    args = ["adherence", SEED, "--cohort", cohort, "--log", log, "--out", tmp_path / "out", "--unblinded"]
    assert CliRunner().invoke(main, [str(a) for a in [*args, "--as-of", "2026-12-12"]]).exit_code == 0
    assert {mode(p) for p in (unblinded / "adherence").rglob("*")} == {0o600}
    assert mode(unblinded / "adherence") == 0o700


@pytest.mark.usefixtures("umask_022")
def test_group_option_lets_one_group_read_the_sensitive_outputs(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    args = ["generate", SEED, "--cohort", cohort_file(tmp_path, 1), "--out", tmp_path / "out", "--group", group]
    assert CliRunner().invoke(main, [str(a) for a in args]).exit_code == 0
    folder = tmp_path / "out" / STUDY
    assert mode(folder / "feeds") == 0o750 and mode(folder / "feeds.csv") == 0o640
    assert (folder / "feeds.csv").stat().st_gid == os.getgid()
    result = CliRunner().invoke(main, [str(a) for a in [*args[:-1], "no-such-group-here"]])
    assert result.exit_code == 2 and "unknown group 'no-such-group-here'" in result.stderr


def test_adherence_waits_for_a_generate_on_the_same_study(tmp_path: Path) -> None:
    """Before: adherence beside a generate died in half of the races (its staging folder lives in
    the study folder that generate swaps). Both now take the study folder's lock."""
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(cohort_file(tmp_path, 1), protocol)
    log = tmp_path / "log.csv"
    log.write_text(LOG, encoding="utf-8")
    told: list[str] = []
    with study_lock(tmp_path / "out" / STUDY), pytest.raises(OutputError, match="still writing"):
        dosing.write_adherence(protocol, cohort, log, tmp_path / "out", wait=0.3, on_wait=told.append)
    assert told and not (tmp_path / "out" / STUDY / "adherence").exists()
