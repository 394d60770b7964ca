"""``dosing generate``: protocol x cohort -> dose tables, worklist and calendars on disk."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .blinding import blind, unblind
from .cohort import Cohort
from .expand import expand
from .io.atomic import staged_folder
from .io.csv_out import write_csv
from .io.ics import calendar_for_patient
from .protocol import Protocol
from .safety import check_max_daily, check_methotrexate_doses, check_same_drug

DOSE_COLUMNS = [
    "patient_id",
    "date",
    "time",
    "timezone",
    "weekday",
    "study_day",
    "drug",
    "dose",
    "unit",
    "route",
    "instructions",
    "cycle",
    "cycle_day",
    "dose_number",
    "uid",
]
UNBLINDED_COLUMNS = ["arm", "regimen", "blinded_label"]
WORKLIST_COLUMNS = [
    "date",
    "time",
    "timezone",
    "patient_id",
    "site",
    "drug",
    "dose",
    "unit",
    "route",
    "instructions",
    "weekday",
    "study_day",
    "cycle",
    "dose_number",
    "uid",
    "given_at",
    "given_by",
    "dose_given",
    "notes",
]

#: Columns the calendar writer needs that the CSV files do not show.
CALENDAR_ONLY = ["planned_at", "held", "sequence"]

Progress = Callable[[int, int], None]


@dataclass
class GenerateResult:
    """What ``generate`` wrote, for the one-screen summary."""

    folder: Path
    blinded: bool
    patients: int
    doses_per_drug: dict[str, int]
    first_date: str
    last_date: str
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"{'BLINDED' if self.blinded else 'UNBLINDED'} outputs in {self.folder}",
            f"  patients: {self.patients}",
            f"  dates:    {self.first_date} .. {self.last_date}",
            "  doses per drug:",
        ]
        width = max((len(d) for d in self.doses_per_drug), default=0)
        lines += [f"    {drug:<{width}}  {count:>9,}" for drug, count in self.doses_per_drug.items()]
        lines += [
            "  files:",
            f"    {self.folder / 'doses.csv'}",
            f"    {self.folder / 'worklist.csv'}",
            f"    {self.folder / 'patients'}/<patient id>/doses.csv, calendar.ics ({self.patients} patients)",
        ]
        return "\n".join(lines)


def output_folder(out_dir: Path, protocol: Protocol, unblinded: bool) -> Path:
    """``<out>/<study id>`` for blinded outputs, ``<out>/<study id>-UNBLINDED`` otherwise."""
    name = protocol.study.id.lower()
    return out_dir / (f"{name}-UNBLINDED" if unblinded else name)


def generate(
    protocol: Protocol,
    cohort: Cohort,
    out_dir: str | Path = "output",
    *,
    unblinded: bool = False,
    progress: Progress | None = None,
) -> GenerateResult:
    """Expand, check and write every output; all or nothing (see :mod:`dosing.io.atomic`)."""
    doses = expand(protocol, cohort)
    check_methotrexate_doses(doses, protocol)
    check_max_daily(doses, protocol)
    check_same_drug(doses, protocol)
    table = unblind(doses) if unblinded else blind(doses, protocol)
    columns = DOSE_COLUMNS + (UNBLINDED_COLUMNS if unblinded else [])
    final = output_folder(Path(out_dir), protocol, unblinded)
    with staged_folder(final) as folder:
        write_csv(table[columns], folder / "doses.csv")
        write_csv(worklist(table, cohort, unblinded), folder / "worklist.csv")
        _write_patients(protocol, cohort, table[[*columns, *CALENDAR_ONLY]], folder / "patients", progress)
    return GenerateResult(
        final,
        not unblinded,
        len(cohort),
        _per_drug(table),
        str(table["date"].min()) if len(table) else "-",
        str(table["date"].max()) if len(table) else "-",
    )


def worklist(table: pd.DataFrame, cohort: Cohort, unblinded: bool = False) -> pd.DataFrame:
    """The nurses' sheet: planned doses by date, time and patient, with columns to fill in."""
    sites = cohort.patients.set_index("patient_id")["site"]
    sheet = table.copy()
    sheet["site"] = sheet["patient_id"].astype(str).map(sites)
    for column in ("given_at", "given_by", "dose_given", "notes"):
        sheet[column] = ""
    sheet["_pid"] = sheet["patient_id"].astype(str)
    sheet["_drug"] = sheet["drug"].astype(str)
    sheet = sheet.sort_values(["date", "time", "_pid", "_drug"], kind="stable")
    return sheet[WORKLIST_COLUMNS + (UNBLINDED_COLUMNS if unblinded else [])]


def _write_patients(
    protocol: Protocol, cohort: Cohort, table: pd.DataFrame, folder: Path, progress: Progress | None
) -> None:
    groups = dict(tuple(table.groupby("patient_id", observed=True, sort=False)))
    total = len(cohort)
    for i, patient in enumerate(cohort.patients.itertuples(index=False), start=1):
        pid = str(patient.patient_id)
        mine = groups.get(pid, table.iloc[0:0])
        home = folder / pid
        home.mkdir(parents=True)
        write_csv(mine.drop(columns=CALENDAR_ONLY), home / "doses.csv")
        start = pd.Timestamp(patient.start_date).date()
        stamp = dt.datetime.combine(start, dt.time(0, 0), tzinfo=dt.UTC)
        last = start + dt.timedelta(days=protocol.study.last_day)
        ics = calendar_for_patient(
            mine, name=f"{protocol.study.id} {pid}", timezone=str(patient.timezone), stamp=stamp, first=start, last=last
        )
        (home / "calendar.ics").write_bytes(ics)
        if progress is not None:
            progress(i, total)


def _per_drug(table: pd.DataFrame) -> dict[str, int]:
    counts = table.groupby("drug", observed=True).size()
    return {str(k): int(v) for k, v in counts.items()}
