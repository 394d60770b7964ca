"""report.html: every drug name and label is shown as written (escaped HTML text beside the pictures,
never drawn through mathtext or TeX, which failed on ``$x^$``)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from click.testing import CliRunner

from dosing.cli import main
from tests.conftest import FIXTURES, PROTOCOLS

#: mathtext specials ("$x^$" was a mathtext syntax error) and HTML specials
LABEL = "hrIL-2 $x^$ or placebo \\frac_{a} <b>50%</b> & 'x'"


def test_a_label_with_specials_is_shown_as_written(tmp_path: Path) -> None:
    text = (PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8")
    toml_label = LABEL.replace("\\", "\\\\")  # TOML "\\" is one backslash
    protocol = tmp_path / "math.toml"
    protocol.write_text(text.replace('blinded_label = "hrIL-2 or placebo"', f'blinded_label = "{toml_label}"'), "utf-8")
    log = tmp_path / "log.csv"
    log.write_text("patient_id,drug,given_at,dose_given\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["adherence", str(protocol), "--cohort", str(FIXTURES / "seed-one-patient.csv"),
                                       "--log", str(log), "--as-of", "2027-01-05", "--out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = (tmp_path / "nct02467504" / "adherence" / "report.html").read_text(encoding="utf-8")
    assert f"<span>{html.escape(LABEL)}</span>" in report  # the timeline's lane name
    assert re.search(f"<td( class='long')?>{re.escape(html.escape(LABEL))}</td>", report)  # the tables
    assert "<b>50%</b>" not in report
    pngs = re.findall(r"base64,([A-Za-z0-9+/=]+)", report)
    assert len(pngs) == 2 and all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)  # heatmap, timeline
