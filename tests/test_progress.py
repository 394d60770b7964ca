"""Progress on a terminal (issue 12 §4): stages in order with an honest, rate-based estimate; silent
when stderr is not a terminal or with --quiet; never inside an output file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

import dosing.jobs.progress as progress_module
from dosing.cli import main
from dosing.jobs.adherence import OUTPUTS
from dosing.jobs.progress import Progress, duration_text
from tests.conftest import FIXTURES, PROTOCOLS


class Terminal(io.StringIO):
    """A stream that says it is a terminal, and keeps what was drawn."""

    def isatty(self) -> bool:
        return True


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def final_lines(stream: io.StringIO) -> list[str]:
    """What stays on the screen: for each line, the text after its last carriage return."""
    return [line.rsplit("\r", 1)[-1].rstrip() for line in stream.getvalue().split("\n")]


def test_silent_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()  # isatty() is False: a pipe, a file, a CI log
    progress = Progress(True, stream)
    with progress.stage("writing patient files", total=10):
        progress.advance(10)
    assert stream.getvalue() == ""


def test_silent_when_not_enabled_even_on_a_terminal() -> None:
    stream = Terminal()
    progress = Progress(False, stream)  # --quiet
    with progress.stage("expanding doses"):
        pass
    assert stream.getvalue() == ""


def test_stages_are_reported_in_order_each_on_its_own_line() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress(True, stream, clock=clock)
    with progress.stage("reading protocol and cohort"):
        clock.now += 0.25
    with progress.stage("writing doses.csv", total=2000):
        clock.now += 1.5
        progress.advance(2000)
    assert final_lines(stream) == [
        "reading protocol and cohort: done in 0.2 s",  # 0.25 s, one decimal ("%.1f" rounds half to even)
        "writing doses.csv: 2,000 done in 1.5 s",
        "",
    ]


def test_the_estimate_is_the_measured_rate_applied_to_what_is_left() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress(True, stream, clock=clock, interval=0)
    with progress.stage("writing patient files", total=1000):
        assert progress.line() == "writing patient files: 0/1,000 (0%), estimating"  # no figure before any work
        clock.now += 20.0
        progress.advance(250)
        # 250 patients in 20 s is 12.5 per s; 750 left take 750 / 12.5 = 60 s = "1 min 00 s"
        assert progress.line() == "writing patient files: 250/1,000 (25%), 20 s so far, about 1 min 00 s left"
        clock.now += 20.0
        progress.advance(250)
        # 500 in 40 s: the same rate; 500 left take 40 s
        assert progress.line() == "writing patient files: 500/1,000 (50%), 40 s so far, about 40 s left"
    assert "about 1 min 00 s left" in stream.getvalue()  # drawn, not only computed


def test_redraws_are_limited_to_the_interval() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress(True, stream, clock=clock, interval=0.2)
    with progress.stage("writing feeds", total=1000):
        for _ in range(1000):
            progress.advance()  # the clock does not move: only the first and the last line are drawn
    assert stream.getvalue().count("\r") == 2


def test_a_failing_stage_ends_its_line_so_the_error_starts_on_a_new_one() -> None:
    stream = Terminal()
    progress = Progress(True, stream)
    try:
        with progress.stage("writing worklist.csv", total=5):
            raise OSError("disk full")
    except OSError:
        pass
    assert stream.getvalue().endswith("\n")
    assert "done" not in stream.getvalue()  # a failed stage is not reported as done


def test_a_shorter_line_blanks_what_the_longer_one_left() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress(True, stream, clock=clock, interval=0)
    with progress.stage("x", total=10):
        clock.now += 1
        progress.advance(1)  # "x: 1/10 (10%), 1.0 s so far, about 9.0 s left" (45 characters)
        long = len(progress.line())
    last = stream.getvalue().split("\r")[-1]
    assert last == "x: 10 done in 1.0 s".ljust(long) + "\n"


def test_duration_text() -> None:
    assert [duration_text(s) for s in (0.04, 9.94, 10, 59.4, 60, 185, 3600, 3720)] == [
        "0.0 s",
        "9.9 s",
        "10 s",
        "59 s",
        "1 min 00 s",
        "3 min 05 s",
        "1 h 00 min",
        "1 h 02 min",
    ]


# ---- the commands ---------------------------------------------------------------------------

SEED = str(PROTOCOLS / "nct02467504.toml")
ONE = str(FIXTURES / "seed-one-patient.csv")


@pytest.fixture
def on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """CliRunner's stderr is not a terminal: make every stream look like one."""
    monkeypatch.setattr(progress_module, "is_terminal", lambda stream: True)


def stages(stderr: str) -> list[str]:
    """The stage names of the finished lines, in order."""
    return [line.rsplit("\r", 1)[-1].split(":")[0] for line in stderr.split("\n") if " done in " in line]


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generate_reports_its_stages_in_order_on_a_terminal(tmp_path: Path, on_a_terminal: None) -> None:
    result = CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert stages(result.stderr) == [
        "reading the protocol, cohort and changes",
        "expanding doses",
        "planning visits, checking the plan",
        "preparing the tables",
        "writing worklist.csv",
        "writing doses.csv and patients/<id>/",
        "writing visits.csv, visit-worklist.csv",
        "writing staff/<site>.ics",
        "writing feeds.csv",  # each feed is written beside its calendar, in "writing doses.csv and patients/<id>/"
    ]
    assert "writing doses.csv and patients/<id>/: 1 done in " in result.stderr  # one patient
    assert "writing worklist.csv: 693 done in " in result.stderr  # 144 + 504 + 24 + 21 = 693 doses (test_cli)
    assert result.stdout.startswith("BLINDED outputs in ")  # the summary stays on stdout, untouched


def test_quiet_generate_shows_nothing_even_on_a_terminal(tmp_path: Path, on_a_terminal: None) -> None:
    args = ["generate", SEED, "--cohort", ONE, "--out", str(tmp_path / "out"), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_progress_is_silent_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_progress_never_reaches_an_output_file(tmp_path: Path, on_a_terminal: None) -> None:
    shown = CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE, "--out", str(tmp_path / "a")])
    quiet = CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE, "--out", str(tmp_path / "b"), "--quiet"])
    assert shown.exit_code == quiet.exit_code == 0
    assert "expanding doses" in shown.stderr
    with_progress, without = files(tmp_path / "a"), files(tmp_path / "b")
    assert with_progress.keys() == without.keys()
    for name, content in with_progress.items():
        if not name.endswith("manifest.json"):  # records the output folder's path
            assert content == without[name], name
        assert b"expanding doses" not in content and b" done in " not in content, name


def test_adherence_reports_its_stages_and_is_quiet_with_quiet(tmp_path: Path, on_a_terminal: None) -> None:
    out = str(tmp_path / "out")
    assert CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE, "--out", out, "--quiet"]).exit_code == 0
    log = str(tmp_path / "out" / "nct02467504" / "worklist.csv")
    args = ["adherence", SEED, "--cohort", ONE, "--log", log, "--out", out, "--as-of", "2027-01-01"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert stages(result.stderr) == [
        "reading the protocol and cohort",
        "reading the log",
        "matching the log to the plan",
        "writing adherence/ (rows)",
    ]
    # counted in rows, not files: each table's rows, and report.html as many as doses.csv (it draws each dose)
    folder = tmp_path / "out" / "nct02467504" / "adherence"
    rows = {name: len((folder / name).read_text(encoding="utf-8-sig").splitlines()) - 1 for name in OUTPUTS[:4]}
    work = 2 * rows["doses.csv"] + rows["extra.csv"] + rows["summary.csv"] + rows["bad_rows.csv"]
    assert (
        f"writing adherence/ (rows): {work:,} done in " in result.stderr or f"(rows): {work} done in " in result.stderr
    )
    quiet = CliRunner().invoke(main, [*args, "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
