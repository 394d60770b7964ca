"""Benchmark: ``dosing diary`` for N synthetic seed patients (default 200; bench/generate.py's cohort),
in English, in Chinese (``--zh``) or half and half (``--mixed``).

Prints the wall time and the CPU seconds of this process and its workers, in all and per patient, with
the load average. ``--workers 1`` draws in this process only. Run:

    python bench/diary.py [N] [--zh | --mixed] [--workers W]
    PYTHONPATH=/path/to/old/checkout python bench/diary.py 47     # another version, same cohort
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after PYTHONPATH: another checkout's dosing is measured when given

import dosing  # noqa: E402
from bench.generate import cohort_frame  # noqa: E402


def cpu_seconds() -> float:
    """User and system CPU of this process and of its finished children (the forked workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("patients", nargs="?", type=int, default=200)
    language = options.add_mutually_exclusive_group()
    language.add_argument("--zh", action="store_true", help="every patient's diary in Chinese")
    language.add_argument("--mixed", action="store_true", help="every other patient's diary in Chinese")
    options.add_argument("--workers", type=int, help="processes (default: the diary job's choice)")
    args = options.parse_args()
    n = args.patients
    frame = cohort_frame(n)
    frame["language"] = ["zh" if args.zh or (args.mixed and i % 2) else "en" for i in range(n)]
    protocol = dosing.load_protocol(ROOT / "protocols" / "nct02467504.toml")
    with tempfile.TemporaryDirectory() as folder:  # read as a cohort file is: dates parsed, languages checked
        frame.to_csv(Path(folder) / "cohort.csv", index=False)
        cohort = dosing.load_cohort(Path(folder) / "cohort.csv", protocol)
    kind = "Chinese" if args.zh else "half Chinese" if args.mixed else "English"
    print(f"{n} seed patients ({kind}), {dosing.__file__}")
    print(f"  {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    if args.workers is not None:
        import dosing.jobs.diary as job

        job.workers_for = lambda patients: args.workers  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as out:
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = dosing.diary(protocol, cohort, out)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    assert len(result.files) == n
    print(f"  {wall:7.2f} s wall, {cpu:7.2f} s CPU: {wall / n:.3f} s wall and {cpu / n:.3f} s CPU a patient")
    print(f"  load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
