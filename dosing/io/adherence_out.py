"""``dosing adherence``: check a log, then write the adherence tables and report.html.

The checking is :func:`dosing.adherence.check_adherence` (pure tables); this edge module only
writes its result, all at once, into ``<out>/<study id>/adherence/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..adherence import AdherenceResult, check_adherence
from ..cohort import Cohort
from ..generate import output_folder
from ..protocol import Protocol
from .atomic import staged_folder
from .csv_out import write_csv
from .log_file import AdministrationLog
from .report_html import write_report


def adherence(
    protocol: Protocol,
    cohort: Cohort,
    log: str | Path | AdministrationLog,
    out_dir: str | Path = "output",
    **options: Any,
) -> AdherenceResult:
    """:func:`check_adherence`, then write doses.csv, extra.csv, summary.csv, bad_rows.csv and
    report.html into ``<out>/<study id>/adherence/`` at once (the study's other outputs stay)."""
    result = check_adherence(protocol, cohort, log, **options)
    final = output_folder(Path(out_dir), protocol, not result.blinded) / "adherence"
    with staged_folder(final) as folder:
        write_csv(result.doses, folder / "doses.csv")
        write_csv(result.extra, folder / "extra.csv")
        write_csv(result.summary, folder / "summary.csv")
        write_csv(result.bad_rows, folder / "bad_rows.csv")
        write_report(result, folder / "report.html")
    result.folder = final
    result.files = [final / name for name in ("doses.csv", "extra.csv", "summary.csv", "bad_rows.csv", "report.html")]
    return result
