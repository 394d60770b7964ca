"""Every patient's calendar from the cohort's dose table, built in chunks of patients.

:func:`calendars_for_cohort` gives the same bytes, patient by patient, as
:func:`dosing.io.write.ics.calendar_for_patient` called the way ``generate`` calls it, but builds
the events of a whole chunk of patients at once (:mod:`.ics_doses`) and holds no more than one
chunk's calendar text, so that a caller can write (or hand to another process) each calendar as
it comes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd

from ...protocol.model import Protocol
from .ics import Style, calendar_bytes, extra_texts
from .ics_doses import dose_event_texts
from .ics_visits import calendar_extras, hide_changed
from .ics_wording import PatientText, patient_text

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
    blinded: bool = True,
    chunk: int = CHUNK,
) -> Iterator[tuple[str, bytes]]:
    """(patient id, calendar.ics bytes) for each row of ``patients`` (``patient_id``, ``timezone``,
    ``start_date``), in that order. ``doses`` is the dose table of these patients with the
    calendar columns (``planned_at``, ``held``, ``sequence``, ``changed_on``, ``once_weekly``,
    ``in_clinic``); ``visits`` the planned visits, if any. Each calendar is in the patient's words
    and language (the optional ``language`` and ``site`` columns of ``patients``; see
    :func:`dosing.io.write.ics_wording.patient_text`); ``blinded`` tables show blinded labels."""
    pids = patients["patient_id"].astype(str).to_numpy()
    code = patient_codes(doses["patient_id"], pids)
    order = np.argsort(code, kind="stable")
    bounds = np.searchsorted(code[order], np.arange(len(pids) + 1))
    planned = visits if visits is not None and len(visits) else None
    for begin in range(0, len(pids), max(chunk, 1)):
        end = min(begin + max(chunk, 1), len(pids))
        rows = doses.iloc[order[bounds[begin] : bounds[end]]]
        mine = patients.iloc[begin:end]
        chunk_visits = pd.DataFrame() if planned is None else planned[planned["patient_id"].isin(pids[begin:end])]
        yield from _chunk(protocol, mine, rows, chunk_visits, style, (remind, remind_visits), blinded)


def patient_codes(column: pd.Series, pids: np.ndarray) -> np.ndarray:
    """Each row's patient as its position in ``pids`` (-1: not there), matched as text once per
    distinct id."""
    codes, distinct = pd.factorize(column, use_na_sentinel=False)
    found = pd.Index(pids).get_indexer(pd.Index([str(v) for v in distinct], dtype=object))
    return found[codes].astype(np.int64) if len(codes) else np.zeros(0, dtype=np.int64)


def patient_texts(protocol: Protocol, patients: pd.DataFrame, blinded: bool) -> dict[str, PatientText]:
    """Each patient's calendar words (:func:`patient_text`), built once per language and site."""
    language = _column(patients, "language", "en")
    site = _column(patients, "site", "")
    cache: dict[tuple[str, str], PatientText] = {}
    out = {}
    for pid, lang, place in zip(patients["patient_id"].astype(str), language, site, strict=True):
        if (lang, place) not in cache:
            cache[(lang, place)] = patient_text(protocol, pid, lang, place, blinded)
        shared = cache[(lang, place)]
        out[pid] = dataclasses.replace(shared, name=protocol.calendar.name_in(lang) or f"{protocol.study.id} {pid}")
    return out


def _column(patients: pd.DataFrame, name: str, default: str) -> list[str]:
    if name not in patients.columns:
        return [default] * len(patients)
    return [str(v).strip() if isinstance(v, str) and v.strip() else default for v in patients[name]]


def _chunk(
    protocol: Protocol,
    patients: pd.DataFrame,
    doses: pd.DataFrame,
    visits: pd.DataFrame,
    style: Style,
    remind: tuple[dt.timedelta | None, dt.timedelta | None],
    blinded: bool,
) -> Iterator[tuple[str, bytes]]:
    expanded = style == "expanded"
    texts = patient_texts(protocol, patients, blinded)
    extras = calendar_extras(doses, visits, patients, changed_doses=expanded, remind=remind[0], wordings=texts)
    starts = pd.to_datetime(patients["start_date"]).dt.date.to_numpy()
    pids = patients["patient_id"].astype(str).to_numpy()
    table = hide_changed(doses) if expanded and len(doses) else doses
    events = _dose_events(table, pids, starts, texts, style, remind[0])
    zones = patients["timezone"].astype(str).to_numpy()
    for i, pid in enumerate(pids):
        start = starts[i]
        mine, tzids = events.get(pid, ([], set()))
        extra = extra_texts(extras.get(pid, ()), remind[1])
        last = start + dt.timedelta(days=protocol.study.last_day)
        home = str(zones[i])
        yield pid, calendar_bytes(texts[pid].name, {home, *tzids}, (start, last), mine, extra, home)


def _dose_events(
    table: pd.DataFrame,
    pids: np.ndarray,
    starts: np.ndarray,
    texts: dict[str, PatientText],
    style: Style,
    remind: dt.timedelta | None,
) -> dict[str, tuple[list[str], set[str]]]:
    """Per patient: the dose events (text, in order) and the TZIDs they name; built for all
    patients who share a wording (language and site) at once."""
    code = patient_codes(table["patient_id"], pids)
    stamp = np.array([np.datetime64(s, "s") for s in starts], dtype="datetime64[s]")
    wording_of = np.array([id(texts[str(p)].doses) for p in pids], dtype=np.int64)[code]
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for key in pd.unique(wording_of):
        at = np.flatnonzero(wording_of == key)
        wording = texts[str(pids[code[at[0]]])].doses
        rows, events, tzids = dose_event_texts(table.iloc[at], stamp[code[at]], wording, style=style, remind=remind)
        found.append((code[at][rows], events, tzids))
    who = np.concatenate([f[0] for f in found]) if found else np.array([], dtype=np.int64)
    events = np.concatenate([f[1] for f in found]) if found else np.array([], dtype=object)
    tzids = np.concatenate([f[2] for f in found]) if found else np.array([], dtype=object)
    order = np.argsort(who, kind="stable")
    bounds = np.searchsorted(who[order], np.arange(len(pids) + 1))
    out: dict[str, tuple[list[str], set[str]]] = {}
    for i, pid in enumerate(pids):
        mine = order[bounds[i] : bounds[i + 1]]
        out[str(pid)] = ([*events[mine]], set(tzids[mine]))
    return out
