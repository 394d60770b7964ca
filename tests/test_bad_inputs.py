"""Input that cannot hurt: every file in tests/fixtures/bad/ gives a clear message naming the
file and the line or field, exit status 2, no traceback, and writes nothing.

Each fixture's name says what it shows; ``BATTERY`` says what the message must point at. A
new fixture without an entry here fails ``test_every_bad_fixture_has_an_expectation``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dosing.cli import main
from tests.conftest import FIXTURES, PROTOCOLS
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)

BAD = FIXTURES / "bad"
ACCEPTED = FIXTURES / "accepted"
SEED = PROTOCOLS / "nct02467504.toml"
SEED_PATIENT = FIXTURES / "seed-one-patient.csv"
ENDS_2027 = ACCEPTED / "seed-enrolment-ends-2027-12-31.toml"
FORMULAS = ACCEPTED / "paediatric-and-carboplatin.toml"

#: fixture name -> (fragments the message must contain: where, then what), protocol for cohort cases.
BATTERY: dict[str, tuple[tuple[str, ...], Path | None]] = {
    # protocols
    "protocol-unknown-top-level-key.toml": (("patients_values: unknown key", "did you mean 'patient_values'"), None),
    "protocol-unknown-nested-key.toml": (
        ("regimens[0] (id 'x').schedule.evrey: unknown key 'evrey'", "did you mean 'every'"),
        None,
    ),
    "protocol-unknown-key-in-study.toml": (("study.sponsor: unknown key 'sponsor'",), None),
    "protocol-wrong-type-times.toml": (("regimens[0] (id 'x').times:", "valid list"), None),
    "protocol-wrong-type-last-day.toml": (("study.last_day:", "valid integer"), None),
    "protocol-wrong-type-study-array.toml": (("study:", "expected a table, e.g. study = { id = "), None),
    "protocol-wrong-type-amount.toml": (("regimens[0] (id 'x').dose.amount:", "valid number"), None),
    "protocol-zero-interval.toml": (("schedule.every:", "at least 1 day, got '0 days'"), None),
    "protocol-cycles-until-progression.toml": (
        ("regimens[0] (id 'x').schedule.cycles:", 'give a number of cycles (cycles = 6) or cycles = "until stopped"'),
        None,
    ),
    "protocol-visit-anchor-unknown-regimen.toml": (
        ("visits[0] (id 'v').anchor:", "unknown regimen 'y' in anchor 'last dose of y'", "use one of: x"),
        None,
    ),
    "protocol-visit-anchor-cycle-beyond.toml": (("visits[0] (id 'v').anchor:", "has cycles 1-6, not 7"), None),
    "protocol-visit-anchor-cycle-day-beyond.toml": (
        ("visits[0] (id 'v').anchor:", "a 21-day cycle: it has no day 30", "use a cycle day from 1 to 21"),
        None,
    ),
    "protocol-visit-anchor-malformed.toml": (
        ("visits[0] (id 'v').anchor:", "unknown anchor 'last dose x'", '"last dose of <regimen id>"'),
        None,
    ),
    "protocol-visit-dose-anchor-with-week.toml": (
        ("visits[0] (id 'v'):", "is a dose date: give day = <days after it>", "not week"),
        None,
    ),
    "protocol-visit-before-the-last-dose-it-follows.toml": (
        (
            "visits[0] (id 'v').day:",
            "day = -2 plans the visit before the last dose of 'x'",
            "leave out after_last_dose_of",
        ),
        None,
    ),
    "protocol-negative-interval.toml": (("schedule.every:", "got '-2 days'"), None),
    "protocol-bare-number-interval.toml": (("schedule.every:", 'with a unit such as "2 days"'), None),
    "protocol-hours-with-two-times.toml": (("regimens[0] (id 'x'):", "times gives the first dose's time only"), None),
    "protocol-wall-clock-hours-not-dividing-24.toml": (("schedule:", "the interval must divide 24 hours"), None),
    "protocol-clock-without-hours.toml": (("schedule:", "clock applies only to an interval in hours"), None),
    "protocol-relative-to-unknown-regimen.toml": (
        ("regimens[1] (id 'x').schedule.relative_to: unknown regimen 'chemmo'", "use one of: chemo, x"),
        None,
    ),
    "protocol-relative-to-circle.toml": (("circular relation between regimens: chemo -> x -> chemo",), None),
    "protocol-relative-with-times.toml": (("regimens[1] (id 'x'):", "relative_to", "leave out times"), None),
    "protocol-relative-offset-over-7-days.toml": (("schedule:", "at most 7 days before or after"), None),
    "protocol-relative-offset-a-number.toml": (
        ("schedule:", 'offset is a duration with its unit, e.g. offset = "1 day"'),
        None,
    ),
    # durations (infusions)
    "protocol-infusion-longer-than-interval.toml": (
        ("regimens[0] (id 'x').duration:", "an infusion longer than its interval", "at most 24 hours"),
        None,
    ),
    "protocol-infusion-longer-than-hourly-interval.toml": (
        (
            "regimens[0] (id 'x').duration:",
            "an infusion longer than its interval: regimen 'x' lasts 9 hours (duration), but its doses come "
            '8 hours apart (every = "8 hours")',
            "shorten duration to at most 8 hours",
        ),
        None,
    ),
    "protocol-infusion-longer-than-wall-clock-hourly-interval.toml": (
        (
            "regimens[0] (id 'x').duration:",
            "lasts 13 hours (duration), but its doses come 12 hours apart",
            "at most 12 hours",
        ),
        None,
    ),
    "protocol-duration-bare-number.toml": (("regimens[0] (id 'x').duration:", 'write duration = "46 hours"'), None),
    "protocol-duration-unit-typo.toml": (("regimens[0] (id 'x').duration:", "got '46 hourz'"), None),
    "protocol-duration-key-typo.toml": (("durration: unknown key", "did you mean 'duration'"), None),
    "protocol-duration-too-long.toml": (("regimens[0] (id 'x').duration:", "longer than 14 days"), None),
    "protocol-impossible-end-date.toml": (
        (
            "not valid TOML at line 8, column 12: invalid date or datetime: end_date = 2026-02-30",
            "must exist in the calendar",
        ),
        None,
    ),
    "protocol-impossible-time.toml": (("times[0]:", "'25:00' is not a time of day"), None),
    "protocol-unknown-timezone.toml": (("study.timezone:", "unknown time zone 'Asia/Beijing'"), None),
    "protocol-timezone-is-a-folder.toml": (("study.timezone:", "unknown time zone 'Europe'"), None),
    "protocol-timezone-abbreviation-cet.toml": (
        ("study.timezone:", "'CET' is a time-zone abbreviation, not the zone of a place", "Fix: name the"),
        None,
    ),
    "protocol-timezone-accented.toml": (
        ("study.timezone:", "unknown time zone 'Europe/Berlín'; did you mean 'Europe/Berlin'?"),
        None,
    ),
    "protocol-fixed-offset-zones-without-reason.toml": (
        ("study.allow_fixed_offset_zones:", "allowed without a reason", "Fix: say why"),
        None,
    ),
    "protocol-cycle-longer-than-study.toml": (
        ("regimens[0] (id 'x').schedule:", "a 21-day cycle is longer than the 14-day study"),
        None,
    ),
    "protocol-end-day-after-study.toml": (("schedule.end_day:", "day 40 is after the study's last day 28"), None),
    "protocol-unknown-regimen-in-arm.toml": (("arms[0] (id 'a').regimens:", "unknown regimen 'y'"), None),
    "protocol-no-arms.toml": (("arms: required field is missing",), None),
    # steps, titrations and dose levels (issue 13)
    "protocol-overlapping-steps.toml": (
        ("regimens[0] (id 'x'):", "steps[0] (days 1-7) and steps[1] (days 7-28) overlap"),
        None,
    ),
    "protocol-step-day-uncovered.toml": (
        ("regimens[0] (id 'x').steps:", "scheduled on study day 8", "which no step covers", "Fix: give every"),
        None,
    ),
    "protocol-titrate-up-and-down.toml": (("regimens[0] (id 'x').titrate:", "give up_to", "exactly one"), None),
    "protocol-taper-rising.toml": (("regimens[0] (id 'x').titrate:", "a taper down to 10 needs by < 0 (got 10)"), None),
    "protocol-steps-with-dose-amount.toml": (("regimens[0] (id 'x'):", "with steps, leave out dose.amount"), None),
    "protocol-levels-without-level-0.toml": (("regimens[0] (id 'x'):", 'levels must list level "0"'), None),
    "protocol-level-0-not-the-dose.toml": (
        ("regimens[0] (id 'x'):", "level 0 (25) differs from dose.amount (20)"),
        None,
    ),
    "protocol-lowest-level-not-listed.toml": (
        ("regimens[0] (id 'x'):", "lowest_level = -2 is not one of the levels"),
        None,
    ),
    "protocol-two-patterns.toml": (("regimens[0] (id 'x').schedule:", "give exactly one pattern"), None),
    "protocol-bad-id.toml": (("regimens[0] (id 'x/../y z').id:",), None),
    "protocol-circular-relation.toml": (("regimens:", "circular relation between regimens: x -> y -> x"), None),
    "protocol-relation-to-regimen-not-received.toml": (
        ("regimens[1] (id 'y').schedule.after:", "the patients of arm 'b' do not receive"),
        None,
    ),
    "protocol-except-days-of-regimen-not-received.toml": (
        ("regimens[1] (id 'y').schedule.except_days_of:", "the patients of arm 'b' do not receive"),
        None,
    ),
    "protocol-methotrexate-daily.toml": (("regimens[0] (id 'x').schedule:", "ONCE WEEKLY"), None),
    "protocol-invalid-toml.toml": (("not valid TOML at line 4, column 43:",), None),
    "protocol-duplicate-key.toml": (("not valid TOML at line 8, column 14:", "last_day = 30"), None),
    "protocol-nested-too-deeply.toml": (("not valid TOML: brackets or tables are nested too deeply",), None),
    "protocol-interval-beyond-any-study.toml": (("schedule.every:", "longer than any study"), None),
    "protocol-infinite-dose.toml": (("regimens[0] (id 'x').dose.amount:", "expected a finite number, got inf"), None),
    "protocol-cycle-days-huge-range.toml": (("regimens[0] (id 'x').schedule", "99999"), None),
    "protocol-patient-value-named-arm.toml": (("patient_values.arm:", "cannot name a patient value"), None),
    "protocol-empty.toml": (("the file is empty",), None),
    "protocol-only-comments.toml": (("study: required field is missing",), None),
    "protocol-binary.toml": (("is a binary file",), None),
    "protocol-not-utf8.toml": (("line 1:", "is not UTF-8 text", "save the file as UTF-8"), None),
    "protocol-formula-missing-patient-value.toml": (
        (
            "regimens[0] (id 'carboplatin').dose:",
            "the Calvert formula needs patient value 'creatinine', which [patient_values] does not declare",
        ),
        None,
    ),
    "protocol-unknown-bsa-formula.toml": (
        (
            "regimens[0] (id 'gemcitabine').dose.bsa.formula:",
            "unknown BSA formula 'mostellar'; did you mean 'mosteller'?",
        ),
        None,
    ),
    "protocol-height-unit-typo.toml": (
        ("patient_values.height.unit:", "needs height in cm; it has unit 'cn' (did you mean 'cm'?)"),
        None,
    ),
    # cohorts (against the seed protocol unless said otherwise)
    "cohort-duplicate-patient-id.csv": (("line 3, column 'patient_id':", "'RA-1' already appears on line 2"), SEED),
    "cohort-patient-ids-differ-only-in-case.csv": (
        ("line 3, column 'patient_id':", "'ra-1' differs from 'RA-1' (line 2) only in upper/lower case"),
        SEED,
    ),
    "cohort-missing-column.csv": (("line 1 (header):", "missing column(s): mtx_weekday"), SEED),
    "cohort-unknown-column.csv": (("line 1 (header):", "unknown column 'mtx_dos'", "did you mean 'mtx_dose'"), SEED),
    "cohort-duplicate-column.csv": (("line 1 (header):", "a column name appears twice"), SEED),
    "cohort-wrong-type-dose.csv": (("line 2, column 'mtx_dose':", "expected a number in mg, got 'fifteen'"), SEED),
    "cohort-wrong-type-weekday.csv": (("line 2, column 'mtx_weekday':", "got 'Funday'"), SEED),
    "cohort-dose-out-of-range.csv": (("line 2, column 'mtx_dose':", "200 mg is outside the allowed range"), SEED),
    "cohort-dose-not-finite.csv": (("line 2, column 'mtx_dose':", "expected a finite number"), SEED),
    "cohort-impossible-start-date.csv": (("line 2, column 'start_date':", "'2027-02-30' is not a real"), SEED),
    "cohort-start-date-year-9999.csv": (("line 2, column 'start_date':", "outside the years 1900-2199"), SEED),
    "cohort-timezone-is-a-folder.csv": (("line 2, column 'timezone':", "unknown time zone 'Asia'"), SEED),
    "cohort-start-date-not-iso.csv": (("line 2, column 'start_date':", "expected a date as YYYY-MM-DD"), SEED),
    "cohort-unknown-arm.csv": (("line 2, column 'arm':", "unknown arm 'activ'"), SEED),
    "cohort-unknown-timezone.csv": (("line 2, column 'timezone':", "unknown time zone 'Asia/Beijing'"), SEED),
    "cohort-timezone-abbreviation-est.csv": (
        ("line 2, column 'timezone':", "'EST' is a time-zone abbreviation", "stays at UTC-05:00 all year"),
        SEED,
    ),
    "cohort-timezone-lower-case.csv": (
        ("line 2, column 'timezone':", "unknown time zone 'asia/shanghai'; did you mean 'Asia/Shanghai'?"),
        SEED,
    ),
    "cohort-timezone-utc-offset.csv": (
        ("line 2, column 'timezone':", "'GMT+8' is a UTC offset, not a time zone", '"Etc/GMT-8"'),
        SEED,
    ),
    "cohort-path-traversal-id.csv": (("line 2, column 'patient_id':", "'../x' is not a usable patient id"), SEED),
    "cohort-absolute-path-id.csv": (("line 2, column 'patient_id':", "'/etc/passwd' is not a usable"), SEED),
    "cohort-missing-value.csv": (("line 2, column 'mtx_dose':", "a value is required"), SEED),
    "cohort-ragged-row.csv": (("line 2:", "8 cells where the header has 7 columns"), SEED),
    "cohort-header-only.csv": (("the file lists no patients",), SEED),
    "cohort-unclosed-quote.csv": (("line 2, column 'site':", 'is a quote (") left open?'), SEED),
    "cohort-empty.csv": (("the file is empty",), SEED),
    "cohort-binary.csv": (("is an Excel workbook (.xlsx) or another zip archive", "CSV UTF-8"), SEED),
    "cohort-not-utf8.csv": (("line 2:", "is not UTF-8 text"), SEED),
    "cohort-excel-workbook.xlsx": (("is an Excel workbook (.xlsx)", "Fix: in the spreadsheet choose"), SEED),
    "cohort-utf16-without-byte-order-mark.csv": (("is UTF-16 text without a byte-order mark", "Fix: save"), SEED),
    "cohort-decimal-comma-semicolons.csv": (
        ("line 3, column 'mtx_dose':", "got '12,5' (use a dot for decimals: '12.5')", "Fix: write decimals with a dot"),
        SEED,
    ),
    "cohort-starts-after-study-end.csv": (
        ("line 3, column 'start_date':", "patient starts on 2028-01-03, after the study ends on 2027-12-31"),
        ENDS_2027,
    ),
    "cohort-dose-rounded-beyond-within.csv": (
        ("patient 'K-2': the computed dose of 'paediatric' is 180 mg; rounded to 200 mg it is 11.1% away",),
        FORMULAS,
    ),
    "cohort-formula-value-blank.csv": (
        ("column 'creatinine':", "patient 'A-1' has no creatinine, which regimen 'carboplatin' needs"),
        FORMULAS,
    ),
    # as-needed (PRN) regimens
    "protocol-prn-without-maximum.toml": (
        ("regimens[0] (id 'x').as_needed.max_per_24h: required field is missing",),
        None,
    ),
    "protocol-prn-with-times.toml": (("regimens[0] (id 'x'):", "an as-needed regimen has no planned times"), None),
    "protocol-prn-in-clinic.toml": (("regimens[0] (id 'x'):", "an as-needed regimen cannot be in_clinic"), None),
    "protocol-prn-interval-cannot-fit.toml": (
        ("regimens[0] (id 'x'):", "3 doses at least 12 h apart cannot fit in 24 hours", "lower max_per_24h to 2"),
        None,
    ),
    "protocol-prn-above-daily-limit.toml": (
        ("regimens[0] (id 'x'):", "would receive 240 mg of loxoprofen", "as_needed.max_per_24h"),
        None,
    ),
    "protocol-after-prn-regimen.toml": (
        ("regimens[1] (id 'y').schedule.after:", "'x', an as-needed regimen, which has no planned dose days"),
        None,
    ),
    "protocol-relative-to-prn-regimen.toml": (
        ("regimens[1] (id 'y').schedule.relative_to:", "'x', an as-needed regimen, which has no planned doses"),
        None,
    ),
}


def test_every_bad_fixture_has_an_expectation() -> None:
    """Protocol and cohort fixtures; logs and changes files (other commands) have their own tests."""
    names = sorted(p.name for p in BAD.iterdir() if p.name.startswith(("protocol-", "cohort-")))
    assert names == sorted(BATTERY)


def files_for(name: str) -> tuple[Path, Path]:
    protocol = BATTERY[name][1]
    return (BAD / name, SEED_PATIENT) if protocol is None else (protocol, BAD / name)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.fixture
def previous_outputs(tmp_path: Path) -> Path:
    """An output folder holding last week's outputs of the seed trial and of study "BAD"."""
    out = tmp_path / "out"
    for study in ("nct02467504", "bad"):
        (out / study / "patients" / "RA-1").mkdir(parents=True)
        (out / study / "doses.csv").write_text("last week's doses\n", encoding="utf-8")
        (out / study / "patients" / "RA-1" / "calendar.ics").write_text("BEGIN:VCALENDAR\n", encoding="utf-8")
    return out


@pytest.mark.parametrize("command", ["validate", "generate"])
@pytest.mark.parametrize("name", sorted(BATTERY))
def test_bad_input_is_refused_cleanly(name: str, command: str, previous_outputs: Path) -> None:
    protocol, cohort = files_for(name)
    before = snapshot(previous_outputs)
    args = [command, str(protocol), "--cohort", str(cohort)]
    if command == "generate":
        args += ["--out", str(previous_outputs)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.startswith(f"Error: {BAD / name}")
    for fragment in BATTERY[name][0]:
        assert fragment in result.output, f"{fragment!r} not in:\n{result.output}"
    assert snapshot(previous_outputs) == before


@pytest.mark.parametrize(
    ("protocol", "cohort"),
    [
        (ACCEPTED / "seed-bom-crlf.toml", SEED_PATIENT),
        (SEED, ACCEPTED / "cohort-bom-crlf.csv"),
        (ACCEPTED / "seed-bom-crlf.toml", ACCEPTED / "cohort-bom-crlf.csv"),
        (ENDS_2027, ACCEPTED / "cohort-bom-crlf.csv"),
    ],
    ids=["protocol-bom-crlf", "cohort-bom-crlf", "both-bom-crlf", "enrolment-end-date"],
)
def test_byte_order_mark_and_crlf_are_accepted(tmp_path: Path, protocol: Path, cohort: Path) -> None:
    assert (
        protocol.read_bytes().startswith(b"\xef\xbb\xbf")
        or cohort.read_bytes().startswith(b"\xef\xbb\xbf")
        or (protocol == ENDS_2027)
    )
    args = ["generate", str(protocol), "--cohort", str(cohort), "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    worklist = (tmp_path / "nct02467504" / "worklist.csv").read_text(encoding="utf-8-sig")
    if "cohort-bom-crlf" in cohort.name:
        assert "北京大学人民医院" in worklist and "\r" not in worklist


def test_crlf_fixtures_really_have_crlf() -> None:
    for name in ("seed-bom-crlf.toml", "cohort-bom-crlf.csv"):
        raw = (ACCEPTED / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        assert raw.count(b"\r\n") == raw.count(b"\n") > 2


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no-such-protocol.toml", "file not found"),
        (".", "is a directory"),
    ],
)
def test_missing_or_unreadable_paths(tmp_path: Path, path: str, message: str) -> None:
    target = tmp_path / path
    result = CliRunner().invoke(main, ["validate", str(target)])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
