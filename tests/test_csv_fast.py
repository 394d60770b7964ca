"""``write_csv_fast`` and ``csv_rows`` write the same bytes as ``write_csv`` (the adherence tables,
and generate's dose tables and worklist, go through them).

The tables of real adherence checks (blinded and unblinded, with bad rows and extra doses), a
table of every awkward cell (formulas, carriage returns, quotes, commas, line feeds, missing values
of every dtype, categories that collide once neutralised), random text cells, and random tables
of every column kind whose coded columns are fused into segments (with the fusion forced to split
at every column, at some, or never)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dosing
import dosing.io.write.csv_fast as csv_fast
from dosing.io.write.csv import csv_header, row_ends, write_csv
from dosing.io.write.csv_fast import csv_rows, write_csv_fast
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


# ---- segments: adjacent coded columns fused, each combination joined once ----------------------


def dose_rows() -> pd.DataFrame:
    """Four doses as the dose table has them: date and time categories, a uid per row, a status."""
    return pd.DataFrame(
        {
            "date": pd.Categorical(["2027-01-04", "2027-01-04", "2027-01-05", "2027-01-04"]),
            "time": pd.Categorical(["08:00", "20:00", "08:00", "08:00"], categories=["08:00", "13:00", "20:00"]),
            "dose": [1.0, 2.5, 1.0, 1.0],
            "uid": pd.Series(["u1", "u2", "u3", "u4"], dtype="str"),
            "status": pd.Categorical(["planned", "held", "planned", "planned"]),
        }
    )


def test_adjacent_coded_columns_are_one_segment_and_each_row_ends_in_a_line_feed() -> None:
    segments = csv_fast._segments(dose_rows())
    assert [list(s) for s in segments] == [
        ["2027-01-04,08:00,1", "2027-01-04,20:00,2.5", "2027-01-05,08:00,1", "2027-01-04,08:00,1"],
        ["u1", "u2", "u3", "u4"],  # a text per row: the uids do not repeat
        ["planned\n", "held\n", "planned\n", "planned\n"],
    ]
    assert segments[0][0] is segments[0][3]  # one text for the combination, joined once
    assert csv_rows(dose_rows()) == (
        b"2027-01-04,08:00,1,u1,planned\n2027-01-04,20:00,2.5,u2,held\n"
        b"2027-01-05,08:00,1,u3,planned\n2027-01-04,08:00,1,u4,planned\n"
    )


def test_a_run_stops_fusing_at_the_column_that_gives_too_many_combinations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_fast, "_FUSE_MIN", 3)  # at most three combinations in a segment (of 4 rows)
    frame = pd.DataFrame(
        {
            "date": pd.Categorical(["2027-01-04", "2027-01-04", "2027-01-05", "2027-01-05"]),
            "time": pd.Categorical(["08:00", "20:00", "08:00", "20:00"]),
            "dose": [1.0, 2.5, 1.0, 2.5],
            "uid": pd.Series(["u1", "u2", "u3", "u4"], dtype="str"),
        }
    )
    segments = csv_fast._segments(frame)
    assert [list(s) for s in segments] == [
        ["2027-01-04", "2027-01-04", "2027-01-05", "2027-01-05"],  # with the times: four combinations
        ["08:00,1", "20:00,2.5", "08:00,1", "20:00,2.5"],  # two
        ["u1\n", "u2\n", "u3\n", "u4\n"],
    ]
    assert (
        csv_rows(frame)
        == b"2027-01-04,08:00,1,u1\n2027-01-04,20:00,2.5,u2\n2027-01-05,08:00,1,u3\n2027-01-05,20:00,2.5,u4\n"
    )


def test_text_that_repeats_is_coded_and_text_that_does_not_is_a_text_per_row() -> None:
    site = pd.Series(["PKUPH", "=Renji", None, "PKUPH"] * 300, dtype="str")
    codes, texts = csv_fast.coded(site)
    assert codes is not None and sorted(texts) == ["", "'=Renji", "PKUPH"]  # neutralised once
    codes, texts = csv_fast.coded(pd.Series([f"=u{i}" for i in range(1200)], dtype="str"))
    assert codes is None and texts[7] == "'=u7"


def test_a_line_break_in_a_fused_category_is_quoted_and_lines_are_no_longer_rows(tmp_path: Path) -> None:
    frame = dose_rows()
    frame["status"] = pd.Categorical(["planned", "held\rnote", "planned", "planned"])
    rows = csv_rows(frame)
    assert b'u2,"held\nnote"\n' in rows
    assert row_ends(rows, 4) is None
    slow, fast = both(frame, tmp_path)
    assert fast == slow == csv_header(frame) + rows


def test_many_wide_categories_are_renumbered_as_they_fuse(tmp_path: Path) -> None:
    """Twelve columns of 5,000 categories (most unused): the combined codes would pass 2**63."""
    rng = np.random.default_rng(15)
    names = [f"c{i:04d}" for i in range(5000)]
    frame = pd.DataFrame(
        {f"col{k}": pd.Categorical(rng.choice(names[: 3 + k], 3000), categories=names) for k in range(12)}
    )
    slow, fast = both(frame, tmp_path)
    assert fast == slow
    assert csv_header(frame) + csv_rows(frame) == slow


def test_combined_codes_are_renumbered_once_their_bound_passes_the_limit() -> None:
    run, column = np.array([0, 1, 1, 0]), np.array([2, 0, 2, 2])  # codes below 2 and 3
    both, bound = csv_fast._combine(run, 2, column, 3, limit=6)  # type: ignore[misc]
    assert (both.tolist(), bound) == ([2, 3, 5, 2], 6)  # code * 3 + next code: within the limit as it is
    both, bound = csv_fast._combine(run, 2, column, 3, limit=4)  # type: ignore[misc]
    assert (both.tolist(), bound) == ([0, 1, 2, 0], 3)  # three combinations occur, numbered in order
    assert csv_fast._combine(run, 2, np.array([1, 0, 1, 1]), 2, limit=2) is None  # three combinations: it stops
    both, bound = csv_fast._combine(run * 5, 10, column, 10, limit=15)  # type: ignore[misc]
    assert sorted(set(both.tolist())) == [0, 1, 2] and bound == 3  # a bound of 100 for 4 rows: factorized
    assert csv_fast._combine(run, 2, np.arange(4), 5, limit=4) is None  # a column of more values than a segment


def column_of(kind: str, cells: list[str | None]) -> object:
    """A column of ``kind`` from cells of text (numbers from their lengths)."""
    lengths = [None if c is None else len(c) for c in cells]
    if kind == "category":  # with unused categories, one colliding once neutralised
        return pd.Categorical(cells, categories=sorted({c for c in cells if c is not None} | {"unused", "'=1"}))
    if kind in ("str", "object"):
        return pd.Series(cells, dtype=kind)
    if kind == "python str":  # pandas' str without pyarrow
        return pd.Series(cells, dtype=pd.StringDtype("python", na_value=np.nan))
    if kind == "unique":  # text that does not repeat: a text per row
        return pd.Series([f"{c}{i}" if c is not None else None for i, c in enumerate(cells)], dtype="str")
    if kind == "Int16":
        return pd.array(lengths, dtype="Int16")
    if kind == "float":
        return pd.Series([np.nan if n is None else n / 4 - 0.5 for n in lengths], dtype="float64")
    return pd.Series([n or 0 for n in lengths], dtype="int64")


KINDS = ["category", "str", "python str", "object", "unique", "Int16", "float", "int"]
CELL = st.one_of(st.none(), st.text(alphabet='=+-@\t\r\n",ab1 .é×', max_size=4))


@settings(max_examples=80, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=6),
    pool=st.lists(CELL, min_size=1, max_size=4),
    picks=st.lists(st.lists(st.integers(0, 3), min_size=6, max_size=6), max_size=40),
    fuse=st.sampled_from([(8, 256), (1, 1), (2, 3)]),
)
def test_random_tables_are_written_alike_however_the_columns_fuse(
    tmp_path_factory: pytest.TempPathFactory,
    kinds: list[str],
    pool: list[str | None],
    picks: list[list[int]],
    fuse: tuple[int, int],
) -> None:
    """0 to 40 rows, 1 to 6 columns of any kind from a few cells (so that they repeat), fused
    whole, split at every column (at most one combination) or at some."""
    frame = pd.DataFrame(
        {f"c{i}": column_of(kind, [pool[row[i] % len(pool)] for row in picks]) for i, kind in enumerate(kinds)},
        index=range(len(picks)),
    )
    folder = tmp_path_factory.mktemp("csv")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_fast, "_FUSE_SHARE", fuse[0])
        patch.setattr(csv_fast, "_FUSE_MIN", fuse[1])
        slow, fast = both(frame, folder)
        assert fast == slow
        assert csv_header(frame) + csv_rows(frame) == slow
        half = len(frame) // 2
        assert csv_header(frame) + csv_rows(frame.iloc[:half]) + csv_rows(frame.iloc[half:]) == slow
