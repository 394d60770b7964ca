"""Benchmark: expand the seed protocol for N synthetic patients (default 10,000).

Prints doses, wall and CPU time, doses per second and peak memory (resident set high-water mark).
Run: python bench/expand.py [N]
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import dosing
from dosing.plan.cohort import Cohort

ROOT = Path(__file__).resolve().parent.parent


def synthetic_cohort(n: int) -> Cohort:
    rng = np.random.default_rng(2467504)
    start = np.datetime64("2027-01-04") + rng.integers(0, 365, n).astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:06d}" for i in range(n)],
            "arm": np.where(rng.random(n) < 0.5, "active", "placebo"),
            "start_date": start.astype("datetime64[s]"),
            "timezone": "Asia/Shanghai",
            "site": "",
            "mtx_dose": rng.choice([7.5, 10.0, 12.5, 15.0, 17.5, 20.0], n),
            "mtx_weekday": rng.integers(0, 7, n),
        }
    )
    return Cohort(frame, "<synthetic>")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    protocol = dosing.load_protocol(ROOT / "protocols" / "nct02467504.toml")
    cohort = synthetic_cohort(n)
    started, cpu_started = time.perf_counter(), time.process_time()
    doses = dosing.expand(protocol, cohort)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"pandas {pd.__version__}"
    )
    print(f"patients: {n:,}  doses: {len(doses):,}")
    print(f"expand: {elapsed:.2f} s  ({len(doses) / elapsed:,.0f} doses/s); CPU time {cpu:.2f} s")
    print(f"load average (1 min) during the run: {os.getloadavg()[0]:.1f}  (other work on the machine slows it)")
    print(f"peak memory (max RSS of the process): {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
