"""The pictures of report.html: the cohort heatmap and the per-patient timelines, computed for the
whole cohort at once (vectorised) and cut into one embedded PNG per patient.

Timelines: one lane per drug (one per dose time where a patient takes a drug several times a day,
one more for extra doses), one column of pixels per day on a date axis shared by every patient, each
planned dose a cell coloured by its status. Heatmap: patients x study weeks, coloured by taking
adherence (doses taken / doses due in that week). The labels, axes and legends are HTML text.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .report_png import img_tag, upscale

GAP, LANE, GRID, AS_OF = 0, 1, 2, 3
#: status -> (palette index, colour, legend); a larger index wins where two doses share a cell
STATUS_STYLE = {
    "not_due": (4, "#b0bec5", "not yet due"),
    "held": (5, "#546e7a", "held"),
    "on_time": (6, "#66bb6a", "on time"),
    "taken": (7, "#1e88e5", "taken (date only)"),
    "early": (8, "#fdd835", "early"),
    "late": (9, "#fb8c00", "late"),
    "missed": (10, "#b71c1c", "missed"),
    "extra": (11, "#8e24aa", "extra dose"),
}
PALETTE = ["#ffffff", "#eef1f3", "#cfd8dc", "#263238", *(colour for _, colour, _ in STATUS_STYLE.values())]
CELL_H, GAP_H = 16, 4  # a lane's height and the space between lanes (report.html's labels use the sum)
PLOT_PX = 880  # the width a timeline aims for; a day is 2 to 12 pixels wide
#: heatmap: (colour, legend) per taking-adherence class, lowest first; index 0 is "nothing due"
HEAT_COLOURS = ["#ffffff", "#eceff1", "#b71c1c", "#fb8c00", "#aed581", "#2e7d32"]
HEAT_CELL, HEAT_GAP = 14, 2
DUE = ["on_time", "taken", "early", "late", "missed"]
TAKEN = ["on_time", "taken", "early", "late"]


@dataclass
class Timelines:
    """Every patient's lanes: ``cells[first_row[p]:first_row[p] + len(labels[p])]``."""

    cells: np.ndarray  # lanes x days, palette indices
    labels: dict[str, list[str]]
    first_row: dict[str, int]
    first_day: int  # days since 1970-01-01
    day_px: int
    as_of: int

    def image(self, patient: str) -> str:
        start = self.first_row[patient]
        lanes = self.cells[start : start + len(self.labels[patient])]
        pixels = upscale(lanes, (self.day_px, CELL_H), (0, GAP_H), GAP)
        for x, colour in ((self._month_x(), GRID), (self._as_of_x(), AS_OF)):
            columns = pixels[:, x]
            pixels[:, x] = np.where(columns <= GRID, colour, columns)
        alt = html.escape(f"timeline of planned and given doses: {', '.join(self.labels[patient])}", quote=True)
        return img_tag(pixels.astype(np.uint8), PALETTE, alt, "timeline")

    def start(self, patient: str) -> int:
        """The x of the patient's first planned dose (0 when none): a timeline box opens there."""
        first = self.first_row[patient]
        lanes = self.cells[first : first + len(self.labels[patient])]
        days = np.flatnonzero((lanes > AS_OF).any(axis=0))
        return int(days[0] * self.day_px) if len(days) else 0

    def width(self) -> int:
        return int(self.cells.shape[1] * self.day_px)

    def axis(self) -> str:
        """The shared date axis: a label at the first of each month (with the year in January)."""
        months = self._months()
        labels: list[str] = []
        for month, x in zip(months, self._month_x(), strict=True):
            if x > self.width() - 64:
                continue  # no room for the label before the end of the axis
            text = month.item().strftime("%b %Y" if month.item().month == 1 or not labels else "%b")
            labels.append(f"<span style='left:{x}px'>{text}</span>")
        return f"<div class='axis' style='width:{self.width()}px'>{''.join(labels)}</div>"

    def _months(self) -> np.ndarray:
        first = np.datetime64(self.first_day, "D")
        last = first + self.cells.shape[1] - 1
        months = np.arange(first.astype("datetime64[M]"), last.astype("datetime64[M]") + 1)
        return months[months.astype("datetime64[D]") >= first]

    def _month_x(self) -> np.ndarray:
        return (self._months().astype("datetime64[D]").astype(np.int64) - self.first_day) * self.day_px

    def _as_of_x(self) -> np.ndarray:
        x = (self.as_of - self.first_day) * self.day_px
        return np.array([x] if 0 <= x < self.width() else [], dtype=np.int64)


def day_numbers(dates: pd.Series) -> np.ndarray:
    """Each date (``YYYY-MM-DD``) as days since 1970-01-01; -1 where it is not a date."""
    cat = dates.astype(str).astype("category")
    days = pd.to_datetime(pd.Series(cat.cat.categories), errors="coerce")
    numbers = np.where(days.isna(), -1, days.to_numpy().astype("datetime64[D]").astype(np.int64))
    return np.append(numbers, -1)[cat.cat.codes.to_numpy()]


def timelines(doses: pd.DataFrame, extra: pd.DataFrame, as_of: dt.date) -> Timelines:
    day = day_numbers(doses["date"])
    first, span = int(day.min()), int(day.max() - day.min() + 1)
    patient, patients = _factorize(doses["patient_id"])
    drug, drugs = _factorize(doses["drug"])
    time, times = _factorize(doses["time"])
    pair = patient.astype(np.int64) * len(drugs) + drug
    several = _several_a_day(pair, day - first, span, len(patients) * len(drugs))
    stride = len(times) + 2  # lane within a (patient, drug): 0 one lane, 1.. per time, last: extra
    lane = pair * stride + np.where(several[pair], time + 1, 0)
    code = _by_status(doses["status"], {k: v[0] for k, v in STATUS_STYLE.items()}, 0).astype(np.uint8)
    e_lane, e_day = _extra_lanes(extra, patients, drugs, stride, first, span)
    lanes = np.unique(np.concatenate([lane, e_lane]))
    cells = np.full((len(lanes), span), LANE, dtype=np.uint8)
    np.maximum.at(cells, (np.searchsorted(lanes, lane), day - first), code)
    cells[np.searchsorted(lanes, e_lane), e_day - first] = STATUS_STYLE["extra"][0]
    owner = lanes // (stride * len(drugs))
    labels = _lane_labels(lanes, drugs, times, stride)
    starts = np.searchsorted(owner, np.arange(len(patients)))
    ends = np.searchsorted(owner, np.arange(len(patients)), side="right")
    return Timelines(
        cells,
        {p: labels[s:e] for p, s, e in zip(patients, starts, ends, strict=True)},
        {p: int(s) for p, s in zip(patients, starts, strict=True)},
        first,
        int(np.clip(PLOT_PX // span, 2, 12)),
        (as_of - dt.date(1970, 1, 1)).days,
    )


def _by_status(status: pd.Series, values: dict[str, int], other: int) -> np.ndarray:
    """``values[status]`` for each dose (``other`` for a status not in ``values``), looked up once per status."""
    codes, uniques = pd.factorize(status)
    return np.array([values.get(str(u), other) for u in uniques] + [other], dtype=np.int64)[codes]


def _factorize(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes of the column's values in the sorted distinct values (as text)."""
    codes, uniques = pd.factorize(column, sort=True)
    return codes.astype(np.int64), pd.Index(np.asarray(uniques).astype(str), dtype=object)


def _several_a_day(pair: np.ndarray, day: np.ndarray, span: int, pairs: int) -> np.ndarray:
    """For each (patient, drug): is any day planned with more than one dose?"""
    keys, counts = np.unique(pair * span + day, return_counts=True)
    several = np.zeros(pairs, dtype=bool)
    several[keys[counts > 1] // span] = True
    return several


def _extra_lanes(
    extra: pd.DataFrame, patients: pd.Index, drugs: pd.Index, stride: int, first: int, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """The extra-dose lane and day of each extra administration on the timelines' date axis."""
    if extra.empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    patient = patients.get_indexer(pd.Index(extra["patient_id"].astype(str)))
    drug = drugs.get_indexer(pd.Index(extra["drug"].astype(str)))
    day = day_numbers(extra["given_date"])
    keep = (patient >= 0) & (drug >= 0) & (day >= first) & (day < first + span)
    lane = (patient.astype(np.int64) * len(drugs) + drug) * stride + stride - 1
    return lane[keep], day[keep]


def _lane_labels(lanes: np.ndarray, drugs: pd.Index, times: pd.Index, stride: int) -> list[str]:
    drug = (lanes // stride) % len(drugs)
    sub = lanes % stride
    names = np.asarray(drugs, dtype=object)[drug]
    at = np.asarray([""] + [f" {t}" for t in times] + [": extra"], dtype=object)[sub]
    return [str(n) + str(a) for n, a in zip(names, at, strict=True)]


def heatmap(doses: pd.DataFrame, order: list[str], band_low: float) -> tuple[str, int]:
    """Patients (in ``order``) x study weeks, coloured by taking adherence; and the number of weeks."""
    row = pd.Index(order).get_indexer(pd.Index(doses["patient_id"].astype(str)))
    week = np.maximum(doses["study_day"].to_numpy(np.int64) - 1, 0) // 7
    status = _by_status(doses["status"], {s: 2 if s in TAKEN else 1 for s in DUE}, 0)  # 1 missed, 2 taken
    weeks = int(week[row >= 0].max()) + 1 if (row >= 0).any() else 1
    keep = (row >= 0) & (status > 0)
    due = np.zeros((len(order), weeks), dtype=np.int64)
    taken = np.zeros_like(due)
    np.add.at(due, (row[keep], week[keep]), 1)
    took = keep & (status == 2)
    np.add.at(taken, (row[took], week[took]), 1)
    share = np.divide(taken * 100.0, due, out=np.zeros(due.shape), where=due > 0)
    colour = 2 + np.digitize(share, [band_low / 2, band_low, 100])
    colour = np.where(due > 0, colour, 1)
    pixels = upscale(colour.astype(np.uint8), (HEAT_CELL, HEAT_CELL), (HEAT_GAP, HEAT_GAP), 0)
    alt = "heatmap of taking adherence, patients by study week"
    return img_tag(pixels.astype(np.uint8), HEAT_COLOURS, alt, "heatmap"), weeks
