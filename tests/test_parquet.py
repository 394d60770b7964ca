"""``dosing generate --format parquet``: the study tables as Parquet, the same rows as the CSV
files; blinded Parquet reveals no arm (read back, dictionaries and metadata included); without
pyarrow the option is a clean error naming the install command."""

from __future__ import annotations

import builtins
import io
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dosing.cli import main
from tests.conftest import PROTOCOLS
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_blinding import generate as generate_arms
from tests.test_blinding import leaks

SEED = PROTOCOLS / "nct02467504.toml"
COHORT = PROTOCOLS / "nct02467504-cohort.csv"
TABLES = ("doses", "worklist", "visits", "visit-worklist")


def run_generate(out: Path, *extra: str) -> Path:
    result = CliRunner().invoke(main, ["generate", str(SEED), "--cohort", str(COHORT), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out / ("nct02467504-UNBLINDED" if "--unblinded" in extra else "nct02467504")


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the text a CSV shows (numbers as %.10g, missing as "")."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False, float_format="%.10g")), dtype=str, keep_default_na=False)


@pytest.mark.parametrize("unblinded", [False, True], ids=["blinded", "unblinded"])
def test_parquet_tables_hold_the_rows_of_the_csv_files(tmp_path: Path, unblinded: bool) -> None:
    flag = ("--unblinded",) if unblinded else ()
    csv_folder = run_generate(tmp_path / "csv", *flag)
    parquet_folder = run_generate(tmp_path / "parquet", "--format", "parquet", *flag)
    for name in TABLES:
        assert not (parquet_folder / f"{name}.csv").exists()
        expected = pd.read_csv(csv_folder / f"{name}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        actual = as_text(pd.read_parquet(parquet_folder / f"{name}.parquet"))
        assert len(actual) > 0, name
        pd.testing.assert_frame_equal(actual, expected, obj=name)
    # the patients' files and calendars are the same bytes as with CSV
    for path in sorted((csv_folder / "patients").rglob("*")):
        if path.is_file():
            assert (parquet_folder / path.relative_to(csv_folder)).read_bytes() == path.read_bytes(), path


def test_parquet_keeps_the_types(tmp_path: Path) -> None:
    doses = pd.read_parquet(run_generate(tmp_path, "--format", "parquet") / "doses.parquet")
    assert doses["dose"].dtype == "float64"
    assert doses["study_day"].dtype == "int32"
    assert doses["dose_number"].dtype == "int64"
    assert str(doses.loc[0, "date"]) == "2026-12-11"  # the first seed patient's first day, as in doses.csv
    assert list(doses.columns[:3]) == ["patient_id", "date", "time"]


def parquet_texts(path: Path) -> str:
    """Everything a reader of ``path`` can see: column names, schema metadata (pandas' included),
    every dictionary value (used or not) and every cell."""
    table = pq.read_table(path)
    parts = [str(table.schema), str(table.schema.metadata)]
    for column in table.columns:
        for chunk in column.chunks:
            if hasattr(chunk, "dictionary"):
                parts += [str(v) for v in chunk.dictionary.to_pylist()]
            parts += [str(v) for v in chunk.to_pylist()]
    return "\n".join(parts)


def test_blinded_parquet_reveals_no_arm(tmp_path: Path) -> None:
    from dosing.io.read.files import load_protocol

    protocol = load_protocol(SEED)
    arms = {f"PX-{i:03d}": arm.id for i, arm in enumerate(protocol.arms)}
    folder = generate_arms(tmp_path, SEED, arms, "--format", "parquet")
    files = sorted(folder.glob("*.parquet"))
    assert [f.stem for f in files] == sorted(TABLES)
    for path in files:
        assert leaks(parquet_texts(path), protocol) == [], path.name
    unblinded = generate_arms(tmp_path / "u", SEED, arms, "--format", "parquet", "--unblinded")
    assert "placebo" in leaks(parquet_texts(unblinded / "doses.parquet"), protocol)  # the check can fail


def hide_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import pyarrow`` fail, as on an installation without the ``[parquet]`` extra."""
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: object, **kwargs: object) -> object:
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)


def test_without_pyarrow_the_option_is_a_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hide_pyarrow(monkeypatch)
    out = tmp_path / "out"
    args = ["generate", str(SEED), "--cohort", str(COHORT), "--out", str(out), "--format", "parquet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Error: --format parquet needs the pyarrow package, which is not installed" in result.output
    assert "pip install 'dosing[parquet]'" in result.output
    assert not out.exists()  # nothing written
    assert "Traceback" not in result.output
