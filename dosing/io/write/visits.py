"""Write the visit tables: ``visits.csv``, ``visit-worklist.csv`` and ``patients/<id>/visits.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...plan.cohort import Cohort
from ...plan.visits import VISIT_COLUMNS, visit_worklist
from .csv import write_csv


def write_visits(visits: pd.DataFrame, cohort: Cohort, folder: Path) -> None:
    """Write the visit files into an output folder whose ``patients/<id>/`` folders exist."""
    write_csv(visits[VISIT_COLUMNS], folder / "visits.csv")
    write_csv(visit_worklist(visits, cohort), folder / "visit-worklist.csv")
    groups = dict(tuple(visits.groupby("patient_id", sort=False)))
    for pid in cohort.patients["patient_id"].astype(str):
        mine = groups.get(pid, visits.iloc[0:0])
        write_csv(mine[VISIT_COLUMNS], folder / "patients" / pid / "visits.csv")
