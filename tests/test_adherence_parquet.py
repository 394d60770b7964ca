"""``dosing adherence --format parquet``: every table adherence writes (doses, extra, summary, bad_rows,
and prn, prn_summary with an as-needed regimen) as Parquet, the same rows and columns as the CSV
files; report.html as before; blinded Parquet reveals no arm (twin runs per arm give the same bytes,
and no cell, column name, metadata or dictionary names an arm); without pyarrow a clean error before
anything is written; the manifest records the format, and ``status`` and ``generate`` keep working."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import dosing
import dosing.jobs.adherence
from dosing.cli import main
from dosing.errors import OutputError
from dosing.io.manifest import read_manifest
from tests.conftest import FIXTURES, PROTOCOLS
from tests.test_blind_messages import (
    AS_OF,
    BLINDED,
    LEVELS,
    LOG_CASES,
    PRN_CASES,
    PRN_PROTOCOL,
    Case,
    cohort_file,
    fill,
)
from tests.test_blinding import leaks
from tests.test_parquet import hide_pyarrow, parquet_texts

SEED = PROTOCOLS / "nct02467504.toml"
ONE = FIXTURES / "seed-one-patient.csv"  # RA-900, active, from Monday 2027-01-04 in Asia/Shanghai; MTX Wednesdays
IL2 = "hrIL-2 or placebo"
#: By line: 2-7 the injections of cycle 1 (01-04, 01-06, [01-08 none], 01-10 given 01-11, 01-12, 01-14,
#: 01-16); 8-9 folic acid twice on 01-04 (the second is extra); 10-11 bad rows.
LOG = """patient_id,drug,given_at,dose_given
RA-900,hrIL-2 or placebo,2027-01-04 09:00,1000000
RA-900,hrIL-2 or placebo,2027-01-06 09:30,1000000 IU
RA-900,hrIL-2 or placebo,2027-01-11 09:00,1000000
RA-900,hrIL-2 or placebo,2027-01-12 12:00,1000000
RA-900,hrIL-2 or placebo,2027-01-14T01:00:00Z,1000000
RA-900,hrIL-2 or placebo,2027-01-16 06:30,1000000
RA-900,Folic acid,2027-01-04 08:00,1 mg
RA-900,Folic acid,2027-01-04 08:30,1 mg
RA-999,Folic acid,2027-01-04 08:00,1
RA-900,Loxoprofen,2027-01-04 13:00,sixty
"""
TABLES = ("doses", "extra", "summary", "bad_rows")
#: The seed with loxoprofen as needed; RA-901 (active) and RA-902 (placebo) from 2027-01-04.
PRN_COHORT = FIXTURES / "sdtm-prn-two-patients.csv"
PRN_LOG = FIXTURES / "log-sdtm-prn.csv"  # RA-901 loxoprofen 01-05 08:00 and 14:00; RA-902 01-05 09:00


def run_adherence(out: Path, *args: str, protocol: Path = SEED, cohort: Path = ONE) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["adherence", str(protocol), "--cohort", str(cohort), "--out", str(out), "--quiet", *args]
    )
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def seed_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "log.csv"
    path.write_text(LOG, encoding="utf-8")
    return path


def folder_of(out: Path, unblinded: bool = False) -> Path:
    return out / ("nct02467504-UNBLINDED" if unblinded else "nct02467504") / "adherence"


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the text a CSV shows (numbers as %.10g, missing as "")."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False, float_format="%.10g")), dtype=str, keep_default_na=False)


def same_tables(csv_folder: Path, parquet_folder: Path, names: tuple[str, ...]) -> dict[str, int]:
    """Assert each Parquet table reads back as its CSV file; the rows of each (a check with rows is not vacuous)."""
    rows = {}
    for name in names:
        assert not (parquet_folder / f"{name}.csv").exists(), name
        expected = read_csv(csv_folder / f"{name}.csv")
        actual = as_text(pd.read_parquet(parquet_folder / f"{name}.parquet"))
        pd.testing.assert_frame_equal(actual, expected, obj=name)
        rows[name] = len(actual)
    return rows


@pytest.mark.parametrize("unblinded", [False, True], ids=["blinded", "unblinded"])
def test_parquet_tables_hold_the_rows_of_the_csv_files(tmp_path: Path, seed_log: Path, unblinded: bool) -> None:
    flags = ["--log", str(seed_log), "--as-of", "2027-01-20", *(["--unblinded"] if unblinded else [])]
    assert run_adherence(tmp_path / "csv", *flags)[0] == 0
    code, output = run_adherence(tmp_path / "pq", *flags, "--format", "parquet")
    assert code == 0, output
    csv_folder, parquet_folder = folder_of(tmp_path / "csv", unblinded), folder_of(tmp_path / "pq", unblinded)
    # 168 study days: 21 injections (7 x 3 cycles), 24 weekly methotrexate, 144 folic acid, 3 x 168 loxoprofen;
    # the summary: 4 drugs for the cohort, 4 for RA-900, 3 cycles of the injection; 1 extra, 2 bad rows
    rows = same_tables(csv_folder, parquet_folder, TABLES)
    assert rows == {"doses": 21 + 24 + 144 + 504, "extra": 1, "summary": 4 + 4 + 3, "bad_rows": 2}
    assert sorted(p.name for p in parquet_folder.iterdir()) == [
        "bad_rows.parquet", "doses.parquet", "extra.parquet", "manifest.json", "report.html", "summary.parquet"
    ]  # fmt: skip
    assert ("hrIL-2" in read_csv(csv_folder / "doses.csv")["drug"].tolist()) == unblinded


@pytest.mark.parametrize("unblinded", [False, True], ids=["blinded", "unblinded"])
def test_prn_tables_are_parquet_too(tmp_path: Path, unblinded: bool) -> None:
    flags = ["--log", str(PRN_LOG), "--as-of", "2027-01-07", *(["--unblinded"] if unblinded else [])]
    where = {"protocol": PRN_PROTOCOL, "cohort": PRN_COHORT}
    assert run_adherence(tmp_path / "csv", *flags, **where)[0] == 0
    code, output = run_adherence(tmp_path / "pq", *flags, "--format", "parquet", **where)
    assert code == 0, output
    csv_folder, parquet_folder = folder_of(tmp_path / "csv", unblinded), folder_of(tmp_path / "pq", unblinded)
    rows = same_tables(csv_folder, parquet_folder, (*TABLES, "prn", "prn_summary"))
    assert rows["extra"] == rows["bad_rows"] == 0  # empty tables keep their columns (compared above)
    assert rows["prn"] == 3 and rows["prn_summary"] == 2 and rows["doses"] > 0 and rows["summary"] > 0
    # by hand: RA-901's two doses 6 h apart (at most 3 a day, at least 4 h apart: nothing wrong), RA-902's one
    prn = pd.read_parquet(parquet_folder / "prn.parquet")
    assert prn["patient_id"].astype(str).tolist() == ["RA-901", "RA-901", "RA-902"]
    assert prn["doses_in_24h"].tolist() == [1, 2, 1]
    assert prn["hours_since_previous"].iloc[1] == 6.0
    assert prn["hours_since_previous"].iloc[[0, 2]].isna().all()
    assert prn["finding"].tolist() == ["", "", ""]
    summary = pd.read_parquet(parquet_folder / "prn_summary.parquet")
    assert summary[["patient_id", "doses_taken", "flag"]].astype(str).values.tolist() == [
        ["RA-901", "2", ""],
        ["RA-902", "1", ""],
    ]


def test_hand_checked_judgements_read_back_from_parquet(tmp_path: Path, seed_log: Path) -> None:
    """RA-900's injections every other day from 01-04 (09:00 Shanghai): 01-04 on time, 01-06 0.5 h late
    (on time), 01-08 not given (missed), 01-11 09:00 is 01-10's, 24 h late, 01-12 12:00 3 h late, 01-14
    01:00Z = 09:00 local on time, 01-16 06:30 2.5 h early. Folic acid daily except the methotrexate
    Wednesdays (01-06, 01-13): 01-04..01-19 is 16 days, 14 due; one taken, the second on 01-04 extra."""
    code, output = run_adherence(tmp_path, "--log", str(seed_log), "--as-of", "2027-01-20", "--format", "parquet")
    assert code == 0, output
    folder = folder_of(tmp_path)
    doses = pd.read_parquet(folder / "doses.parquet")
    il2 = doses[(doses["drug"] == IL2) & (doses["cycle"] == 1)]
    assert il2["date"].astype(str).tolist() == [f"2027-01-{d:02d}" for d in (4, 6, 8, 10, 12, 14, 16)]
    assert il2["status"].tolist() == ["on_time", "on_time", "missed", "late", "late", "on_time", "early"]
    assert il2["deviation_hours"].tolist()[:2] == [0.0, 0.5]
    assert il2["deviation_hours"].tolist()[3:] == [24.0, 3.0, 0.0, -2.5]
    assert il2["log_line"].tolist() == [2, 3, pd.NA, 4, 5, 6, 7]
    assert doses["deviation_hours"].dtype == "float64" and doses["log_line"].dtype == "Int64"  # types kept
    summary = pd.read_parquet(folder / "summary.parquet")
    patient = summary[summary["level"] == "patient"].set_index("drug")
    counts = ["due", "taken", "missed", "on_time", "late", "early", "extra"]
    assert patient.loc[IL2, counts].tolist() == [7, 6, 1, 3, 2, 1, 0]
    assert patient.loc[IL2, "taking_adherence"] == 85.7  # 6 / 7
    assert patient.loc["Folic acid", ["due", "taken", "missed", "extra"]].tolist() == [14, 1, 13, 1]
    extra = pd.read_parquet(folder / "extra.parquet")
    assert extra[["line", "drug", "reason"]].astype(str).values.tolist() == [
        ["9", "Folic acid", "a second dose: the planned dose near it was already taken"]
    ]
    bad = pd.read_parquet(folder / "bad_rows.parquet")
    assert bad["line"].tolist() == [10, 11]
    assert bad["reason"].tolist() == [
        "unknown patient 'RA-999' (not in the cohort)",
        "dose_given 'sixty' is not a number",
    ]
    assert "Outside the band" in (folder / "report.html").read_text(encoding="utf-8")  # the report as ever


LEVELS_COHORT = FIXTURES / "blinded-levels-cohort.csv"  # LV-001 (x20, BSA 1.82), LV-002 (x10, 1.70), from 01-04
LEVELS_LOG = """patient_id,drug,given_at,dose_given
LV-001,Study drug,2027-01-04 09:00,1 tablet
LV-001,Capecitabine,2027-01-04 20:00,2275 mg
"""


@pytest.mark.parametrize("unblinded", [False, True], ids=["blinded", "unblinded"])
def test_a_blinded_dose_beside_amounts_is_a_text_column(tmp_path: Path, unblinded: bool) -> None:
    """A blinded study drug shown as "1 tablet" beside open-label capecitabine's amounts (1250 mg/m2:
    LV-001 1.82 m2 -> 2275 mg, LV-002 1.70 m2 -> 2125 mg) makes the blinded ``dose`` column hold text
    and numbers: Parquet has it as text, as the CSV shows it (pyarrow refused the column before).
    Unblinded, the study drug's doses are amounts (x20: 20 mg, x10: 10 mg) and the column numbers."""
    log = tmp_path / "log.csv"
    log.write_text(LEVELS_LOG, encoding="utf-8")
    flags = ["--log", str(log), "--as-of", "2027-01-05", *(["--unblinded"] if unblinded else [])]
    where = {"protocol": LEVELS, "cohort": LEVELS_COHORT}
    assert run_adherence(tmp_path / "csv", *flags, **where)[0] == 0
    code, output = run_adherence(tmp_path / "pq", *flags, "--format", "parquet", **where)
    assert code == 0, output
    study = "levels-UNBLINDED" if unblinded else "levels"
    parquet_folder = tmp_path / "pq" / study / "adherence"
    same_tables(tmp_path / "csv" / study / "adherence", parquet_folder, TABLES)
    doses = pd.read_parquet(parquet_folder / "doses.parquet")
    first = doses[doses["date"] == "2027-01-04"].drop_duplicates(["patient_id", "drug"])
    shown = dict(zip(first["patient_id"].astype(str) + " " + first["drug"].astype(str), first["dose"], strict=True))
    if unblinded:
        assert doses["dose"].dtype == "float64"
        assert shown == {"LV-001 Examplinib": 20.0, "LV-001 Capecitabine": 2275.0, "LV-002 Examplinib": 10.0,
                         "LV-002 Capecitabine": 2125.0}  # fmt: skip
    else:
        assert shown == {"LV-001 Study drug": "1 tablet", "LV-001 Capecitabine": "2275.0",
                         "LV-002 Study drug": "1 tablet", "LV-002 Capecitabine": "2125.0"}  # fmt: skip


def test_only_columns_of_mixed_kinds_become_text(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "mixed": pd.Series(["1 tablet", 2275.0, None, 7], dtype=object),
            "flags": pd.Series([True, pd.NA, False, True], dtype=object),
            "amount": [1.5, float("nan"), 2.0, 3.0],
        }
    )
    dosing.jobs.adherence.write_parquet(frame, tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert back["mixed"].tolist()[:2] == ["1 tablet", "2275.0"] and back["mixed"].tolist()[3] == "7"
    assert pd.isna(back["mixed"].iloc[2])
    assert str(pq.read_schema(tmp_path / "t.parquet").field("flags").type) == "bool"  # as before: not text
    assert back["amount"].dtype == "float64"


# ---- blinding: what an attacker reading the Parquet files can see --------------------------------------

#: The log cases of tests/test_blind_messages.py whose blinded tables differ most (true doses and drug
#: names, bad rows, extra doses, a hold, stop and withdrawal), and the PRN cases.
TWIN_CASES = ("blinded and true doses", "every dose twice", "given during a hold, after a stop and after withdrawal")
TWIN_RUNS = (
    [(p, c) for p in BLINDED for c in LOG_CASES if c.name in (*TWIN_CASES, "bad rows")]
    + [(LEVELS, c) for c in LOG_CASES if c.name in TWIN_CASES[:2]]  # "1 tablet" beside amounts: a text column
    + [(PRN_PROTOCOL, c) for c in PRN_CASES if c.log is not None]
)


def twin_run(folder: Path, protocol_path: Path, case: Case, arm: str, *extra: str) -> Path:
    """One run of a case of tests/test_blind_messages.py for its one patient in ``arm``; the adherence folder."""
    folder.mkdir(parents=True)
    cohort = cohort_file(folder, protocol_path, arm)
    args = ["--log", str(folder / "log.csv"), "--as-of", AS_OF, "--format", "parquet", *extra]
    for name, text in (("changes.csv", case.changes), ("log.csv", case.log)):
        if text is not None:
            content = fill(text, protocol_path)
            assert content is not None
            (folder / name).write_bytes(content)
    if case.changes is not None:
        args += ["--changes", str(folder / "changes.csv")]
    code, output = run_adherence(folder / "out", *args, protocol=protocol_path, cohort=cohort)
    assert code == 0, output
    (study,) = [p for p in (folder / "out").iterdir() if p.is_dir()]
    return study / "adherence"


@pytest.mark.parametrize(("protocol_path", "case"), TWIN_RUNS, ids=[f"{c.name}-{p.stem}" for p, c in TWIN_RUNS])
def test_blinded_parquet_is_the_same_in_every_arm_and_names_none(
    tmp_path: Path, protocol_path: Path, case: Case
) -> None:
    protocol = dosing.load_protocol(protocol_path)
    folders = {arm.id: twin_run(tmp_path / f"r{i}", protocol_path, case, arm.id) for i, arm in enumerate(protocol.arms)}
    inputs = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "r0").glob("*.csv") if p.name != "cohort.csv")
    (first_arm, first), *others = folders.items()
    names = sorted(p.name for p in first.glob("*.parquet"))
    assert names[: len(TABLES)] == sorted(f"{t}.parquet" for t in TABLES) or "prn.parquet" in names
    for arm, folder in others:
        assert sorted(p.name for p in folder.glob("*.parquet")) == names, arm
        for name in names:  # the same bytes: schema, metadata, dictionaries (and their order) and cells
            assert (folder / name).read_bytes() == (first / name).read_bytes(), f"{name}: {arm} vs {first_arm}"
    for arm, folder in folders.items():
        for name in names:
            said = set(leaks(parquet_texts(folder / name), protocol)) - set(leaks(inputs, protocol))
            assert not said, f"{arm} {name}: {sorted(said)}"


def test_the_twin_check_can_fail(tmp_path: Path) -> None:
    """Unblinded, the same runs differ between arms and name them: the two checks above can fail."""
    (case,) = [c for c in LOG_CASES if c.name == "blinded and true doses"]
    protocol = dosing.load_protocol(SEED)
    folders = [twin_run(tmp_path / f"r{i}", SEED, case, arm.id, "--unblinded") for i, arm in enumerate(protocol.arms)]
    assert (folders[0] / "doses.parquet").read_bytes() != (folders[1] / "doses.parquet").read_bytes()
    assert "placebo" in leaks(parquet_texts(folders[1] / "doses.parquet"), protocol)


def test_a_blinded_table_drops_the_categories_it_does_not_use(tmp_path: Path) -> None:
    """The blinded doses table's drug column is categorical; a category of a true drug (unused in the
    blinded rows) would stay in the Parquet dictionary unless dropped (the write is what drops it)."""
    frame = pd.DataFrame({"drug": pd.Categorical([IL2, IL2], categories=[IL2, "Placebo"])})
    dosing.jobs.adherence.write_parquet(frame, tmp_path / "t.parquet")
    (chunk,) = pq.read_table(tmp_path / "t.parquet").column("drug").chunks
    assert chunk.dictionary.to_pylist() == [IL2]  # type: ignore[attr-defined]
    assert "Placebo" not in parquet_texts(tmp_path / "t.parquet")


# ---- without pyarrow, and the folder around the tables ------------------------------------------------


def test_without_pyarrow_the_option_is_a_clean_error_and_nothing_is_written(
    tmp_path: Path, seed_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = ["--log", str(seed_log), "--as-of", "2027-01-20"]
    assert run_adherence(tmp_path, *flags)[0] == 0  # an earlier CSV run: it must stay as it was
    before = {p: p.read_bytes() for p in folder_of(tmp_path).iterdir()}
    hide_pyarrow(monkeypatch)
    code, output = run_adherence(tmp_path, *flags, "--format", "parquet")
    assert code == 2, output
    assert "Error: --format parquet needs the pyarrow package, which is not installed" in output
    assert "pip install 'dosing[parquet]'" in output
    assert "Traceback" not in output
    assert {p: p.read_bytes() for p in folder_of(tmp_path).iterdir()} == before
    fresh = tmp_path / "fresh"
    assert run_adherence(fresh, *flags, "--format", "parquet")[0] == 2
    assert not fresh.exists()  # refused before the log is read or a folder made


def test_a_failure_part_way_leaves_the_previous_outputs(
    tmp_path: Path, seed_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = ["--log", str(seed_log), "--as-of", "2027-01-20"]
    assert run_adherence(tmp_path, *flags)[0] == 0
    before = {p.name: p.read_bytes() for p in folder_of(tmp_path).iterdir()}
    written: list[str] = []
    real_write = dosing.jobs.adherence.write_parquet

    def fail_on_the_third(frame: pd.DataFrame, path: Path) -> None:
        written.append(path.name)
        if len(written) == 3:
            raise OutputError("disk full (test)", source=str(path))
        real_write(frame, path)

    monkeypatch.setattr(dosing.jobs.adherence, "write_parquet", fail_on_the_third)
    code, output = run_adherence(tmp_path, *flags, "--format", "parquet")
    assert code == 2 and "disk full (test)" in output
    assert written == ["doses.parquet", "extra.parquet", "summary.parquet"]
    assert {p.name: p.read_bytes() for p in folder_of(tmp_path).iterdir()} == before  # all or nothing
    assert [p.name for p in (tmp_path / "nct02467504").iterdir()] == ["adherence"]  # no partial folder left


def test_manifest_status_and_generate_with_parquet_adherence(tmp_path: Path, seed_log: Path) -> None:
    """The manifest records the format; `dosing status` reads it; a new `generate` keeps the Parquet
    adherence/ folder as it is; a CSV run afterwards replaces it whole (no .parquet left)."""
    generate = ["generate", str(SEED), "--cohort", str(ONE), "--out", str(tmp_path), "--quiet"]
    assert CliRunner().invoke(main, generate).exit_code == 0
    flags = ["--log", str(seed_log), "--as-of", "2027-01-20"]
    assert run_adherence(tmp_path, *flags, "--format", "parquet")[0] == 0
    folder = folder_of(tmp_path)
    manifest = read_manifest(folder) or {}
    assert manifest["options"]["format"] == "parquet"
    status = CliRunner().invoke(main, ["status", str(tmp_path / "nct02467504")])
    assert status.exit_code == 0, status.output
    assert re.search(r"adherence: made by .*\n  options: .*format=parquet", status.output)
    assert "All inputs are as they were" in status.output
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again = CliRunner().invoke(main, generate)
    assert again.exit_code == 0, again.output
    assert "run dosing adherence again" not in again.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert run_adherence(tmp_path, *flags)[0] == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "bad_rows.csv", "doses.csv", "extra.csv", "manifest.json", "report.html", "summary.csv"
    ]  # fmt: skip
    assert "format" not in (read_manifest(folder) or {})["options"]


def test_python_api_names_the_parquet_files_and_refuses_an_unknown_format(tmp_path: Path, seed_log: Path) -> None:
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(ONE, protocol)
    import datetime as dt

    result = dosing.write_adherence(protocol, cohort, seed_log, tmp_path, as_of=dt.date(2027, 1, 20),
                                    table_format="parquet")  # fmt: skip
    assert [p.name for p in result.files] == [
        "doses.parquet", "extra.parquet", "summary.parquet", "bad_rows.parquet", "report.html"
    ]  # fmt: skip
    assert all(p.is_file() for p in result.files)
    with pytest.raises(OutputError, match="unknown table format 'xlsx'") as caught:
        dosing.write_adherence(protocol, cohort, seed_log, tmp_path / "x", table_format="xlsx")
    assert "use one of: csv, parquet" in str(caught.value)
    assert not (tmp_path / "x").exists()
