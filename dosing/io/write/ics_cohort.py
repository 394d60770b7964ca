"""Every patient's calendar from the cohort's dose table, built in chunks of patients.

:func:`calendars_for_cohort` gives the same bytes, patient by patient, as
:func:`dosing.io.write.ics.calendar_for_patient` called the way ``generate`` calls it, but builds
the events of a whole chunk of patients at once (:mod:`.ics_doses`) and holds no more than one
chunk's calendar text, so that a caller can write (or hand to another process) each calendar as
it comes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd

from ...protocol.model import Protocol
from .ics import WORDING, Style, calendar_bytes, extra_texts
from .ics_doses import dose_event_texts
from .ics_visits import calendar_extras, hide_changed

#: Patients per chunk: a seed patient's expanded calendar is about 0.5 MB of text.
CHUNK = 200


def calendars_for_cohort(
    protocol: Protocol,
    patients: pd.DataFrame,
    doses: pd.DataFrame,
    visits: pd.DataFrame | None = None,
    *,
    style: Style = "recurring",
    remind: dt.timedelta | None = None,
    remind_visits: dt.timedelta | None = None,
    chunk: int = CHUNK,
) -> Iterator[tuple[str, bytes]]:
    """(patient id, calendar.ics bytes) for each row of ``patients`` (``patient_id``, ``timezone``,
    ``start_date``), in that order. ``doses`` is the dose table of these patients with the
    calendar columns (``planned_at``, ``held``, ``sequence``, ``changed_on``, ``once_weekly``);
    ``visits`` the planned visits, if any. Options as for ``generate``."""
    pids = patients["patient_id"].astype(str).to_numpy()
    code = pd.Categorical(doses["patient_id"].astype(str), categories=pd.Index(pids)).codes.astype(np.int64)
    order = np.argsort(code, kind="stable")
    bounds = np.searchsorted(code[order], np.arange(len(pids) + 1))
    planned = visits if visits is not None and len(visits) else None
    for begin in range(0, len(pids), max(chunk, 1)):
        end = min(begin + max(chunk, 1), len(pids))
        rows = doses.iloc[order[bounds[begin] : bounds[end]]]
        mine = patients.iloc[begin:end]
        chunk_visits = pd.DataFrame() if planned is None else planned[planned["patient_id"].isin(pids[begin:end])]
        yield from _chunk(protocol, mine, rows, chunk_visits, style, remind, remind_visits)


def _chunk(
    protocol: Protocol,
    patients: pd.DataFrame,
    doses: pd.DataFrame,
    visits: pd.DataFrame,
    style: Style,
    remind: dt.timedelta | None,
    remind_visits: dt.timedelta | None,
) -> Iterator[tuple[str, bytes]]:
    expanded = style == "expanded"
    extras = calendar_extras(doses, visits, patients, changed_doses=expanded, remind=remind)
    starts = pd.to_datetime(patients["start_date"]).dt.date.to_numpy()
    pids = patients["patient_id"].astype(str).to_numpy()
    start_of = dict(zip(pids, starts, strict=True))
    row_pid = doses["patient_id"].astype(str).to_numpy()
    stamps = np.array([np.datetime64(start_of[p], "s") for p in pids], dtype="datetime64[s]")
    row_code = pd.Categorical(row_pid, categories=pd.Index(pids)).codes
    table = hide_changed(doses) if expanded and len(doses) else doses
    rows, texts, tzids = dose_event_texts(table, stamps[row_code], WORDING, style=style, remind=remind)
    event_pid = row_code[rows].astype(np.int64)
    order = np.argsort(event_pid, kind="stable")
    bounds = np.searchsorted(event_pid[order], np.arange(len(pids) + 1))
    zones = patients["timezone"].astype(str).to_numpy()
    for i, pid in enumerate(pids):
        start = starts[i]
        mine = order[bounds[i] : bounds[i + 1]]
        extra = extra_texts(extras.get(pid, ()), remind_visits)
        last = start + dt.timedelta(days=protocol.study.last_day)
        name = f"{protocol.study.id} {pid}"
        home = str(zones[i])
        yield pid, calendar_bytes(name, {home, *tzids[mine]}, (start, last), [*texts[mine]], extra, home)
