"""The administration log as the adherence checks take it (read from a file by :mod:`dosing.io.read.log`),
and the dose texts both the reader and the checks compare with."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ..errors import ValueParseError
from ..protocol.model import Protocol, Regimen
from ..protocol.units import lookup

BAD_COLUMNS = ["line", "patient_id", "drug", "given_at", "dose_given", "reason"]
#: A dose as written: a number, then the unit (if any).
DOSE_TEXT = r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*)$"


@dataclass(frozen=True)
class AdministrationLog:
    """Administrations that could be read, and the rows that could not.

    ``given`` has one row per administration: ``line`` (line number in the file),
    ``patient_id``, ``label`` (the drug as blinded users see it), ``uid`` ("" if none),
    ``timed`` (False for a date alone), ``given_s`` (UTC seconds since 1970; for a date
    alone, local midnight of that day), ``given_day`` (the patient's local date, days since
    1970), ``given_at`` (the text as written), ``dose_given`` (float, NaN when not given; in
    ``dose_unit``), ``dose_unit`` (the registry symbol of the unit the dose was converted to: the
    drug's unit of the written unit's kind; "" if none was written), ``true_terms`` (True: the dose is
    the true one, as the unblinded worklist shows it; False: the blinded one), and ``given_by`` and
    ``notes`` as written ("" if the log has no such column).
    ``bad`` has :data:`BAD_COLUMNS`.
    """

    given: pd.DataFrame
    bad: pd.DataFrame
    source: str = "<log>"


def blinded_dose(regimen: Regimen, protocol: Protocol) -> tuple[float, str] | None:
    """The amount and unit the blinded worklist shows in place of the dose, if it hides it."""
    if regimen.blinded_dose is None or not protocol.study.blinded:
        return None
    match = re.match(DOSE_TEXT, regimen.blinded_dose.strip())
    if match is None:
        return float("nan"), ""  # no number to compare with
    return float(match.group(1)), match.group(2).strip()


def unit_symbol(text: str) -> str:
    """The registry's symbol for a unit text (``mcg`` -> ``µg``, ``syringes`` -> ``syringe``); a text
    the registry does not know (a blinded worklist's own word) as it is."""
    try:
        return lookup(text).symbol
    except ValueParseError:
        return text.strip()
