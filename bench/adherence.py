"""Benchmark: check about a million logged doses against the plan, end to end.

Prepares (untimed) a synthetic cohort of N seed patients (default 1,500) and its filled
worklist: 91% given on time, 4% within an hour, 2% 3-20 h late, 2.5% not given, 0.5%
diary rows (a date alone), plus 0.3% duplicated rows (extra doses); and a second, clean log of
the same worklist with no duplicates and no extras (given within the hour or not at all: the case
that crashed the measures at 128+ patients). Then, in a fresh process each, times reading the
cohort and the log CSV and ``check_adherence`` (matching and measures), and for the first log
separately writing the outputs (CSV files and report.html).

Run: python bench/adherence.py [N]
"""

from __future__ import annotations

import datetime as dt
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dosing  # noqa: E402
from bench.expand import synthetic_cohort  # noqa: E402
from dosing.jobs.generate import worklist  # noqa: E402
from dosing.plan.blinding import blind  # noqa: E402
from dosing.plan.expand import utc_text  # noqa: E402
from dosing.protocol.values import WEEKDAYS  # noqa: E402

PROTOCOL = ROOT / "protocols" / "nct02467504.toml"


def prepare(n: int, folder: Path) -> int:
    protocol = dosing.load_protocol(PROTOCOL)
    cohort = synthetic_cohort(n)
    frame = cohort.patients.copy()
    frame["start_date"] = frame["start_date"].dt.strftime("%Y-%m-%d")
    frame["mtx_weekday"] = [WEEKDAYS[d] for d in frame["mtx_weekday"]]
    frame.to_csv(folder / "cohort.csv", index=False)
    table = blind(dosing.expand(protocol, cohort), protocol)
    table["planned_utc"] = utc_text(table["planned_at"])
    sheet = worklist(table, cohort).reset_index(drop=True)
    rng = np.random.default_rng(6)
    u = rng.random(len(sheet))
    shift_min = np.where(u < 0.04, rng.integers(-60, 61, len(sheet)), 0)
    shift_min = np.where((u >= 0.04) & (u < 0.06), rng.integers(180, 1200, len(sheet)), shift_min)
    planned = pd.to_datetime(sheet["date"].astype(str) + " " + sheet["time"].astype(str))
    given = (planned + pd.to_timedelta(shift_min, unit="min")).dt.strftime("%Y-%m-%d %H:%M")
    given = given.where(~((u >= 0.06) & (u < 0.065)), sheet["date"].astype(str))
    sheet["given_at"] = given.where(~((u >= 0.065) & (u < 0.09)), "")
    sheet["given_by"] = np.where(sheet["given_at"] != "", "nurse", "")
    dose: pd.Series = sheet["dose"].astype(str) + np.where(
        rng.random(len(sheet)) < 0.5, " " + sheet["unit"].astype(str), ""
    )
    sheet["dose_given"] = np.where(sheet["given_at"] != "", dose, "")
    clean = sheet.copy()
    on_time = (planned + pd.to_timedelta(np.where(u < 0.04, shift_min, 0), unit="min")).dt.strftime("%Y-%m-%d %H:%M")
    clean["given_at"] = on_time.where(sheet["given_at"] != "", "")
    clean.to_csv(folder / "worklist-clean.csv", index=False, encoding="utf-8-sig")
    sheet = pd.concat([sheet, sheet[(u > 0.997) & (sheet["given_at"] != "")]], ignore_index=True)
    sheet.to_csv(folder / "worklist.csv", index=False, encoding="utf-8-sig")
    return len(sheet)


def check(folder: Path, log: str) -> None:
    started, cpu_started = time.perf_counter(), time.process_time()
    protocol = dosing.load_protocol(PROTOCOL)
    cohort = dosing.load_cohort(folder / "cohort.csv", protocol)
    result = dosing.check_adherence(protocol, cohort, folder / log, as_of=dt.date(2028, 12, 31))
    checked, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = len(pd.read_csv(folder / log, usecols=["uid"]))
    print(f"-- {log}")
    print(f"log rows: {rows:,}  patients: {len(cohort):,}  planned doses: {len(result.doses):,}")
    print(f"statuses: {result.doses['status'].value_counts().to_dict()}  extra: {len(result.extra):,}")
    print(f"check (read cohort + log, match, measure): {checked:.2f} s ({rows / checked:,.0f} rows/s), CPU {cpu:.2f} s")
    print(f"peak memory (max RSS of the checking process): {peak_mib:,.0f} MiB")
    if log != "worklist.csv":
        return
    started = time.perf_counter()
    dosing.write_adherence(protocol, cohort, folder / "worklist.csv", folder / "out", as_of=dt.date(2028, 12, 31))
    print(f"check again and write the CSV files and report.html (100 timelines): {time.perf_counter() - started:.2f} s")


def main() -> None:
    if len(sys.argv) > 3 and sys.argv[1] == "--check":
        check(Path(sys.argv[2]), sys.argv[3])
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_500
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"pandas {pd.__version__}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = prepare(n, Path(tmp))
        print(f"prepared {rows:,} log rows for {n:,} patients")
        for log in ("worklist.csv", "worklist-clean.csv"):
            subprocess.run([sys.executable, __file__, "--check", tmp, log], check=True)


if __name__ == "__main__":
    main()
