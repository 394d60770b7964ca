"""``dosing diary``: the patient's printable diary, checked as the patient sees it.

The seed patient RA-001 starts on Friday 2026-12-11 (study day 1), takes methotrexate 20 mg on
Sundays, and is in the active arm (the diary must not show it). Expected values are worked out by hand
from protocols/nct02467504.toml (see each test's comment), not taken from the program's output.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from pathlib import Path

import pytest
from babel.dates import format_date, format_skeleton
from click.testing import CliRunner
from pypdf import PdfReader

from dosing.cli import main
from dosing.io.read.changes import load_changes
from dosing.io.read.files import load_cohort, load_protocol
from dosing.io.write.diary_pdf import Diary, diary_pdf
from dosing.io.write.diary_rows import CLINIC, HOME, VISIT
from dosing.jobs.diary import build_diaries, diary
from tests.conftest import PROTOCOLS
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)

SEED = PROTOCOLS / "nct02467504.toml"
COHORT = PROTOCOLS / "nct02467504-cohort.csv"
COHORT_ZH = PROTOCOLS / "nct02467504-cohort-zh.csv"
CHANGES = PROTOCOLS / "nct02467504-changes.csv"
GOLDEN = Path(__file__).parent / "golden" / "diary_zh_RA-001_weeks-1-2.txt"
MM = 72 / 25.4  # PDF points per mm


def seed_diary(cohort_file: Path, patient: str, with_changes: bool = False) -> Diary:
    protocol = load_protocol(SEED)
    cohort = load_cohort(cohort_file, protocol)
    changes = load_changes(CHANGES, protocol, cohort) if with_changes else None
    return build_diaries(protocol, cohort, changes=changes, patients=[patient])[patient]


def day_lines(book: Diary, first: int, last: int) -> dict[int, list[str]]:
    """study day -> "[kind] time text" for the items of days first..last."""
    rows = book.items[(book.items["study_day"] >= first) & (book.items["study_day"] <= last)]
    out: dict[int, list[str]] = {}
    for row in rows.itertuples(index=False):
        mark = "held " if row.held else ""
        out.setdefault(int(row.study_day), []).append(f"{mark}[{row.kind}] {row.time} {row.text}".replace("  ", " "))
    return out


def page_texts(pdf: bytes) -> list[str]:
    """The text of each page. pypdf puts a NUL before each character of the Chinese (CID-keyed) font;
    pdftotext reads the same file without them, so they are pypdf's and are dropped."""
    return [page.extract_text().replace("\x00", "") for page in PdfReader(io.BytesIO(pdf)).pages]


def squeeze(text: str) -> str:
    """Text without white space: a line the PDF wraps in a narrow day is still found."""
    return re.sub(r"\s+", "", text)


# ---- what the days list (hand-checked) ------------------------------------------------------


def test_week_1_of_ra_001_lists_each_dose_and_visit_by_hand() -> None:
    """Week 1 is study days 1-7, Friday 2026-12-11 to Thursday 12-17.
    - loxoprofen 60 mg at 08:00, 13:00 and 19:00 every day;
    - folic acid 1 mg at 08:00 daily except the methotrexate day (Sunday 12-13, day 3);
    - methotrexate 20 mg (RA-001's mtx_dose) at 08:00 on Sunday, day 3;
    - hrIL-2 or placebo every other day from day 1 (days 1, 3, 5, 7) at 09:00, at the clinic (site PKUPH),
      except on Sunday, day 3, when the clinic is closed (on_closed_day = "home"): at home, with the dose;
    - the baseline visit on day 1 (no time given)."""
    lox = [f"[{HOME}] {t} Loxoprofen 60 mg" for t in ("08:00", "13:00", "19:00")]
    folic = f"[{HOME}] 08:00 Folic acid 1 mg"
    clinic = f"[{CLINIC}] 09:00 hrIL-2 or placebo: at the clinic"  # the header gives the clinic's address
    expected = {
        1: [f"[{VISIT}] Clinic visit: Baseline", folic, lox[0], clinic, lox[1], lox[2]],
        2: [folic, *lox],
        3: [
            lox[0],
            f"[{HOME}] 08:00 Methotrexate 20 mg",
            f"[{HOME}] 09:00 hrIL-2 or placebo 1 × 10⁶ IU (at home: the clinic is closed)",
            lox[1],
            lox[2],
        ],
        4: [folic, *lox],
        5: [folic, lox[0], clinic, lox[1], lox[2]],
        6: [folic, *lox],
        7: [folic, lox[0], clinic, lox[1], lox[2]],
    }
    book = seed_diary(COHORT, "RA-001")
    assert day_lines(book, 1, 7) == expected
    weekly = book.items[book.items["weekly"]]
    assert sorted(set(weekly["study_day"])) == list(range(3, 169, 7))  # every Sunday, days 3, 10, ..., 164


def test_a_held_dose_is_marked_held() -> None:
    """The changes file holds RA-004's injection of 2026-12-20: RA-004 starts 2026-12-16, so that is
    study day 5, a Sunday (clinic closed, so planned at home)."""
    book = seed_diary(COHORT, "RA-004", with_changes=True)
    held = book.items[book.items["held"]]
    assert [(int(r.study_day), r.time, r.text) for r in held.itertuples()] == [
        (5, "09:00", "hrIL-2 or placebo 1 × 10⁶ IU (at home: the clinic is closed)")
    ]


# ---- the PDF: pages, size, text ---------------------------------------------------------------


@pytest.fixture(scope="module")
def english_pdf() -> bytes:
    return diary_pdf(seed_diary(COHORT, "RA-001"), "a4")


@pytest.mark.parametrize(("paper", "size_mm"), [("a4", (297, 210)), ("letter", (279.4, 215.9))])
def test_one_landscape_page_per_four_weeks(paper: str, size_mm: tuple[float, float]) -> None:
    """The last visit (week 24, target day 169 = 2027-05-28, a Friday, open) is in study week 25
    (days 169-175): 25 weeks, 4 a page -> 7 pages."""
    reader = PdfReader(io.BytesIO(diary_pdf(seed_diary(COHORT, "RA-001"), paper)))
    assert len(reader.pages) == 7
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(
            (size_mm[0] * MM, size_mm[1] * MM), abs=0.05
        )


def test_each_page_shows_its_weeks(english_pdf: bytes) -> None:
    """Page 1: weeks 1-4 (days 1-28, 12-11 to 2027-01-07); page 2: weeks 5-8 (days 29-56, 2027-01-08 to
    02-04), with the week-4 visit on day 29 (the first day of cycle 2) and the week-8 visit moved from
    day 57 (Friday 02-05, Chinese New Year's Eve: closed) to day 56, Thursday 02-04; page 3: weeks 9-12
    (days 57-84) with the last injections of cycle 3 (days 57-69, to 2027-02-17); page 7: week 25,
    the week-24 visit on 2027-05-28 and no dose (the last dose day is 168, 05-27, on page 6)."""
    pages = page_texts(english_pdf)
    assert "Page 1 of 7" in pages[0] and "Medicine diary" in pages[0] and "RA-001" in pages[0]
    assert "Methotrexate: ONCE A WEEK, on Sunday only. Never take it daily." in pages[0]
    assert "Questions or side effects? Call the study team" in pages[0]
    assert [d for d in ("Dec 10", "Dec 11", "Jan 7", "Jan 8") if d in pages[0]] == ["Dec 11", "Jan 7"]
    assert "Week 1" in pages[0] and "Week 4" in pages[0] and "Week 5" not in pages[0]
    assert squeeze("Clinic visit: Baseline") in squeeze(pages[0])
    assert squeeze("08:00 Methotrexate 20 mg") in squeeze(pages[0])
    assert "Page 2 of 7" in pages[1] and "Jan 8" in pages[1] and "Feb 4" in pages[1] and "Feb 5" not in pages[1]
    assert squeeze("Clinic visit: Week 4") in squeeze(pages[1])
    assert squeeze("Clinic visit: Week 8") in squeeze(pages[1])
    injection = squeeze("09:00 hrIL-2 or placebo")  # the medicines line names it on every page
    assert (
        "Feb 17" in pages[2] and injection in squeeze(pages[2]) and all(injection not in squeeze(p) for p in pages[3:])
    )
    assert "May 27" in pages[5] and "Loxoprofen" in pages[5]
    assert squeeze("Clinic visit: Week 24 (primary endpoint)") in squeeze(pages[6])
    assert "May 28" in pages[6] and "Loxoprofen" not in pages[6] and "Your medicines" not in pages[6]


def test_the_diary_never_names_the_arm_or_the_true_drug(english_pdf: bytes) -> None:
    text = "\n".join(page_texts(english_pdf))
    for secret in ("active", "Placebo", "hrIL-2 1 MIU", "il2"):
        assert secret not in text
    assert "hrIL-2 or placebo" in text


@pytest.mark.parametrize("cohort_file", [COHORT, COHORT_ZH], ids=["en", "zh"])
def test_twins_of_different_arms_get_the_same_bytes(tmp_path: Path, cohort_file: Path) -> None:
    """The same patient in the active and in the placebo arm: byte-identical diaries."""
    protocol = load_protocol(SEED)
    header, row = cohort_file.read_text(encoding="utf-8").splitlines()[:2]
    outputs = []
    for arm in ("active", "placebo"):
        twin = tmp_path / f"{arm}.csv"
        twin.write_text(f"{header}\n{row.replace(',active,', f',{arm},')}\n", encoding="utf-8")
        result = diary(protocol, load_cohort(twin, protocol), tmp_path / arm)
        outputs.append(result.files[0].read_bytes())
    assert f",{'placebo'}," in (tmp_path / "placebo.csv").read_text()
    assert outputs[0] == outputs[1]


# ---- Chinese --------------------------------------------------------------------------------


def golden_text(book: Diary, last_day: int) -> str:
    """The diary's texts as a reader goes through them: the header lines, then each day of the first
    weeks with its items ("[ ]" a tick box, "[clinic]" / "[visit]" the blue band, "!" once weekly)."""
    _ = book.translate
    lines = [
        f"{_('Medicine diary')} · {book.patient_id} · {_('Study {study}').format(study=book.study_id)}",
        str(book.contact),
        *([_("Your clinic: {address}").format(address=book.address)] if book.address else []),
        *book.warnings,
        _("Your medicines: {list}").format(list=_("; ").join(m.text for m in book.medicines)),
    ]
    for day in range(1, last_day + 1):
        if day % 7 == 1:
            lines.append(_("Week {week}").format(week=(day - 1) // 7 + 1))
        date = book.start + dt.timedelta(days=day - 1)
        lines.append(f"  {format_skeleton('MMMd', date, locale='zh')} {format_date(date, 'EEEE', locale='zh')}")
        for row in book.items[book.items["study_day"] == day].itertuples():
            mark = ("[ ]" if row.kind == HOME else f"[{row.kind}]") + ("!" if row.weekly else "")
            lines.append("    " + " ".join(part for part in (mark, row.time, row.text) if part))
    return "\n".join(lines) + "\n"


def test_chinese_diary_matches_the_hand_checked_golden_file() -> None:
    """tests/golden/diary_zh_RA-001_weeks-1-2.txt was checked by hand against the protocol's Chinese
    names and the schedule of weeks 1-2 (the days as in the English test above; week 2: injections on
    days 9 (Saturday 12-19, closed: at home), 11 and 13 at the clinic, methotrexate on Sunday 12-20,
    no folic acid that day). Regenerate with DOSING_REGOLD=1 only for an intended change."""
    book = seed_diary(COHORT_ZH, "RA-001")
    text = golden_text(book, 14)
    if os.environ.get("DOSING_REGOLD"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_the_chinese_pdf_prints_the_golden_texts() -> None:
    """Every item of the golden weeks, and the warning and contact line, are on page 1 of the PDF."""
    book = seed_diary(COHORT_ZH, "RA-001")
    page = squeeze(page_texts(diary_pdf(book, "a4"))[0])
    assert squeeze("甲氨蝶呤：每周只服一次，仅在星期日服用。切勿每天服用。") in page
    assert squeeze("如有疑问或不适，请致电研究团队，电话号码见您的知情同意书。") in page
    assert squeeze("第 1 页，共 7 页") in page
    items = book.items[book.items["study_day"] <= 14]
    for row in items.itertuples():
        assert squeeze(f"{row.time} {row.text}") in page, row.text
    assert squeeze("门诊访视：基线") in page and squeeze("08:00 甲氨蝶呤 20 mg") in page


# ---- the command --------------------------------------------------------------------------------


def test_the_command_writes_one_pdf_per_patient(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["diary", str(SEED), "--cohort", str(COHORT_ZH), "--patient", "RA-001", "--patient", "RA-004"]
    result = CliRunner().invoke(main, [*args, "--paper", "letter", "--out", str(out)])
    assert result.exit_code == 0, result.output
    folder = out / "nct02467504-diaries"
    assert sorted(p.name for p in folder.iterdir()) == ["RA-001.pdf", "RA-004.pdf", "manifest.json"]
    assert "2 diaries (blinded)" in result.output
    page = PdfReader(folder / "RA-004.pdf").pages[0]
    assert float(page.mediabox.width) == pytest.approx(279.4 * MM, abs=0.05)
    assert "甲氨蝶呤" in page.extract_text().replace("\x00", "")


@pytest.mark.parametrize(
    ("cell", "fragments"),
    [
        ("fr", ["line 2, column 'language': unknown language 'fr'", "en (English), zh (Simplified Chinese)"]),
        ("zh-CN", ["line 2, column 'language'", 'did you mean "zh"']),
    ],
)
def test_a_bad_language_is_refused_and_nothing_is_written(tmp_path: Path, cell: str, fragments: list[str]) -> None:
    header, row = COHORT_ZH.read_text(encoding="utf-8").splitlines()[:2]
    cohort = tmp_path / "c.csv"
    cohort.write_text(f"{header}\n{row.removesuffix(',zh')},{cell}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["diary", str(SEED), "--cohort", str(cohort), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output
    assert not out.exists()


def test_an_unknown_patient_is_refused(tmp_path: Path) -> None:
    args = ["diary", str(SEED), "--cohort", str(COHORT), "--patient", "RA-999", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "no patient 'RA-999' in the cohort" in result.output
    assert not (tmp_path / "o").exists()


# ---- audit fixes (fixprint) -----------------------------------------------------------------


def pdftotext_lines(pdf: bytes, tmp_path: Path) -> list[str]:
    """Page 1 as pdftotext lays it out (no -layout: one text line per printed line of a cell)."""
    import subprocess

    path = tmp_path / "d.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-l", "1", str(path), "-"], capture_output=True, text=True, check=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def test_chinese_items_break_between_characters_never_inside_a_latin_word_or_a_dose(tmp_path: Path) -> None:
    """RA-004 (letter paper) has methotrexate 17.5 mg on Wednesdays: "08:00 甲氨蝶呤 17.5 mg" is too wide
    for the day, and "重组人白介素-2或安慰剂：在门诊（PKUPH）" too. The audit saw "17.5 m" / "g" and
    "（PKUPH" / "）". Checked: with the old WrapMode.CHAR the assertions on "17.5 m" and "（PKUPH）" fail."""
    from dosing.io.write.diary_pdf import break_units

    assert break_units("08:00 甲氨蝶呤 17.5 mg") == ["08:00", " ", "甲", "氨", "蝶", "呤", " ", "17.5 mg"]
    assert break_units("在门诊（PKUPH）") == ["在", "门", "诊", "（PKUPH）"]
    assert break_units("剂 1 × 10⁶ IU（在家）") == ["剂", " ", "1 × 10⁶ IU", "（在", "家）"]
    book = seed_diary(COHORT_ZH, "RA-004", with_changes=True)
    lines = pdftotext_lines(diary_pdf(book, "letter"), tmp_path)
    assert not [line for line in lines if line.endswith(("17.5 m", "17.5", "（PKUPH", "（"))]
    assert not [line for line in lines if line in ("g", "mg", "）", "IU")]
    assert "17.5 mg" in lines  # the dose went to the next line whole
    assert any(line.endswith("1 × 10⁶ IU") for line in lines)  # Saturday's injection at home, whole


def test_a_diary_says_which_changes_it_applied_or_that_none_were(tmp_path: Path) -> None:
    """Without a changes file recorded in OUT/nct02467504 none is applied: the summary says so and how to
    give one, the footer says "no changes applied" (in Chinese: 未应用任何用药变更). With --changes the
    footer names the file and its sha256's first 8 hex digits. Checked: fails without the fix."""
    import hashlib

    args = ["diary", str(SEED), "--cohort", str(COHORT_ZH), "--patient", "RA-005", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (
        f"no changes file recorded in {tmp_path / 'nct02467504'}; none applied (give --changes FILE)" in result.output
    )
    pdf = (tmp_path / "nct02467504-diaries" / "RA-005.pdf").read_bytes()
    assert all("未应用任何用药变更" in page for page in page_texts(pdf))
    result = CliRunner().invoke(main, [*args, "--changes", str(CHANGES)])
    assert result.exit_code == 0, result.output
    sha = hashlib.sha256(CHANGES.read_bytes()).hexdigest()[:8]
    assert f"changes applied: {CHANGES} (sha256 {sha})" in result.output
    pdf = (tmp_path / "nct02467504-diaries" / "RA-005.pdf").read_bytes()
    assert all(squeeze(f"用药变更：nct02467504-changes.csv (sha256 {sha})") in squeeze(p) for p in page_texts(pdf))


def test_the_il2_dose_is_written_as_on_the_nurses_sheet() -> None:
    """1,000,000 IU is "1 × 10⁶ IU" on the sheet (format_dose_written); the diary said "1,000,000 IU".
    RA-001's injection on Sunday 2026-12-13 (day 3) is at home (clinic closed). Checked: fails without the fix."""
    book = seed_diary(COHORT, "RA-001")
    day_3 = day_lines(book, 3, 3)[3]
    assert "[home] 09:00 hrIL-2 or placebo 1 × 10⁶ IU (at home: the clinic is closed)" in day_3
    assert not book.items["text"].str.contains("1,000,000").any()
    assert any(m.text.startswith("hrIL-2 or placebo 1 × 10⁶ IU") for m in book.medicines)


def test_the_clinic_is_named_by_its_address_not_the_site_code(tmp_path: Path) -> None:
    """The seed's [clinic] address is "Peking University People's Hospital, 11 Xizhimen South Street, Xicheng
    District, Beijing": the header prints it and in-clinic items say "at the clinic" (was "(PKUPH)").
    A protocol without an address keeps the site code. Checked: fails without the fix."""
    address = "Peking University People's Hospital, 11 Xizhimen South Street, Xicheng District, Beijing"
    book = seed_diary(COHORT, "RA-001")
    assert book.address == address
    assert "[clinic] 09:00 hrIL-2 or placebo: at the clinic" in day_lines(book, 1, 1)[1]
    assert not book.items["text"].str.contains("PKUPH").any()
    page = squeeze(page_texts(diary_pdf(book, "a4"))[0])
    assert squeeze(f"Your clinic: {address}") in page and "PKUPH" not in page
    bare = tmp_path / "bare.toml"
    bare.write_text(SEED.read_text(encoding="utf-8").replace(f'address = "{address}"', ""), encoding="utf-8")
    protocol = load_protocol(bare)
    plain = build_diaries(protocol, load_cohort(COHORT, protocol), patients=["RA-001"])["RA-001"]
    assert plain.address is None
    assert "[clinic] 09:00 hrIL-2 or placebo: at the clinic (PKUPH)" in day_lines(plain, 1, 1)[1]


def _with_contact(tmp_path: Path, contact: str) -> Path:
    text = SEED.read_text(encoding="utf-8")
    protocol = tmp_path / "p.toml"
    protocol.write_text(
        re.sub(r"(?m)^contact = .*$", f"contact = {contact!r}".replace("'", '"'), text), encoding="utf-8"
    )
    return protocol


def test_a_long_contact_line_wraps_and_keeps_its_end(tmp_path: Path) -> None:
    """Audit of issue 12: a one-line cell cut a 175-character contact line at the page's edge, so the
    patient read "ra-study@pkuph.example" without ".cn"."""
    contact = (
        "Questions or side effects? Call the study nurse on +86 10 8832 5555 (weekdays 08:00-17:00) or the "
        "on-call doctor on +86 10 8832 6666 at night; e-mail ra-study@pkuph.example.cn"
    )
    protocol = _with_contact(tmp_path, contact)
    args = ["diary", str(protocol), "--cohort", str(PROTOCOLS / "nct02467504-cohort.csv"), "--patient", "RA-001"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (pdf,) = (tmp_path / "out").rglob("RA-001.pdf")
    first = " ".join(PdfReader(pdf).pages[0].extract_text().split())
    assert "ra-study@pkuph.example.cn" in first.replace(" ", "") or "example.cn" in first


def test_text_the_fonts_cannot_show_is_refused_not_dropped(tmp_path: Path) -> None:
    """Audit of issue 12: an emoji in the contact line was silently left out of the printed diary."""
    protocol = _with_contact(tmp_path, "Call the study nurse 📞 +86 10 8832 5555")
    args = ["diary", str(protocol), "--cohort", str(PROTOCOLS / "nct02467504-cohort.csv"), "--patient", "RA-001"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "cannot show: '📞'" in result.stderr, result.output
    assert not list((tmp_path / "out").rglob("*.pdf"))
