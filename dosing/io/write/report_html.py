"""``report.html``: one self-contained adherence report a monitor opens in a browser.

The cohort at a glance first (how many patients are outside the adherence band, a heatmap of taking
adherence by patient and study week with those outside the band at the top, the patients not started
yet on one line), then the tables (cohort, patients, bad log rows, rules), then one section per
started patient: a timeline of planned against given doses on a date axis shared by every patient,
and the table of measures. Plots are PNGs embedded as data URIs (:mod:`.report_plots`); tables sort
on a click (:mod:`.report_tables`); the page fits a 1280 px screen and a 390 px phone (wide tables
and timelines scroll inside their own box). It shows only the columns of the result it is given, so
a blinded result gives a blinded report.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .report_plots import CELL_H, GAP_H, HEAT_CELL, HEAT_COLOURS, HEAT_GAP, STATUS_STYLE, heatmap, timelines
from .report_tables import SORT_SCRIPT, boxed, escape, head, rows, table

if TYPE_CHECKING:
    from ...adherence.check import AdherenceResult

#: the measures of each patient's table, per drug (and per cycle where the drug has cycles)
MEASURES = [
    "drug",
    "cycle",
    "flag",  # why the row is outside the band: in view on every screen, next to the drug
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
]
ALWAYS_SHOWN = {
    "patient_id",
    "drug",
    "cycle",
    "due",
    "taken",
    "missed",
    "taking_adherence",
    "flag",
    "drugs outside the band",
    "lowest taking adherence (%)",
}
WEEK_LABEL_PX = 24  # room after the last week's cell for its label ("24"), which starts at the cell
SHOW_WAITING = 30  # more patients not started than this: their names are folded away
CSS = f"""
html {{ -webkit-text-size-adjust: 100%; }}
body {{ font: 16px/1.45 system-ui, sans-serif; color: #212121; max-width: 76rem; margin: 0 auto; padding: 0 1rem; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.3rem; margin-top: 2rem; }} h3 {{ font-size: 1.1rem; margin: 0; }}
.box {{ overflow-x: auto; margin: 0.5rem 0 1rem; max-width: 100%; }}
table {{ border-collapse: collapse; font-size: 0.875rem; }}
th, td {{ border: 1px solid #cfd8dc; padding: 3px 6px; text-align: left; vertical-align: top; }}
td {{ white-space: nowrap; }} td.long {{ white-space: normal; min-width: 18rem; }}
table:not(.measures) td:last-child:not(.n) {{ white-space: normal; min-width: 9rem; }}
th {{ background: #eceff1; cursor: pointer; vertical-align: bottom; white-space: normal; }} .n {{ text-align: right; }}
table.measures {{ font-size: 0.8125rem; }} table.measures th {{ max-width: 6.5em; }}
table.measures th, table.measures td {{ padding: 3px 4px; }}
td.why {{ white-space: normal; min-width: 7rem; color: #b71c1c; }}
th[aria-sort=ascending]::after {{ content: " ▲"; }} th[aria-sort=descending]::after {{ content: " ▼"; }}
.flag {{ color: #b71c1c; font-weight: 600; }} .ok {{ color: #2e7d32; font-weight: 600; }}
.blind {{ color: #2e7d32; }} .unblind {{ color: #b71c1c; }}
section {{ border-top: 1px solid #cfd8dc; padding-top: 0.75rem; margin-top: 1rem; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; margin: 0.5rem 0; }}
.legend span {{ white-space: nowrap; }}
.legend i {{ display: inline-block; width: 1em; height: 1em; vertical-align: -0.15em; margin-right: 0.3em;
  border: 1px solid #90a4ae; }}
.plotrow {{ display: flex; align-items: flex-start; max-width: 100%; }}
.names {{ flex: 0 0 auto; max-width: 45%; padding-right: 0.5rem; font-size: 0.875rem; }}
.names > * {{ display: block; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.plot {{ flex: 0 1 auto; min-width: 0; overflow-x: auto; }}
.plot img {{ display: block; max-width: none; }}
.timeline-names {{ padding-top: 1.5rem; }}
.timeline-names > * {{ height: {CELL_H}px; line-height: {CELL_H}px; margin-bottom: {GAP_H}px; }}
.axis {{ position: relative; overflow: hidden; height: 1.5rem; font-size: 0.8rem; color: #455a64; }}
.axis span {{ position: absolute; bottom: 0.1rem; padding-left: 2px; border-left: 1px solid #90a4ae;
  white-space: nowrap; }}
.heat {{ max-height: 36rem; overflow-y: auto; border: 1px solid #eceff1; }}
.heat-names {{ padding-top: 1.5rem; }}
.heat-names > * {{ height: {HEAT_CELL + HEAT_GAP}px; line-height: {HEAT_CELL}px; font-size: 0.8rem; }}
.heat-names a.out {{ color: #b71c1c; font-weight: 600; border-left: 4px solid #b71c1c; padding-left: 3px; }}
details {{ margin: 1rem 0; }} summary {{ cursor: pointer; }}
.weeks {{ position: sticky; top: 0; background: #fff; }}
"""


def write_report(result: AdherenceResult, path: Path) -> None:
    path.write_text(render(result), encoding="utf-8")


def render(result: AdherenceResult) -> str:
    overview = _patient_overview(result.summary)
    started = overview[overview["due"] > 0].reset_index(drop=True)
    waiting = overview.loc[overview["due"] == 0, "patient_id"].tolist()
    parts = [
        _head(result),
        _glance(result, started, waiting),
        _cohort_tables(result, started),
        _bad_rows(result.bad_rows),
        _as_needed(result),
        _rules(result),
        _patients(result, started["patient_id"].tolist()),
    ]
    return "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>" + "".join(parts) + _script()


#: a narrow screen opens each timeline box at the patient's first dose, not at the cohort's first date
SCROLL_SCRIPT = """
document.querySelectorAll('.plot[data-start]').forEach(p => { p.scrollLeft = Math.max(0, p.dataset.start - 24); });
"""


def _n(count: int, noun: str) -> str:
    """``1 patient``, ``2 patients``, ``1,500 patients``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _script() -> str:
    return f"<script>{SORT_SCRIPT}{SCROLL_SCRIPT}</script></body></html>\n"


def _head(result: AdherenceResult) -> str:
    mode = "<span class='blind'>BLINDED</span>" if result.blinded else "<span class='unblind'>UNBLINDED</span>"
    title = html.escape(f"Adherence - {result.study_id}")
    return (
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title}</title><style>{CSS}</style></head><body><h1>{title}</h1>"
        f"<p>{mode} report, as of {result.as_of.isoformat()}: doses planned before that date and not given are "
        "missed; doses planned on or after it and not given are not due yet; "
        f"logged after it and left out: {_n(result.after_as_of, 'administration')}. Adherence band: "
        f"{result.band[0]:g}-{result.band[1]:g}% of doses due.</p>{_not_judged(result.summary)}"
    )


def _not_judged(summary: pd.DataFrame) -> str:
    count = int(summary.loc[summary["level"] == "patient", "dose_not_judged"].sum())
    if not count:
        return ""
    from ...adherence.blind import NOT_JUDGED

    return f"<p class='flag'>{_n(count, 'dose')} written as a true dose: {html.escape(NOT_JUDGED)}.</p>"


def _patient_overview(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per patient, those outside the band first, then the lowest taking adherence first."""
    rows = summary[summary["level"] == "patient"]
    flagged = rows["flag"] != ""
    grouped = rows.groupby("patient_id", sort=False)
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
    """Per patient, each drug outside the band with its doses taken of those due ("hrIL-2 2 of 3"):
    a flag on 3 doses due weighs less than one on 300."""
    drugs: dict[str, list[str]] = {}
    for pid, drug, taken, due in zip(
        rows["patient_id"].astype(str), rows["drug"].astype(str), rows["taken"], rows["due"], strict=True
    ):
        drugs.setdefault(pid, []).append(f"{drug} {int(taken):,} of {int(due):,}")
    return {pid: ", ".join(names) for pid, names in drugs.items()}


def _glance(result: AdherenceResult, started: pd.DataFrame, waiting: list[str]) -> str:
    flagged = int((started["drugs outside the band"] != "").sum())
    css = "flag" if flagged else "ok"
    count = f"{flagged:,} of {_n(len(started), 'patient')} started"
    parts = [f"<h2>The cohort at a glance</h2><p class='{css}'>Outside the band: {count}.</p>"]
    if waiting:
        names = html.escape(", ".join(waiting))
        line = f"Not started yet ({len(waiting):,}, no dose due by {result.as_of.isoformat()})"
        if len(waiting) <= SHOW_WAITING:
            parts.append(f"<p>{line}: {names}.</p>")
        else:  # one line still: the names open on a click
            parts.append(f"<details><summary>{line}</summary><p>{names}.</p></details>")
    if not started.empty:
        parts.append(_heatmap(result, started))
    return "".join(parts)


def _heatmap(result: AdherenceResult, started: pd.DataFrame) -> str:
    order = started["patient_id"].astype(str).tolist()
    image, weeks = heatmap(result.doses, order, result.band[0])
    low = result.band[0]
    classes = [f"below {low / 2:g}%", f"{low / 2:g}% to below {low:g}%", f"{low:g}% to below 100%", "100%"]
    legend = _legend(zip(HEAT_COLOURS[1:], ["nothing due", *classes], strict=True))
    step = HEAT_CELL + HEAT_GAP
    marks = "".join(f"<span style='left:{(w - 1) * step}px'>{w}</span>" for w in [1, *range(4, weeks + 1, 4)])
    ids = escape(pd.Series(order, dtype=object))
    why = escape(started["drugs outside the band"].astype(str))
    names = "".join(
        f"<a class='out' href='#p-{n}' title='outside the band: {w}'>{n}: {w}</a>" if w else f"<a href='#p-{n}'>{n}</a>"
        for n, w in zip(ids, why, strict=True)
    )
    return (
        "<h3>Taking adherence by study week</h3><p>One row per started patient (outside the band first), one "
        "column per study week (week 1 begins on the patient's day 1). A cell is the share of the doses due "
        "that week that were taken, all drugs together; the band applies to each drug, so a patient outside "
        "it is named in red with the drug and its doses taken of those due, whatever the colour of the "
        f"cells (a flag on a few doses due weighs little).</p>{legend}<div class='heat plotrow'>"
        f"<div class='names heat-names'>{names}</div><div class='plot'><div class='axis weeks' "
        f"style='width:{weeks * step + WEEK_LABEL_PX}px'>{marks}</div>{image}</div></div>"
    )


def _legend(items: Iterable[tuple[str, str]]) -> str:
    spans = "".join(f"<span><i style='background:{colour}'></i>{html.escape(text)}</span>" for colour, text in items)
    return f"<div class='legend'>{spans}</div>"


def _cohort_tables(result: AdherenceResult, started: pd.DataFrame) -> str:
    cohort = result.summary[result.summary["level"] == "cohort"]
    hide = ("cycle", "longest_gap_days", "drug_holidays", "persistence_days", "discontinued")
    cohort = _informative(cohort[[c for c in MEASURES if c not in hide]])
    return (
        f"<h2>Cohort, per drug</h2>{table(cohort)}"
        f"<h2>Patients (outside the band first)</h2>{table(_informative(started), link='patient_id')}"
    )


def _bad_rows(bad: pd.DataFrame) -> str:
    if bad.empty:
        return "<p>Every row of the log could be read.</p>"
    shown = table(bad.head(50))
    more = f"<p>... and {len(bad) - 50:,} more (bad_rows.csv).</p>" if len(bad) > 50 else ""
    return f"<h2 class='flag'>{len(bad):,} bad row(s) in the log (not counted)</h2>{shown}{more}"


def _as_needed(result: AdherenceResult) -> str:
    """As-needed (PRN) doses: judged for over-use, never due, missed or extra (dosing.adherence.prn)."""
    summary = result.prn.summary
    if summary.empty:
        return ""
    flagged = summary[summary["flag"] != ""]
    css = "flag" if len(flagged) else "ok"
    findings = result.prn.doses[result.prn.doses["finding"] != ""]
    more = f"<p>... and {len(findings) - 50:,} more (prn.csv).</p>" if len(findings) > 50 else ""
    return (
        f"<h2>As-needed (PRN) doses</h2><p class='{css}'>{_n(len(flagged), 'patient')} with over-use or doses "
        "outside the PRN period, of "
        f"{_n(len(summary), 'patient')} who may take them; {_n(int(summary['doses_taken'].sum()), 'dose')} taken. "
        "They are never due, missed or extra, and not in the adherence percentages.</p>"
        f"{table(flagged if len(flagged) else summary.head(0))}{table(findings.head(50)) if len(findings) else ''}"
        f"{more}"
    )


def _rules(result: AdherenceResult) -> str:
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
    return f"<h2>Rules per drug</h2>{table(rules)}"


def _informative(measures: pd.DataFrame) -> pd.DataFrame:
    """The measures without the columns that say nothing for any row (0, no or blank throughout:
    extra, early, held, ... in a clean log; "given incl. extra" where it is the taking adherence
    throughout, as it is without extra doses), so the table fits the screen; summary.csv keeps them."""
    blank = measures.isna() | measures.isin([0, False, ""])
    keep = [c for c in measures.columns if c in ALWAYS_SHOWN or not blank[c].all()]
    if {"given_ratio", "taking_adherence"} <= set(keep):
        given, taking = measures["given_ratio"], measures["taking_adherence"]
        if ((given == taking) | (given.isna() & taking.isna())).all():
            keep.remove("given_ratio")
    return measures[keep]


def _patients(result: AdherenceResult, order: list[str]) -> str:
    """One section per started patient: the timeline, then the measures per drug (and cycle)."""
    if not order:
        return ""
    lines = timelines(result.doses, result.extra, result.as_of)
    axis = lines.axis()
    measures = result.summary[result.summary["level"] != "cohort"]
    shown = _informative(measures[MEASURES].assign(cycle=measures["cycle"].astype("Int64")))
    tables = rows(shown).groupby(measures["patient_id"].astype(str).to_numpy(), sort=False).agg("".join)
    table_head = head(shown)
    legend = _legend((c, t) for _, c, t in STATUS_STYLE.values())
    sections = []
    for pid in order:
        anchor = html.escape(f"p-{pid}", quote=True)
        names = "".join(f"<span>{html.escape(n)}</span>" for n in lines.labels[pid])
        sections.append(
            f"<section id='{anchor}'><h3>{html.escape(pid)}</h3><div class='plotrow'>"
            f"<div class='names timeline-names'>{names}</div><div class='plot' data-start='{lines.start(pid)}'>"
            f"{axis}{lines.image(pid)}</div></div>"
            f"{boxed(table_head, tables.get(pid, ''), 'measures')}</section>"
        )
    return (
        "<h2>Patients</h2><p>Each timeline: one lane per drug (one per dose time where a drug is taken several "
        "times a day), one column per day on the same dates for every patient; the dark line is the as-of "
        f"date.</p>{legend}" + "".join(sections)
    )
