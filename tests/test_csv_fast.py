"""``write_csv_fast`` writes the same bytes as ``write_csv`` (the adherence tables go through it).

The tables of real adherence checks (blinded and unblinded, with bad rows and extra doses), a
table of every awkward cell (formulas, carriage returns, quotes, commas, line feeds, missing values
of every dtype, categories that collide once neutralised), and random text cells."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dosing
from dosing.io.write.csv import write_csv
from dosing.io.write.csv_fast import write_csv_fast
from tests.conftest import FIXTURES


def both(frame: pd.DataFrame, folder: Path) -> tuple[bytes, bytes]:
    write_csv(frame, folder / "slow.csv")
    write_csv_fast(frame, folder / "fast.csv")
    return (folder / "slow.csv").read_bytes(), (folder / "fast.csv").read_bytes()


@pytest.mark.parametrize(
    ("log", "as_of", "unblinded"),
    [
        ("log-seed-cohort-small.csv", "2027-06-01", False),
        ("log-seed-cohort-small.csv", "2027-06-01", True),
        ("log-bad-rows.csv", "2027-02-01", False),
        ("log-double-dose.csv", "2027-02-01", False),
        ("log-diary-dates-only.csv", "2027-03-01", False),
    ],
)
def test_the_adherence_tables_are_written_byte_for_byte_alike(
    seed_protocol: dosing.Protocol, seed_cohort: dosing.Cohort, tmp_path: Path, log: str, as_of: str, unblinded: bool
) -> None:
    result = dosing.check_adherence(
        seed_protocol, seed_cohort, FIXTURES / log, as_of=dt.date.fromisoformat(as_of), unblinded=unblinded
    )
    for name in ("doses", "extra", "summary", "bad_rows"):
        slow, fast = both(getattr(result, name), tmp_path)
        assert fast == slow, name
    assert len(result.doses) > 1000  # the seed cohort's plan: a real table, not an empty one


def awkward() -> pd.DataFrame:
    text = ["=SUM(A1)", "+1", "-5", "-x", "@me", "\tx", "a\rb", "c\r\nd", 'say "hi"', "a,b", "two\nlines", "", "ok"]
    n = len(text)
    return pd.DataFrame(
        {
            "text": pd.Series(text, dtype=object),
            "str": pd.Series([*text[:-1], None], dtype="str"),
            "with_none": pd.Series([None, *text[1:]], dtype=object),
            "mixed": pd.Series([1, "=1", 2.5, None, True, *text[5:]], dtype=object),
            "category": pd.Categorical([*text[:-2], None, "ok"]),
            "collide": pd.Categorical((["=1", "'=1"] * n)[:n]),
            "int_category": pd.Categorical(list(range(n))),
            "float": [
                1 / 3,
                np.nan,
                1e20,
                -0.0,
                0.0,
                0.1,
                12.5,
                1e-7,
                np.inf,
                -0.0,
                4.25,
                5.0,
                np.nan,
            ],  # -0.0 prints "-0"
            "int": np.arange(n, dtype=np.int64) - 5,
            "Int16": pd.array([1, None, *range(n - 2)], dtype="Int16"),
            "Int64": pd.array([*range(n - 1), None], dtype="Int64"),
            "bool": np.arange(n) % 2 == 0,
            "object_bool": pd.Series([True, False, *([True] * (n - 2))], dtype=object),
            "object_numbers": pd.Series([1, 1.0, True, 0, False, 0.0, -0.0, *range(n - 7)], dtype=object),
            "date": pd.date_range("2027-01-04", periods=n, freq="D"),
            "utc": pd.date_range("2027-01-04 08:00", periods=n, freq="h", tz="Asia/Shanghai"),
        }
    )


def test_every_awkward_cell_is_written_alike(tmp_path: Path) -> None:
    frame = awkward()
    slow, fast = both(frame, tmp_path)
    assert fast == slow
    assert "'=SUM(A1)" in fast.decode("utf-8-sig")  # the formula was neutralised, in both


@pytest.mark.parametrize("column", list(awkward().columns))
def test_a_table_of_one_column_empty_cells_too(tmp_path: Path, column: str) -> None:
    frame = awkward()[[column]]
    assert both(frame, tmp_path)[1] == both(frame, tmp_path)[0]
    assert both(frame.iloc[:0], tmp_path)[1] == both(frame.iloc[:0], tmp_path)[0]  # the header alone


def test_one_empty_text_cell_alone_on_its_row(tmp_path: Path) -> None:
    slow, fast = both(pd.DataFrame({"notes": ["", "x", ""]}), tmp_path)
    assert fast == slow == '\ufeffnotes\n""\nx\n""\n'.encode()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(alphabet='=+-@\t\r\n",ab1 .;é', max_size=6), st.text(alphabet="=-,x\r", max_size=3)),
        min_size=0,
        max_size=12,
    )
)
def test_random_text_is_written_alike(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str]]) -> None:
    frame = pd.DataFrame(rows, columns=["a", "b"], dtype=object)
    frame["c"] = frame["b"].astype("category")
    slow, fast = both(frame, tmp_path_factory.mktemp("csv"))
    assert fast == slow
