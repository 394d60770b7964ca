"""report.html as a monitor reads it (issue 12 section 3): human headers, the cohort at a glance first
(heatmap of patients x weeks, those outside the band first, the patients not started on one line),
one date axis for every patient, one lane per dose time, numbers right-aligned, and the pictures'
pixels where the plan and the log put them. Expected values are worked out by hand in the comments.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from dosing.cli import main
from dosing.io.write.report_png import png, upscale
from tests.conftest import FIXTURES, PROTOCOLS

SEED = str(PROTOCOLS / "nct02467504.toml")
COHORT = str(PROTOCOLS / "nct02467504-cohort.csv")
ONE = str(FIXTURES / "seed-one-patient.csv")  # RA-900, active, starts Monday 2027-01-04, MTX on Wednesdays


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def report(out: Path, cohort: str, as_of: str, fill: str = "all", arm_cohort: str | None = None) -> str:
    """Generate, fill the worklist (``all``: every dose on time except the scripted skips of the seed
    round trip; ``week1``: only study days 1-7 given), check as of ``as_of``; the report's text."""
    assert CliRunner().invoke(main, ["generate", SEED, "--cohort", cohort, "--out", str(out)]).exit_code == 0
    sheet = read(out / "nct02467504" / "worklist.csv")
    sheet["given_at"] = sheet["date"] + " " + sheet["time"]
    sheet["dose_given"] = sheet["dose"] + " " + sheet["unit"]
    k = pd.Series(range(len(sheet)))
    skip = (k % 40 == 0) | ((sheet["patient_id"] == "RA-010") & (sheet["drug"] == "Folic acid"))
    if fill == "week1":
        skip = sheet["study_day"].astype(int) > 7
    log = out / "log.csv"
    sheet.loc[~skip, ["patient_id", "drug", "given_at", "dose_given"]].to_csv(log, index=False)  # skipped: not given
    args = ["adherence", SEED, "--cohort", arm_cohort or cohort, "--log", str(log), "--as-of", as_of]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return (out / "nct02467504" / "adherence" / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def mid_study(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The seed cohort as of 2027-02-20: 14 patients start on or after that day (cohort file: 02-24,
    02-26 x2, 03-02, 03-04, 03-05, 03-08 x2, 03-09, 03-17, 03-18, 03-19, 03-24, 03-25), so nothing is
    due for them; RA-010 took no folic acid, so it is the one patient outside the band."""
    return report(tmp_path_factory.mktemp("mid"), COHORT, "2027-02-20")


@pytest.fixture(scope="module")
def one_patient(tmp_path_factory: pytest.TempPathFactory) -> str:
    """RA-900 took every dose of study days 1-7 (2027-01-04 to 01-10) on time and nothing after;
    as of 2027-01-18 (study day 15) days 1-14 are due."""
    return report(tmp_path_factory.mktemp("one"), ONE, "2027-01-18", fill="week1")


def images(text: str) -> list[np.ndarray]:
    found = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")) for b in found]


def rgb(colour: str) -> list[int]:
    return list(bytes.fromhex(colour.removeprefix("#")))


def test_headers_are_words_not_column_names(mid_study: str) -> None:
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", mid_study)
    assert "Taking adherence (%)" in headers and "Patient" in headers and "Lowest taking adherence (%)" in headers
    assert not [h for h in headers if "_" in h]  # before: taking_adherence, dose_not_judged, ...


def test_the_cohort_at_a_glance_comes_first(mid_study: str) -> None:
    glance = mid_study.index("The cohort at a glance")
    assert glance < mid_study.index("Taking adherence by study week") < mid_study.index("Cohort, per drug")
    assert "<p class='flag'>Outside the band: 1 of 33 patients started.</p>" in mid_study
    assert "Every row of the log could be read." in mid_study


def test_patients_not_started_are_one_line_not_sections(mid_study: str) -> None:
    late = ["RA-034", "RA-035", "RA-036", "RA-037", "RA-038", "RA-039", "RA-040"]
    late += ["RA-041", "RA-042", "RA-043", "RA-044", "RA-045", "RA-046", "RA-047"]
    line = f"Not started yet (14, no dose due by 2027-02-20): {', '.join(late)}."
    assert line in mid_study
    assert not [p for p in late if f"id='p-{p}'" in mid_study]  # before: a section of zeros each
    assert mid_study.count("<section id='p-") == 47 - 14


def test_many_patients_not_started_fold_into_one_line(tmp_path: Path) -> None:
    """As of 2026-12-09 only RA-002 (day 1 on 2026-12-08) has doses due; the other 46 start on 12-10 or
    later (cohort file), more than fit on a line: their names fold away."""
    text = report(tmp_path, COHORT, "2026-12-09")
    assert "<details><summary>Not started yet (46, no dose due by 2026-12-09)</summary><p>RA-00" in text
    assert text.count("<section id='p-") == 1


def test_outside_the_band_first_in_the_heatmap_and_the_sections(mid_study: str) -> None:
    names = re.search(r"<div class='names heat-names'>(.*?)</div>", mid_study).group(1)  # type: ignore[union-attr]
    assert re.findall(r"#p-([\w-]+)", names)[0] == "RA-010"
    assert re.findall(r"<section id='p-([\w-]+)'>", mid_study)[0] == "RA-010"


def test_one_shared_date_axis(mid_study: str) -> None:
    # first planned dose 2026-12-08 (RA-002), last 2027-09-08 (RA-047: 2027-03-25 + 168 days - 1):
    # 275 days; 880 // 275 = 3 px a day, so every timeline is 825 px wide, on one axis
    axes = set(re.findall(r"<div class='axis' style='width:\d+px'>.*?</div>", mid_study))
    assert len(axes) == 1 and "width:825px" in axes.pop()
    widths = {int(m) for m in re.findall(r"<img class='timeline' alt='[^']*' width='(\d+)'", mid_study)}
    assert widths == {825}


def test_one_lane_per_dose_time(mid_study: str) -> None:
    section = re.search(r"<section id='p-RA-010'>.*?</section>", mid_study, re.S).group(0)  # type: ignore[union-attr]
    lanes = re.findall(r"<span>([^<]*)</span>", section)
    # loxoprofen at 08:00, 13:00 and 19:00 (protocol), the other drugs once a day at most; names sorted
    expected = ["Folic acid", "Loxoprofen 08:00", "Loxoprofen 13:00", "Loxoprofen 19:00"]
    assert lanes == [*expected, "Methotrexate", "hrIL-2 or placebo"]


def test_numbers_right_text_left(one_patient: str) -> None:
    row = re.search(r"<tr><td>Folic acid</td>.*?</tr>", one_patient).group(0)  # type: ignore[union-attr]
    # folic acid daily except Wednesdays: days 1-14 hold 12 doses (2027-01-06 and 01-13 are Wednesdays)
    assert "<td class='n'>12</td>" in row
    assert re.search(r"<th class=n scope='col'>Due</th>", one_patient)


def test_heatmap_cells_are_the_weeks_taking_adherence(one_patient: str) -> None:
    heat = images(one_patient)[0]  # the heatmap comes before the timelines
    # 14 px cells, 2 px gaps: week w's cell starts at x = 16 (w - 1); one patient, so one row at y 0-13
    assert heat.shape[0] == 14
    assert heat[7, 7].tolist() == rgb("#2e7d32")  # week 1: every due dose taken, 100%
    assert heat[7, 16 + 7].tolist() == rgb("#b71c1c")  # week 2: nothing taken, 0% (below 40%)
    assert heat[7, 32 + 7].tolist() == rgb("#eceff1")  # week 3: nothing due before 2027-01-18
    assert heat[7, 14].tolist() == rgb("#ffffff")  # the gap between weeks


def test_timeline_pixels_follow_plan_and_log(one_patient: str) -> None:
    line = images(one_patient)[1]
    # RA-900's doses span 2027-01-04 to 06-20, 168 days: 880 // 168 = 5 px a day; lanes 16 px and 4 px
    # apart: Folic acid y 0-15, Loxoprofen 08:00 y 20-35, ..., Methotrexate (lane 4) y 80-95
    assert line.shape == (6 * 20 - 4, 168 * 5, 3)
    assert line[8, 1 * 5 + 2].tolist() == rgb("#66bb6a")  # 01-05 (Tue): folic acid taken on time
    assert line[8, 2 * 5 + 2].tolist() == rgb("#eef1f3")  # 01-06 (Wed): the MTX day, no folic acid
    assert line[8, 8 * 5 + 2].tolist() == rgb("#b71c1c")  # 01-12: missed
    assert line[88, 2 * 5 + 2].tolist() == rgb("#66bb6a")  # 01-06: methotrexate taken
    assert line[88, 9 * 5 + 2].tolist() == rgb("#b71c1c")  # 01-13: methotrexate missed
    assert line[8, 15 * 5 + 2].tolist() == rgb("#b0bec5")  # 01-19: not due yet
    assert line[17, 14 * 5].tolist() == rgb("#263238")  # the as-of line, 01-18, between the lanes


def test_none_outside_the_band_is_not_red(one_patient: str, tmp_path: Path) -> None:
    text = report(tmp_path, ONE, "2027-01-03")  # as of the day before day 1: nothing due
    assert "<p class='ok'>Outside the band: 0 of 0 patients started.</p>" in text
    assert "Not started yet (1, no dose due by 2027-01-03): RA-900." in text


def test_arms_give_the_same_report(tmp_path: Path) -> None:
    """The same patient and log in the active and the placebo arm: byte-identical blinded reports."""
    placebo = tmp_path / "placebo.csv"
    placebo.write_text(Path(ONE).read_text(encoding="utf-8").replace(",active,", ",placebo,"), encoding="utf-8")
    active = report(tmp_path / "a", ONE, "2027-01-18", fill="week1")
    assert report(tmp_path / "p", str(placebo), "2027-01-18", fill="week1") == active
    assert "placebo<" not in active.replace("hrIL-2 or placebo<", "") and ">active<" not in active


def test_png_encoder_round_trips() -> None:
    cells = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    pixels = upscale(cells, (2, 3), (1, 1), 3)  # 2 x 3 cells, 1 px gaps of colour 3
    assert pixels.shape == (3 + 1 + 3, 2 * 3 + 2)
    decoded = np.asarray(Image.open(io.BytesIO(png(pixels, ["#000000", "#ff0000", "#00ff00", "#ffffff"]))))
    assert (decoded == pixels).all()
    assert decoded[0].tolist() == [0, 0, 3, 1, 1, 3, 2, 2] and decoded[3].tolist() == [3] * 8


def test_an_extra_dose_has_a_lane_of_its_own(tmp_path: Path) -> None:
    """Folic acid at 08:00 and again at 08:30 on day 1 (2027-01-04): the second is an extra dose, drawn
    on the lane under folic acid, in its day's column (5 px a day: RA-900's doses span 168 days)."""
    args = ["adherence", SEED, "--cohort", ONE, "--log", str(FIXTURES / "log-double-dose.csv")]
    result = CliRunner().invoke(main, [*args, "--as-of", "2027-01-05", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "nct02467504" / "adherence" / "report.html").read_text(encoding="utf-8")
    section = re.search(r"<section id='p-RA-900'>.*?</section>", text, re.S).group(0)  # type: ignore[union-attr]
    assert re.findall(r"<span>([^<]*)</span>", section)[:3] == ["Folic acid", "Folic acid: extra", "Loxoprofen 08:00"]
    line = images(text)[1]
    assert line[8, 2].tolist() == rgb("#66bb6a")  # 01-04 folic acid at 08:00: on time
    assert line[28, 2].tolist() == rgb("#8e24aa")  # 01-04 the extra dose, lane 1 (y 20-35)
    assert line[28, 5 + 2].tolist() == rgb("#eef1f3")  # 01-05: no extra dose


def test_columns_zero_for_every_row_are_left_out_of_every_table(mid_study: str) -> None:
    """docs/report.md: a column that is 0, "no" or blank throughout is left out. The seed log is given
    on time or not at all, so no extra, early, late, wrong dose or held dose anywhere: before, only the
    patients' own tables left those out; the cohort and patients tables showed them as columns of 0."""
    tables = re.findall(r"<h2>([^<]*)</h2><div class='box'><table[^>]*><thead>(.*?)</thead>", mid_study)
    heads = {title: re.findall(r"<th[^>]*>([^<]*)</th>", row) for title, row in tables}
    zero = {"Extra", "Early", "Late", "Wrong dose", "Dose not judged", "Held", "Late or early"}
    cohort = heads["Cohort, per drug"]
    assert cohort[:3] == ["Drug", "Flag", "Due"] and not zero & set(cohort)
    patients = heads["Patients (outside the band first)"]
    assert patients == ["Patient", "Drugs outside the band", "Lowest taking adherence (%)", "Due", "Missed"]


def test_a_patient_outside_the_band_is_named_in_red_beside_the_heatmap(mid_study: str) -> None:
    """The heatmap's cells pool every drug but the band is per drug, so a light-green row can hide a
    flag (RA-035 of the shipped log: hrIL-2 2 of 3). The flagged patient's name beside the heatmap is
    red and says the drug and its doses taken of those due. RA-010 (starts Wed 2026-12-30, MTX on
    Mondays) took no folic acid: due daily except Mondays, 2026-12-30 to 2027-02-19 = 52 days less 7
    Mondays (01-04 ... 02-15) = 45 doses, 0 taken. The next patient is not flagged and is plain."""
    names = re.search(r"<div class='names heat-names'>(.*?)</div>", mid_study).group(1)  # type: ignore[union-attr]
    links = re.findall(r"<a[^>]*>[^<]*</a>", names)
    assert links[0] == (
        "<a class='out' href='#p-RA-010' title='outside the band: Folic acid 0 of 45'>RA-010: Folic acid 0 of 45</a>"
    )
    assert not [link for link in links[1:] if "class='out'" in link]
    assert "the band applies to each drug" in mid_study  # the legend says what a cell is
    patients = re.search(r"<a href='#p-RA-010'>RA-010</a></td><td[^>]*>([^<]*)</td>", mid_study)
    assert patients is not None and patients.group(1) == "Folic acid 0 of 45"  # the patients table too


def test_the_last_week_label_has_room(mid_study: str) -> None:
    """The heatmap's week axis labels weeks 1, 4, 8, ... 24 (168 study days = 24 weeks, the weeks not due
    yet are pale); a label starts at its week's cell (16 px a week), so "24" at x = 368 needs room after
    the last cell: before, the axis ended with that cell (384 px) and cut the label."""
    axis = re.search(r"<div class='axis weeks' style='width:(\d+)px'>(.*?)</div>", mid_study)
    assert axis is not None
    lefts = [int(x) for x in re.findall(r"left:(\d+)px", axis.group(2))]
    weeks = int(re.search(r"<img class='heatmap' alt='[^']*' width='(\d+)'", mid_study).group(1)) // 16 + 1  # type: ignore[union-attr]
    assert weeks == 24 and lefts[-1] == (24 - 1) * 16
    assert int(axis.group(1)) == weeks * 16 + 24  # 24 px after the last cell


def test_each_timeline_opens_at_the_patients_first_dose(mid_study: str) -> None:
    """RA-033 starts 2027-02-17, 71 days after the cohort's first dose (2026-12-08), at 3 px a day: its
    timeline box carries x = 213 for the page's script to scroll to (a phone shows ~230 px of 825)."""
    section = re.search(r"<section id='p-RA-033'>.*?</section>", mid_study, re.S).group(0)  # type: ignore[union-attr]
    assert "<div class='plot' data-start='213'>" in section
    assert "p.scrollLeft = Math.max(0, p.dataset.start - 24)" in mid_study
