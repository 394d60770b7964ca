"""What a patient's printable diary lists: one item per home dose, in-clinic dose and clinic visit,
in the patient's language and blinded (never the arm or the true drug of a blinded regimen).

Pure tables built with pandas; :mod:`dosing.io.write.diary_pdf` draws them. The texts come from the
``diary`` catalogue (:mod:`dosing.io.write.i18n`) and the protocol's translated names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from babel.dates import format_date

from ...plan.durations import end_instants, local_ends
from ...plan.prn_doses import prn_amount
from ...protocol.model import Protocol, Regimen
from ...protocol.units import dose_texts, format_dose_written
from .i18n import Translate

#: Columns of the items table, one row per thing the patient does or attends.
ITEM_COLUMNS = ["study_day", "time", "kind", "text", "held", "weekly"]
#: Item kinds: a dose the patient takes (a tick box), a dose staff give at the clinic, a clinic visit.
HOME, CLINIC, VISIT = "home", "clinic", "visit"


@dataclass(frozen=True)
class Medicine:
    """One entry of a page's "your medicines" list: name, dose and instructions, and the study days
    from its first to its last dose (a page lists the medicines taken in its weeks)."""

    text: str
    first_day: int
    last_day: int


def diary_items(
    protocol: Protocol,
    doses: pd.DataFrame,
    visits: pd.DataFrame,
    place: str,
    _: Translate,
    language: str,
    *,
    address: str | None = None,
) -> pd.DataFrame:
    """The patient's items, ordered by study day, time and kind. ``doses`` is the patient's expanded
    table (changes applied; it may hold the arm and true drug: only blinded texts are taken from it),
    ``visits`` the patient's planned visits, ``place`` the site's code (blank: "the clinic"). With the
    clinic's ``address`` (the protocol's [clinic], which the diary's header prints) an in-clinic dose
    says "at the clinic" only: a site code means nothing to a patient."""
    place = place or _("the clinic")
    items = pd.concat(
        [_dose_items(protocol, doses, (place, address), _, language), _visit_items(protocol, visits, _, language)]
    )
    order = items["kind"].map({VISIT: 0, CLINIC: 1, HOME: 2})
    items = items.assign(_order=order).sort_values(["study_day", "time", "_order", "text"], kind="stable")
    return items[ITEM_COLUMNS].reset_index(drop=True)


def what(protocol: Protocol, doses: pd.DataFrame, language: str) -> pd.Series:
    """ "Loxoprofen 60 mg": the blinded label (or drug) in ``language`` and the dose as people read it,
    the blinded dose where the arms' doses differ."""
    regimens = {r.id: r for r in protocol.regimens}
    ids = doses["regimen"].astype(str)
    label = ids.map({rid: r.label_in(language) for rid, r in regimens.items()})
    written = dose_texts(doses["dose"], doses["unit"], format_dose_written)  # "1 × 10⁶ IU", as on the sheet
    dose = pd.Series(written, index=doses.index, dtype=object)
    hidden = {rid: r.blinded_dose for rid, r in regimens.items() if _hides_dose(protocol, r)}
    if hidden:
        pick = ids.isin(list(hidden)).to_numpy()
        dose[pick] = ids[pick].map(hidden)
    return (label + " " + dose.astype(str)).str.strip()


def _hides_dose(protocol: Protocol, regimen: Regimen) -> bool:
    return protocol.study.blinded and regimen.blinded_dose is not None


def _dose_items(
    protocol: Protocol, doses: pd.DataFrame, where: tuple[str, str | None], _: Translate, language: str
) -> pd.DataFrame:
    place, address = where
    text = what(protocol, doses, language)
    in_clinic = doses["in_clinic"].to_numpy(dtype=bool)
    clinic_regimens = {r.id for r in protocol.regimens if r.in_clinic}
    moved_home = doses["regimen"].astype(str).isin(clinic_regimens).to_numpy() & ~in_clinic
    text = text.where(~moved_home, text + " " + _("(at home: the clinic is closed)"))
    label = doses["regimen"].astype(str).map({r.id: r.label_in(language) for r in protocol.regimens})
    at_clinic = _("{what}: at the clinic") if address else _("{what}: at the clinic ({place})")
    before, after = at_clinic.format(place=place, what="\0").split("\0")
    text = text.where(~in_clinic, before + label.astype(str) + after)  # staff give it: the name is enough
    text = _with_duration(text, doses, _, language)
    held = doses["held"].to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "study_day": doses["study_day"].to_numpy(dtype=np.int64),
            "time": doses["time"].astype(str).to_numpy(),
            "kind": np.where(in_clinic, CLINIC, HOME),
            "text": text.to_numpy(dtype=object),
            "held": held,
            "weekly": doses["once_weekly"].to_numpy(dtype=bool),
        }
    )


def _with_duration(text: pd.Series, doses: pd.DataFrame, _: Translate, language: str) -> pd.Series:
    """A dose that lasts (an infusion, a pump) says how long and until when, so that a bolus and a
    46-hour pump of the same drug are told apart: "Fluorouracil: at the clinic (over 46 h, until Mon
    15 Mar 09:00)" (the end in the patient's zone)."""
    lasts, end = end_instants(doses)
    if not lasts.any():
        return text
    local = local_ends(doses, lasts, end)
    minutes = doses["duration_minutes"].fillna(0).to_numpy(dtype=np.int64)
    out = text.copy()
    template = _("(over {duration}, until {end})")
    for at in np.flatnonzero(lasts):
        when = pd.Timestamp(int(local[at]))
        day = format_date(when.date(), "EEE d MMM", locale=language)
        shown = template.format(duration=_duration(int(minutes[at]), _), end=f"{day} {when:%H:%M}")
        out.iloc[int(at)] = f"{out.iloc[int(at)]} {shown}"
    return out


def _duration(minutes: int, _: Translate) -> str:
    """ "46 h", "30 min", "1 h 30 min"."""
    hours, rest = divmod(minutes, 60)
    parts = [_("{hours} h").format(hours=hours)] if hours else []
    parts += [_("{minutes} min").format(minutes=rest)] if rest else []
    return " ".join(parts)


def _visit_items(protocol: Protocol, visits: pd.DataFrame, _: Translate, language: str) -> pd.DataFrame:
    shown = visits[visits["study_day"] >= 1] if len(visits) else visits
    names = {v.id: v.name_in(language) for v in protocol.visits}
    template = _("Clinic visit: {name}")
    text = shown["visit"].astype(str).map(lambda visit: template.format(name=names.get(visit, visit)))
    return pd.DataFrame(
        {
            "study_day": shown["study_day"].to_numpy(dtype=np.int64) if len(shown) else np.array([], dtype=np.int64),
            "time": shown["time"].fillna("").astype(str).to_numpy() if len(shown) else np.array([], dtype=object),
            "kind": VISIT,
            "text": text.to_numpy(dtype=object),
            "held": False,
            "weekly": False,
        }
    )


def medicines(protocol: Protocol, doses: pd.DataFrame, _: Translate, language: str) -> list[Medicine]:
    """The patient's medicines with dose and instructions, one line each, in order of first use:
    "Loxoprofen 60 mg: after meals" (blinded as the items are)."""
    if doses.empty:
        return []
    texts = what(protocol, doses, language)
    if "duration_minutes" in doses.columns:  # a pump and a bolus of one drug: "Fluorouracil 4,488 mg over 46 h"
        minutes = doses["duration_minutes"].fillna(0).to_numpy(dtype=np.int64)
        over = {
            m: _("{medicine} over {duration}").replace("{duration}", _duration(int(m), _))
            for m in set(minutes[minutes > 0].tolist())
        }
        for m, template in over.items():
            pick = minutes == m
            texts[pick] = [template.format(medicine=t) for t in texts[pick]]
    frame = pd.DataFrame({"regimen": doses["regimen"].astype(str), "what": texts})
    frame["day"] = doses["study_day"].to_numpy()
    spans = frame.groupby(["regimen", "what"], sort=False)["day"].agg(["min", "max"]).sort_values("min", kind="stable")
    regimens = {r.id: r for r in protocol.regimens}
    template = _("{medicine}: {instructions}")
    lines = []
    for (regimen_id, text), first, last in zip(spans.index, spans["min"], spans["max"], strict=True):
        instructions = regimens[str(regimen_id)].instructions_in(language)
        line = template.format(medicine=text, instructions=instructions) if instructions else str(text)
        lines.append(Medicine(line, int(first), int(last)))
    return lines


def prn_medicines(protocol: Protocol, patient: Any, _: Translate, language: str) -> list[Medicine]:
    """The as-needed (PRN) medicines of the ``patient``'s arm (a cohort row), with their limits, from the
    first to the last day they may be taken: "Loxoprofen 60 mg: as needed, at most 3 in 24 hours, at least
    4 hours apart; after food" (blinded as the items are; a dose computed per patient is the patient's).
    They have no dose items: nothing is planned."""
    lines = []
    arm = str(getattr(patient, "arm"))  # noqa: B009 (a namedtuple of the cohort's columns)
    for regimen in protocol.regimens:
        if regimen.as_needed is None or regimen.id not in protocol.arm(arm).regimens:
            continue
        dose = regimen.blinded_dose if _hides_dose(protocol, regimen) else _prn_dose(protocol, regimen, patient)
        medicine = f"{regimen.label_in(language)} {dose}".strip()
        interval = regimen.as_needed.min_interval
        if interval is None:
            line = _("{medicine}: as needed, at most {count} in 24 hours").format(
                medicine=medicine, count=regimen.as_needed.max_per_24h
            )
        else:
            line = _("{medicine}: as needed, at most {count} in 24 hours, at least {hours} hours apart").format(
                medicine=medicine, count=regimen.as_needed.max_per_24h, hours=f"{interval.total_seconds() / 3600:g}"
            )
        instructions = regimen.instructions_in(language)
        line += _("; ") + instructions if instructions else ""
        schedule = regimen.schedule
        last = (schedule.phases[-1] if schedule.phases else schedule).end_day or protocol.study.last_day
        lines.append(Medicine(line, schedule.start_day, last))
    return lines


def _prn_dose(protocol: Protocol, regimen: Regimen, patient: Any) -> str:
    """A PRN regimen's dose as the diary writes doses ("60 mg"): a computed or the patient's own dose
    for this patient ("270 mg" for 15 mg/kg and 18 kg)."""
    dose = regimen.dose
    own = prn_amount(protocol, regimen, patient)
    if own is not None:
        return format_dose_written(own[0], dose.absolute_unit)
    if dose.amount is None or dose.per is not None:
        return ""  # no one amount (steps): the name and limits only
    return format_dose_written(dose.amount, dose.absolute_unit)


def weekly_warnings(protocol: Protocol, doses: pd.DataFrame, _: Translate, language: str) -> list[str]:
    """ "Methotrexate: ONCE A WEEK, on Sunday only. Never take it daily." for each once-weekly drug and
    each weekday it is planned on (a dose moved to another day names that day too)."""
    weekly = doses[doses["once_weekly"].to_numpy(dtype=bool)]
    if weekly.empty:
        return []
    firsts = weekly.drop_duplicates(subset=["regimen", "weekday"])
    template = _("{drug}: ONCE A WEEK, on {weekday} only. Never take it daily.")
    return [
        template.format(
            drug=protocol.regimen(str(regimen_id)).label_in(language),
            weekday=format_date(dt.date.fromisoformat(str(date)), "EEEE", locale=language),
        )
        for regimen_id, date in zip(firsts["regimen"], firsts["date"], strict=True)
    ]
