"""Write the shipped example log ``protocols/nct02467504-log.csv``: the seed trial's worklist as
the nurses and patients filled it in up to 2027-02-28, so that the README's adherence example
has something to find.

Made from the blinded worklist of ``dosing generate`` (with the shipped changes file), with a
fixed random seed, so running this again writes the same bytes:

* most patients take 97-100% of their doses, at the planned time or within an hour of it;
* RA-007 stops taking loxoprofen after 2027-01-20 and RA-012 forgets about a third of their
  oral doses (both fall below the 80% band);
* RA-003 gets two injections a day late (on time: within 12 h; these are 26 h late);
* RA-009 writes one extra loxoprofen dose (a fourth that day);
* held and withdrawn doses (RA-004, RA-005) are left blank, as the nurse would;
* rows planned after 2027-02-28 are not in the log (they had not happened yet).

Run: python bench/example_log.py  (rewrites protocols/nct02467504-log.csv)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = ROOT / "protocols"
AS_OF = "2027-02-28"
COLUMNS = ["date", "time", "timezone", "patient_id", "site", "drug", "dose_text", "route", "uid"]
FILLED = ["given_at", "given_by", "dose_given", "notes"]


def blank_worklist(folder: Path) -> pd.DataFrame:
    sys.path.insert(0, str(ROOT))
    from dosing.cli import main as dosing_cli

    seed = ["generate", str(PROTOCOLS / "nct02467504.toml"), "--cohort", str(PROTOCOLS / "nct02467504-cohort.csv")]
    changes = ["--changes", str(PROTOCOLS / "nct02467504-changes.csv")]
    dosing_cli([*seed, *changes, "--out", str(folder), "--no-feeds"], standalone_mode=False)
    sheet = pd.read_csv(folder / "nct02467504" / "worklist.csv", dtype=str, keep_default_na=False)
    return sheet


def fill(sheet: pd.DataFrame) -> pd.DataFrame:
    sheet = sheet[sheet["date"] <= AS_OF].reset_index(drop=True)
    rng = np.random.default_rng(2467504)
    planned = pd.to_datetime(sheet["date"] + " " + sheet["time"])
    u = rng.random(len(sheet))
    shift = np.where(u < 0.30, rng.integers(-40, 41, len(sheet)), 0)  # 30% within 40 min, the rest on the minute
    taken = rng.random(len(sheet)) > 0.015  # 1.5% forgotten by everyone now and then
    oral = sheet["route"] == "oral"
    taken &= ~((sheet["patient_id"] == "RA-012") & oral & (rng.random(len(sheet)) < 0.33))
    taken &= ~((sheet["patient_id"] == "RA-007") & (sheet["drug"] == "Loxoprofen") & (sheet["date"] > "2027-01-20"))
    taken &= ~sheet["notes"].str.startswith("HELD")
    late = (sheet["patient_id"] == "RA-003") & (sheet["route"] == "subcutaneous")
    late_rows = sheet.index[late][2:4]
    shift[late_rows] = 26 * 60
    given = (planned + pd.to_timedelta(shift, unit="min")).dt.strftime("%Y-%m-%d %H:%M")
    sheet["given_at"] = np.where(taken, given, "")
    in_clinic = sheet["route"] == "subcutaneous"
    sheet["given_by"] = np.where(taken, np.where(in_clinic, "nurse", "patient"), "")
    sheet["dose_given"] = np.where(taken, sheet["dose_text"], "")
    sheet["notes"] = ""
    sheet.loc[late_rows, "notes"] = "came the next day"
    extra = sheet[(sheet["patient_id"] == "RA-009") & (sheet["drug"] == "Loxoprofen")].iloc[[10]].copy()
    extra["time"], extra["uid"], extra["notes"] = "", "", "fourth tablet for back pain"
    extra["given_at"] = extra["date"] + " 22:30"
    out = pd.concat([sheet, extra], ignore_index=True)
    return out.sort_values(["date", "patient_id", "time"], kind="stable")[[*COLUMNS, *FILLED]]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        log = fill(blank_worklist(Path(folder)))
    log.to_csv(PROTOCOLS / "nct02467504-log.csv", index=False, lineterminator="\n")
    print(f"{len(log):,} rows written to protocols/nct02467504-log.csv")


if __name__ == "__main__":
    main()
