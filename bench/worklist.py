"""Benchmark: the nurses' sheets (``dosing worklist``) for N synthetic seed patients (default 1,500),
spread over 10 sites: the default range (8 days), in-clinic only and with home doses.

Prints, per run, wall time, rows and pages. Run: python bench/worklist.py [N]
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dosing  # noqa: E402
from bench.expand import synthetic_cohort  # noqa: E402
from dosing.plan.cohort import Cohort  # noqa: E402

SITES = 10


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_500
    protocol = dosing.load_protocol(ROOT / "protocols" / "nct02467504.toml")
    base = synthetic_cohort(n)
    frame = base.patients.assign(site=[f"Site-{i % SITES:02d}" for i in range(n)])
    cohort = Cohort(frame, "<synthetic>")
    start = dt.date(2027, 6, 1)
    print(f"{n} patients, {SITES} sites, {platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.1f}")
    for home in (False, True):
        with tempfile.TemporaryDirectory() as out:
            began = time.perf_counter()
            result = dosing.worklist(protocol, cohort, out, start=start, home=home)
            elapsed = time.perf_counter() - began
        rows, pages = sum(result.rows_per_site.values()), sum(result.pages_per_site.values())
        kind = "in-clinic and home" if home else "in-clinic"
        print(f"  {kind:<18} 8 days: {elapsed:6.2f} s, {rows:,} rows, {pages:,} pages ({rows / elapsed:,.0f} rows/s)")


if __name__ == "__main__":
    main()
