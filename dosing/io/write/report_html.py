"""``report.html``: one self-contained adherence report a coordinator opens in a browser.

Cohort overview first (patients outside the adherence band at the top), then one section
per patient: a timeline of planned against given doses per drug (matplotlib, Agg backend,
embedded as base64 PNG: no network needed) and the table of measures. It shows only the
columns of the result it is given, so a blinded result gives a blinded report.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ...adherence.check import AdherenceResult

MAX_PLOTS = 100
#: status -> (marker, colour, size, legend text)
STYLE = {
    "on_time": ("o", "#2e7d32", 22, "on time"),
    "taken": ("D", "#1565c0", 18, "taken (date only)"),
    "early": ("<", "#ef6c00", 30, "early (at the time given)"),
    "late": (">", "#ef6c00", 30, "late (at the time given)"),
    "missed": ("x", "#c62828", 40, "missed"),
    "held": ("s", "#757575", 18, "held"),
    "not_due": (".", "#bdbdbd", 14, "not yet due"),
}
MEASURES = [
    "level",
    "drug",
    "cycle",
    "due",
    "taken",
    "missed",
    "extra",
    "on_time",
    "late",
    "early",
    "wrong_dose",
    "dose_not_judged",
    "held",
    "taking_adherence",
    "timing_adherence",
    "given_ratio",
    "correct_dosing_days",
    "longest_gap_days",
    "drug_holidays",
    "persistence_days",
    "discontinued",
    "flag",
]
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #212121; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
.flag { color: #c62828; font-weight: bold; } .blind { color: #2e7d32; } .unblind { color: #c62828; }
section { border-top: 2px solid #eee; margin-top: 1.5em; } img { max-width: 100%; }
"""


def write_report(result: AdherenceResult, path: Path, max_plots: int = MAX_PLOTS) -> None:
    path.write_text(render(result, max_plots), encoding="utf-8")


def render(result: AdherenceResult, max_plots: int = MAX_PLOTS) -> str:
    patients = _patient_overview(result.summary)
    order = patients["patient_id"].tolist()
    parts = [_head(result), _overview(result, patients), _bad_rows(result.bad_rows)]
    doses = dict(tuple(result.doses.groupby("patient_id", observed=True, sort=False)))
    extra = dict(tuple(result.extra.groupby("patient_id", sort=False)))
    summary = dict(tuple(result.summary[result.summary["level"] != "cohort"].groupby("patient_id", sort=False)))
    if len(order) > max_plots:
        parts.append(
            f"<p>Timelines are drawn for the first {max_plots} patients (outside the band first); the others "
            "have their table of measures only (the numbers are in summary.csv and doses.csv).</p>"
        )
    for i, pid in enumerate(order):
        plot = _timeline(doses.get(pid), extra.get(pid)) if i < max_plots else ""
        parts.append(_patient(pid, plot, summary.get(pid, pd.DataFrame(columns=MEASURES))))
    return "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>" + "".join(parts) + "</body></html>\n"


def _head(result: AdherenceResult) -> str:
    mode = "<span class='blind'>BLINDED</span>" if result.blinded else "<span class='unblind'>UNBLINDED</span>"
    rules = pd.DataFrame(
        [
            {
                "drug": label,
                "dosing interval (h)": None if rule.interval_s is None else rule.interval_s / 3600,
                "matching window": f"±{rule.window_s / 3600:g} h (protocol)"
                if rule.fixed
                else f"half the gap to the nearer dose (typically ±{rule.window_s / 3600:g} h)",
                "on time within (± h)": rule.on_time_s / 3600,
            }
            for label, rule in result.rules.items()
        ]
    )
    title = html.escape(f"Adherence - {result.study_id}")
    return (
        f"<title>{title}</title><style>{CSS}</style></head><body><h1>{title}</h1>"
        f"<p>{mode} report, as of {result.as_of.isoformat()}: doses planned before that date and not given are "
        "missed; doses planned on or after it and not given are not due yet; "
        f"{result.after_as_of} administration(s) logged after it are left out. Adherence band: "
        f"{result.band[0]:g}-{result.band[1]:g}% of doses due.</p>{_not_judged(result.summary)}"
        f"<h3>Rules per drug</h3>{_table(rules)}"
    )


def _not_judged(summary: pd.DataFrame) -> str:
    count = int(summary.loc[summary["level"] == "patient", "dose_not_judged"].sum())
    if not count:
        return ""
    from ...adherence.blind import NOT_JUDGED

    return f"<p class='flag'>{count} dose(s) written as a true dose: {html.escape(NOT_JUDGED)}.</p>"


def _patient_overview(summary: pd.DataFrame) -> pd.DataFrame:
    rows = summary[summary["level"] == "patient"]
    flagged = rows["flag"] != ""
    grouped = rows.assign(flagged=flagged).groupby("patient_id", sort=False)
    out = pd.DataFrame(
        {
            "drugs outside the band": pd.Series(_flagged_drugs(rows[flagged]), dtype=object)
            .reindex(grouped.size().index)
            .fillna(""),
            "lowest taking adherence (%)": grouped["taking_adherence"].min(),
            "due": grouped["due"].sum(),
            "missed": grouped["missed"].sum(),
            "extra": grouped["extra"].sum(),
            "late or early": grouped["late"].sum() + grouped["early"].sum(),
            "wrong dose": grouped["wrong_dose"].sum(),
            "dose not judged": grouped["dose_not_judged"].sum(),
        }
    ).reset_index()
    out["_flagged"] = out["drugs outside the band"] != ""
    out = out.sort_values(["_flagged", "lowest taking adherence (%)"], ascending=[False, True], kind="stable")
    return out.drop(columns="_flagged").reset_index(drop=True)


def _flagged_drugs(rows: pd.DataFrame) -> dict[str, str]:
    drugs: dict[str, list[str]] = {}
    for pid, drug in zip(rows["patient_id"].astype(str), rows["drug"].astype(str), strict=True):
        drugs.setdefault(pid, []).append(drug)
    return {pid: ", ".join(names) for pid, names in drugs.items()}


def _overview(result: AdherenceResult, patients: pd.DataFrame) -> str:
    cohort = result.summary[result.summary["level"] == "cohort"]
    hide = ("level", "cycle", "longest_gap_days", "drug_holidays", "persistence_days", "discontinued")
    cohort = cohort[[c for c in MEASURES if c not in hide]]
    flagged = int((patients["drugs outside the band"] != "").sum())
    return (
        "<h2>Cohort</h2>"
        f"<p class='flag'>{flagged} of {len(patients)} patient(s) outside the band.</p>"
        f"{_table(cohort)}<h2>Patients (outside the band first)</h2>{_table(patients, link=True)}"
    )


def _bad_rows(bad: pd.DataFrame) -> str:
    if bad.empty:
        return "<p>Every row of the log could be read.</p>"
    shown = _table(bad.head(50))
    more = f"<p>... and {len(bad) - 50} more (bad_rows.csv).</p>" if len(bad) > 50 else ""
    return f"<h2 class='flag'>{len(bad)} bad row(s) in the log (not counted)</h2>{shown}{more}"


def _patient(pid: str, plot: str, measures: pd.DataFrame) -> str:
    anchor = html.escape(f"p-{pid}")
    table = _table(measures[[c for c in MEASURES if c in measures.columns]])
    return f"<section id='{anchor}'><h2>{html.escape(pid)}</h2>{plot}{table}</section>"


def _table(frame: pd.DataFrame, link: bool = False) -> str:
    """A plain HTML table (escaped); numbers without trailing zeros, missing values blank."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = [_cell(v) for v in values]
        if link and cells:
            cells[0] = f"<a href='#p-{cells[0]}'>{cells[0]}</a>"
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>\n"


def _cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    return html.escape(str(value))


def _x(doses: pd.DataFrame) -> np.ndarray:
    """Local date-time of each planned dose as a matplotlib date number (days since 1970)."""
    day = pd.to_datetime(doses["date"].astype(str)).to_numpy().astype("datetime64[D]").astype(np.int64)
    time = doses["time"].astype(str).str.split(":", expand=True).astype(int)
    return day + (time[0].to_numpy() * 60 + time[1].to_numpy()) / 1440


#: every text drawn is literal: a drug name or label with ``$``, ``\``, ``^`` or ``_`` is shown as written,
#: never parsed as mathtext (which fails on ``$x^$``) or passed to TeX
LITERAL_TEXT: dict[Any, Any] = {"text.parse_math": False, "text.usetex": False}


def _timeline(doses: pd.DataFrame | None, extra: pd.DataFrame | None) -> str:
    """One row per drug: planned doses coloured by status, early and late ones at the time given."""
    if doses is None or doses.empty:
        return "<p>No doses planned.</p>"
    import matplotlib

    with matplotlib.rc_context(LITERAL_TEXT):
        fig = _figure(doses, extra)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='timeline of planned and given doses' src='data:image/png;base64,{data}'>"


def _figure(doses: pd.DataFrame, extra: pd.DataFrame | None) -> Figure:
    """The timeline figure (drawn by the caller inside :data:`LITERAL_TEXT`)."""
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drugs = sorted(doses["drug"].astype(str).unique())
    row = {d: i for i, d in enumerate(drugs)}
    height = 0.9 + 0.4 * len(drugs)
    fig = Figure(figsize=(11, height), dpi=72)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.17, right=0.99, bottom=0.45 / height, top=1 - 0.35 / height)
    ax = fig.add_subplot()
    x = _x(doses) + np.nan_to_num(doses["deviation_hours"].to_numpy(dtype=float)) / 24
    y = doses["drug"].astype(str).map(row).to_numpy(dtype=float)
    status = doses["status"].astype(str).to_numpy()
    for name, (marker, colour, size, text) in STYLE.items():
        pick = status == name
        if pick.any():
            front = 1 if name in ("on_time", "not_due") else 3
            ax.scatter(x[pick], y[pick], marker=marker, c=colour, s=size, label=text, linewidths=1, zorder=front)
    _extras(ax, extra, row)
    ax.set_yticks(range(len(drugs)), drugs, parse_math=False, usetex=False)
    ax.set_ylim(-0.6, len(drugs) - 0.4)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=8, fontsize=8, frameon=False, borderaxespad=0.1)
    return fig


def _extras(ax: object, extra: pd.DataFrame | None, row: dict[str, int]) -> None:
    if extra is None or extra.empty:
        return
    day = pd.to_datetime(extra["given_date"].astype(str), errors="coerce")
    keep = day.notna().to_numpy() & extra["drug"].astype(str).isin(row).to_numpy()
    x = day[keep].to_numpy().astype("datetime64[D]").astype(np.int64) + 0.5
    y = extra["drug"].astype(str)[keep].map(row).to_numpy(dtype=float) + 0.2
    ax.scatter(x, y, marker="P", c="#6a1b9a", s=30, label="extra (on its day)")  # type: ignore[attr-defined]
