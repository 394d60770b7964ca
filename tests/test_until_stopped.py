"""Open-ended cycles: ``cycles = "until stopped"`` repeats cycles to study.last_day, and a stop (or
withdrawal) in the changes file ends them. Every reader of ``cycles`` handles it: delays, visit
anchors, SDTM TE/TA, the FHIR PlanDefinition.

Hand-checked: tests/fixtures/cycles-until-stopped.toml gives a drug on day 1 of 21-day cycles, until
stopped, with study.last_day = 365. Cycle k begins on study day 1 + 21 (k - 1); cycle 18 begins on day
358 (<= 365) and cycle 19 would begin on day 379 (> 365): 18 cycles, days 1, 22, 43, ..., 358.
P-1 starts Mon 2027-01-04, so day 85 (cycle 5) is Mon 2027-03-29 and day 106 (cycle 6) Mon 2027-04-19.
"""

from __future__ import annotations

import copy
import tomllib

import pytest

import dosing
from dosing.errors import ChangesError, ProtocolError
from dosing.io.write.fhir.plan_definition import plan_definition
from dosing.io.write.sdtm.design import elements, ta_dataset
from dosing.plan.changes import changes_from_rows
from dosing.plan.load import protocol_from_dict
from tests.conftest import FIXTURES

PROTOCOL = FIXTURES / "cycles-until-stopped.toml"
COHORT = FIXTURES / "cycles-until-stopped-cohort.csv"
HEADER = ["patient_id", "change", "regimen", "cycle", "date", "days", "reason"]


@pytest.fixture(scope="module")
def protocol() -> dosing.Protocol:
    return dosing.load_protocol(PROTOCOL)


@pytest.fixture(scope="module")
def cohort(protocol: dosing.Protocol) -> dosing.Cohort:
    return dosing.load_cohort(COHORT, protocol)


def data() -> dict:
    return tomllib.loads(PROTOCOL.read_text(encoding="utf-8"))


def test_until_stopped_expands_to_the_cycles_that_begin_by_the_last_day(
    protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    doses = dosing.expand(protocol, cohort)
    p1 = doses[doses["patient_id"] == "P-1"]
    assert p1["study_day"].tolist() == [1 + 21 * k for k in range(18)]
    assert p1["study_day"].tolist()[-1] == 358
    assert p1["cycle"].tolist() == list(range(1, 19))
    assert set(p1["cycle_day"]) == {1}
    assert protocol.regimen("chemo").schedule.cycle_count(365) == 18


def test_a_stop_in_cycle_5_ends_the_open_ended_cycles(protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    # Wed 2027-03-31 is day 87, inside cycle 5 (days 85-105): cycle 5's dose on day 85 stays, 6-18 go
    rows = [(2, ["P-1", "stop", "chemo", "", "2027-03-31", "", "progression"])]
    changes = changes_from_rows(HEADER, rows, protocol, cohort)
    doses = dosing.apply_changes(dosing.expand(protocol, cohort), changes)
    p1 = doses[doses["patient_id"] == "P-1"]
    assert p1["study_day"].tolist() == [1, 22, 43, 64, 85]
    assert p1["date"].astype(str).tolist()[-1] == "2027-03-29"
    assert len(doses[doses["patient_id"] == "P-2"]) == 18  # the other patient goes on


@pytest.mark.parametrize("text", ["until stopped", "Until  Stopped", " until stopped "])
def test_until_stopped_is_read_in_any_case_and_spacing(text: str) -> None:
    edited = data()
    edited["regimens"][0]["schedule"]["cycles"] = text
    assert protocol_from_dict(edited).regimen("chemo").schedule.until_stopped


@pytest.mark.parametrize("text", ["until progression", "forever", "6 cycles"])
def test_other_words_for_cycles_are_refused_with_the_fix(text: str) -> None:
    edited = data()
    edited["regimens"][0]["schedule"]["cycles"] = text
    with pytest.raises(ProtocolError) as caught:
        protocol_from_dict(edited, source="p.toml")
    message = str(caught.value)
    assert "regimens[0]" in message and "cycles" in message
    assert 'give a number of cycles (cycles = 6) or cycles = "until stopped"' in message


def test_only_the_last_phase_may_repeat_until_stopped() -> None:
    edited = data()
    edited["visits"] = []  # cycle anchors need a single-phase regimen
    cyclic = {"cycle_days": [1], "cycle_length": "21 days", "cycles": "until stopped"}
    edited["regimens"][0]["schedule"] = {"phases": [copy.deepcopy(cyclic), {"daily": True, "for": "7 days"}]}
    with pytest.raises(ProtocolError, match='phase 1 repeats "until stopped": only the last phase may'):
        protocol_from_dict(edited, source="p.toml")
    edited["regimens"][0]["schedule"] = {"phases": [{"daily": True, "for": "7 days"}, cyclic]}
    protocol = protocol_from_dict(edited, source="p.toml")
    cohort = dosing.load_cohort(COHORT, protocol)
    doses = dosing.expand(protocol, cohort)
    p1 = doses[doses["patient_id"] == "P-1"]
    # days 1-7 daily, then cycles from day 8 every 21 days up to day 365: 8, 29, ..., 365 (8 + 17 x 21; 18 cycles)
    assert p1["study_day"].tolist() == [*range(1, 8), *range(8, 366, 21)]
    assert p1["cycle"].dropna().tolist() == list(range(1, 19))


def test_a_delay_may_name_any_cycle_that_begins_in_the_study(protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    rows = [(2, ["P-1", "delay", "chemo", "18", "2027-12-20", "7", "holiday"])]
    doses = dosing.apply_changes(dosing.expand(protocol, cohort), changes_from_rows(HEADER, rows, protocol, cohort))
    assert doses[doses["patient_id"] == "P-1"]["study_day"].tolist()[-1] == 365
    bad = [(2, ["P-1", "delay", "chemo", "19", "2027-12-20", "7", "holiday"])]
    with pytest.raises(ChangesError, match="column 'cycle': 19 is outside 1-18"):
        changes_from_rows(HEADER, bad, protocol, cohort)


def test_a_visit_anchor_beyond_the_open_ended_cycles_is_refused() -> None:
    edited = data()
    edited["visits"][0]["anchor"] = "chemo cycle 19 day 8"
    with pytest.raises(ProtocolError, match=r"regimen 'chemo' has cycles 1-18 \(until stopped: the cycles that begin"):
        protocol_from_dict(edited, source="p.toml")


def test_sdtm_elements_list_the_cycles_that_begin_in_the_study(protocol: dosing.Protocol) -> None:
    trial = elements(protocol)
    assert [e.code for e in trial] == ["TRT", "REST"] * 18  # 18 x 21 = 378 > 365: no follow-up element
    assert len(ta_dataset(protocol)) == 36


def test_fhir_cycle_action_repeats_without_a_count(protocol: dosing.Protocol) -> None:
    action = plan_definition(protocol, blinded=False)["action"][0]["action"][0]["action"][0]
    assert action["title"] == "21-day cycle until stopped"
    assert action["timingTiming"] == {"repeat": {"duration": 21, "durationUnit": "d"}}
    assert action["textEquivalent"].endswith("cycles repeat until stopped")


def test_generate_and_calendars_with_open_ended_cycles(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from dosing.cli import main

    args = ["generate", str(PROTOCOL), "--cohort", str(COHORT), "--out", str(tmp_path), "--quiet"]
    result = CliRunner().invoke(main, [*args, "--changes", str(FIXTURES / "changes-until-stopped.csv")])
    assert result.exit_code == 0, result.output
    calendar = (tmp_path / "until-stopped" / "patients" / "P-1" / "calendar.ics").read_text()
    assert calendar.count("BEGIN:VEVENT") >= 1
    assert "P-1  doses moved 0, held 0, dose changed 0, stopped 13; visits moved 1, cancelled 0" in result.output
