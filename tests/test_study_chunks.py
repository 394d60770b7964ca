"""A study written a chunk of patients at a time (dosing.jobs.study_chunks, for cohorts too large
for one table) writes the bytes of the one-table run: every file, at cohort sizes around the chunk
boundaries (1, 127, 128 and 1,000 patients; chunks of 1, 64, 127, 128, 250 patients)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dosing.jobs.study_chunks as study_chunks
import dosing.jobs.worklist_runs as worklist_runs
import dosing.plan.expand as expand_module
from dosing.errors import CohortError
from dosing.io.read.files import load_cohort, load_protocol
from dosing.jobs.generate import generate
from dosing.jobs.worklist_runs import WorklistRuns
from tests.conftest import PROTOCOLS
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)

SEED = PROTOCOLS / "nct02467504.toml"
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def seed_cohort(n: int, folder: Path) -> Path:
    """N seed patients over a year of start dates, three sites and two zones, ids not in text order."""
    rng = np.random.default_rng(n)
    start = np.datetime64("2027-01-04") + rng.integers(0, 365, n).astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{(i * 7919) % 100003:06d}" for i in range(n)],
            "arm": np.where(rng.random(n) < 0.5, "active", "placebo"),
            "start_date": pd.Series(start).dt.strftime("%Y-%m-%d"),
            "timezone": np.array(["Asia/Shanghai", "Europe/Berlin"])[rng.integers(0, 2, n)],
            "site": np.array(["PKUPH", "Renji", "Xiangya"])[rng.integers(0, 3, n)],
            "mtx_dose": rng.choice([7.5, 10.0, 12.5, 15.0], n),
            "mtx_weekday": np.array(WEEKDAYS)[rng.integers(0, 7, n)],
        }
    )
    path = folder / f"cohort-{n}.csv"
    frame.to_csv(path, index=False)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    manifest = json.loads(files.pop("manifest.json"))
    files["manifest.json"] = json.dumps({**manifest, "written_at": None}).encode()
    return files


def run(tmp_path: Path, name: str, n: int, chunk: int | None, monkeypatch: pytest.MonkeyPatch, **options: object):
    protocol = load_protocol(SEED)
    cohort = load_cohort(seed_cohort(n, tmp_path), protocol)
    monkeypatch.setattr(study_chunks, "STUDY_CHUNK_PATIENTS", 10**9 if chunk is None else chunk)
    key = tmp_path / "feed.key"
    options = {"today": dt.date(2026, 12, 1), **options}
    result = generate(protocol, cohort, tmp_path / name, key_file=key, **options)  # type: ignore[arg-type]
    return result, result.folder


@pytest.mark.parametrize(
    ("n", "chunk"), [(1, 0), (127, 64), (127, 127 - 1), (128, 64), (128, 127), (1000, 250)], ids=str
)
def test_chunks_write_the_bytes_of_one_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int, chunk: int
) -> None:
    whole, whole_folder = run(tmp_path, "whole", n, None, monkeypatch)
    parts, parts_folder = run(tmp_path, "parts", n, chunk, monkeypatch)
    expected, actual = snapshot(whole_folder), snapshot(parts_folder)
    assert actual.keys() == expected.keys()
    assert len([k for k in expected if k.endswith("calendar.ics")]) == n
    for name in expected:
        if name != "manifest.json":
            assert actual[name] == expected[name], name
    assert parts.summary().replace("parts", "whole") == whole.summary()
    assert parts.warnings == whole.warnings


def test_unblinded_chunks_write_the_bytes_of_one_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(study_chunks, "workers_for", lambda _: 2)  # the chunks in the pool, as for large cohorts
    _, whole = run(tmp_path, "whole", 130, None, monkeypatch, unblinded=True)
    _, parts = run(tmp_path, "parts", 130, 64, monkeypatch, unblinded=True)
    assert {k: v for k, v in snapshot(parts).items() if k != "manifest.json"} == {
        k: v for k, v in snapshot(whole).items() if k != "manifest.json"
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_parquet_chunks_hold_the_rows_of_one_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(study_chunks, "workers_for", lambda _: workers)
    _, whole = run(tmp_path, "whole", 130, None, monkeypatch, table_format="parquet")
    _, parts = run(tmp_path, "parts", 130, 64, monkeypatch, table_format="parquet")
    for name in ("doses", "worklist", "visits", "visit-worklist"):
        expected = pd.read_parquet(whole / f"{name}.parquet").astype(str)
        actual = pd.read_parquet(parts / f"{name}.parquet").astype(str)
        pd.testing.assert_frame_equal(actual, expected, obj=name)


@pytest.mark.filterwarnings("ignore")
def test_parquet_chunks_whose_doses_are_blank_on_some_dates_hold_the_rows_of_one_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nct04077684 in chunks of 2 patients: a column with no value on some of a chunk's dates was typed
    null by pyarrow for those dates, and writing worklist.parquet failed (schema mismatch, a traceback)
    until each chunk's sheet was converted once and the chunks' types unified."""
    protocol = load_protocol(PROTOCOLS / "nct04077684.toml")
    cohort = load_cohort(PROTOCOLS / "nct04077684-cohort.csv", protocol)
    folders = {}
    for name, chunk in (("whole", 10**9), ("parts", 2)):
        monkeypatch.setattr(study_chunks, "STUDY_CHUNK_PATIENTS", chunk)
        options = {"today": dt.date(2026, 12, 1), "table_format": "parquet"}
        folders[name] = generate(protocol, cohort, tmp_path / name, key_file=tmp_path / "k.key", **options).folder
    for name in ("doses", "worklist"):
        expected = pd.read_parquet(folders["whole"] / f"{name}.parquet")
        actual = pd.read_parquet(folders["parts"] / f"{name}.parquet")
        pd.testing.assert_frame_equal(actual.astype(str), expected.astype(str), obj=name)
        assert [str(t) for t in actual.dtypes] == [str(t) for t in expected.dtypes], name


def test_the_planned_dose_limit_applies_to_a_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """693 doses per seed patient: 20 patients are over a limit of 10,000 as one table, not in chunks of 10."""
    monkeypatch.setattr(expand_module, "MAX_PLANNED_DOSES", 10_000)
    with pytest.raises(CohortError, match="more than 10,000 planned doses"):
        run(tmp_path, "whole", 20, None, monkeypatch)
    result, folder = run(tmp_path, "parts", 20, 10, monkeypatch)
    assert result.patients == 20
    assert sum(1 for _ in (folder / "doses.csv").open("rb")) - 1 == 20 * 693


@pytest.mark.parametrize("part_rows", [200_000, 3, 1])
def test_worklist_runs_interleave_chunks_by_time_patient_and_drug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part_rows: int
) -> None:
    """Two chunks' rows of one date are merged as one sort would order them; ties keep chunk order
    (also when a chunk is rendered a few rows at a time)."""
    monkeypatch.setattr(worklist_runs, "PART_ROWS", part_rows)

    def sheet(rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
        frame = pd.DataFrame(rows, columns=["date", "time", "patient_id", "drug", "note"])
        return frame.astype({"date": "category", "time": "category", "patient_id": "category", "drug": "category"})

    runs = WorklistRuns(tmp_path / "runs")
    runs.add(sheet([("2027-01-01", "08:00", "B", "x", "1"), ("2027-01-01", "08:00", "B", "x", "2"),
                    ("2027-01-01", "20:00", "A", "y", "3"), ("2027-01-02", "08:00", "B", "x", "4")]))  # fmt: skip
    runs.add(sheet([("2027-01-01", "08:00", "A", "z", "5"), ("2027-01-01", "09:00", "C", "x", "6"),
                    ("2027-01-03", "07:00", "C", "x", "7")]))  # fmt: skip
    out = tmp_path / "worklist.csv"
    with out.open("wb") as handle:
        runs.write(handle)
    notes = [line.split(",")[-1] for line in out.read_text(encoding="utf-8-sig").splitlines()[1:]]
    assert notes == ["5", "1", "2", "6", "3", "4", "7"]
    assert not (tmp_path / "runs").exists()


def test_chunks_give_the_warnings_of_one_table_and_strict_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dosing.plan.warnings import WarningsRefused

    late = {"today": dt.date(2027, 6, 1)}  # most of the 40 patients started before: a warning each
    whole, _ = run(tmp_path, "whole", 40, None, monkeypatch, **late)  # type: ignore[arg-type]
    parts, _ = run(tmp_path, "parts", 40, 16, monkeypatch, **late)  # type: ignore[arg-type]
    assert len(whole.warnings) > 2
    assert parts.warnings == whole.warnings
    with pytest.raises(WarningsRefused):
        run(tmp_path, "strict", 40, 16, monkeypatch, strict=True, **late)  # type: ignore[arg-type]
    assert not (tmp_path / "strict" / "nct02467504").exists()


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ([0, 1, 2, 3], b"a\nbb\nccc\nd\n"),
        ([2, 0, 1, 3], b"ccc\na\nbb\nd\n"),
        ([3, 2, 1, 0], b"d\nccc\nbb\na\n"),
        ([1, 2, 3, 0], b"bb\nccc\nd\na\n"),
    ],
)
def test_rows_are_gathered_in_order_a_stretch_at_a_time(order: list[int], expected: bytes) -> None:
    blob, lengths = b"a\nbb\nccc\nd\n", np.array([2, 3, 4, 2])
    assert worklist_runs._gathered(blob, lengths, np.array(order)) == expected
