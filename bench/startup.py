"""Benchmark: how long the command line takes to answer (issue 15).

Times, as a user runs them, ``dosing --help``, ``dosing validate --help`` and ``dosing validate`` of
the seed protocol (with and without its cohort): each the median of RUNS fresh processes (default
7), with hyperfine when it is installed, else with a timer around ``subprocess.run``. Also prints
``python -c pass`` (the interpreter alone) and the targets: the helps under 0.3 s, validate of the
seed protocol under 1 s.

Run: python bench/startup.py [RUNS]
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = [str(ROOT / "protocols" / "nct02467504.toml")]
COHORT = ["--cohort", str(ROOT / "protocols" / "nct02467504-cohort.csv")]
#: Run from an empty folder: ``python -m`` puts the current folder first on the import path.
HOME = Path(tempfile.mkdtemp(prefix="dosing-startup-"))
DOSING = [sys.executable, "-m", "dosing"]
COMMANDS = {
    "python -c pass": ([sys.executable, "-c", "pass"], None),
    "dosing --help": ([*DOSING, "--help"], 0.3),
    "dosing validate --help": ([*DOSING, "validate", "--help"], 0.3),
    "dosing validate seed": ([*DOSING, "validate", *SEED], 1.0),
    "dosing validate seed --cohort": ([*DOSING, "validate", *SEED, *COHORT], None),
}


def with_hyperfine(argv: list[str], runs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "times.json"
        command = " ".join(f"'{a}'" for a in argv)
        subprocess.run(
            ["hyperfine", "--warmup", "1", "--runs", str(runs), "--export-json", str(out), "-N", command],
            cwd=HOME,
            check=True,
            capture_output=True,
        )
        return [float(t) for t in json.loads(out.read_text())["results"][0]["times"]]


def with_timer(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, cwd=HOME, check=True, capture_output=True)  # warm the file cache once
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=HOME, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    tool = "hyperfine" if shutil.which("hyperfine") else "a timer around subprocess.run"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}; load average {os.getloadavg()[0]:.1f}; {runs} runs each with {tool}"
    )
    measure = with_hyperfine if shutil.which("hyperfine") else with_timer
    bare = 0.0
    for name, (argv, target) in COMMANDS.items():
        times = measure(argv, runs)
        median = statistics.median(times)
        bare = bare or median
        verdict = "" if target is None else f"  target {target:g} s: {'met' if median < target else 'NOT met'}"
        print(
            f"{name:30} median {median:5.2f} s  (min {min(times):.2f}, max {max(times):.2f}; "
            f"{median / bare:4.1f} x python -c pass){verdict}"
        )


if __name__ == "__main__":
    main()
