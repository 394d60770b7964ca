"""Benchmark: write report.html (every patient's timeline, the heatmap, the tables) for N patients.

Prepares (untimed) the synthetic cohort and filled worklist of ``bench/adherence.py`` (default
1,500 seed patients, about a million log rows) and checks it; then times ``write_report`` alone,
REPEAT times, and prints the median wall and CPU time, the spread and the size of the file (on a
shared machine the CPU time is the figure that does not depend on the other processes). Target (issue 15):
under 5 s for 1,500 patients on the 2-core machine.

Run: python bench/report.py [N] [REPEAT]
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

import dosing  # noqa: E402
from bench.adherence import PROTOCOL, prepare  # noqa: E402
from dosing.io.write.report_html import write_report  # noqa: E402

TARGET_S = 5.0
COLUMNS = ["patient_id", "drug", "given_at", "dose_given"]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_500
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = prepare(n, folder)["few-extras"]  # the filled worklist with a few extra doses
        log = pd.read_csv(folder / "few-extras.csv", usecols=COLUMNS, dtype=str, keep_default_na=False)
        log.to_csv(folder / "log.csv", index=False)  # the worklist's other columns pass the 200 MiB limit
        protocol = dosing.load_protocol(PROTOCOL)
        cohort = dosing.load_cohort(folder / "cohort.csv", protocol)
        # as of mid-recruitment: some patients not started, most part-way, some finished
        result = dosing.check_adherence(protocol, cohort, folder / "log.csv", as_of=dt.date(2027, 9, 1))
        print(f"patients: {n:,}  log rows: {rows:,}  planned doses: {len(result.doses):,}")
        times, cpu = [], []
        for _ in range(repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            write_report(result, folder / "report.html")
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        size = (folder / "report.html").stat().st_size
    median, cpu_median, load = statistics.median(times), statistics.median(cpu), os.getloadavg()[0]
    print(f"report.html: median {median:.2f} s (min {min(times):.2f}, max {max(times):.2f}, {repeat} runs), "
          f"CPU median {cpu_median:.2f} s, {size / 1e6:.1f} MB, load now {load:.1f}")  # fmt: skip
    print(f"target {TARGET_S:g} s for 1,500 patients: {'met' if median < TARGET_S else 'NOT met'} "
          f"(ratio {median / TARGET_S:.2f}; CPU {cpu_median / TARGET_S:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
