"""The fast paths of ``dosing generate`` (issue 15) write the same bytes as the plain definitions:
per-patient files sliced from rows rendered once, chunks in a pool of processes, CSV neutralised a
column at once, the worklist sorted on category codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dosing
import dosing.jobs.patient_files as patient_files
from dosing.io.write.csv import csv_header, row_ends, safe_cell, safe_frame, write_csv
from dosing.io.write.csv_fast import csv_rows
from dosing.jobs.generate import _dose_table, worklist
from dosing.jobs.patient_files import (
    CalendarOptions,
    chunks,
    patient_tables,
    write_patient_files,
    write_rows_in_pool,
)
from dosing.plan.columns import CALENDAR_ONLY, DOSE_COLUMNS, WORKLIST_COLUMNS
from dosing.plan.visits import VISIT_COLUMNS
from dosing.serve.feeds import Feeds, feed_token
from tests.conftest import PROTOCOLS

SEED = PROTOCOLS / "nct02467504.toml"

# ---- CSV ----------------------------------------------------------------------------------------

CELLS = st.one_of(
    st.none(),
    st.sampled_from(
        ["=SUM(A1)", "-5", "+1e3", "-x", "@me", "\tx", "a\rb", "\r\n", "'=1", "=1", "", "plain", "1 × 10⁶ IU"]
    ),
    st.text(alphabet="=+-@\t\r\n ab1.e", max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(CELLS, min_size=1, max_size=12))
def test_a_text_column_is_neutralised_as_cell_by_cell(cells: list[str | None]) -> None:
    frame = pd.DataFrame({"obj": pd.Series(cells, dtype=object), "str": pd.Series(cells, dtype="str")})
    safe = safe_frame(frame)
    expected = [safe_cell(c) if isinstance(c, str) else c for c in cells]
    assert safe["obj"].tolist() == expected
    assert [v if isinstance(v, str) else None for v in safe["str"]] == expected


TEXTS = st.one_of(
    st.none(), st.sampled_from(["a,b", 'say "hi"', "two\nlines", "", " x ", "1 × 10⁶ IU"]), st.text(max_size=4)
)
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e6, 2.5, 1 / 3, 1e-12]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(TEXTS, FLOATS, st.one_of(st.none(), st.integers(-3000, 3000)), TEXTS), max_size=12))
def test_rows_are_what_pandas_writes_after_neutralising(rows: list[tuple]) -> None:
    texts = [r[0] for r in rows]
    frame = pd.DataFrame(
        {
            "category": pd.Categorical(texts),
            "float": pd.Series([r[1] for r in rows], dtype="float64"),
            "nullable": pd.array([r[2] for r in rows], dtype="Int16"),
            "int": pd.Series([r[2] or 0 for r in rows], dtype="int64"),
            "str": pd.Series([r[3] for r in rows], dtype="str"),
            "object": pd.Series(texts, dtype=object),
        }
    )
    expected = safe_frame(frame).to_csv(None, index=False, header=False, lineterminator="\n", float_format="%.10g")
    assert csv_rows(frame) == expected.encode()


@pytest.mark.parametrize(
    "column",
    [
        [True, False],
        pd.Series(["a", 1.5], dtype=object),
        pd.to_datetime(["2027-01-04", "2027-01-05"]),
        pd.Series(["=1", None], dtype="str"),
    ],
    ids=["bool", "mixed", "datetime", "str"],
)
def test_other_column_types_are_written_as_write_csv_writes_them(tmp_path: Path, column: object) -> None:
    for frame in (pd.DataFrame({"text": ["a", "b"], "other": column}), pd.DataFrame({"alone": column})):
        write_csv(frame, tmp_path / "whole.csv")
        assert csv_header(frame) + csv_rows(frame) == (tmp_path / "whole.csv").read_bytes()


def mixed_frame(rows: int) -> pd.DataFrame:
    """Every kind of column the dose tables have: categories (one dangerous), floats, nullable
    integers with gaps, text that needs neutralising and text that does not."""
    i = np.arange(rows)
    return pd.DataFrame(
        {
            "patient_id": pd.Categorical([f"P{k % 4}" for k in i]),
            "drug": pd.Categorical(np.where(i % 3 == 0, "=HYPERLINK()", "Folic acid")),
            "dose": i * 2.5,
            "cycle": pd.array([None if k % 5 == 0 else k for k in i], dtype="Int16"),
            "uid": pd.Series([f"-{k}" if k % 7 == 0 else f"u{k}@x" for k in i], dtype="str"),
            "notes": pd.Series(["", "HELD", '"quoted", text'] * (rows // 3) + [""] * (rows % 3), dtype=object),
        }
    )


def test_csv_assembled_from_the_rows_of_slices_is_byte_identical(tmp_path: Path) -> None:
    frame = mixed_frame(50)
    write_csv(frame, tmp_path / "whole.csv")
    parts = b"".join(csv_rows(frame.iloc[start : start + 7]) for start in range(0, 50, 7))
    assert csv_header(frame) + parts == (tmp_path / "whole.csv").read_bytes()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_study_file_rendered_in_the_pool_is_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    frame = mixed_frame(50)
    write_csv(frame, tmp_path / "whole.csv")
    monkeypatch.setattr(patient_files, "PART_ROWS", 7)
    seen: list[int] = []
    write_rows_in_pool(frame, tmp_path / "pool.csv", seen.append, workers=workers)
    assert (tmp_path / "pool.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert seen == [7] * 7 + [1]  # in order, part by part


def test_row_ends_are_the_rows_unless_a_cell_holds_a_line_break() -> None:
    frame = mixed_frame(6)
    rows = csv_rows(frame)
    ends = row_ends(rows, 6)
    assert ends is not None and ends[-1] == len(rows)
    assert [rows[a:b].count(b"\n") for a, b in zip([0, *ends[:-1]], ends, strict=True)] == [1] * 6
    frame.loc[2, "notes"] = "two\rlines"  # written as a quoted line feed: a line is no longer a row
    assert row_ends(csv_rows(frame), 6) is None


# ---- per-patient files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dosing.Protocol, dosing.Cohort, pd.DataFrame]:
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(PROTOCOLS / "nct02467504-cohort.csv", protocol)
    cohort = dosing.Cohort(cohort.patients.iloc[:9].reset_index(drop=True), cohort.source)  # chunks of 2: one over
    changes = dosing.load_changes(PROTOCOLS / "nct02467504-changes.csv", protocol, cohort)
    return protocol, cohort, dosing.apply_changes(dosing.expand(protocol, cohort), changes)


def plain_patient_files(protocol: dosing.Protocol, cohort: dosing.Cohort, table: pd.DataFrame, folder: Path) -> None:
    """The definition, as generate wrote them before issue 15: a group-by and one write_csv per patient."""
    groups = dict(tuple(table.groupby("patient_id", observed=True, sort=False)))
    visits = dosing.plan_visits(protocol, cohort)
    for pid in cohort.patients["patient_id"].astype(str):
        home = folder / "patients" / pid
        home.mkdir(parents=True)
        write_csv(groups.get(pid, table.iloc[0:0])[DOSE_COLUMNS], home / "doses.csv")
        write_csv(visits[visits["patient_id"] == pid][VISIT_COLUMNS], home / "visits.csv")
    write_csv(table[DOSE_COLUMNS], folder / "doses.csv")


def fast_patient_files(
    protocol: dosing.Protocol, cohort: dosing.Cohort, table: pd.DataFrame, folder: Path, workers: int
) -> None:
    mine = table.reindex(columns=[*DOSE_COLUMNS, *CALENDAR_ONLY])
    visits = dosing.plan_visits(protocol, cohort)
    tables = patient_tables(protocol, cohort, mine, DOSE_COLUMNS, CalendarOptions(), {}, visits)
    counted: list[int] = []
    folder.mkdir()
    write_patient_files(tables, folder, counted.append, workers=workers)
    assert sum(counted) == len(cohort)


def csv_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.csv"))}


@pytest.mark.parametrize("workers", [1, 2])
def test_patient_files_are_those_of_one_write_per_patient(
    seed: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    protocol, cohort, doses = seed
    table = _dose_table(doses, protocol, unblinded=False)
    monkeypatch.setattr(patient_files, "CHUNK_PATIENTS", 2)
    plain_patient_files(protocol, cohort, table, tmp_path / "plain")
    fast_patient_files(protocol, cohort, table, tmp_path / "fast", workers)
    plain, fast = csv_files(tmp_path / "plain"), csv_files(tmp_path / "fast")
    assert len(plain) == 1 + 2 * 9  # doses.csv and each patient's doses.csv and visits.csv
    assert fast == plain
    assert not (tmp_path / "fast" / ".doses-parts").exists()
    assert (tmp_path / "fast" / "patients" / "RA-001" / "calendar.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")


def test_a_table_not_sorted_by_patient_keeps_its_order_in_doses_csv(seed: tuple, tmp_path: Path) -> None:
    protocol, cohort, doses = seed
    table = _dose_table(doses, protocol, unblinded=False)
    table = table.iloc[::-1]  # last patient first, each patient's doses backwards
    plain_patient_files(protocol, cohort, table, tmp_path / "plain")
    fast_patient_files(protocol, cohort, table, tmp_path / "fast", workers=1)
    assert csv_files(tmp_path / "fast") == csv_files(tmp_path / "plain")


def test_a_line_break_in_a_cell_writes_each_patient_on_its_own(seed: tuple, tmp_path: Path) -> None:
    protocol, cohort, doses = seed
    table = _dose_table(doses, protocol, unblinded=False)
    instructions = table["instructions"].astype(object)
    instructions.iloc[::100] = "take\rwith water"  # a line feed inside a quoted cell
    table["instructions"] = instructions.astype("category")
    plain_patient_files(protocol, cohort, table, tmp_path / "plain")
    fast_patient_files(protocol, cohort, table, tmp_path / "fast", workers=1)
    assert csv_files(tmp_path / "fast") == csv_files(tmp_path / "plain")
    assert b'"take\nwith water"' in (tmp_path / "fast" / "patients" / "RA-001" / "doses.csv").read_bytes()


@pytest.mark.parametrize("patients", [1, 127, 128, 1000])
@pytest.mark.parametrize("workers", [1, 2])
def test_chunks_cover_every_patient_once(patients: int, workers: int) -> None:
    ranges = chunks(patients, workers)
    covered = np.concatenate([np.arange(a, b) for a, b in ranges])
    assert covered.tolist() == list(range(patients))
    assert max(b - a for a, b in ranges) <= patient_files.CHUNK_PATIENTS


@pytest.mark.parametrize("workers", [1, 2])
def test_each_patients_feed_is_written_beside_the_calendar_with_the_same_bytes(
    seed: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    protocol, cohort, doses = seed
    table = _dose_table(doses, protocol, unblinded=False).reindex(columns=[*DOSE_COLUMNS, *CALENDAR_ONLY])
    monkeypatch.setattr(patient_files, "CHUNK_PATIENTS", 2)
    folder = tmp_path / "study"
    folder.mkdir()
    key = b"k" * 32
    feeds = Feeds(folder, "NCT02467504", key, {"RA-002": 1}, "https://feeds.example").start()
    tables = patient_tables(protocol, cohort, table, DOSE_COLUMNS, CalendarOptions(), {}, None)
    tables.feeds = feeds
    write_patient_files(tables, folder, lambda _: None, workers=workers)
    ids = cohort.patients["patient_id"].astype(str).tolist()
    mapping = feeds.finish(ids)
    assert (folder / "feeds").stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in (folder / "feeds").iterdir()) == sorted(
        f"{feed_token(key, 'NCT02467504', pid, 1 if pid == 'RA-002' else 0)}.ics" for pid in ids
    )
    for pid in ids:
        token = feed_token(key, "NCT02467504", pid, 1 if pid == "RA-002" else 0)
        assert (folder / "feeds" / f"{token}.ics").read_bytes() == (
            folder / "patients" / pid / "calendar.ics"
        ).read_bytes()
    assert mapping["patient_id"].tolist() == ids
    assert mapping.loc[mapping["patient_id"] == "RA-002", "token_version"].tolist() == [1]
    written = pd.read_csv(folder / "feeds.csv", dtype=str, encoding="utf-8-sig")
    assert written["feed_url"].iloc[0] == f"https://feeds.example/{feed_token(key, 'NCT02467504', ids[0])}.ics"


# ---- worklist -----------------------------------------------------------------------------------


def plain_worklist(table: pd.DataFrame, cohort: dosing.Cohort) -> pd.DataFrame:
    """The definition, as generate wrote it before issue 15."""
    sites = cohort.patients.set_index("patient_id")["site"]
    sheet = table.copy()
    sheet["site"] = sheet["patient_id"].astype(str).map(sites)
    sheet["dose_text"] = dosing.protocol.units.dose_texts(sheet["dose"], sheet["unit"])
    for column in ("given_at", "given_by", "dose_given", "notes"):
        sheet[column] = ""
    sheet["_pid"] = sheet["patient_id"].astype(str)
    sheet["_drug"] = sheet["drug"].astype(str)
    sheet.loc[sheet["held"].to_numpy(dtype=bool), "notes"] = "HELD: do not give"
    sheet = sheet.sort_values(["date", "time", "_pid", "_drug"], kind="stable")
    return sheet[WORKLIST_COLUMNS]


def test_the_worklist_is_sorted_and_written_as_before(seed: tuple, tmp_path: Path) -> None:
    protocol, cohort, doses = seed
    table = _dose_table(doses, protocol, unblinded=False)
    assert table["held"].any()  # the changes file holds doses: the HELD note is exercised
    write_csv(plain_worklist(table, cohort), tmp_path / "plain.csv")
    write_csv(worklist(table, cohort), tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()


def test_the_worklist_sorts_ids_as_text_not_by_cohort_order(seed: tuple) -> None:
    protocol, cohort, _ = seed
    frame = cohort.patients.iloc[:2].copy()
    frame["patient_id"] = ["RA-9", "RA-10"]  # cohort order RA-9, RA-10; as text "RA-10" < "RA-9"
    frame["start_date"] = pd.Timestamp(dt.date(2027, 1, 4))
    small = dosing.Cohort(frame, "<two>")
    table = _dose_table(dosing.expand(protocol, small), protocol, unblinded=False)
    sheet = worklist(table, small)
    first = sheet[(sheet["date"] == sheet["date"].iloc[0]) & (sheet["time"] == sheet["time"].iloc[0])]
    assert list(dict.fromkeys(first["patient_id"].astype(str))) == ["RA-10", "RA-9"]  # same date, time: id text
    assert worklist(table, small).equals(plain_worklist(table, small).astype(sheet.dtypes.to_dict()))
