"""Benchmark: ``csv_rows`` on ``dosing generate``'s real tables (issue 15).

Builds one chunk's tables the way ``dosing/jobs/study_chunks.py`` does (expand, the dose table,
the worklist; cohort from ``bench/generate.py``'s ``cohort_frame``) and times ``csv_rows`` on the
shown dose table and on the worklist: CPU seconds (process time), best of ``--repeat``.

Run: python bench/csv_rows.py [N patients, default 1024] [--repeat 3] [--save FILE.pkl]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def tables(n: int) -> dict[str, pd.DataFrame]:
    """The shown dose table and the worklist of a chunk of ``n`` seed patients (blinded)."""
    from generate import PROTOCOL, cohort_frame

    import dosing
    from dosing.jobs.generate import _dose_table, worklist
    from dosing.plan.columns import dose_table_columns
    from dosing.plan.expand import expand

    protocol = dosing.load_protocol(PROTOCOL)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cohort.csv"
        cohort_frame(n).to_csv(path, index=False)
        cohort = dosing.load_cohort(path, protocol)
    table = _dose_table(expand(protocol, cohort), protocol, unblinded=False)
    sheet = worklist(table, cohort, unblinded=False)
    return {"doses": table[dose_table_columns(protocol.study.blinded, False)], "worklist": sheet}


def best_cpu(frame: pd.DataFrame, repeat: int) -> tuple[float, float, int]:
    """Best CPU and wall seconds of ``csv_rows(frame)`` over ``repeat`` runs, and its size in bytes."""
    from dosing.io.write.csv_fast import csv_rows

    cpu, wall, size = [], [], 0
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        size = len(csv_rows(frame))
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall), size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--save", type=Path, help="pickle the tables here (or load them when it exists)")
    args = parser.parse_args()
    if args.save is not None and args.save.exists():
        frames = pickle.loads(args.save.read_bytes())
    else:
        frames = tables(args.n)
        if args.save is not None:
            args.save.write_bytes(pickle.dumps(frames))
    for name, frame in frames.items():
        cpu, wall, size = best_cpu(frame, args.repeat)
        load = os.getloadavg()[0]
        print(
            f"{name:>8}: {len(frame):>9,} rows x {frame.shape[1]} columns, {size / 1e6:6.1f} MB: "
            f"{cpu:6.2f} s CPU, {wall:6.2f} s wall (best of {args.repeat}; load {load:.1f})"
        )


if __name__ == "__main__":
    main()
