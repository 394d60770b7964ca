"""`dosing worklist`: the nurses' sheet per site and day (CSV and a landscape PDF), checked as a nurse
reads it: which rows, how the dose is written, the held row, the range of days, the page.

Hand-checked facts of the seed protocol (protocols/nct02467504.toml) and cohort used below:
- hrIL-2 or placebo is given at 09:00 on odd study days 1-13 of each 28-day cycle, in the clinic unless
  the clinic is closed (Saturday, Sunday, Chinese public holidays: then at home).
- RA-001 starts Friday 2026-12-11 (day 1), so day 5 is Tuesday 2026-12-15 (in clinic, dose 3 of cycle 1)
  and day 7 is Thursday 2026-12-17 (in clinic, dose 4). Methotrexate is on Sundays, so on 12-15 the home
  doses are folic acid 1 mg at 08:00 and loxoprofen 60 mg at 08:00, 13:00 and 19:00.
- In-clinic injections from 12-14 to 12-18 (odd study days, weekdays only):
  RA-002 starts Tue 12-08: days 7, 9, 11 are 12-14, 12-16, 12-18.
  RA-003 starts Thu 12-10: days 5, 7, 9 are 12-14, 12-16, 12-18.
  RA-006 starts Mon 12-14: days 1, 3, 5 are 12-14, 12-16, 12-18.
  RA-004 starts Wed 12-16: day 1 is 12-16, day 3 is 12-18.
  RA-005 starts Thu 12-17: day 1 is 12-17.
  RA-001 (above): 12-15 and 12-17.
  So 12-15 has RA-001 only; 12-15..12-17 has 12-15 RA-001; 12-16 RA-002, RA-003, RA-004, RA-006;
  12-17 RA-001, RA-005: 7 rows. 12-14 and 12-18 (the days just outside) have 3 and 4 rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner

import dosing
from dosing.cli import main
from dosing.io.read.files import load_protocol
from dosing.jobs.worklist import sheet_rows
from dosing.protocol.units import format_dose_written
from tests.conftest import FIXTURES, PINNED_TODAY, PROTOCOLS
from tests.test_blind_messages import BLINDED, CASES, cohort_file, fill
from tests.test_blinding import PAIRS, leaks, template_row

SEED = PROTOCOLS / "nct02467504.toml"
COHORT = PROTOCOLS / "nct02467504-cohort.csv"
HOLD = FIXTURES / "changes-hold-in-clinic.csv"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["worklist", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def sheet(out: Path, start: str, end: str, site: str = "PKUPH", study: str = "nct02467504") -> Path:
    return out / f"{study}-worklists" / f"{start}_to_{end}"


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def pages(path: Path) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(path).pages]


@pytest.mark.parametrize(
    ("amount", "unit", "written"),
    [
        (1_000_000, "IU", "1 × 10⁶ IU"),  # the seed's hrIL-2 dose as the paper writes it
        (1_000_000.0, "IU", "1 × 10⁶ IU"),  # as the dose table holds it (float)
        (2_500_000, "IU", "2.5 × 10⁶ IU"),
        (200_000, "IU", "2 × 10⁵ IU"),  # NCT04077684's 0.2 MIU, in IU
        (10_000, "IU", "1 × 10⁴ IU"),  # the first amount written as a power of ten
        (9_999, "IU", "9,999 IU"),  # below it: as format_dose writes it
        (12_345, "IU", "12,345 IU"),  # five significant digits: a power of ten would hide them
        (5, "MIU", "5 MIU"),
        (60, "mg", "60 mg"),  # mass doses are never powers of ten
        (1_000_000, "mg", "1,000,000 mg"),
        (2, "tablet", "2 tablets"),
        ("1 syringe", "", "1 syringe"),  # a blinded dose: shown as it is
    ],
)
def test_doses_are_written_as_people_write_them(amount: object, unit: str, written: str) -> None:
    assert format_dose_written(amount, unit) == written


def test_a_seed_patients_day_in_clinic_and_at_home(tmp_path: Path) -> None:
    code, _, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", "2026-12-15", "--to",
                       "2026-12-15", "--discard-changes")  # fmt: skip
    assert code == 0, err
    (row,) = csv_rows(sheet(tmp_path, "2026-12-15", "2026-12-15") / "PKUPH.csv")
    assert {k: row[k] for k in ("date", "time", "timezone", "patient_id", "drug", "dose_text", "route")} == {
        "date": "2026-12-15",
        "time": "09:00",
        "timezone": "Asia/Shanghai",
        "patient_id": "RA-001",
        "drug": "hrIL-2 or placebo",
        "dose_text": "1 × 10⁶ IU",
        "route": "subcutaneous",
    }
    assert (row["study_day"], row["dose_number"], row["weekday"], row["notes"]) == ("5", "3", "Tuesday", "")
    code, _, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path / "home"), "--home",
                       "--from", "2026-12-15", "--to", "2026-12-15")  # fmt: skip
    assert code == 0, err
    mine = [r for r in csv_rows(sheet(tmp_path / "home", "2026-12-15", "2026-12-15") / "PKUPH.csv")
            if r["patient_id"] == "RA-001"]  # fmt: skip
    assert [(r["time"], r["drug"], r["dose_text"]) for r in mine] == [
        ("08:00", "Folic acid", "1 mg"),
        ("08:00", "Loxoprofen", "60 mg"),
        ("09:00", "hrIL-2 or placebo", "1 × 10⁶ IU"),
        ("13:00", "Loxoprofen", "60 mg"),
        ("19:00", "Loxoprofen", "60 mg"),
    ]


def test_held_dose_keeps_its_row_says_do_not_give_and_why(tmp_path: Path) -> None:
    code, _, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", "2026-12-15", "--to",
                       "2026-12-15", "--changes", str(HOLD))  # fmt: skip
    assert code == 0, err
    folder = sheet(tmp_path, "2026-12-15", "2026-12-15")
    (row,) = csv_rows(folder / "PKUPH.csv")
    held = "HELD 2026-12-15: do not give. Why: fever 38.5 C on the morning of the injection"
    assert (row["patient_id"], row["time"], row["notes"]) == ("RA-001", "09:00", held)
    (page,) = pages(folder / "PKUPH.pdf")
    assert "RA-001 09:00 hrIL-2 or placebo subcutaneous injection 1 × 10⁶ IU subcutaneous HELD" in page
    assert held in page


def test_recorded_changes_apply_by_default(tmp_path: Path) -> None:
    """`generate --changes` records them; `worklist` without --changes uses them, as `show` does."""
    cohort = tmp_path / "one.csv"
    cohort.write_text(COHORT.read_text(encoding="utf-8").splitlines()[0] + "\n" + "RA-001,active,2026-12-11,"
                      "Asia/Shanghai,PKUPH,20,Sunday\n", encoding="utf-8")  # fmt: skip
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(SEED), "--cohort", str(cohort), "--out", str(out),
                                       "--changes", str(HOLD), "--no-feeds"])  # fmt: skip
    assert result.exit_code == 0, result.output
    code, _, err = run(str(SEED), "--cohort", str(cohort), "--out", str(out), "--from", "2026-12-15", "--to",
                       "2026-12-15")  # fmt: skip
    assert code == 0, err
    (row,) = csv_rows(sheet(out, "2026-12-15", "2026-12-15") / "PKUPH.csv")
    assert row["notes"].startswith("HELD 2026-12-15: do not give")


def test_both_ends_of_the_range_are_included(tmp_path: Path) -> None:
    code, out, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", "2026-12-15", "--to",
                         "2026-12-17", "--discard-changes")  # fmt: skip
    assert code == 0, err
    rows = csv_rows(sheet(tmp_path, "2026-12-15", "2026-12-17") / "PKUPH.csv")
    assert [(r["date"], r["patient_id"]) for r in rows] == [
        ("2026-12-15", "RA-001"),
        ("2026-12-16", "RA-002"),
        ("2026-12-16", "RA-003"),
        ("2026-12-16", "RA-004"),
        ("2026-12-16", "RA-006"),
        ("2026-12-17", "RA-001"),
        ("2026-12-17", "RA-005"),
    ]
    assert "2026-12-15 .. 2026-12-17 (both days included)" in out
    assert "PKUPH: 7 doses, 3 pages" in out  # each day starts a page


def test_default_range_is_today_and_the_next_seven_days() -> None:
    protocol = load_protocol(SEED)
    cohort = dosing.load_cohort(COHORT, protocol)
    rows = sheet_rows(protocol, cohort, None, dt.date(2026, 12, 14), dt.date(2026, 12, 18))
    assert sorted(set(rows["date"].astype(str))) == [f"2026-12-{d}" for d in (14, 15, 16, 17, 18)]
    assert len(rows) == 3 + 7 + 4  # 12-14: RA-002, RA-003, RA-006; 12-18: RA-002, RA-003, RA-004, RA-006


def test_default_range_in_the_folder_name(tmp_path: Path) -> None:
    code, out, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path))
    assert code == 0, err
    end = PINNED_TODAY + dt.timedelta(days=7)
    assert sheet(tmp_path, str(PINNED_TODAY), str(end)).is_dir()  # today (pinned 2026-12-01) .. 12-08
    assert f"{PINNED_TODAY} .. {end} (both days included)" in out


def test_from_after_to_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    code, out, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", "2027-01-05", "--to",
                         "2027-01-04")  # fmt: skip
    assert code == 2
    assert err.startswith("Error: --from 2027-01-05 is after --to 2027-01-04")
    assert "Fix: give --from on or before --to" in err and "Traceback" not in err
    assert out == "" and list(tmp_path.iterdir()) == []


def test_unknown_site_names_the_known_ones(tmp_path: Path) -> None:
    code, _, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--site", "PKUHP")
    assert code == 2
    assert "no patient of the cohort is at site 'PKUHP'; did you mean 'PKUPH'?" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("paper", "size"), [("A4", (842, 595)), ("Letter", (792, 612))])
def test_pdf_pages_are_landscape_and_name_study_site_day_and_page(tmp_path: Path, paper: str, size: tuple) -> None:
    code, _, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", "2026-12-15", "--to",
                       "2026-12-17", "--paper", paper, "--site", "PKUPH")  # fmt: skip
    assert code == 0, err
    pdf = tmp_path / "nct02467504-worklists" / "2026-12-15_to_2026-12-17-PKUPH" / "PKUPH.pdf"
    reader = pypdf.PdfReader(pdf)
    assert len(reader.pages) == 3
    for page in reader.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == size
    texts = pages(pdf)
    days = [("Tuesday 2026-12-15", ["RA-001"]), ("Wednesday 2026-12-16", ["RA-002", "RA-003", "RA-004", "RA-006"]),
            ("Thursday 2026-12-17", ["RA-001", "RA-005"])]  # fmt: skip
    for number, (text, (day, patients)) in enumerate(zip(texts, days, strict=True), start=1):
        assert text.startswith(f"NCT02467504 · PKUPH · {day} page 1 of 1"), text
        assert "in-clinic doses · BLINDED · times in Asia/Shanghai (UTC+08:00)" in text
        assert re.findall(r"RA-\d{3}", text) == patients
        assert text.count("1 × 10⁶ IU") == len(patients)
        assert text.endswith(f"sheet page {number} of 3")


def test_a_busy_morning_of_the_seed_cohort_is_a_page_or_two(tmp_path: Path) -> None:
    protocol = load_protocol(SEED)
    cohort = dosing.load_cohort(COHORT, protocol)
    rows = sheet_rows(protocol, cohort, None, dt.date(2027, 1, 1), dt.date(2027, 6, 30))
    busiest = rows["date"].astype(str).value_counts()
    day, count = str(busiest.index[0]), int(busiest.iloc[0])
    assert count >= 10  # the cohort's busiest clinic day has many injections
    code, _, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", day, "--to", day,
                       "--discard-changes")  # fmt: skip
    assert code == 0, err
    assert len(pypdf.PdfReader(sheet(tmp_path, day, day) / "PKUPH.pdf").pages) <= 2


def test_long_drug_names_wrap_inside_the_page(tmp_path: Path) -> None:
    long_label = "recombinant human interleukin-2 (aldesleukin analogue) or matching placebo solution for injection"
    text = SEED.read_text(encoding="utf-8").replace("hrIL-2 or placebo", long_label)
    protocol = tmp_path / "long.toml"
    protocol.write_text(text, encoding="utf-8")
    code, _, err = run(str(protocol), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", "2026-12-16",
                       "--to", "2026-12-16", "--paper", "Letter")  # fmt: skip
    assert code == 0, err
    path = sheet(tmp_path, "2026-12-16", "2026-12-16") / "PKUPH.pdf"
    reader = pypdf.PdfReader(path)
    # Letter: room for rows 612 - 2 x 28 (margins) - 64 (header) - 22 (footer) - 23 (titles) = 447 pt; the drug
    # cell (792 - 2 x 28 - 492 fixed = 244 pt shared with Notes: 122 pt) wraps the label and "subcutaneous
    # injection" into 10 lines ("recombinant" / "human" / "interleukin-2" / "(aldesleukin" / "analogue) or" /
    # "matching placebo" / "solution for" / "injection" / "subcutaneous" / "injection"): 10 x 15 + 2 x 4 = 158 pt
    # a row, so 2 of the day's 4 patients fit on a page (3 would need 474 pt).
    assert len(reader.pages) == 2
    for page in reader.pages:
        placed: list[tuple[float, float]] = []
        page.extract_text(
            visitor_text=lambda text, cm, tm, font, size, found=placed: (
                found.append((tm[4], tm[5])) if text.strip() else 0
            )
        )
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert placed and all(28 <= x < width - 28 and 28 <= y < height - 28 for x, y in placed)  # inside margins
    texts = pages(path)
    assert [t.count("matching placebo solution for injection") for t in texts] == [2, 2]
    assert texts[0].startswith("NCT02467504 · PKUPH · Wednesday 2026-12-16 page 1 of 2")
    assert texts[1].startswith("NCT02467504 · PKUPH · Wednesday 2026-12-16 page 2 of 2")


def _twin_cohort(tmp_path: Path, protocol_path: Path, arm: str) -> Path:
    row = template_row(protocol_path)
    path = tmp_path / f"cohort-{arm}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow({**row, "patient_id": "PX-001", "arm": arm})
    return path


@pytest.mark.parametrize(("protocol_path", "arm_a", "arm_b"), PAIRS, ids=lambda v: getattr(v, "stem", v))
def test_twin_arms_give_byte_identical_sheets(tmp_path: Path, protocol_path: Path, arm_a: str, arm_b: str) -> None:
    """The attacker's test for the new files: two one-patient cohorts that differ only in the arm give the
    same CSV and PDF bytes (home doses included, a two-week range), and neither names an arm or true drug."""
    start = dt.date.fromisoformat(template_row(protocol_path)["start_date"])
    span = ["--from", str(start), "--to", str(start + dt.timedelta(days=13)), "--home"]
    files = []
    for arm in (arm_a, arm_b):
        out = tmp_path / arm
        code, _, err = run(str(protocol_path), "--cohort", str(_twin_cohort(tmp_path, protocol_path, arm)), "--out",
                           str(out), *span)  # fmt: skip
        assert code == 0, err
        (folder,) = (p for p in (out / f"{protocol_path.stem}-worklists").iterdir() if p.is_dir())
        files.append({p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"})
    assert files[0] == files[1]
    assert {name.rsplit(".", 1)[1] for name in files[0]} == {"csv", "pdf"}
    protocol = load_protocol(protocol_path)
    (folder,) = (p for p in (tmp_path / arm_a / f"{protocol_path.stem}-worklists").iterdir() if p.is_dir())
    for name, content in files[0].items():
        text = content.decode("utf-8-sig") if name.endswith(".csv") else "\n".join(pages(folder / name))
        assert "PX-001" in text and leaks(text, protocol) == [], name


def test_unblinded_sheets_show_the_true_drug_and_go_elsewhere(tmp_path: Path) -> None:
    code, _, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", "2026-12-15", "--to",
                       "2026-12-15", "--unblinded")  # fmt: skip
    assert code == 0, err
    assert "UNBLINDED" in err
    folder = tmp_path / "nct02467504-UNBLINDED-worklists" / "2026-12-15_to_2026-12-15"
    (row,) = csv_rows(folder / "PKUPH.csv")
    assert (row["drug"], row["arm"], row["regimen"]) == ("hrIL-2", "active", "il2")  # RA-001 is active
    assert "UNBLINDED" in pages(folder / "PKUPH.pdf")[0]
    assert folder.stat().st_mode & 0o077 == 0  # owner-only, as every unblinded output
    assert not (tmp_path / "nct02467504-worklists").exists()


#: The changes cases of the attacker test (tests/test_blind_messages.py) that reach the sheet: a held,
#: delayed, re-dosed, stopped or withdrawn patient, and refused changes (their message must not differ).
SHEET_CASES = ["hold", "delay", "dose change", "dose with a unit", "stop", "withdraw", "hold on a day without a dose",
               "dose change to a dose of one arm"]  # fmt: skip


@pytest.mark.parametrize("protocol_path", BLINDED, ids=lambda p: p.stem)
@pytest.mark.parametrize("name", SHEET_CASES)
def test_changed_sheets_are_the_same_in_every_arm(tmp_path: Path, protocol_path: Path, name: str) -> None:
    """Each case once per arm, one patient whose only difference is the arm: exit status, stdout, stderr
    and every sheet file byte-identical; no arm, true drug or blinded regimen id said."""
    (case,) = [c for c in CASES if c.name == name]
    assert case.changes is not None
    changes = fill(case.changes, protocol_path)
    assert changes is not None
    protocol = load_protocol(protocol_path)
    seen = []
    for i, arm in enumerate(protocol.arms):
        folder = tmp_path / f"r{i}"  # never the arm's name: paths are printed
        folder.mkdir()
        cohort = cohort_file(folder, protocol_path, arm.id)
        (folder / "changes.csv").write_bytes(changes)
        code, out, err = run(str(protocol_path), "--cohort", str(cohort), "--out", str(folder / "out"), "--from",
                             "2027-01-04", "--to", "2027-02-28", "--changes", str(folder / "changes.csv"))  # fmt: skip
        written = sorted(p for p in (folder / "out").rglob("*") if p.is_file() and p.name != "manifest.json")
        files = {str(p.relative_to(folder)): p.read_bytes() for p in written}
        texts = [out, err] + [t for p in written for t in (pages(p) if p.suffix == ".pdf" else [p.read_text()])]
        seen.append((code, out.replace(str(folder), "<RUN>"), err.replace(str(folder), "<RUN>"), files))
        said = set(leaks("\n".join(texts), protocol)) - set(leaks(changes.decode(), protocol))
        assert not said, f"{arm.id}: {sorted(said)}"
    assert all(outcome == seen[0] for outcome in seen[1:])
    notes = {"hold": "HELD 2027-01-06: do not give. Why: fever", "delay": "CHANGED 2027-01-20: x",
             "dose change": "CHANGED 2027-01-10: x", "hold on a day without a dose": "Error: "}  # fmt: skip
    if name in notes and protocol_path == SEED:  # (the lupus study drug has no cycles to delay)
        shown = "\n".join([seen[0][2], *(c.decode("utf-8-sig", "replace") for c in seen[0][3].values())])
        assert notes[name] in shown


def test_import_dosing_loads_no_pdf_library() -> None:
    """fpdf2 and matplotlib's font load when a sheet is written, not with every command."""
    import subprocess
    import sys

    code = "import sys, dosing, dosing.cli; print(sorted({'fpdf', 'matplotlib'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    from dosing.io.write.sheet_pdf import PAPERS
    from dosing.jobs.worklist import PAPERS as OFFERED

    assert tuple(PAPERS) == OFFERED


def test_text_the_font_cannot_show_is_refused_not_dropped(tmp_path: Path) -> None:
    """Neither DejaVu Sans nor Noto Sans CJK SC has Tibetan: a reason in it would vanish from the printed
    sheet, so it is refused and nothing is written."""
    changes = tmp_path / "changes.csv"
    changes.write_text(HOLD.read_text(encoding="utf-8").replace("fever 38.5 C", "ཚ་བ 38.5 C"), encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(out), "--from", "2026-12-15", "--to",
                            "2026-12-15", "--changes", str(changes))  # fmt: skip
    assert code == 2 and stdout == ""
    assert err.startswith("Error: no font of the sheet (DejaVu Sans, Noto Sans CJK SC) can show '་བཚ' in the notes")
    assert "Fix: write that text in Latin or Chinese letters" in err
    assert not out.exists()


def test_a_chinese_hold_reason_prints_in_the_cjk_font(tmp_path: Path) -> None:
    """The audit's reason "发热 38.5 度" was refused although the diary ships a CJK font: now the notes
    print it (Noto Sans CJK SC embedded as the fallback font), whole. Checked: fails without the fix (exit 2)."""
    import subprocess

    changes = tmp_path / "changes.csv"
    changes.write_text(HOLD.read_text(encoding="utf-8").replace("fever 38.5 C", "发热 38.5 度"), encoding="utf-8")
    code, _, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", "2026-12-15", "--to",
                       "2026-12-15", "--changes", str(changes))  # fmt: skip
    assert code == 0, err
    pdf = sheet(tmp_path, "2026-12-15", "2026-12-15") / "PKUPH.pdf"
    (page,) = pages(pdf)
    assert "HELD 2026-12-15: do not give. Why: 发热 38.5 度" in page.replace("\x00", "")
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "NotoSansCJKSC" in fonts


def test_a_day_with_patients_in_two_zones_names_the_zone_of_each_time(tmp_path: Path) -> None:
    """Both start Monday 2027-01-04: day 1 at 09:00 in their own zone (Shanghai 01:00 UTC, Berlin 08:00 UTC)."""
    cohort = tmp_path / "cohort.csv"
    cohort.write_text(
        "patient_id,arm,start_date,timezone,site,mtx_dose,mtx_weekday\n"
        "ZA-001,active,2027-01-04,Asia/Shanghai,PKUPH,15,Sunday\n"
        "ZB-001,placebo,2027-01-04,Europe/Berlin,PKUPH,15,Sunday\n",
        encoding="utf-8",
    )
    code, _, err = run(str(SEED), "--cohort", str(cohort), "--out", str(tmp_path), "--from", "2027-01-04", "--to",
                       "2027-01-04")  # fmt: skip
    assert code == 0, err
    folder = sheet(tmp_path, "2027-01-04", "2027-01-04")
    rows = csv_rows(folder / "PKUPH.csv")
    assert [(r["patient_id"], r["time"], r["timezone"], r["planned_utc"]) for r in rows] == [
        ("ZA-001", "09:00", "Asia/Shanghai", "2027-01-04T01:00:00Z"),
        ("ZB-001", "09:00", "Europe/Berlin", "2027-01-04T08:00:00Z"),
    ]
    (page,) = pages(folder / "PKUPH.pdf")
    assert "times in each patient's own zone, its UTC offset under each time" in page
    assert "ZA-001 09:00 +08:00 hrIL-2" in page and "ZB-001 09:00 +01:00 hrIL-2" in page  # Berlin: CET in January


# ---- audit fixes (fixprint) -----------------------------------------------------------------


def test_a_sheet_says_which_changes_it_applied_or_that_none_were(tmp_path: Path) -> None:
    """RA-005 withdrew on 2027-02-15 (protocols/nct02467504-changes.csv). Without a changes file recorded
    in OUT/nct02467504 none is applied, silently before the fix: now stdout says so and how to apply one,
    and the footer of every page says "no changes applied". Given --changes, both name the file and the
    first 8 hex digits of its sha256 (hashlib, computed here). Checked: fails without the fix (no such lines)."""
    import hashlib

    changes = PROTOCOLS / "nct02467504-changes.csv"
    args = [str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--from", "2027-02-23", "--to", "2027-02-23"]
    code, out, err = run(*args, "--home")
    assert code == 0, err
    study = tmp_path / "nct02467504"
    assert f"no changes file recorded in {study}; none applied (give --changes FILE)" in out
    folder = sheet(tmp_path, "2027-02-23", "2027-02-23")
    assert any(r["patient_id"] == "RA-005" for r in csv_rows(folder / "PKUPH.csv"))  # not withdrawn: no changes
    assert all("NCT02467504 worklist, PKUPH, 2027-02-23 to 2027-02-23 · no changes applied · sheet page" in p
               for p in pages(folder / "PKUPH.pdf"))  # fmt: skip
    sha = hashlib.sha256(changes.read_bytes()).hexdigest()[:8]
    code, out, err = run(*args, "--changes", str(changes))
    assert code == 0, err
    assert f"changes applied: {changes} (sha256 {sha})" in out
    assert all(f"changes: nct02467504-changes.csv (sha256 {sha})" in p for p in pages(folder / "PKUPH.pdf"))
    assert not any(r["patient_id"] == "RA-005" for r in csv_rows(folder / "PKUPH.csv"))  # withdrawn


def pdftotext_lines(pdf: Path) -> list[str]:
    """The PDF's text lines as pdftotext reads them (one per printed line of a cell)."""
    import subprocess

    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


CAPE = PROTOCOLS / "capecitabine.toml"
CAPE_COHORT = PROTOCOLS / "capecitabine-cohort.csv"


def test_a_patient_id_is_never_broken_in_the_patient_column(tmp_path: Path) -> None:
    """The audit saw "CAPE-00" / "1" (the Patient column was 70 points whatever the ids). CAPE-001 and a
    cohort's 30-character id now print whole, each on one line. Checked: fails without the fix."""
    long_id = "CHARITE-ONCOLOGY-2027-CAPE-0001"
    cohort = tmp_path / "cohort.csv"
    text = CAPE_COHORT.read_text(encoding="utf-8").replace("CAPE-002,", f"{long_id},")
    cohort.write_text(text, encoding="utf-8")
    code, _, err = run(str(CAPE), "--cohort", str(cohort), "--out", str(tmp_path), "--from", "2027-03-14", "--to",
                       "2027-03-14", "--home", "--site", "Charite")  # fmt: skip
    assert code == 0, err
    lines = pdftotext_lines(sheet(tmp_path, "2027-03-14", "2027-03-14-Charite", study="cape-adj") / "Charite.pdf")
    assert "CAPE-001" in lines and long_id in lines
    assert not [line for line in lines if line in ("1", "01", "0001")]


@pytest.mark.parametrize(
    ("day", "patient", "offsets"),
    [
        ("2027-03-14", "CAPE-004", ("-05:00", "-04:00")),  # spring forward at 02:00: 01:30 is still EST
        ("2027-11-07", "CAPE-005", ("-04:00", "-05:00")),  # fall back at 02:00: 01:30 (first) is EDT, 20:00 EST
    ],
)
def test_on_a_dst_day_each_time_shows_its_own_utc_offset(
    tmp_path: Path, day: str, patient: str, offsets: tuple[str, str]
) -> None:
    """Capecitabine at 01:30 and 20:00 in New York (CAPE-004 from 2027-03-02, CAPE-005 from 2027-10-25:
    both dose on these days). The header used the noon offset for the whole day, wrong for 01:30."""
    protocol = tmp_path / "cape.toml"
    protocol.write_text(CAPE.read_text(encoding="utf-8").replace('["08:00", "20:00"]', '["01:30", "20:00"]'))
    code, _, err = run(str(protocol), "--cohort", str(CAPE_COHORT), "--out", str(tmp_path), "--from", day, "--to",
                       day, "--home", "--site", "MSK")  # fmt: skip
    assert code == 0, err
    (page,) = pages(sheet(tmp_path, day, f"{day}-MSK", study="cape-adj") / "MSK.pdf")
    assert "times in America/New_York; the clocks change this day: the UTC offset under each time" in page
    assert f"{patient} 01:30 {offsets[0]} Capecitabine" in page and f"20:00 {offsets[1]} Capecitabine" in page
    assert "(UTC-0" not in page


def test_an_open_label_sheet_says_open_label_not_blinded(tmp_path: Path) -> None:
    """capecitabine.toml is blinding = "open": its sheet and summary must not claim BLINDED; the seed
    (quadruple blind) still says BLINDED (test above)."""
    code, out, err = run(str(CAPE), "--cohort", str(CAPE_COHORT), "--out", str(tmp_path), "--from", "2027-03-14",
                         "--to", "2027-03-14", "--home", "--site", "MSK")  # fmt: skip
    assert code == 0, err
    assert out.startswith("Open-label worklists for 2027-03-14")
    (page,) = pages(sheet(tmp_path, "2027-03-14", "2027-03-14-MSK", study="cape-adj") / "MSK.pdf")
    assert "in-clinic and home doses · open label · times in America/New_York (UTC-04:00)" in page
    assert "BLINDED" not in page


def test_to_alone_before_today_names_the_default_from(tmp_path: Path) -> None:
    """Today is pinned to 2026-12-01 (tests/conftest.py): --to 2026-11-30 alone is before it. The message
    named "--from 2026-12-01", which the user never gave. Checked: fails without the fix."""
    code, out, err = run(str(SEED), "--cohort", str(COHORT), "--out", str(tmp_path), "--to", "2026-11-30")
    assert code == 2 and out == ""
    assert err.startswith(f"Error: --from defaults to today ({PINNED_TODAY}), which is after --to 2026-11-30")
    assert "Fix: give --from on or before --to" in err
    assert list(tmp_path.iterdir()) == []


def test_a_note_longer_than_a_page_is_cut_to_fit_never_run_off_the_page(tmp_path: Path) -> None:
    """Audit of issue 12: a 728-character hold reason made RA-004's row taller than a page; its end ran
    over the footer and off the paper. The note is cut, by words, to what fits, and says where the rest is."""
    reason = "fever 38.5 C; " + "investigator contacted, advised paracetamol and fluids; " * 14 + "END"
    changes = tmp_path / "changes.csv"
    changes.write_text(
        "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n"
        f'RA-004,hold,il2,,2026-12-18,,,,,"{reason}"\n',
        encoding="utf-8",
    )
    days = ["--from", "2026-12-18", "--to", "2026-12-18"]
    code, _, err = run(str(SEED), "--cohort", str(COHORT), "--changes", str(changes), *days, "--out", str(tmp_path))
    assert code == 0, err
    (pdf,) = tmp_path.rglob("PKUPH.pdf")
    text = " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(pdf).pages)  # lines joined
    assert "cut to fit the page" in text and "END" not in text
    assert "fever 38.5 C" in text  # the start of the note is kept


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (["--from", "9999-12-30"], "--from 9999-12-30 to --to 9999-12-30"),  # not an overflow traceback
        (["--from", "2027-01-10", "--to", "2037-01-01"], "is 3,645 days; a sheet covers at most 366 days"),
    ],
)
def test_an_absurd_range_is_refused_with_a_clear_error(tmp_path: Path, days: list[str], message: str) -> None:
    """Audit of issue 12: --from 9999-12-30 crashed with OverflowError (exit 1, a traceback); a ten-year
    range wrote 114 pages. 2027-01-10 .. 2037-01-10 is 3,653 days (3 leap days), 9 fewer to 01-01 is 3,644
    days apart: 3,645 days with both ends included."""
    code, _, err = run(str(SEED), "--cohort", str(COHORT), *days, "--out", str(tmp_path))
    if days == ["--from", "9999-12-30"]:
        assert (code, list(tmp_path.iterdir())) == (0, [tmp_path / "nct02467504-worklists"]), err  # one day, none due
    else:
        assert code == 2 and message in err and "Traceback" not in err, err
        assert list(tmp_path.iterdir()) == []
