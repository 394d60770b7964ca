"""Nothing is lost: a failed or interrupted run leaves the previous outputs byte for byte as
they were and leaves no partial or temporary folders behind."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import dosing
import dosing.io.atomic as atomic
from dosing.cli import main
from dosing.errors import OutputError, SafetyError
from dosing.jobs.progress import Progress
from tests.conftest import PROTOCOLS
from tests.seed_variants import (
    LOX_TIMES,
    private_config,  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
    seed_with,
    write,
)

ROOT = Path(__file__).resolve().parent.parent
SEED = PROTOCOLS / "nct02467504.toml"
FOLDER = "nct02467504"
patient_files = importlib.import_module("dosing.jobs.patient_files")  # where generate makes calendars


def cohort_file(folder: Path, patients: int) -> Path:
    """The first ``patients`` patients of the seed cohort."""
    lines = (PROTOCOLS / "nct02467504-cohort.csv").read_text(encoding="utf-8").splitlines()
    return write(folder, f"cohort-{patients}.csv", "\n".join(lines[: patients + 1]) + "\n")


def entries(folder: Path) -> list[str]:
    """The names in ``folder`` but the study folder's lock file (an empty file that stays, see
    dosing.io.study_lock)."""
    return sorted(name for name in os.listdir(folder) if name != f".{FOLDER}.lock")


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (hidden ones too), with the bytes of files."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("earlier")
    args = ["generate", str(SEED), "--cohort", str(cohort_file(folder, 3)), "--out", str(folder / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert entries(folder / "out") == [FOLDER]
    return folder / "out"


@pytest.fixture
def out(tmp_path: Path, earlier_run: Path) -> Path:
    """An output folder holding a complete earlier run of 3 patients."""
    shutil.copytree(earlier_run, tmp_path / "out")
    return tmp_path / "out"


def load(tmp_path: Path, patients: int = 4) -> tuple[dosing.Protocol, dosing.Cohort]:
    protocol = dosing.load_protocol(SEED)
    return protocol, dosing.load_cohort(cohort_file(tmp_path, patients), protocol)


def test_unsafe_protocol_leaves_previous_outputs(out: Path, tmp_path: Path) -> None:
    before = snapshot(out)
    unsafe = write(tmp_path, "unsafe.toml", seed_with((LOX_TIMES, 'times = ["08:00", "12:00", "16:00", "20:00"]')))
    args = ["generate", str(unsafe), "--cohort", str(cohort_file(tmp_path, 2)), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "maximum daily dose" in result.output
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "exception", [RuntimeError("disk on fire"), KeyboardInterrupt(), SafetyError("raised mid-generate")]
)
def test_failure_in_calendar_writer_after_some_patients_leaves_previous_outputs(
    out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exception: BaseException
) -> None:
    before = snapshot(out)
    protocol, cohort = load(tmp_path)
    seen: list[int] = []
    written_before_failure: list[int] = []
    real = patient_files.calendars_for_cohort

    def calendars(*args: object, **kwargs: object) -> Iterator[tuple[str, bytes]]:
        for item in real(*args, **kwargs):  # type: ignore[arg-type]
            seen.append(1)
            if len(seen) == 3:
                (partial,) = [p for p in out.iterdir() if p.name.startswith(f".{FOLDER}.partial-")]
                written_before_failure.append(len(list((partial / "patients").iterdir())))
                raise exception
            yield item

    monkeypatch.setattr(patient_files, "calendars_for_cohort", calendars)
    with pytest.raises(type(exception)):
        dosing.generate(protocol, cohort, out)
    assert written_before_failure == [3]  # two patients complete, the third half written
    assert snapshot(out) == before


def test_interrupt_from_progress_leaves_previous_outputs(out: Path, tmp_path: Path) -> None:
    before = snapshot(out)
    protocol, cohort = load(tmp_path)

    class Interrupted(Progress):
        def advance(self, steps: int = 1) -> None:
            if self.name.startswith("writing doses.csv"):
                raise KeyboardInterrupt  # as Ctrl-C would, after the first patients' files

    with pytest.raises(KeyboardInterrupt):
        dosing.generate(protocol, cohort, out, progress=Interrupted(False))
    assert snapshot(out) == before


def test_failed_move_into_place_restores_previous_outputs(
    out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(out)
    protocol, cohort = load(tmp_path)
    real = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if ".partial-" in Path(src).name:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(OutputError, match="previous outputs are unchanged"):
        dosing.generate(protocol, dosing.Cohort(cohort.patients.head(1), cohort.source), out)
    assert snapshot(out) == before


def test_failed_first_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    protocol, cohort = load(tmp_path)

    def calendars(*args: object, **kwargs: object) -> Iterator[tuple[str, bytes]]:
        raise RuntimeError("calendar writer broke")

    monkeypatch.setattr(patient_files, "calendars_for_cohort", calendars)
    with pytest.raises(RuntimeError):
        dosing.generate(protocol, cohort, tmp_path / "fresh")
    assert entries(tmp_path / "fresh") == []


def test_successful_run_replaces_everything_and_leaves_no_temporary_folders(out: Path, tmp_path: Path) -> None:
    (out / FOLDER / "stale-file-from-an-old-version.txt").write_text("old", encoding="utf-8")
    protocol, cohort = load(tmp_path, patients=2)
    dosing.generate(protocol, cohort, out)
    assert entries(out) == [FOLDER]
    assert sorted(os.listdir(out / FOLDER / "patients")) == ["RA-001", "RA-002"]
    assert not (out / FOLDER / "stale-file-from-an-old-version.txt").exists()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_next_run_cleans_up_after_a_killed_run(out: Path, tmp_path: Path) -> None:
    """A run killed between its two renames parked the previous outputs; the next run restores them first."""
    pid = dead_pid()
    os.replace(out / FOLDER, out / f".{FOLDER}.previous-{pid}")
    (out / f".{FOLDER}.partial-{pid}-abc123" / "patients").mkdir(parents=True)
    (out / f".{FOLDER}.partial-{os.getppid()}-keep").mkdir()  # a run that is still going: left alone
    atomic.recover(out / FOLDER)
    assert entries(out) == sorted([FOLDER, f".{FOLDER}.partial-{os.getppid()}-keep"])
    assert (out / FOLDER / "doses.csv").exists()


def test_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / FOLDER).write_text("not a folder", encoding="utf-8")
    args = ["generate", str(SEED), "--cohort", str(cohort_file(tmp_path, 1)), "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert f"{tmp_path / FOLDER}: exists and is not a folder" in result.output
    assert (tmp_path / FOLDER).read_text(encoding="utf-8") == "not a folder"


def test_sigkill_part_way_leaves_previous_outputs_and_the_next_run_cleans_up(out: Path, tmp_path: Path) -> None:
    """A real process, killed with SIGKILL while it writes patients' files."""
    before = snapshot(out)
    cohort = cohort_file(tmp_path, 47)
    command = [sys.executable, "-m", "dosing", "generate", str(SEED), "--cohort", str(cohort), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    killed_part_way = False
    while time.monotonic() < deadline and process.poll() is None:
        partial = [p for p in out.iterdir() if p.name.startswith(f".{FOLDER}.partial-")]
        if partial and (partial[0] / "patients").exists() and len(os.listdir(partial[0] / "patients")) >= 3:
            process.send_signal(signal.SIGKILL)
            killed_part_way = True
            break
        time.sleep(0.002)
    process.wait()
    if not killed_part_way:
        pytest.skip("the run finished before it could be killed")
    assert {k: v for k, v in snapshot(out).items() if not k.startswith(".")} == {
        k: v for k, v in before.items() if not k.startswith(".")
    }
    protocol, small = load(tmp_path, patients=2)
    dosing.generate(protocol, small, out)
    assert entries(out) == [FOLDER]


def test_finished_folder_gets_the_usual_permissions_not_mkdtemps_0700(tmp_path: Path) -> None:
    """A web server publishing feeds/, or nurses sharing the worklist, must be able to read the output
    like any other folder the user makes (mode 0777 less the umask), not only its owner."""
    import os

    from dosing.io.atomic import staged_folder

    old = os.umask(0o022)
    try:
        with staged_folder(tmp_path / "study") as folder:
            (folder / "doses.csv").write_text("x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "study").stat().st_mode & 0o777 == 0o755
