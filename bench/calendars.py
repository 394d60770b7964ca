"""Benchmark: the patients' calendars of the seed protocol for N synthetic patients (default 10,000).

Issue 15's targets: recurring-style calendars (the default) for 10,000 patients under 15 s; expanded
style (one event per dose) under 5 ms per patient. Prints the total for N recurring-style calendars
and the time per patient of expanded ones (on the first min(N, 500) patients), wall and CPU, with the
machine's load. Only the calendar text is timed (no files written); expansion is done beforehand.
Run: python bench/calendars.py [N]
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from expand import synthetic_cohort

import dosing
from dosing.io.write.ics_cohort import calendars_for_cohort
from dosing.plan.blinding import blind
from dosing.plan.columns import CALENDAR_ONLY, DOSE_COLUMNS
from dosing.plan.expand import utc_text

ROOT = Path(__file__).resolve().parent.parent
EXPANDED_PATIENTS = 500


def calendar_table(protocol: dosing.Protocol, cohort: dosing.Cohort) -> pd.DataFrame:
    """The blinded dose table with the columns ``generate`` hands the calendar writer."""
    table = blind(dosing.expand(protocol, cohort), protocol)
    table["planned_utc"] = utc_text(table["planned_at"])
    table["status"] = "planned"
    return table.reindex(columns=[*DOSE_COLUMNS, *CALENDAR_ONLY])


def timed(
    protocol: dosing.Protocol, cohort: dosing.Cohort, table: pd.DataFrame, style: str
) -> tuple[float, float, int]:
    """Wall and CPU seconds to build every calendar, and their total size in bytes."""
    visits = dosing.plan_visits(protocol, cohort)
    wall, cpu = time.perf_counter(), time.process_time()
    size = sum(len(ics) for _, ics in calendars_for_cohort(protocol, cohort.patients, table, visits, style=style))  # type: ignore[arg-type]
    return time.perf_counter() - wall, time.process_time() - cpu, size


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    protocol = dosing.load_protocol(ROOT / "protocols" / "nct02467504.toml")
    cohort = synthetic_cohort(n)
    table = calendar_table(protocol, cohort)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    wall, cpu, size = timed(protocol, cohort, table, "recurring")
    print(
        f"recurring: {n:,} calendars in {wall:.2f} s (CPU {cpu:.2f} s), {size / 1e6:,.1f} MB; target < 15 s for 10,000"
    )
    few = min(n, EXPANDED_PATIENTS)
    part = dosing.Cohort(cohort.patients.iloc[:few].reset_index(drop=True), "<synthetic>")
    mine = table[table["patient_id"].astype(str).isin(set(part.patients["patient_id"].astype(str)))]
    wall, cpu, size = timed(protocol, part, mine, "expanded")
    print(
        f"expanded:  {few:,} calendars in {wall:.2f} s: {wall / few * 1000:.1f} ms per patient "
        f"(CPU {cpu / few * 1000:.1f} ms), {size / few / 1e3:,.0f} kB each; target < 5 ms per patient"
    )
    print(f"load average (1 min) after the run: {os.getloadavg()[0]:.1f}  (other work on the machine slows it)")
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
