"""Benchmark: ``dosing generate`` end to end (every output) for synthetic seed cohorts (issue 15).

For each size N given (default: 1 127 128 1000), writes a synthetic cohort of N seed patients
(untimed; three sites, random start dates in 2027, methotrexate days and doses) and runs
``dosing generate PROTOCOL --cohort cohort.csv --quiet`` as a child process, as a coordinator would:
wall time, CPU (user and system, of the command and its workers), and peak memory, sampled from
/proc every 0.1 s: the sum over the command and its worker processes of their proportional set size
(PSS: a page a forked worker shares with its parent is counted once, divided between them; the
figure that counts against the machine's memory and the targets), the sum of their resident sizes
(RSS, which counts shared pages in every process), and the largest single process.

``--ratio N`` (default 2000; 0 skips it) also times, in a child of the same run, a plain per-patient
``dateutil.rrule`` loop that builds the seed dose table alone (no checks, no files), and prints
generate's wall time over it: the target is a ratio at most 1.

``--stages N`` instead runs generate for N patients in this process and prints the CPU and wall
seconds of each of its progress stages (see dosing.jobs.progress): where the time goes.

``--format parquet`` writes the study tables as Parquet (the patients' files stay CSV and iCalendar):
about 0.15 MB a patient on disk instead of 0.4 MB, so 100,000 patients fit on a smaller disk.

Outputs are kept until the end of the run (see ``_make_room``), and after it with ``BENCH_KEEP=1``
(to delete several runs' outputs only after the last); ``BENCH_DIR`` chooses the disk.

Run: python bench/generate.py [N ...] [--ratio N] [--format parquet]
     e.g. python bench/generate.py 1000 10000 --ratio 2000; python bench/generate.py 100000 --ratio 0 --format parquet
     python bench/generate.py --stages 200
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = ROOT / "protocols" / "nct02467504.toml"
DOSING = Path(sys.executable).parent / "dosing"
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
#: Targets of issue 15 by size: (seconds, MiB).
TARGETS = {10_000: (60.0, 3 * 1024), 100_000: (None, 4 * 1024)}


def cohort_frame(n: int) -> pd.DataFrame:
    """N seed patients: start dates over 2027, three sites, each patient's methotrexate day and dose."""
    rng = np.random.default_rng(2467504)
    start = np.datetime64("2027-01-04") + rng.integers(0, 365, n).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:06d}" for i in range(n)],
            "arm": np.where(rng.random(n) < 0.5, "active", "placebo"),
            "start_date": pd.Series(start).dt.strftime("%Y-%m-%d"),
            "timezone": "Asia/Shanghai",
            "site": np.array(["PKUPH", "Renji", "Xiangya"])[rng.integers(0, 3, n)],
            "mtx_dose": rng.choice([7.5, 10.0, 12.5, 15.0, 17.5, 20.0], n),
            "mtx_weekday": np.array(WEEKDAYS)[rng.integers(0, 7, n)],
        }
    )


def tree_rss_mib(pid: int) -> tuple[float, float, float]:
    """Memory of ``pid`` and all its descendants now, in MiB (0 when it is gone): summed resident
    memory (RSS: a page a forked worker shares with its parent counts in both), summed proportional
    memory (PSS: a shared page is divided among the processes that share it, so the sum is what the
    machine really holds), and the largest single process's RSS."""
    rss_total, pss_total, largest, todo = 0, 0, 0, [pid]
    while todo:
        current = todo.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:] if ":" in line}
            rss, pss = fields["Rss"], fields["Pss"]
            rss_total, pss_total, largest = rss_total + rss, pss_total + pss, max(largest, rss)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, KeyError, ValueError):
            continue
    return rss_total / 1024, pss_total / 1024, largest / 1024


def timed(args: list[str]) -> tuple[float, tuple[float, float, float], subprocess.CompletedProcess[str]]:
    """Run ``args``; its wall time and the peaks of its process tree's memory (MiB; see
    :func:`tree_rss_mib`): summed RSS, summed PSS and the largest process (sampled every 0.1 s)."""
    peak = [0.0, 0.0, 0.0]
    started = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while child.poll() is None:
            now = tree_rss_mib(child.pid)
            peak[:] = [max(a, b) for a, b in zip(peak, now, strict=True)]
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    return wall, (peak[0], peak[1], peak[2]), subprocess.CompletedProcess(args, child.returncode, out, err)


#: ``--format parquet`` on the command line: the study tables as Parquet (a third of the disk).
FORMAT: list[str] = []


def generate(n: int, folder: Path) -> float | None:
    """Time ``dosing generate`` for N patients; print a line; the wall time (None when refused)."""
    cohort = folder / f"cohort-{n}.csv"
    cohort_frame(n).to_csv(cohort, index=False)
    out, key = folder / f"out-{n}", folder / "feed.key"
    args = [str(DOSING), "generate", str(PROTOCOL), "--cohort", str(cohort), "--out", str(out), *FORMAT]
    _make_room(n, folder)
    load, cpu_before = os.getloadavg()[0], _children_cpu()
    wall, (rss_peak, tree_peak, single), done = timed(
        [*args, "--key-file", str(key), "--quiet", "--today", "2027-01-01"]
    )
    cpu = tuple(after - before for after, before in zip(_children_cpu(), cpu_before, strict=True))
    if done.returncode != 0:
        print(f"{n:>7,} patients: refused after {wall:.1f} s ({tree_peak:,.0f} MiB): {done.stderr.strip()}")
        return None
    doses = _doses(out / "nct02467504")
    line = (
        f"{n:>7,} patients, {doses:>10,} doses: {wall:7.1f} s wall, {cpu[0] + cpu[1]:7.1f} s CPU "
        f"({cpu[0]:.1f} user, {cpu[1]:.1f} system; all processes); "
        f"peak memory {tree_peak:,.0f} MiB (PSS, all processes; {rss_peak:,.0f} MiB RSS summed), "
        f"largest process {single:,.0f} MiB; "
        f"load before {load:.1f}"
    )
    print(line + _verdict(n, wall, tree_peak))
    return wall


def _doses(study: Path) -> int:
    if (study / "doses.parquet").exists():
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(study / "doses.parquet").metadata.num_rows)
    with (study / "doses.csv").open("rb") as rows:
        return sum(1 for _ in rows) - 1


def _children_cpu() -> tuple[float, float]:
    """CPU seconds (user, system) of the finished child processes and their workers so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


#: Disk a seed patient's outputs take (every file of generate), with a margin.
BYTES_PER_PATIENT = 450_000


def _make_room(n: int, folder: Path) -> None:
    """Keep earlier runs' outputs until the end (deleting thousands of files makes creating files slow
    for minutes after on an ext4 disk without a journal, which skips recently freed inodes one by one
    when it looks for a free one); delete them only when this run would not fit on the disk."""
    if shutil.disk_usage(folder).free > n * BYTES_PER_PATIENT:
        return
    for earlier in sorted(folder.glob("out-*")):
        shutil.rmtree(earlier)
        print(f"  (deleted {earlier.name} to make room: file creation may be slower for some minutes)")


def _verdict(n: int, wall: float, peak: float) -> str:
    seconds, mib = TARGETS.get(n, (None, None))
    parts = []
    if seconds is not None:
        parts.append(f"time {wall / seconds:.2f} of the {seconds:.0f} s target")
    if mib is not None:
        parts.append(f"memory {peak / mib:.2f} of the {mib / 1024:.0f} GB target")
    return f"\n         target: {'; '.join(parts)}" if parts else ""


def rrule_table(n: int) -> pd.DataFrame:
    """The seed dose table, built patient by patient with dateutil.rrule: the baseline of issue 15."""
    from zoneinfo import ZoneInfo

    from dateutil.rrule import DAILY, WEEKLY, rrule, rruleset

    frame = cohort_frame(n)
    zone, rows = ZoneInfo("Asia/Shanghai"), []
    for patient in frame.itertuples(index=False):
        start = dt.datetime.fromisoformat(str(patient.start_date))
        end = start + dt.timedelta(days=167, hours=23)
        weekday = WEEKDAYS.index(str(patient.mtx_weekday))
        mtx = rrule(WEEKLY, byweekday=weekday, byhour=8, dtstart=start, until=end)
        folic = rruleset()
        folic.rrule(rrule(DAILY, byhour=8, dtstart=start, until=end))
        folic.exrule(rrule(WEEKLY, byweekday=weekday, byhour=8, dtstart=start, until=end))
        regimens = [
            ("Methotrexate", float(patient.mtx_dose), "mg", mtx),
            ("Folic acid", 1.0, "mg", folic),
            ("Loxoprofen", 60.0, "mg", rrule(DAILY, byhour=(8, 13, 19), dtstart=start, until=end)),
        ]
        regimens += [
            (
                "hrIL-2 or placebo",
                1e6,
                "IU",
                rrule(DAILY, interval=2, count=7, dtstart=start + dt.timedelta(28 * c, hours=9)),
            )
            for c in range(3)
        ]
        for drug, dose, unit, rule in regimens:
            for at in rule:
                local = at.replace(tzinfo=zone)
                rows.append(
                    (patient.patient_id, local.date().isoformat(), local.strftime("%H:%M"), drug, dose, unit,
                     local.astimezone(dt.UTC), (at - start).days + 1)
                )  # fmt: skip
    columns = ["patient_id", "date", "time", "drug", "dose", "unit", "planned_at", "study_day"]
    return pd.DataFrame(rows, columns=columns).sort_values(["patient_id", "planned_at"], kind="stable")


def ratio(n: int, folder: Path) -> None:
    """generate's wall time over the rrule loop's, both for N patients, in this run."""
    cpu_before = sum(_children_cpu())
    baseline, _, done = timed([sys.executable, __file__, "--rrule", str(n)])
    cpu = sum(_children_cpu()) - cpu_before
    print(f"rrule loop, {n:,} patients: {baseline:.1f} s wall, {cpu:.1f} s CPU ({done.stdout.strip()})")
    wall = generate(n, folder)
    if wall is not None:
        target = "target at 2,000 patients: at most 1"
        print(f"         ratio generate / rrule loop at {n:,} patients: {wall / baseline:.2f} ({target})")


def stages(n: int) -> None:
    """CPU and wall seconds of each stage of generate for N patients, in this process."""
    import contextlib
    from collections.abc import Iterator

    sys.path.insert(0, str(ROOT))
    import dosing
    from dosing.jobs.progress import Progress

    class Stages(Progress):
        @contextlib.contextmanager
        def stage(self, name: str, total: int | None = None) -> Iterator[Progress]:
            cpu, wall = time.process_time(), time.perf_counter()
            yield self
            print(
                f"  {name:42s} {time.process_time() - cpu:7.2f} s CPU (this process), "
                f"{time.perf_counter() - wall:7.2f} s wall"
            )

    protocol = dosing.load_protocol(PROTOCOL)
    with tempfile.TemporaryDirectory() as tmp:
        cohort_frame(n).to_csv(Path(tmp) / "cohort.csv", index=False)
        cohort = dosing.load_cohort(Path(tmp) / "cohort.csv", protocol)
        print(f"generate, {n:,} patients, stage by stage (load average {os.getloadavg()[0]:.1f}):")
        started = time.perf_counter()
        dosing.generate(protocol, cohort, Path(tmp) / "out", key_file=Path(tmp) / "feed.key", progress=Stages(False))
        print(f"  total {time.perf_counter() - started:.1f} s wall")


def _compiled() -> None:
    """Byte-compile the package first, as an installed package is after its first run (a machine with
    PYTHONDONTWRITEBYTECODE set would otherwise compile every module in every timed run)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "dosing")], check=True)


def main() -> None:
    if sys.argv[1:2] == ["--stages"]:
        stages(int(sys.argv[2]))
        return
    if sys.argv[1:2] == ["--rrule"]:
        print(f"{len(rrule_table(int(sys.argv[2]))):,} doses")
        return
    args = sys.argv[1:]
    at_ratio = 2000
    if "--ratio" in args:
        at_ratio = int(args[args.index("--ratio") + 1])
        del args[args.index("--ratio") : args.index("--ratio") + 2]
    if "--format" in args:
        FORMAT.extend(["--format", args[args.index("--format") + 1]])
        del args[args.index("--format") : args.index("--format") + 2]
    sizes = [int(a) for a in args] or [1, 127, 128, 1000]
    _compiled()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pandas {pd.__version__}"
    )
    keep = bool(os.environ.get("BENCH_KEEP"))  # several runs in a row: delete their outputs after the last
    tmp = tempfile.mkdtemp(dir=os.environ.get("BENCH_DIR"))
    try:
        if at_ratio:  # first: no earlier run has freed inodes yet (see _make_room)
            ratio(at_ratio, Path(tmp))
        for n in sizes:
            generate(n, Path(tmp))
    finally:
        if keep:
            print(f"outputs kept in {tmp} (BENCH_KEEP)")
        else:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
