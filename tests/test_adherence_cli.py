"""``dosing adherence``: bad rows, --strict, and a round trip through the seed cohort's worklist."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dosing.adherence.check import AdherenceResult
from dosing.cli import main
from tests.conftest import FIXTURES, PROTOCOLS

SEED = str(PROTOCOLS / "nct02467504.toml")
COHORT = str(PROTOCOLS / "nct02467504-cohort.csv")
ONE = str(FIXTURES / "seed-one-patient.csv")


def adherence(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["adherence", *args])
    return result.exit_code, result.stdout, result.stderr


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def test_bad_rows_are_listed_with_line_numbers(tmp_path: Path) -> None:
    code, out, err = adherence(SEED, "--cohort", ONE, "--log", str(FIXTURES / "log-bad-rows.csv"),
                               "--as-of", "2027-01-05", "--out", str(tmp_path))  # fmt: skip
    assert code == 0, err
    assert "bad log rows: 5" in out
    bad = read(tmp_path / "nct02467504" / "adherence" / "bad_rows.csv")
    assert bad["line"].tolist() == ["3", "5", "6", "7", "8"]  # line 4 is blank
    reasons = bad["reason"].tolist()
    assert reasons[0] == "unknown patient 'RA-999' (not in the cohort)"
    assert reasons[1].startswith("unknown drug 'Aspirin'")
    assert reasons[2].startswith("cannot read given_at '04/01/2027 08:00'")
    assert reasons[3] == "dose_given '60 tablets' is in another unit (expected mg)"
    assert reasons[4] == "dose_given 'sixty' is not a number"
    doses = read(tmp_path / "nct02467504" / "adherence" / "doses.csv")
    given = doses[doses["log_line"] != ""]
    assert sorted(given["log_line"]) == ["2", "9"]  # the two good rows count


def test_strict_refuses_bad_rows_and_writes_nothing(tmp_path: Path) -> None:
    code, _, err = adherence(SEED, "--cohort", ONE, "--log", str(FIXTURES / "log-bad-rows.csv"),
                             "--as-of", "2027-01-05", "--out", str(tmp_path), "--strict")  # fmt: skip
    assert code == 2
    assert "log-bad-rows.csv: 5 bad row(s) in the log" in err
    assert "line 3: unknown patient 'RA-999'" in err
    assert "Fix:" in err
    assert not (tmp_path / "nct02467504").exists()


def test_a_log_without_the_columns_is_an_error(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("patient,when\nRA-900,2027-01-04\n", encoding="utf-8")
    code, _, err = adherence(SEED, "--cohort", ONE, "--log", str(log), "--out", str(tmp_path))
    assert code == 2
    assert "missing column(s) patient_id, drug, given_at" in err


def test_bad_as_of_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = adherence(SEED, "--cohort", ONE, "--log", str(FIXTURES / "log-double-dose.csv"), "--as-of", "soon")
    assert code == 2
    assert "expected a date as YYYY-MM-DD" in err


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, str]:
    """Generate the seed cohort, fill the worklist with a scripted pattern, check it.

    Pattern, by the row's position k in the worklist: every 40th row (k % 40 == 0) not given;
    k % 40 == 20 given 2.5 h late (inside every window: loxoprofen's smallest is ±2.5 h);
    everything else on time with the planned dose; patient RA-010 took no folic acid at all.
    """
    out = tmp_path_factory.mktemp("out")
    assert CliRunner().invoke(main, ["generate", SEED, "--cohort", COHORT, "--out", str(out)]).exit_code == 0
    sheet = read(out / "nct02467504" / "worklist.csv")
    k = pd.Series(range(len(sheet)))
    planned = pd.to_datetime(sheet["date"] + " " + sheet["time"])
    given = planned + pd.to_timedelta((k % 40 == 20) * 150, unit="min")
    sheet["given_at"] = given.dt.strftime("%Y-%m-%d %H:%M")
    sheet["dose_given"] = sheet["dose"] + " " + sheet["unit"]
    sheet["given_by"] = "nurse"
    skip = (k % 40 == 0) | ((sheet["patient_id"] == "RA-010") & (sheet["drug"] == "Folic acid"))
    sheet.loc[skip, ["given_at", "given_by", "dose_given"]] = ""
    log = out / "filled.csv"
    sheet.to_csv(log, index=False, encoding="utf-8-sig")
    result = CliRunner().invoke(
        main, ["adherence", SEED, "--cohort", COHORT, "--log", str(log), "--as-of", "2027-10-01", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out / "nct02467504", sheet.assign(k=k, skip=skip), result.stdout


def test_round_trip_counts(round_trip: tuple[Path, pd.DataFrame, str]) -> None:
    folder, sheet, stdout = round_trip
    summary = read(folder / "adherence" / "summary.csv")
    patients = summary[summary["level"] == "patient"].astype({"due": int, "taken": int, "missed": int, "late": int})
    late = (sheet["k"] % 40 == 20) & ~sheet["skip"] & (sheet["drug"] != "Methotrexate")  # MTX: on time within 12 h
    assert patients["due"].sum() == len(sheet)  # every planned dose is due by 2027-10-01
    assert patients["missed"].sum() == sheet["skip"].sum()
    assert patients["taken"].sum() == len(sheet) - sheet["skip"].sum()
    assert patients["late"].sum() == late.sum()
    assert read(folder / "adherence" / "extra.csv").empty
    assert read(folder / "adherence" / "bad_rows.csv").empty
    flagged = patients[patients["flag"] != ""]
    assert flagged[["patient_id", "drug", "taking_adherence"]].values.tolist() == [["RA-010", "Folic acid", "0"]]
    # every patient has started by 2027-10-01 (none waits); the one outside the band is named
    assert "patients outside the band (80-120%): 1 of 47 started (RA-010)\n" in stdout
    assert f"missed {sheet['skip'].sum():,}" in stdout
    assert str(folder / "adherence" / "report.html") in stdout


def test_round_trip_report(round_trip: tuple[Path, pd.DataFrame, str]) -> None:
    folder, _, _ = round_trip
    text = (folder / "adherence" / "report.html").read_text(encoding="utf-8")
    assert "Outside the band: 1 of 47 patients started." in text
    overview = text[text.index("Patients (outside the band first)") :]
    assert re.search(r"<td><a href='#p-(RA-\d+)'>", overview).group(1) == "RA-010"  # type: ignore[union-attr]
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == 1 + 47  # the heatmap, then one timeline per patient
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    assert ">active<" not in text and "Placebo" not in text  # blinded: no arm, no true drug


def test_adherence_keeps_generate_outputs(round_trip: tuple[Path, pd.DataFrame, str]) -> None:
    folder, _, _ = round_trip
    assert (folder / "worklist.csv").exists() and (folder / "patients" / "RA-001" / "calendar.ics").exists()
    names = sorted(p.name for p in (folder / "adherence").iterdir())
    assert names == ["bad_rows.csv", "doses.csv", "extra.csv", "manifest.json", "report.html", "summary.csv"]


def test_generate_again_keeps_adherence_outputs(tmp_path: Path) -> None:
    log = str(FIXTURES / "log-double-dose.csv")
    assert CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE, "--out", str(tmp_path)]).exit_code == 0
    code, _, err = adherence(SEED, "--cohort", ONE, "--log", log, "--as-of", "2027-01-05", "--out", str(tmp_path))
    assert code == 0, err
    report = tmp_path / "nct02467504" / "adherence" / "report.html"
    before = report.read_bytes()
    assert CliRunner().invoke(main, ["generate", SEED, "--cohort", ONE, "--out", str(tmp_path)]).exit_code == 0
    assert report.read_bytes() == before
    assert (tmp_path / "nct02467504" / "worklist.csv").exists()


def test_local_times_across_daylight_saving(tmp_path: Path) -> None:
    """Capecitabine 08:00 and 20:00 local in Berlin and New York across the March clock change:
    a log of the local wall-clock times is on time to the minute; one written with an offset too."""
    cape, cohort = str(PROTOCOLS / "capecitabine.toml"), str(PROTOCOLS / "capecitabine-cohort.csv")
    assert CliRunner().invoke(main, ["generate", cape, "--cohort", cohort, "--out", str(tmp_path)]).exit_code == 0
    sheet = read(tmp_path / "capecitabine-bsa" / "worklist.csv") if (tmp_path / "capecitabine-bsa").exists() else None
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    sheet = read(folder / "worklist.csv")
    sheet = sheet[sheet["date"] < "2027-04-15"].copy()
    sheet["given_at"] = sheet["date"] + " " + sheet["time"]
    sheet["given_by"] = "nurse"
    berlin = (sheet["patient_id"] == "CAPE-001") & (sheet["date"] == "2027-03-29") & (sheet["time"] == "08:00")
    assert berlin.sum() == 1
    sheet.loc[berlin, "given_at"] = "2027-03-29T06:00Z"  # 08:00 in Berlin, now on summer time (UTC+2)
    log = tmp_path / "filled.csv"
    sheet.to_csv(log, index=False, encoding="utf-8-sig")
    code, _, err = adherence(cape, "--cohort", cohort, "--log", str(log), "--as-of", "2027-04-15",
                               "--out", str(tmp_path))  # fmt: skip
    assert code == 0, err
    doses = read(folder / "adherence" / "doses.csv")
    due = doses[doses["given_at"] != ""]
    assert len(due) == len(sheet)
    assert set(due["status"]) == {"on_time"}
    assert set(due["deviation_hours"].astype(float)) == {0.0}
    assert set(doses[doses["date"] < "2027-04-15"]["status"]) == {"on_time"}


def test_unblinded_goes_to_its_own_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["adherence", SEED, "--cohort", ONE, "--log", str(FIXTURES / "log-il2-missed-and-late.csv"),
         "--as-of", "2027-01-20", "--out", str(tmp_path), "--unblinded"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "UNBLINDED" in result.stderr
    assert not (tmp_path / "nct02467504").exists()
    doses = read(tmp_path / "nct02467504-UNBLINDED" / "adherence" / "doses.csv")
    assert set(doses["arm"]) == {"active"}
    assert "hrIL-2" in set(doses["drug"])


def test_the_summary_names_who_is_outside_the_band() -> None:
    """The printed summary names the patients outside the band (the first 10, then how many more), counts
    only those started (a dose due) against the ones not started, with thousands separators. Built by
    hand: 1,234 patients P0001-P1234, each 100 doses due, except P1201-P1234 (34, nothing due yet);
    P0001-P0012 took 50 of 100 (flagged). Due 1,200 x 100 = 120,000; missed 12 x 50 = 600."""
    ids = [f"P{i:04d}" for i in range(1, 1235)]
    due = [100] * 1200 + [0] * 34
    taken = [50] * 12 + [100] * 1188 + [0] * 34
    summary = pd.DataFrame(
        {
            "level": "patient",
            "patient_id": ids,
            "drug": "Drug",
            "due": due,
            "taken": taken,
            "missed": [d - t for d, t in zip(due, taken, strict=True)],
            "dose_not_judged": 0,
            "flag": ["taking adherence below 80%"] * 12 + [""] * 1222,
        }
    )
    empty = pd.DataFrame()
    result = AdherenceResult(empty, empty, summary, empty, {}, pd.Timestamp("2027-03-01").date(), True, "S", (80, 120))
    lines = result.summary_text().splitlines()
    assert lines[1] == (
        "  patients outside the band (80-120%): 12 of 1,200 started (P0001, P0002, P0003, P0004, P0005, P0006, "
        "P0007, P0008, P0009, P0010 and 2 more); 34 not started yet"
    )
    assert lines[2] == "  doses due 120,000, taken 119,400, missed 600, extra 0"
