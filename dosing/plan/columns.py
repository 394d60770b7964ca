"""The columns of the dose tables, in one place for the writers (jobs.generate) and the readers
(adherence): each CSV file shows these, in this order."""

DOSE_COLUMNS = [
    "patient_id",
    "date",
    "time",
    "timezone",
    "planned_utc",
    "end_date",  # the end of a dose with a duration (an infusion; blank for others: plan/durations.py)
    "end_time",
    "planned_end_utc",
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
    "status",
]
UNBLINDED_COLUMNS = ["arm", "regimen", "blinded_label"]
#: doses.csv (and each patient's doses.csv) when unblinded: also how each computed dose was computed
#: ("1000 mg/m² × 1.87 m² (Mosteller, 170 cm, 74 kg) = 1870 mg"; "" for a fixed dose). Never in the
#: outputs of a blinded study's blinded run; an open-label study's doses.csv has it after ``status``.
UNBLINDED_DOSE_COLUMNS = [*UNBLINDED_COLUMNS, "dose_basis"]
WORKLIST_COLUMNS = [
    "date",
    "time",
    "timezone",
    "planned_utc",
    "end_date",
    "end_time",
    "patient_id",
    "site",
    "drug",
    "dose",
    "unit",
    "dose_text",
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
CALENDAR_ONLY = ["planned_at", "held", "sequence", "changed_on", "once_weekly", "in_clinic", "duration_minutes"]


def dose_table_columns(study_blinded: bool, unblinded: bool) -> list[str]:
    """The columns of doses.csv and each patient's doses.csv: an unblinded run adds the arm, the regimen and
    how each dose was computed; an open study's run adds ``dose_basis`` (it hides nothing); a blinded one
    neither."""
    if unblinded:
        return DOSE_COLUMNS + UNBLINDED_DOSE_COLUMNS
    return DOSE_COLUMNS + ([] if study_blinded else ["dose_basis"])
