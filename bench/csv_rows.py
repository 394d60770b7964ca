"""Benchmark: ``csv_rows`` on ``dosing generate``'s real tables (issue 15).

Builds one chunk's tables the way ``dosing/jobs/study_chunks.py`` does (expand, the dose table,
the worklist; cohort from ``bench/generate.py``'s ``cohort_frame``) and times ``csv_rows`` on the
shown dose table and on the worklist: CPU seconds (process time), best of ``--repeat``.
``--adherence N`` also times it on the judged doses of ``dosing adherence`` for N seed patients
(``bench/adherence.py``'s log with few extras; about 695 rows per patient), the table
``write_csv_fast`` writes as ``adherence/doses.csv``.

``--against FILE`` times another version of ``csv_fast.py`` (e.g. main's) on the same tables,
alternating with this one run by run so that both see the same load, and checks the bytes are
the same.

Run: python bench/csv_rows.py [N patients, default 1024] [--repeat 3] [--adherence 1440]
     [--against /work/main/dosing/io/write/csv_fast.py] [--save FILE.pkl]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tables(n: int) -> dict[str, pd.DataFrame]:
    """The shown dose table and the worklist of a chunk of ``n`` seed patients (blinded)."""
    import dosing
    from bench.generate import PROTOCOL, cohort_frame
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


def adherence_doses(n: int) -> pd.DataFrame:
    """The judged doses of ``dosing adherence`` for ``n`` seed patients (few extras)."""
    import bench.adherence
    import dosing
    from dosing.jobs.generate import worklist
    from dosing.plan.durations import add_end_columns

    # bench/adherence.py's prepare() gives worklist() a table without the end columns it now needs
    bench.adherence.worklist = lambda table, cohort: worklist(add_end_columns(table), cohort)  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        bench.adherence.prepare(n, folder)
        protocol = dosing.load_protocol(bench.adherence.PROTOCOL)
        cohort = dosing.load_cohort(folder / "cohort.csv", protocol)
        path = folder / "few-extras.csv"
        return dosing.check_adherence(protocol, cohort, path, as_of=bench.adherence.AS_OF).doses


def load_version(path: Path) -> Callable[[pd.DataFrame], bytes]:
    """``csv_rows`` of another copy of ``csv_fast.py`` (imported as part of this ``dosing``)."""
    spec = importlib.util.spec_from_file_location("dosing.io.write._csv_fast_against", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.csv_rows


def cpu_once(render: Callable[[pd.DataFrame], bytes], frame: pd.DataFrame) -> tuple[float, float, bytes]:
    started_cpu, started = time.process_time(), time.perf_counter()
    rows = render(frame)
    return time.process_time() - started_cpu, time.perf_counter() - started, rows


def main() -> None:
    from dosing.io.write.csv_fast import csv_rows

    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--adherence", type=int, default=0, help="patients for the adherence doses table")
    parser.add_argument("--against", type=Path, help="another csv_fast.py to time on the same tables")
    parser.add_argument("--save", type=Path, help="pickle the tables here (or load them when it exists)")
    args = parser.parse_args()
    if args.save is not None and args.save.exists():
        frames = pickle.loads(args.save.read_bytes())
    else:
        frames = tables(args.n)
        if args.adherence:
            frames["adherence doses"] = adherence_doses(args.adherence)
        if args.save is not None:
            args.save.write_bytes(pickle.dumps(frames))
    versions = {"this": csv_rows}
    if args.against is not None:
        versions["against"] = load_version(args.against)
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load before {os.getloadavg()[0]:.1f}")
    for name, frame in frames.items():
        best: dict[str, tuple[float, float]] = {v: (float("inf"), float("inf")) for v in versions}
        outputs: dict[str, bytes] = {}
        for _ in range(args.repeat):
            for version, render in versions.items():  # alternating: both see the same load
                cpu, wall, outputs[version] = cpu_once(render, frame)
                best[version] = (min(best[version][0], cpu), min(best[version][1], wall))
        same = "" if len(outputs) == 1 else f"; same bytes: {len(set(outputs.values())) == 1}"
        figures = ", ".join(f"{v} {c:.2f} s CPU ({w:.2f} s wall)" for v, (c, w) in best.items())
        print(
            f"{name:>15}: {len(frame):>9,} rows x {frame.shape[1]} columns, {len(outputs['this']) / 1e6:6.1f} MB: "
            f"{figures} (best of {args.repeat}; load {os.getloadavg()[0]:.1f}){same}"
        )


if __name__ == "__main__":
    main()
