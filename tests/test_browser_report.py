"""report.html in a real browser (issue 12 section 5): at 1280 px and at 390 px the page does not
scroll sideways, every image loads, nothing is fetched from the network, and a click on a header sorts
its table (again: the other way). Screenshots go to output/screenshots/ (see docs/report.md).
Skipped only when Chromium is absent (.ci/run installs it when it runs as root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import look, need_chromium, numbers
from tests.test_report import COHORT, report


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[int, object], list[str]]:
    need_chromium()
    out = tmp_path_factory.mktemp("browser")
    report(out, COHORT, "2027-02-20")  # 33 patients started, 14 not yet, RA-010 outside the band
    return look(out / "nct02467504" / "adherence" / "report.html", "report")  # type: ignore[return-value]


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
