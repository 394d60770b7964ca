"""report.html in a real browser (issue 12 section 5): at 1280 px and at 390 px the page does not
scroll sideways, every image loads, nothing is fetched from the network, and a click on a header sorts
its table (again: the other way). Screenshots go to output/screenshots/ (see docs/report.md).
Skipped only when Chromium is absent (.ci/run installs it when it runs as root)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.browser import JS, look, need_chromium, numbers
from tests.test_report import COHORT, report


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_chromium()
    out = tmp_path_factory.mktemp("browser")
    report(out, COHORT, "2027-02-20")  # 33 patients started, 14 not yet, RA-010 outside the band
    return out / "nct02467504" / "adherence" / "report.html"


@pytest.fixture(scope="module")
def seen(page: Path) -> tuple[dict[int, object], list[str]]:
    return look(page, "report")  # type: ignore[return-value]


@pytest.fixture(scope="module")
def boxes(page: Path) -> dict[str, Any]:
    """Per width: each table box (where its Flag header ends, does it overflow) and each timeline box."""
    done = subprocess.run(
        ["node", str(JS / "boxes.mjs"), str(page.resolve()), "1280", "390"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_every_flag_is_in_view_without_scrolling_a_box(boxes: dict[str, Any]) -> None:
    """The monitor sees why each patient is outside the band at once: before, Flag was the 18th column
    of a nowrap table and lay beyond the right edge of 36 of 39 boxes at 1280 px (13 of 18 headers off
    a 390 px phone). The cohort table and the 33 patients' tables (one per started patient) have a Flag
    header inside their box at 1280 and at 390 px, and at 1280 px no table scrolls inside its box."""
    for width in ("1280", "390"):
        tables = boxes[width]["tables"]
        flagged = [t for t in tables if t["flagRight"] is not None]
        assert len([t for t in flagged if t["section"]]) == 33  # one table per started patient
        assert len(flagged) == 34  # and the cohort's
        outside = [t["section"] or "cohort" for t in flagged if t["flagRight"] > t["boxRight"] + 1]
        assert outside == [], f"at {width} px the Flag header is out of view in {outside}"
    assert [t["section"] for t in boxes["1280"]["tables"] if t["overflows"]] == []


@pytest.mark.parametrize("width", [1280, 390])
def test_the_page_fits_the_width(seen: tuple[dict, list[str]], width: int) -> None:
    page = seen[0][width]
    assert page.inner_width == width
    assert page.scroll_width <= page.inner_width, f"the page scrolls sideways at {width} px"


@pytest.mark.parametrize("width", [1280, 390])
def test_every_image_loads(seen: tuple[dict, list[str]], width: int) -> None:
    page = seen[0][width]
    assert page.images == 1 + 33  # the heatmap and one timeline per started patient
    assert page.broken_images == []
    assert seen[1] == []  # self-contained: no request beyond the file itself


def test_a_click_on_a_header_sorts_the_table(seen: tuple[dict, list[str]]) -> None:
    sort = seen[0][1280].sort
    assert sort["found"], "no sortable table with a numeric column"
    before = numbers(sort["before"])
    assert numbers(sort["ascending"]) == sorted(before)
    assert numbers(sort["descending"]) == sorted(before, reverse=True)
    assert numbers(sort["ascending"]) != before or numbers(sort["descending"]) != before


def test_screenshots_are_kept(seen: tuple[dict, list[str]]) -> None:
    for page in seen[0].values():
        assert Path(page.screenshot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_phone_opens_each_timeline_at_the_patients_first_dose(boxes: dict[str, Any]) -> None:
    """At 390 px a timeline box shows ~230 of its 825 px: it used to open at the cohort's first date
    (Dec 2026), so a late starter looked empty. Now each box is scrolled so the patient's first dose
    is in view, 24 px from the left edge: RA-033 (first dose 2027-02-17, x = 71 days x 3 px = 213)
    opens at 189. At 1280 px nothing scrolls (the 825 px fit)."""
    phone = boxes["390"]["timelines"]
    assert len(phone) == 33
    for line in phone:
        assert line["scrollLeft"] <= line["start"] < line["scrollLeft"] + line["clientWidth"], line
    ra033 = next(line for line in phone if line["section"] == "p-RA-033")
    assert (ra033["start"], ra033["scrollLeft"]) == (213, 189)
    assert {line["scrollLeft"] for line in boxes["1280"]["timelines"]} == {0}
