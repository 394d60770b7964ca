"""Visits anchored to doses: "last dose of <regimen>" and "<regimen> cycle <n> day <m>", whose ``day``
counts days after the anchor's date (0 = on it), following delays, holds and stops.

Hand-checked dates (seed protocol, RA-900 active and RA-901 placebo, both start Mon 2027-01-04 in
Shanghai; hrIL-2 on odd days 1-13 of 28-day cycles x 3, i.e. days 1-13, 29-41, 57-69):
  day 64 = Mon 2027-03-08 (cycle 3 day 8), day 69 = Sat 2027-03-13 (the last injection),
  day 85 = Mon 2027-03-29 (week 12). A 21-day delay of cycle 2 moves cycles 2 and 3: the last
  injection is then day 90 = Sat 2027-04-03, and cycle 3 day 8 is day 85.
"""

from __future__ import annotations

import tomllib

import pandas as pd
import pytest

import dosing
from dosing.errors import ProtocolError
from dosing.io.write.sdtm.design import tv_dataset
from dosing.plan.changes import changes_from_rows
from dosing.plan.load import protocol_from_dict
from dosing.plan.warnings import end_of_treatment
from tests.conftest import FIXTURES, PROTOCOLS

HEADER = ["patient_id", "change", "regimen", "cycle", "date", "days", "visit", "reason"]
EOT = {
    "id": "eot",
    "name": "End of treatment",
    "anchor": "last dose of il2",
    "day": 16,  # 16 days after the last injection: day 85 (week 12) when nothing is delayed
    "window": {"early": 3, "late": 3},
}
C3D8 = {"id": "c3d8", "name": "Cycle 3 day 8 bloods", "anchor": "il2 cycle 3 day 8", "day": 0}


def seed_data(*visits: dict) -> dict:
    data = tomllib.loads((PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8"))
    data["visits"] += [dict(v) for v in visits]
    return data


@pytest.fixture(scope="module")
def protocol() -> dosing.Protocol:
    return protocol_from_dict(seed_data(EOT, C3D8), source="seed.toml")


@pytest.fixture(scope="module")
def cohort(protocol: dosing.Protocol) -> dosing.Cohort:
    return dosing.load_cohort(FIXTURES / "seed-two-patients.csv", protocol)


def changes(protocol: dosing.Protocol, cohort: dosing.Cohort, *rows: list[str]) -> dosing.Changes:
    return changes_from_rows(HEADER, [(i + 2, r) for i, r in enumerate(rows)], protocol, cohort)


DELAY_21 = ["RA-900", "delay", "il2", "2", "2027-01-29", "21", "", "neutropenia"]


def visit(visits: pd.DataFrame, pid: str, visit_id: str) -> dict:
    rows = visits[(visits["patient_id"] == pid) & (visits["visit"] == visit_id)]
    assert len(rows) == 1, rows
    return rows.iloc[0].to_dict()


def test_without_changes_the_end_of_treatment_visit_is_16_days_after_day_69(
    protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    visits = dosing.plan_visits(protocol, cohort)
    for pid in ("RA-900", "RA-901"):  # the placebo patient's "il2" is the matching placebo
        eot = visit(visits, pid, "eot")
        assert (eot["scheduled_date"], eot["study_day"], eot["sequence"]) == ("2027-03-29", 85, 0)
        c3d8 = visit(visits, pid, "c3d8")
        assert (c3d8["scheduled_date"], c3d8["study_day"]) == ("2027-03-08", 64)


def test_week_12_stays_on_day_85_while_the_end_of_treatment_visit_follows_the_last_injection(
    protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    delayed = changes(protocol, cohort, DELAY_21)
    doses = dosing.apply_changes(dosing.expand(protocol, cohort), delayed)
    il2 = doses[(doses["patient_id"] == "RA-900") & (doses["regimen"] == "il2")]
    assert (il2["date"].astype(str).max(), int(il2["study_day"].max())) == ("2027-04-03", 90)
    visits = dosing.plan_visits(protocol, cohort, delayed, doses=doses)
    week12 = visit(visits, "RA-900", "week-12")
    assert (week12["scheduled_date"], week12["study_day"]) == ("2027-03-29", 85)  # fixed to day 1: before day 90
    assert [w.patient_id for w in end_of_treatment(protocol, doses, visits)] == ["RA-900"]  # ... and warned about
    eot = visit(visits, "RA-900", "eot")
    assert (eot["scheduled_date"], eot["study_day"]) == ("2027-04-19", 106)  # day 90 + 16
    assert eot["moved_reason"] == "follows the last dose of hrIL-2 or placebo (2027-04-03)"
    assert (eot["sequence"], str(eot["changed_on"].date())) == (1, "2027-01-29")
    assert eot["uid"] == "RA-900.visit-eot@nct02467504.dosing"  # the uid names the visit, not its date
    c3d8 = visit(visits, "RA-900", "c3d8")
    assert (c3d8["scheduled_date"], c3d8["study_day"], c3d8["sequence"]) == ("2027-03-29", 85, 1)
    assert c3d8["moved_reason"] == "cycle 2 delayed 21 days: neutropenia"
    other = visit(visits, "RA-901", "eot")
    assert (other["scheduled_date"], other["sequence"]) == ("2027-03-29", 0)  # not delayed, not touched


def test_the_dose_tables_are_computed_when_not_given(protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    delayed = changes(protocol, cohort, DELAY_21)
    planned = dosing.expand(protocol, cohort)
    given = dosing.plan_visits(protocol, cohort, delayed, doses=dosing.apply_changes(planned, delayed), planned=planned)
    pd.testing.assert_frame_equal(dosing.plan_visits(protocol, cohort, delayed), given)


def test_a_held_last_dose_is_not_the_last_dose(protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    # the last injection (Sat 2027-03-13, day 69) is held: the last one given is Thu 2027-03-11 (day 67);
    # 16 days later is Sat 2027-03-27, closed: the nearest open day in the window is Fri 2027-03-26
    held = changes(protocol, cohort, ["RA-900", "hold", "il2", "", "2027-03-13", "", "", "fever"])
    eot = visit(dosing.plan_visits(protocol, cohort, held), "RA-900", "eot")
    assert (eot["target_date"], eot["scheduled_date"], eot["study_day"]) == ("2027-03-27", "2027-03-26", 82)
    assert eot["moved_reason"] == (
        "follows the last dose of hrIL-2 or placebo (2027-03-11); target closed (Saturday); moved 1 day earlier"
    )
    assert (eot["sequence"], str(eot["changed_on"].date())) == (1, "2027-03-13")


def test_a_stop_moves_the_visit_to_follow_the_last_dose_before_it(
    protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    # stopped from Mon 2027-02-01 (day 29): the last injection is day 13, Sat 2027-01-16; + 16 = Mon 2027-02-01
    stopped = changes(protocol, cohort, ["RA-900", "stop", "il2", "", "2027-02-01", "", "", "toxicity"])
    eot = visit(dosing.plan_visits(protocol, cohort, stopped), "RA-900", "eot")
    assert (eot["scheduled_date"], eot["study_day"]) == ("2027-02-01", 29)


def test_no_dose_left_means_no_such_visit_unless_rescheduled(protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    stop = ["RA-900", "stop", "il2", "", "2027-01-04", "", "", "refused the injections"]
    visits = dosing.plan_visits(protocol, cohort, changes(protocol, cohort, stop))
    assert visits[visits["patient_id"] == "RA-900"]["visit"].tolist().count("eot") == 0
    assert visits[visits["patient_id"] == "RA-901"]["visit"].tolist().count("eot") == 1
    moved = ["RA-900", "reschedule", "", "", "2027-01-20", "", "eot", "end-of-treatment assessment now"]
    visits = dosing.plan_visits(protocol, cohort, changes(protocol, cohort, stop, moved))
    assert visit(visits, "RA-900", "eot")["scheduled_date"] == "2027-01-20"


def test_sdtm_trial_visits_describe_the_dose_anchors(protocol: dosing.Protocol) -> None:
    tv = tv_dataset(protocol, unblinded=False).set_index("VISIT")
    eot, c3d8 = tv.loc["End of treatment"], tv.loc["Cycle 3 day 8 bloods"]
    assert pd.isna(eot["VISITDY"])  # differs from patient to patient
    assert eot["TVSTRL"] == "13 days after the last dose of 'hrIL-2 or placebo'"
    assert eot["TVENRL"] == "19 days after the last dose of 'hrIL-2 or placebo'"
    assert c3d8["VISITDY"] == 64
    assert c3d8["TVSTRL"] == "Day 8 of cycle 3 of 'hrIL-2 or placebo' (planned study day 64)"
    assert list(tv.index)[-1] == "End of treatment"  # after the doses (day 168 + 16), after week 24 (day 169)


# ---- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"anchor": "last dose of il3"}, "unknown regimen 'il3' in anchor 'last dose of il3'"),
        ({"anchor": "il3 cycle 2 day 8"}, "unknown regimen 'il3' in anchor 'il3 cycle 2 day 8'"),
        ({"anchor": "il2 cycle 4 day 1"}, "regimen 'il2' has cycles 1-3, not 4"),
        ({"anchor": "il2 cycle 2 day 29"}, "regimen 'il2' has a 28-day cycle: it has no day 29"),
        ({"anchor": "methotrexate cycle 1 day 1"}, "regimen 'methotrexate' has no cycles"),
        ({"anchor": "last dose il2"}, "unknown anchor 'last dose il2' (not one of the accepted forms)"),
        ({"anchor": "il2 cycle three"}, '"<regimen id> cycle <n> day <m>" or "last dose of <regimen id>"'),
        ({"week": 2, "day": None}, "anchor = 'last dose of il2' is a dose date: give day = <days after it>"),
        ({"days": [1, 3], "day": None}, "not days"),
        ({"day": -2, "after_last_dose_of": "il2"}, "day = -2 plans the visit before the last dose of 'il2'"),
    ],
)
def test_bad_dose_anchors_are_refused(edit: dict, message: str) -> None:
    data = seed_data({**EOT, **edit})
    data["visits"][-1] = {k: v for k, v in data["visits"][-1].items() if v is not None}
    with pytest.raises(ProtocolError) as caught:
        protocol_from_dict(data, source="seed.toml")
    assert message in str(caught.value)
    assert "visits[" in str(caught.value)


def test_a_dose_anchor_allows_day_0_and_negative_days(cohort: dosing.Cohort) -> None:
    on = {**EOT, "id": "on", "day": 0, "window": {}}
    before = {**EOT, "id": "before", "day": -1, "window": {}}
    protocol = protocol_from_dict(seed_data(on, before), source="seed.toml")
    visits = dosing.plan_visits(protocol, dosing.load_cohort(FIXTURES / "seed-two-patients.csv", protocol))
    # day 69 is Sat 2027-03-13 (no window: it stays, with a warning); the day before is Fri 2027-03-12
    assert visit(visits, "RA-900", "on")["scheduled_date"] == "2027-03-13"
    assert visit(visits, "RA-900", "before")["scheduled_date"] == "2027-03-12"


def test_a_visit_cannot_keep_a_study_day_distance_from_a_dose_anchored_visit() -> None:
    follow = {"id": "safety", "name": "Safety follow-up", "day": 113, "anchor": "eot"}
    with pytest.raises(ProtocolError, match="visit 'eot' is anchored to a dose"):
        protocol_from_dict(seed_data(EOT, follow), source="seed.toml")
