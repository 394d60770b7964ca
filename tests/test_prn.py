"""As-needed (PRN) regimens: loxoprofen 60 mg as needed, at most 3 in 24 hours, at least 4 hours apart
(DOMAIN.md section 7). No planned doses; the log's PRN doses are judged for over-use, never extra or
missed. Expected values are worked out by hand in each test's comments."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dosing
from dosing.adherence.check import judge_adherence
from dosing.errors import ProtocolError
from dosing.io.read.log import log_from_frame
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from tests.builders import UTC_ALLOWED

LOXOPROFEN: dict[str, Any] = {
    "id": "loxoprofen-prn",
    "drug": "Loxoprofen",
    "dose": {"amount": 60, "unit": "mg"},
    "route": "oral",
    "as_needed": {"max_per_24h": 3, "min_interval": "4 hours"},
    "schedule": {"daily": True, "start_day": 1, "end_day": 28},
}
FOLIC: dict[str, Any] = {
    "id": "folic-acid",
    "drug": "Folic acid",
    "dose": {"amount": 1, "unit": "mg"},
    "route": "oral",
    "times": ["08:00"],
    "schedule": {"daily": True},
}


def study(*regimens: dict[str, Any], **study_extra: Any) -> dict[str, Any]:
    return {
        "study": {"id": "PRN", "title": "t", "blinding": "open", "timezone": "UTC", "last_day": 56}
        | UTC_ALLOWED
        | study_extra,
        "arms": [{"id": "a", "label": "A", "regimens": [r["id"] for r in regimens]}],
        "regimens": list(regimens),
    }


def load(*regimens: dict[str, Any]) -> dosing.Protocol:
    return protocol_from_dict(study(*regimens))


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ProtocolError) as err:
        protocol_from_dict(data)
    return str(err.value)


def cohort(protocol: dosing.Protocol, n: int = 1, start: str = "2027-01-04") -> dosing.Cohort:
    rows = [(i + 2, [f"P{i + 1}", "a", start, "UTC"]) for i in range(n)]
    return cohort_from_rows(["patient_id", "arm", "start_date", "timezone"], rows, protocol)


def judge(protocol: dosing.Protocol, group: dosing.Cohort, entries: list[tuple[str, str, str]]) -> Any:
    frame = pd.DataFrame(entries, columns=["patient_id", "drug", "given_at"], dtype=str)
    log = log_from_frame(frame, protocol, group)
    return judge_adherence(protocol, group, log, as_of=dt.date(2027, 3, 1))


# ---- the protocol ----------------------------------------------------------------------------------


def test_a_prn_regimen_loads_without_times() -> None:
    regimen = load(FOLIC, LOXOPROFEN).regimen("loxoprofen-prn")
    assert regimen.prn and regimen.as_needed is not None
    assert regimen.as_needed.max_per_24h == 3
    assert regimen.as_needed.min_interval == dt.timedelta(hours=4)
    assert regimen.times is None


def test_a_prn_regimen_needs_its_maximum() -> None:
    message = refused(study(FOLIC, {**LOXOPROFEN, "as_needed": {"min_interval": "4 hours"}}))
    assert "as_needed.max_per_24h: required field is missing" in message


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"times": ["08:00"]}, "an as-needed regimen has no planned times: leave out times"),
        ({"in_clinic": True}, "an as-needed regimen cannot be in_clinic"),
        ({"schedule": {"daily": True, "count": 10}}, "count cannot be used there"),
        ({"as_needed": {"max_per_24h": 0}}, "max_per_24h: Input should be greater than or equal to 1"),
        ({"as_needed": {"max_per_24h": 3, "min_interval": "8 days"}}, "min_interval is at most 7 days"),
    ],
)
def test_what_a_prn_regimen_may_not_say(extra: dict[str, Any], fragment: str) -> None:
    assert fragment in refused(study(FOLIC, {**LOXOPROFEN, **extra}))


def test_a_maximum_the_interval_never_lets_be_reached_is_an_error() -> None:
    # 3 doses 12 hours apart take 24 hours: the third is never inside the same 24 hours as the first
    message = refused(study(FOLIC, {**LOXOPROFEN, "as_needed": {"max_per_24h": 3, "min_interval": "12 hours"}}))
    assert "3 doses at least 12 h apart cannot fit in 24 hours" in message
    assert "lower max_per_24h to 2 or shorten min_interval below 12 h" in message
    # 3 doses 11 hours apart take 22 hours: fine
    load(FOLIC, {**LOXOPROFEN, "as_needed": {"max_per_24h": 3, "min_interval": "11 hours"}})


def test_the_daily_limit_sees_the_most_a_prn_regimen_allows() -> None:
    # the built-in limit of loxoprofen is 180 mg a day: 4 x 60 mg = 240 mg is above it, 3 x 60 mg is not
    message = refused(study(FOLIC, {**LOXOPROFEN, "as_needed": {"max_per_24h": 4}}))
    assert "would receive 240 mg of loxoprofen on study day 1" in message
    assert "above the maximum daily dose of 180 mg" in message
    # the regimen's own tighter limit: 3 x 60 mg = 180 mg > 120 mg
    own = {**LOXOPROFEN, "max_daily_dose": {"amount": 120, "unit": "mg"}}
    assert "would receive 180 mg of loxoprofen" in refused(study(FOLIC, own))


def test_no_regimen_may_follow_a_prn_regimen() -> None:
    after = {**FOLIC, "schedule": {"after": "loxoprofen-prn"}}
    assert "after refers to 'loxoprofen-prn', an as-needed regimen" in refused(study(LOXOPROFEN, after))
    except_days = {**FOLIC, "schedule": {"daily": True, "except_days_of": "loxoprofen-prn"}}
    assert "except_days_of refers to 'loxoprofen-prn'" in refused(study(LOXOPROFEN, except_days))


def test_a_prn_and_a_scheduled_regimen_of_one_drug_cannot_share_an_arm() -> None:
    scheduled = {**FOLIC, "id": "loxoprofen", "drug": "Loxoprofen", "dose": {"amount": 60, "unit": "mg"}}
    message = refused(study({**LOXOPROFEN, "as_needed": {"max_per_24h": 2}}, scheduled))
    assert "as-needed regimen 'loxoprofen-prn' and scheduled regimen 'loxoprofen'" in message
    assert "a logged dose could not be told apart" in message


def test_blinded_twins_must_share_their_limits() -> None:
    active = {**LOXOPROFEN, "id": "x", "drug": "Drug X", "blinded_label": "Rescue A"}
    placebo = {**active, "id": "x-placebo", "drug": "Placebo", "as_needed": {"max_per_24h": 2}}
    data = study(FOLIC, active, placebo, blinding="double")
    data["arms"] = [
        {"id": "a", "label": "A", "regimens": ["folic-acid", "x"]},
        {"id": "b", "label": "B", "regimens": ["folic-acid", "x-placebo"]},
    ]
    assert "differs from 'x' in as_needed" in refused(data)


# ---- expansion ---------------------------------------------------------------------------------------


def test_a_prn_regimen_has_no_planned_doses() -> None:
    protocol = load(FOLIC, LOXOPROFEN)
    doses = dosing.expand(protocol, cohort(protocol))
    assert set(doses["regimen"].astype(str)) == {"folic-acid"}
    assert len(doses) == 56  # folic acid daily on days 1..56, nothing of loxoprofen


# ---- adherence ---------------------------------------------------------------------------------------


def lox(*times: str, patient: str = "P1") -> list[tuple[str, str, str]]:
    return [(patient, "Loxoprofen", t) for t in times]


def test_three_doses_in_24_hours_are_fine() -> None:
    protocol = load(FOLIC, LOXOPROFEN)
    result = judge(protocol, cohort(protocol), lox("2027-01-04 08:00", "2027-01-04 14:00", "2027-01-04 20:00"))
    doses = result.prn.doses
    assert doses["doses_in_24h"].tolist() == [1, 2, 3]
    assert doses["hours_since_previous"].tolist()[1:] == [6.0, 6.0]
    assert (doses["finding"] == "").all()
    row = result.prn.summary.iloc[0]
    assert (row["doses_taken"], row["over_use_episodes"], row["too_close"], row["flag"]) == (3, 0, 0, "")


def test_four_doses_within_24_hours_are_one_over_use_episode() -> None:
    # 08:00, 13:00, 18:00 and 07:00 the next day: the 4th is 23 h after the 1st, so 4 in 24 hours
    protocol = load(FOLIC, LOXOPROFEN)
    times = ("2027-01-04 08:00", "2027-01-04 13:00", "2027-01-04 18:00", "2027-01-05 07:00")
    result = judge(protocol, cohort(protocol), lox(*times))
    doses = result.prn.doses
    assert doses["doses_in_24h"].tolist() == [1, 2, 3, 4]
    assert doses["over_use"].tolist() == [False, False, False, True]
    assert doses["finding"].iloc[3] == "over-use: dose 4 within 24 hours (at most 3)"
    row = result.prn.summary.iloc[0]
    assert (row["doses_taken"], row["over_use_episodes"], row["over_limit_doses"]) == (4, 1, 1)
    assert row["flag"] == "over-use"
    # a 4th dose at 08:00 the next day is exactly 24 h after the 1st: only 3 in the 24 hours up to it
    later = judge(protocol, cohort(protocol), lox(*times[:3], "2027-01-05 08:00"))
    assert later.prn.doses["doses_in_24h"].tolist() == [1, 2, 3, 3]
    assert later.prn.summary.iloc[0]["flag"] == ""


def test_two_doses_three_hours_apart_are_too_close() -> None:
    protocol = load(FOLIC, LOXOPROFEN)
    result = judge(protocol, cohort(protocol), lox("2027-01-04 08:00", "2027-01-04 11:00"))
    doses = result.prn.doses
    assert doses["too_close"].tolist() == [False, True]
    assert doses["finding"].iloc[1] == "only 3 h after the previous dose (closer than the minimum interval)"
    row = result.prn.summary.iloc[0]
    assert (row["too_close"], row["over_use_episodes"], row["flag"]) == (1, 0, "over-use")


def test_a_dose_outside_the_allowed_days() -> None:
    # the schedule allows days 1..28; 2027-02-01 is day 29
    protocol = load(FOLIC, LOXOPROFEN)
    result = judge(protocol, cohort(protocol), lox("2027-01-31 09:00", "2027-02-01 09:00"))
    assert result.prn.doses["study_day"].tolist() == [28, 29]
    assert result.prn.doses["finding"].tolist() == ["", "outside the PRN period"]
    assert result.prn.summary.iloc[0]["flag"] == "doses outside the PRN period"


def test_prn_doses_are_never_extra_nor_in_the_adherence_measures() -> None:
    protocol = load(FOLIC, LOXOPROFEN)
    entries = [("P1", "Folic acid", "2027-01-04 08:00"), *lox("2027-01-04 08:00", "2027-01-04 09:00")]
    result = judge(protocol, cohort(protocol), entries)
    assert result.extra.empty
    assert set(result.summary["drug"].astype(str)) == {"Folic acid"}
    assert "Loxoprofen" not in set(result.doses["drug"].astype(str))
    assert "Loxoprofen" not in result.rules
    assert "as-needed (PRN) doses taken: 2; patients with over-use or doses outside the PRN period: 1 (P1)" in (
        result.summary_text()
    )


def test_no_prn_log_flags_nothing() -> None:
    protocol = load(FOLIC, LOXOPROFEN)
    result = judge(protocol, cohort(protocol, 2), [("P1", "Folic acid", "2027-01-04 08:00")])
    assert result.prn.doses.empty
    summary = result.prn.summary
    assert summary["patient_id"].tolist() == ["P1", "P2"]
    assert summary["doses_taken"].tolist() == [0, 0]
    assert (summary["flag"] == "").all()


def test_a_thousand_patients_are_judged_at_once() -> None:
    """1,000 patients x 4 doses within 24 hours (the 4th over the limit) and a 5th 3 hours after the
    4th (10:00 on day 2: the 24 hours up to it hold 13:00, 18:00, 07:00 and itself, 4 doses, over the
    limit too): every patient has 1 episode (doses 4 and 5 follow one another), 2 doses over the
    limit and 1 dose too close."""
    protocol = load(FOLIC, LOXOPROFEN)
    group = cohort(protocol, 1000)
    day = ("2027-01-04 08:00", "2027-01-04 13:00", "2027-01-04 18:00", "2027-01-05 07:00", "2027-01-05 10:00")
    entries = [entry for i in range(1000) for entry in lox(*day, patient=f"P{i + 1}")]
    started = time.perf_counter()
    result = judge(protocol, group, entries[::-1])  # any order
    elapsed = time.perf_counter() - started
    summary = result.prn.summary
    assert len(result.prn.doses) == 5000
    assert summary["doses_taken"].eq(5).all() and summary["over_use_episodes"].eq(1).all()
    assert summary["over_limit_doses"].eq(2).all() and summary["too_close"].eq(1).all()
    assert np.array_equal(result.prn.doses["doses_in_24h"].to_numpy()[:5], [1, 2, 3, 4, 4])
    assert elapsed < 20, f"{elapsed:.1f} s: is the PRN judgement looping per row?"


def test_a_blinded_prn_regimen_is_named_by_its_label() -> None:
    active = {**LOXOPROFEN, "id": "x", "drug": "Drug X", "blinded_label": "Rescue A"}
    placebo = {**active, "id": "x-placebo", "drug": "Placebo"}
    data = study(FOLIC, active, placebo, blinding="double")
    data["arms"] = [
        {"id": "a", "label": "A", "regimens": ["folic-acid", "x"]},
        {"id": "b", "label": "B", "regimens": ["folic-acid", "x-placebo"]},
    ]
    protocol = protocol_from_dict(data)
    rows = [(2, ["P1", "a", "2027-01-04", "UTC"]), (3, ["P2", "b", "2027-01-04", "UTC"])]
    group = cohort_from_rows(["patient_id", "arm", "start_date", "timezone"], rows, protocol)
    entries = [("P1", "Rescue A", "2027-01-04 08:00"), ("P2", "Rescue A", "2027-01-04 08:00")]
    result = judge(protocol, group, entries)
    text = result.prn.doses.to_csv() + result.prn.summary.to_csv() + result.summary_text()
    assert "Rescue A" in text and "Drug X" not in text and "Placebo" not in text
    # both arms read the same: one dose each, nothing flagged
    assert result.prn.summary.drop(columns="patient_id").drop_duplicates().shape[0] == 1


def test_the_fhir_plan_says_as_needed_and_at_most(tmp_path: Any) -> None:
    """The PlanDefinition's action of a PRN regimen: "up to 3 a day" (frequencyMax), never "once a day"."""
    from fhir.resources.R4B.plandefinition import PlanDefinition

    from dosing.io.write.fhir.plan_definition import plan_definition

    plan = plan_definition(load(FOLIC, LOXOPROFEN), blinded=True)
    PlanDefinition.model_validate(plan)
    action = next(a for a in plan["action"] if a["title"] == "Loxoprofen")
    assert action["description"] == "60 mg oral; as needed, at most 3 in 24 hours, at least 4 h apart"
    assert action["timingTiming"] == {"repeat": {"frequencyMax": 3, "period": 1, "periodUnit": "d"}}


@pytest.mark.parametrize(
    "row",
    ["hold,loxoprofen-prn,,2027-01-06,,,", "dose,Loxoprofen,,2027-01-06,,,30", "delay,loxoprofen-prn,1,2027-01-06,,7,"],
)
def test_a_hold_delay_or_dose_change_of_a_prn_regimen_is_refused(tmp_path: Any, row: str) -> None:
    """Such a change would do nothing (there are no planned doses): refused rather than ignored."""
    from dosing.errors import ChangesError
    from dosing.io.read.changes import load_changes

    protocol = load(FOLIC, LOXOPROFEN)
    path = tmp_path / "changes.csv"
    path.write_text(f"patient_id,change,regimen,cycle,date,time,days,dose,reason\nP1,{row},x\n", encoding="utf-8")
    with pytest.raises(ChangesError, match="is taken as needed \\(no planned doses\\)"):
        load_changes(path, protocol, cohort(protocol))
    path.write_text("patient_id,change,regimen,date,reason\nP1,stop,loxoprofen-prn,2027-01-10,x\n", encoding="utf-8")
    assert len(load_changes(path, protocol, cohort(protocol)).stops) == 1


def test_the_diary_lists_a_prn_medicine_with_its_limits() -> None:
    from dosing.jobs.diary import patient_diary

    protocol = load(FOLIC, {**LOXOPROFEN, "instructions": "for pain"})
    group = cohort(protocol)
    doses = dosing.expand(protocol, group)
    patient = next(group.patients.itertuples(index=False))
    book = patient_diary(protocol, patient, doses, pd.DataFrame(columns=["visit", "study_day", "time"]))
    prn = [m for m in book.medicines if m.text.startswith("Loxoprofen")]
    assert [(m.text, m.first_day, m.last_day) for m in prn] == [
        ("Loxoprofen 60 mg: as needed, at most 3 in 24 hours, at least 4 hours apart; for pain", 1, 28)
    ]
    assert not (book.items["text"].str.contains("Loxoprofen")).any()  # nothing to tick: nothing is planned


def test_an_export_reads_a_log_of_prn_doses_as_read(tmp_path: Any) -> None:
    """A log whose readable rows are all PRN doses, beside a bad row, is not "a log of which no row can be
    read" (which an export refuses)."""
    from click.testing import CliRunner

    from dosing.cli import main
    from tests.conftest import FIXTURES

    protocol, group = FIXTURES / "prn-loxoprofen.toml", FIXTURES / "prn-loxoprofen-cohort.csv"
    log = tmp_path / "log.csv"
    log.write_text(
        "patient_id,drug,given_at,dose_given\nP-1,Loxoprofen,2027-01-04 08:00,60 mg\nP-1,Aspirin,2027-01-04 08:00,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    common = [str(protocol), "--cohort", str(group), "--out", str(out)]
    assert CliRunner().invoke(main, ["generate", *common]).exit_code == 0
    result = CliRunner().invoke(main, ["export", "redcap", *common, "--log", str(log), "--as-of", "2027-01-10"])
    assert result.exit_code == 0, result.output


def test_the_sdtm_frequency_of_a_prn_regimen_is_prn() -> None:
    from dosing.io.write.sdtm.terminology import frequency_terms

    protocol = load(FOLIC, LOXOPROFEN)
    assert frequency_terms(protocol, protocol.regimen("loxoprofen-prn")) == [(1, "PRN")]
    assert frequency_terms(protocol, protocol.regimen("folic-acid")) == [(1, "QD")]


def test_show_lists_the_prn_regimen_with_its_limits() -> None:
    from dosing.jobs.show import show

    protocol = load(FOLIC, LOXOPROFEN)
    text = show(protocol, cohort(protocol), "P1")
    assert "as needed: Loxoprofen 60 mg, at most 3 in 24 hours, at least 4 h apart (study days 1-28)\n" in text
    assert text.count("Loxoprofen") == 1  # no planned dose of it


def test_a_protocol_of_only_prn_regimens_plans_no_doses_in_every_command(tmp_path: Any) -> None:
    """A rescue-medication study whose only regimen is as-needed: every command runs (no traceback
    from an empty list of planned doses) and the dose tables have a header and no rows."""
    from click.testing import CliRunner

    from dosing.cli import main
    from tests.conftest import FIXTURES

    head, folic, loxoprofen = (FIXTURES / "prn-loxoprofen.toml").read_text(encoding="utf-8").split("[[regimens]]")
    assert 'id = "folic-acid"' in folic
    protocol = tmp_path / "prn-only.toml"
    head = head.replace('regimens = ["folic-acid", "loxoprofen-prn"]', 'regimens = ["loxoprofen-prn"]')
    protocol.write_text(head + "[[regimens]]" + loxoprofen, encoding="utf-8")
    group = FIXTURES / "prn-loxoprofen-cohort.csv"
    log = tmp_path / "log.csv"
    log.write_text("patient_id,drug,given_at\nP-1,Loxoprofen,2027-01-04 08:00\n", encoding="utf-8")
    out = tmp_path / "out"
    common = [str(protocol), "--cohort", str(group)]

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    assert "2 patients, 0 planned doses" in run("validate", *common)
    run("generate", *common, "--out", str(out), "--no-feeds", "--today", "2027-01-01")
    doses = pd.read_csv(out / "prn" / "doses.csv", encoding="utf-8-sig")
    assert len(doses) == 0 and "dose_basis" in doses.columns
    assert len(pd.read_csv(out / "prn" / "patients" / "P-1" / "doses.csv", encoding="utf-8-sig")) == 0
    run("worklist", *common, "--out", str(out))
    run("diary", *common, "--out", str(out))
    assert "no doses planned" in run("show", *common, "--patient", "P-1")
    for standard in ("sdtm", "fhir", "redcap"):
        run("export", standard, *common, "--out", str(out))
    run("adherence", *common, "--log", str(log), "--out", str(out), "--as-of", "2027-01-10")


PARACETAMOL: dict[str, Any] = {
    "id": "paracetamol-prn",
    "drug": "Paracetamol",
    "dose": {"amount": 15, "unit": "mg/kg", "per": "weight", "cap": {"amount": 1000, "unit": "mg"}},
    "route": "oral",
    "as_needed": {"max_per_24h": 4, "min_interval": "4 hours"},
    "schedule": {"daily": True, "start_day": 1, "end_day": 14},
}


def weighed(weight: str) -> tuple[dosing.Protocol, dosing.Cohort]:
    data = study(FOLIC, PARACETAMOL) | {"patient_values": {"weight": {"type": "number", "unit": "kg", "min": 3}}}
    protocol = protocol_from_dict(data)
    rows = [(2, ["K1", "a", "2027-01-04", "UTC", weight])]
    return protocol, cohort_from_rows(["patient_id", "arm", "start_date", "timezone", "weight"], rows, protocol)


def test_show_and_the_diary_give_a_computed_prn_dose_for_the_patient() -> None:
    """15 mg/kg x 18 kg = 270 mg (below the 1000 mg cap); 15 x 80 kg = 1200 mg, capped at 1000 mg."""
    from dosing.jobs.diary import patient_diary
    from dosing.jobs.show import show

    protocol, group = weighed("18")
    text = show(protocol, group, "K1")
    assert (
        "as needed: Paracetamol 270 mg (15 mg/kg × 18 kg (weight) = 270 mg), at most 4 in 24 hours, at least 4 h "
        "apart (study days 1-14)\n"
    ) in text
    book = patient_diary(
        protocol,
        next(group.patients.itertuples(index=False)),
        dosing.expand(protocol, group),
        pd.DataFrame(columns=["visit", "study_day", "time"]),
    )
    assert [m.text for m in book.medicines if m.text.startswith("Paracetamol")] == [
        "Paracetamol 270 mg: as needed, at most 4 in 24 hours, at least 4 hours apart"
    ]
    protocol, group = weighed("80")
    assert "as needed: Paracetamol 1,000 mg (15 mg/kg × 80 kg (weight) = 1200 mg, capped at 1000 mg), at most" in (
        show(protocol, group, "K1")
    )
