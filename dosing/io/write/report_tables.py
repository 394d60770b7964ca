"""HTML tables for report.html: human column headers, text left and numbers right, sortable by a
click on a header (:data:`SORT_SCRIPT`), each table in its own box that scrolls sideways on a phone.

Cells are formatted a column at a time (vectorised), so the tables of 1,500 patients take well
under a second.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

LONG = 40  # characters: a text column with a longer value wraps in its cell
HEADERS = {
    "patient_id": "Patient",
    "drug": "Drug",
    "cycle": "Cycle",
    "due": "Due",
    "taken": "Taken",
    "missed": "Missed",
    "extra": "Extra",
    "on_time": "On time",
    "late": "Late",
    "early": "Early",
    "wrong_dose": "Wrong dose",
    "dose_not_judged": "Dose not judged",
    "held": "Held",
    "taking_adherence": "Taking adherence (%)",
    "timing_adherence": "Timing adherence (%)",
    "given_ratio": "Given incl. extra (%)",
    "correct_dosing_days": "Correct dosing days (%)",
    "longest_gap_days": "Longest gap (days)",
    "drug_holidays": "Drug holidays",
    "persistence_days": "Persistence (days)",
    "discontinued": "Stopped",  # discontinued (summary.csv); a short word, so the table fits 1280 px
    "flag": "Flag",
    "line": "Line",
    "given_at": "Given at",
    "dose_given": "Dose given",
    "reason": "Reason",
}

#: click a header to sort its table (again to reverse); numbers as numbers, blanks last
SORT_SCRIPT = """
document.addEventListener('click', e => {
  const th = e.target.closest('table.sortable th'); if (!th) return;
  const body = th.closest('table').tBodies[0], i = th.cellIndex;
  const up = th.getAttribute('aria-sort') !== 'ascending';
  th.parentNode.querySelectorAll('th').forEach(h => h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
  const key = r => { const t = r.cells[i].textContent.trim(), n = Number(t);
    return t === '' ? null : isNaN(n) ? t : n; };
  const order = (a, b) => a === null ? 1 : b === null ? -1 : (typeof a === 'number' && typeof b === 'number'
    ? a - b : String(a).localeCompare(String(b))) * (up ? 1 : -1);
  [...body.rows].sort((r, s) => order(key(r), key(s))).forEach(r => body.appendChild(r));
});
"""


def header(column: str) -> str:
    return HEADERS.get(column, column.replace("_", " ").capitalize())


def escape(text: pd.Series) -> pd.Series:
    """:func:`html.escape` of each value, for a whole column."""
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;")):
        text = text.str.replace(char, entity, regex=False)
    return text


def numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def cells(column: pd.Series) -> pd.Series:
    """Each value as the text of a cell: numbers with at most 2 decimals and no trailing zeros,
    yes/no for true/false, missing values blank; escaped. Each distinct value is formatted once."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    texts = [_text(v) for v in np.asarray(uniques, dtype=object)]
    return pd.Series(np.array([*texts, ""], dtype=object)[codes], index=column.index)


def _text(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "" if np.isnan(value) else f"{value:.2f}".rstrip("0").rstrip(".")
    return html.escape(str(value))


def rows(frame: pd.DataFrame, link: str | None = None) -> pd.Series:
    """The ``<tr>`` of each row of ``frame``; the column ``link`` links to the patient's section."""
    out = pd.Series("<tr>", index=frame.index, dtype=object)
    for name in frame.columns:
        text = cells(frame[name])
        if name == link:
            text = "<a href='#p-" + text + "'>" + text + "</a>"
        out = out + ("<td class='why'>" if name == "flag" else _cell_tag(frame[name], text)) + text + "</td>"
    return out + "</tr>"


def _cell_tag(column: pd.Series, text: pd.Series) -> str:
    """Numbers right-aligned; a column of long texts wraps (the others keep each value on one line)."""
    if numeric(column):
        return "<td class='n'>"
    return "<td class='long'>" if len(text) and text.str.len().max() > LONG else "<td>"


def head(frame: pd.DataFrame) -> str:
    names = [f"<th{' class=n' if numeric(frame[c]) else ''} scope='col'>{header(str(c))}</th>" for c in frame.columns]
    return f"<thead><tr>{''.join(names)}</tr></thead>"


def table(frame: pd.DataFrame, link: str | None = None) -> str:
    """A sortable table in a box of its own."""
    return boxed(head(frame), "".join(rows(frame, link)))


def boxed(head_html: str, body: str, css_class: str = "") -> str:
    """A sortable table of a head and rows made beforehand, in a box that scrolls sideways."""
    classes = f"sortable {css_class}".strip()
    return f"<div class='box'><table class='{classes}'>{head_html}<tbody>{body}</tbody></table></div>\n"
