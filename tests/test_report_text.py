"""report.html: every text drawn in a plot is literal (no mathtext, no TeX)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dosing.cli import main
from dosing.io.write.report_html import LITERAL_TEXT, _figure, _timeline
from tests.conftest import FIXTURES, PROTOCOLS

#: mathtext specials: "$x^$" is a mathtext syntax error, "$x$" would be drawn as an italic x
LABELS = ["hrIL-2 $x^$ or placebo", "$x$ \\alpha_1^2", "50% _under_ {braces} #1 & ~"]


def test_a_label_with_mathtext_specials_gives_a_report(tmp_path: Path) -> None:
    text = (PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8")
    label = LABELS[0] + " \\\\frac_{a}"  # TOML "\\" is one backslash
    protocol = tmp_path / "math.toml"
    protocol.write_text(text.replace('blinded_label = "hrIL-2 or placebo"', f'blinded_label = "{label}"'), "utf-8")
    log = tmp_path / "log.csv"
    log.write_text("patient_id,drug,given_at,dose_given\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["adherence", str(protocol), "--cohort", str(FIXTURES / "seed-one-patient.csv"),
                                       "--log", str(log), "--as-of", "2027-01-05", "--out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = (tmp_path / "nct02467504" / "adherence" / "report.html").read_text(encoding="utf-8")
    png = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", report).group(1))  # type: ignore[union-attr]
    assert png.startswith(b"\x89PNG")


@pytest.fixture
def doses() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "drug": LABELS,
            "date": ["2027-01-04"] * 3,
            "time": ["08:00"] * 3,
            "deviation_hours": [None, 1.0, None],
            "status": ["missed", "late", "not_due"],
        }
    )


def test_every_tick_label_is_the_name_as_written(doses: pd.DataFrame) -> None:
    import matplotlib

    with matplotlib.rc_context(LITERAL_TEXT):
        figure = _figure(doses, None)
        figure.canvas.draw()
    labels = figure.axes[0].get_yticklabels()
    assert [t.get_text() for t in labels] == sorted(LABELS)
    assert not any(t.get_parse_math() or t.get_usetex() for t in labels)


def test_the_timeline_draws_mathtext_specials(doses: pd.DataFrame) -> None:
    assert _timeline(doses, None).startswith("<img ")
