"""Medication safety: methotrexate once weekly, maximum daily doses, one drug from one regimen
a day, per-patient values in range, and the methotrexate weekday named in full everywhere."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import icalendar
import pandas as pd
import pytest
import recurring_ical_events
from click.testing import CliRunner, Result

import dosing
from dosing.cli import main
from dosing.errors import SafetyError
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from dosing.protocol.safety import check_max_daily, check_methotrexate_doses, check_same_drug, drug_key, is_methotrexate
from tests.seed_variants import (
    ARM_TAIL,
    LOX_TIMES,
    MTX_DRUG,
    MTX_SCHEDULE,
    MTX_TIMES,
    SEED_PATIENT,
    STUDY_BLINDING,
    private_config,  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
    seed_with,
    write,
)

ONCOLOGY = (STUDY_BLINDING, STUDY_BLINDING + "\noncology = true")
ACKNOWLEDGE = (MTX_DRUG, MTX_DRUG + "\nacknowledge_daily_methotrexate = true")


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def validate(tmp_path: Path, text: str, cohort: Path = SEED_PATIENT) -> Result:
    return run("validate", write(tmp_path, "protocol.toml", text), "--cohort", cohort)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ((MTX_SCHEDULE, "schedule = { daily = true }"), "daily"),
        ((MTX_SCHEDULE, 'schedule = { every = "2 days" }'), "every 2 day(s)"),
        ((MTX_SCHEDULE, 'schedule = { weekdays = ["Monday", "Thursday"] }'), "on 2 days of each week"),
        ((MTX_TIMES, MTX_TIMES.replace('["08:00"]', '["08:00", "20:00"]')), "2 times a day"),
        ((MTX_SCHEDULE, 'schedule = { on = "5 days", off = "2 days", cycles = 4 }'), "daily"),
        (
            (MTX_SCHEDULE, 'schedule = { cycle_days = [1, 4], cycle_length = "14 days", cycles = 2 }'),
            "on cycle days [1, 4]",
        ),
        (
            (MTX_SCHEDULE, 'schedule = { every = "10 days", for = "12 days", rest = "2 days", cycles = 3 }'),
            "4 day(s) apart where one cycle ends",
        ),
    ],
    ids=["daily", "every-2-days", "twice-weekly", "twice-a-day", "5-on-2-off", "cycle-days-1-4", "cycle-wrap"],
)
@pytest.mark.parametrize("spelling", ["Methotrexate", "MTX", "methotrexate sodium", "Methotrexate Sodium (Trexall)"])
def test_methotrexate_more_than_weekly_is_refused(
    tmp_path: Path, change: tuple[str, str], said: str, spelling: str
) -> None:
    result = validate(tmp_path, seed_with(change, (MTX_DRUG, f'drug = "{spelling}"')))
    assert result.exit_code == 2, result.output
    assert f"methotrexate would be given {said}" in result.output
    assert "regimens[2] (id 'methotrexate').schedule" in result.output
    assert "ONCE WEEKLY" in result.output and "oncology = true" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("flags", "accepted"),
    [((), False), ((ONCOLOGY,), False), ((ACKNOWLEDGE,), False), ((ONCOLOGY, ACKNOWLEDGE), True)],
    ids=["neither", "oncology-only", "acknowledge-only", "both"],
)
def test_daily_methotrexate_only_with_oncology_and_acknowledgement(
    tmp_path: Path, flags: tuple[tuple[str, str], ...], accepted: bool
) -> None:
    result = validate(tmp_path, seed_with((MTX_SCHEDULE, "schedule = { daily = true }"), *flags))
    assert result.exit_code == (0 if accepted else 2), result.output


def test_weekly_methotrexate_of_the_seed_protocol_is_accepted(tmp_path: Path) -> None:
    assert validate(tmp_path, seed_with()).exit_code == 0


@pytest.mark.parametrize(
    ("drug", "expected"),
    [
        ("Methotrexate", True),
        ("MTX", True),
        ("mtx", True),
        ("methotrexate sodium", True),
        ("Amethopterin", True),
        ("MTX-sodium", True),
        ("Folic acid", False),
        ("Mtxolite", False),  # not a word boundary: an unrelated (invented) name
        ("Loxoprofen", False),
    ],
)
def test_methotrexate_spellings(drug: str, expected: bool) -> None:
    assert is_methotrexate(drug) is expected
    assert (drug_key(drug) == "methotrexate") is expected


def mtx_table(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """A crafted expanded table: (patient, regimen, planned instant in UTC)."""
    frame = pd.DataFrame(rows, columns=["patient_id", "regimen", "planned_at"])
    frame["planned_at"] = pd.to_datetime(frame["planned_at"], utc=True)
    frame["date"] = frame["planned_at"].dt.strftime("%Y-%m-%d")
    frame["weekday"] = frame["planned_at"].dt.day_name()
    frame["held"] = False
    frame["study_day"] = (frame["planned_at"] - pd.Timestamp("2027-01-04", tz="UTC")).dt.days + 1
    return frame


def test_dose_level_check_catches_two_methotrexate_doses_in_one_week(seed_protocol: dosing.Protocol) -> None:
    table = mtx_table(
        [
            ("RA-1", "methotrexate", "2027-01-06 00:00"),
            ("RA-1", "methotrexate", "2027-01-13 00:00"),
            ("RA-1", "methotrexate", "2027-01-16 00:00"),  # 3 days after the previous dose
        ]
    )
    with pytest.raises(SafetyError) as caught:
        check_methotrexate_doses(table, seed_protocol)
    assert str(caught.value).startswith(
        "patient RA-1: methotrexate dose on 2027-01-16 (Saturday, study day 13) comes 3 days after the previous "
        "one; methotrexate must be once weekly"
    )


def test_dose_level_check_ignores_held_doses(seed_protocol: dosing.Protocol) -> None:
    """A dose held by a changes file is not given, so it cannot be too close to the next one."""
    table = mtx_table([("RA-1", "methotrexate", "2027-01-06 00:00"), ("RA-1", "methotrexate", "2027-01-08 12:00")])
    with pytest.raises(SafetyError, match="comes 2 days 12 hours after"):
        check_methotrexate_doses(table, seed_protocol)
    table.loc[0, "held"] = True
    check_methotrexate_doses(table, seed_protocol)


def test_dose_level_check_accepts_weekly_doses_and_other_patients(seed_protocol: dosing.Protocol) -> None:
    table = mtx_table(
        [
            ("RA-1", "methotrexate", "2027-01-06 00:00"),
            ("RA-2", "methotrexate", "2027-01-07 00:00"),  # another patient, next day: fine
            ("RA-1", "methotrexate", "2027-01-13 00:00"),
            ("RA-1", "methotrexate", "2027-03-26 01:00"),
            ("RA-1", "methotrexate", "2027-04-02 00:00"),  # 6 days 23 hours: a daylight-saving week
            ("RA-1", "folic-acid", "2027-04-03 00:00"),
        ]
    )
    check_methotrexate_doses(table, seed_protocol)


def test_two_weekly_methotrexate_regimens_together_are_refused(tmp_path: Path) -> None:
    """Two weekly regimens of methotrexate (spelled differently) add up to twice a week."""
    second = '\n[[regimens]]\nid = "mtx-extra"\ndrug = "MTX"\ndose = { amount = 5, unit = "mg" }\nroute = "oral"\n'
    second += 'times = ["08:00"]\nschedule = { weekdays = ["Saturday"] }\n'
    text = seed_with((ARM_TAIL, ARM_TAIL[:-1] + ', "mtx-extra"]'), append=second)
    result = run("validate", write(tmp_path, "protocol.toml", text))  # no cohort needed
    assert result.exit_code == 2
    assert (
        "protocol.toml, regimens: methotrexate doses (methotrexate, mtx-extra) would come 5 day(s) apart, on study "
        "days 1 and 6 for a patient whose study day 1 is a Monday, mtx_weekday Monday" in result.output
    )


@pytest.mark.parametrize(
    ("phases", "said"),
    [
        (
            '[{ weekdays = ["Monday"], for = "4 weeks" }, { weekdays = ["Thursday"], for = "4 weeks" }]',
            "3 day(s) apart, on study days 28 and 31 for a patient whose study day 1 is a Tuesday",
        ),
        (
            '[{ weekday_from = "mtx_weekday", for = "4 weeks" }, { weekdays = ["Thursday"], for = "4 weeks" }]',
            "6 day(s) apart, on study days 26 and 32 for a patient whose study day 1 is a Monday, mtx_weekday Friday",
        ),
    ],
    ids=["monday-then-thursday", "own-day-then-thursday"],
)
def test_methotrexate_day_moving_earlier_between_phases_is_refused(tmp_path: Path, phases: str, said: str) -> None:
    text = seed_with((MTX_SCHEDULE, f"schedule = {{ phases = {phases} }}"))
    result = run("validate", write(tmp_path, "p.toml", text))
    assert result.exit_code == 2
    assert f"methotrexate doses (methotrexate) would come {said}" in result.output


def test_weekly_then_fortnightly_methotrexate_is_accepted(tmp_path: Path) -> None:
    """Days 1, 8, 15, 22, then 29, 43, ...: never less than 7 days apart, whatever the start weekday."""
    phases = '[{ every = "7 days", for = "4 weeks" }, { every = "14 days", for = "8 weeks" }]'
    text = seed_with((MTX_SCHEDULE, f"schedule = {{ phases = {phases} }}"))
    assert run("validate", write(tmp_path, "p.toml", text), "--cohort", SEED_PATIENT).exit_code == 0


FOUR_TIMES = 'times = ["08:00", "12:00", "16:00", "20:00"]'


def unchecked(text: str) -> dosing.Protocol:
    """The protocol model without the cross checks, so that the dose-level checks (the second
    line of defence, for what only a cohort or a changes file reveals) can be tested alone."""
    return dosing.Protocol.model_validate({**tomllib.loads(text), "source": "unchecked.toml"})


def test_max_daily_dose_breach_is_refused_before_any_cohort(tmp_path: Path) -> None:
    result = run("validate", write(tmp_path, "p.toml", seed_with((LOX_TIMES, FOUR_TIMES))))
    assert result.exit_code == 2
    assert (
        "p.toml, regimens[4] (id 'loxoprofen'): patients of arm 'active' would receive 240 mg of loxoprofen on "
        "study day 1, above the maximum daily dose of 180 mg" in result.output
    )


def test_built_in_limit_applies_without_max_daily_dose(tmp_path: Path) -> None:
    text = seed_with((LOX_TIMES, FOUR_TIMES), ('max_daily_dose = { amount = 180, unit = "mg" }\n', ""))
    result = run("validate", write(tmp_path, "p.toml", text))
    assert result.exit_code == 2
    assert "240 mg of loxoprofen" in result.output and "180 mg" in result.output


def test_declared_range_that_allows_a_breach_is_refused(tmp_path: Path) -> None:
    """mtx_dose may be up to 25 mg, but methotrexate may be at most 12.5 mg a day."""
    result = run(
        "validate",
        write(
            tmp_path, "p.toml", seed_with((MTX_DRUG, MTX_DRUG + '\nmax_daily_dose = { amount = 12.5, unit = "mg" }'))
        ),
    )
    assert result.exit_code == 2
    assert (
        "would receive 25 mg of methotrexate on study day 1 with the largest mtx_dose the protocol allows, above the "
        "maximum daily dose of 12.5 mg" in result.output
    )


def test_dose_level_breach_names_patient_day_drug_and_total() -> None:
    protocol = unchecked(seed_with((LOX_TIMES, FOUR_TIMES)))
    doses = dosing.expand(protocol, dosing.load_cohort(SEED_PATIENT, protocol))
    with pytest.raises(SafetyError) as caught:
        check_max_daily(doses, protocol)
    assert str(caught.value).startswith(
        "unchecked.toml, regimens[4] (id 'loxoprofen').max_daily_dose: "
        "patient RA-900 would receive 240 mg of loxoprofen on 2027-01-04 (study day 1), "
        "above the maximum daily dose of 180 mg"
    )


def test_max_daily_dose_uses_each_patients_own_dose(tmp_path: Path) -> None:
    """No declared maximum for mtx_dose, a limit of 12.5 mg a day: RA-900 (15 mg) breaches it, RA-901 (10 mg)
    does not; only the cohort shows it."""
    cohort = write(
        tmp_path,
        "cohort.csv",
        "patient_id,arm,start_date,mtx_dose,mtx_weekday\n"
        "RA-901,placebo,2027-01-04,10,Monday\nRA-900,active,2027-01-04,15,Wednesday\n",
    )
    text = seed_with(
        (MTX_DRUG, MTX_DRUG + '\nmax_daily_dose = { amount = 12.5, unit = "mg" }'),
        ("min = 7.5, max = 25,", "min = 7.5,"),
    )
    assert run("validate", write(tmp_path, "p.toml", text)).exit_code == 0  # fine until patients come
    result = validate(tmp_path, text, cohort)
    assert result.exit_code == 2
    assert "patient RA-900 would receive 15 mg of methotrexate on 2027-01-06 (study day 3)" in result.output


FOLIC_EXTRA = (
    '\n[[regimens]]\nid = "folic-extra"\ndrug = "Folic Acid"\ndose = { amount = 1, unit = "mg" }\n'
    'route = "oral"\ntimes = ["20:00"]\nschedule = { weekdays = ["Friday"] }\n'
)


def with_folic_extra(*allow_on: str) -> str:
    text = seed_with((ARM_TAIL, ARM_TAIL[:-1] + ', "folic-extra"]'), append=FOLIC_EXTRA)
    for regimen in allow_on:
        text = text.replace(f'id = "{regimen}"\n', f'id = "{regimen}"\nallow_same_drug = true\n')
    return text


@pytest.mark.parametrize(
    ("allow_on", "accepted"),
    [((), False), (("folic-extra",), False), (("folic-acid", "folic-extra"), True)],
    ids=["none", "one-regimen", "both-regimens"],
)
def test_same_drug_from_two_regimens_on_one_day(tmp_path: Path, allow_on: tuple[str, ...], accepted: bool) -> None:
    result = validate(tmp_path, with_folic_extra(*allow_on))
    assert result.exit_code == (0 if accepted else 2), result.output
    if not accepted:
        assert (
            "patient RA-900 would receive folic acid from 2 regimens (folic-acid, folic-extra) on 2027-01-08 "
            "(study day 5)" in result.output
        )
        assert "allow_same_drug = true" in result.output


def test_dose_level_same_drug_check_names_patient_day_and_regimens() -> None:
    protocol = unchecked(with_folic_extra())
    doses = dosing.expand(protocol, dosing.load_cohort(SEED_PATIENT, protocol))
    with pytest.raises(SafetyError) as caught:
        check_same_drug(doses, protocol)
    assert str(caught.value).startswith(
        "unchecked.toml: patient RA-900 would receive folic acid from 2 regimens (folic-acid, folic-extra) on "
        "2027-01-08 (study day 5)"
    )
    check_same_drug(doses, unchecked(with_folic_extra("folic-acid", "folic-extra")))


def test_same_drug_check_ignores_different_drugs_and_patients(seed_protocol: dosing.Protocol) -> None:
    cohort = dosing.load_cohort(SEED_PATIENT, seed_protocol)
    check_same_drug(dosing.expand(seed_protocol, cohort), seed_protocol)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("200", "200 mg is outside the allowed range 7.5-25 mg"),
        ("5", "5 mg is outside the allowed range 7.5-25 mg"),
        ("0", "0 mg is outside the allowed range"),
        ("-10", "-10 mg is outside the allowed range"),
    ],
)
def test_per_patient_value_outside_declared_range_is_an_error(tmp_path: Path, value: str, message: str) -> None:
    cohort = write(
        tmp_path,
        "cohort.csv",
        f"patient_id,arm,start_date,mtx_dose,mtx_weekday\nRA-1,active,2027-01-04,{value},Monday\n",
    )
    result = run("generate", write(tmp_path, "p.toml", seed_with()), "--cohort", cohort, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert f"cohort.csv: invalid cohort\n  line 2, column 'mtx_dose': {message}" in result.output
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def seed_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    protocol = dosing.load_protocol(Path("protocols/nct02467504.toml").resolve())
    dosing.generate(protocol, dosing.load_cohort(SEED_PATIENT, protocol), out)
    return out / "nct02467504"


def test_every_methotrexate_row_names_its_weekday_in_full(seed_outputs: Path) -> None:
    for name in ("doses.csv", "worklist.csv", "patients/RA-900/doses.csv"):
        table = pd.read_csv(seed_outputs / name, encoding="utf-8-sig", dtype=str)
        mtx = table[table["drug"] == "Methotrexate"]
        assert len(mtx) == 24
        assert set(mtx["weekday"]) == {"Wednesday"}, name


def test_every_methotrexate_calendar_event_names_its_weekday(seed_outputs: Path) -> None:
    """Every occurrence (events may recur) is on Wednesday and says "weekly" and "Wednesday"."""
    cal = icalendar.Calendar.from_ical((seed_outputs / "patients/RA-900/calendar.ics").read_bytes())
    every = recurring_ical_events.of(cal).between(dt.date(2027, 1, 1), dt.date(2027, 7, 1))
    mtx = [e for e in every if "methotrexate" in str(e["SUMMARY"]).lower()]
    assert len(mtx) == 24
    for event in mtx:
        assert "weekly" in str(event["SUMMARY"]).lower() and "Wednesday" in str(event["SUMMARY"])
        description = str(event["DESCRIPTION"])
        assert "once weekly" in description.lower() and "on Wednesday" in description
        assert "Never take it daily" in description
        assert event.decoded("DTSTART").strftime("%A") == "Wednesday"


def test_held_doses_do_not_count_towards_the_daily_maximum() -> None:
    protocol = unchecked(seed_with((LOX_TIMES, FOUR_TIMES)))
    doses = dosing.expand(protocol, dosing.load_cohort(SEED_PATIENT, protocol))
    with pytest.raises(SafetyError, match="240 mg of loxoprofen"):
        check_max_daily(doses, protocol)
    doses["held"] = (doses["regimen"] == "loxoprofen") & (doses["time"].astype(str) == "20:00")
    check_max_daily(doses, protocol)


@pytest.mark.parametrize("value", ['"yes"', '"true"', "1"])
def test_acknowledgements_must_be_real_booleans(tmp_path: Path, value: str) -> None:
    """Only `true` declares an oncology use or acknowledges daily methotrexate; "yes" or 1 is a typo to fix."""
    oncology = (STUDY_BLINDING, STUDY_BLINDING + f"\noncology = {value}")
    acknowledge = (MTX_DRUG, MTX_DRUG + f"\nacknowledge_daily_methotrexate = {value}")
    for flags, field in (((oncology, ACKNOWLEDGE), "study.oncology"), ((ONCOLOGY, acknowledge), ".acknowledge_daily")):
        result = validate(tmp_path, seed_with((MTX_SCHEDULE, "schedule = { daily = true }"), *flags))
        assert result.exit_code == 2
        assert field in result.output and "valid boolean" in result.output


def cefuroxime_q8h(clock: str = "elapsed") -> dosing.Protocol:
    """Cefuroxime 1500 mg every 8 hours from 00:00 for 7 days, at most 4500 mg (3 doses) a day, in Berlin."""
    return protocol_from_dict(
        {
            "study": {"id": "ABX", "title": "t", "blinding": "open", "timezone": "Europe/Berlin", "last_day": 14},
            "arms": [{"id": "a", "label": "A", "regimens": ["cef"]}],
            "regimens": [
                {
                    "id": "cef",
                    "drug": "Cefuroxime",
                    "dose": {"amount": 1500, "unit": "mg"},
                    "route": "intravenous",
                    "times": ["00:00"],
                    "max_daily_dose": {"amount": 4500, "unit": "mg"},
                    "schedule": {"every": "8 hours", "clock": clock, "for": "7 days"},
                }
            ],
        },
        source="abx.toml",
    )


def test_a_q8h_elapsed_regimen_is_not_refused_on_the_25_hour_fall_back_date() -> None:
    """Starting 2027-10-29: on Sunday 2027-10-31 (25 hours, clocks back at 03:00) the doses come at 00:00
    CEST, 07:00, 15:00 and 23:00 CET, 8 hours apart; 23:00 is 24 hours after 00:00, the next 24 hours."""
    proto = cefuroxime_q8h()
    doses = dosing.expand(
        proto, cohort_from_rows(["patient_id", "arm", "start_date"], [(2, ["K-2", "a", "2027-10-29"])], proto)
    )
    sunday = doses[doses["date"].astype(str) == "2027-10-31"]
    assert sunday["time"].astype(str).tolist() == ["00:00", "07:00", "15:00", "23:00"]
    check_max_daily(doses, proto)  # 3 doses in any 24 hours
    doses.loc[sunday.index[1], "dose"] = 3000.0  # now 6000 mg from 00:00 to 23:00
    with pytest.raises(SafetyError) as caught:
        check_max_daily(doses, proto)
    err = caught.value
    assert err.message == (
        "patient K-2 would receive 6,000 mg of cefuroxime on 2027-10-31 (study day 3), above the maximum daily "
        "dose of 4,500 mg"
    )
    assert (err.source, err.where) == ("abx.toml", "regimens[0] (id 'cef').max_daily_dose")
    assert err.hint is not None and 'clock = "wall"' in err.hint


def test_a_wall_clock_regimen_breaching_its_limit_names_the_regimen_without_the_clock_hint() -> None:
    proto = cefuroxime_q8h("wall")
    doses = dosing.expand(
        proto, cohort_from_rows(["patient_id", "arm", "start_date"], [(2, ["K-2", "a", "2027-10-29"])], proto)
    )
    doses.loc[doses.index[0], "dose"] = 3000.0
    with pytest.raises(SafetyError) as caught:
        check_max_daily(doses, proto)
    assert "6,000 mg of cefuroxime on 2027-10-29 (study day 1)" in caught.value.message
    assert caught.value.where == "regimens[0] (id 'cef').max_daily_dose" and 'clock = "wall"' not in str(
        caught.value.hint
    )
