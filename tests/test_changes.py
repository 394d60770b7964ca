"""Per-patient changes: delays, holds, stops, dose changes, rescheduled visits and withdrawals,
applied to the seed protocol with hand-checked dates; validation of bad rows; calendars that
update in place (unchanged events byte-identical, changed ones with a higher SEQUENCE).

RA-900 and RA-901 both start on Monday 2027-01-04 (study day 1); hrIL-2 (or placebo) is given
on odd days 1-13, 29-41 and 57-69; methotrexate on Wednesdays (days 3, 10, ..., 164).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import dosing
from dosing.cli import main
from dosing.errors import ChangesError
from dosing.io.read.changes import load_changes
from dosing.plan.apply_changes import apply_changes
from dosing.plan.changes import Changes
from dosing.plan.visits import OUTSIDE, plan_visits
from tests.conftest import FIXTURES, PROTOCOLS

HEADER = "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n"


@pytest.fixture(scope="module")
def cohort(seed_protocol: dosing.Protocol) -> dosing.Cohort:
    return dosing.load_cohort(FIXTURES / "changes-two-patients.csv", seed_protocol)


@pytest.fixture(scope="module")
def planned(seed_protocol: dosing.Protocol, cohort: dosing.Cohort) -> pd.DataFrame:
    return dosing.expand(seed_protocol, cohort)


def changes(name: str, protocol: dosing.Protocol, cohort: dosing.Cohort) -> Changes:
    return load_changes(FIXTURES / name, protocol, cohort)


# ---- delays --------------------------------------------------------------------------------------


def test_delay_of_cycle_2_moves_cycles_2_and_3_by_7_days_and_nothing_else(
    seed_protocol: dosing.Protocol, cohort: dosing.Cohort, planned: pd.DataFrame
) -> None:
    after = apply_changes(planned, changes("changes-delay-cycle-2.csv", seed_protocol, cohort))
    assert len(after) == len(planned)
    before = planned.set_index("uid")
    now = after.set_index("uid").loc[before.index]
    moved = (before["patient_id"] == "RA-900") & (before["regimen"] == "il2") & (before["cycle"] >= 2)
    assert moved.sum() == 14
    il2 = now[moved.to_numpy()]
    assert il2["study_day"].tolist() == [*range(36, 49, 2), *range(64, 77, 2)]
    assert il2["date"].astype(str).tolist()[0] == "2027-02-08"  # was day 29, Monday 2027-02-01
    assert il2["date"].astype(str).tolist()[-1] == "2027-03-20"  # was day 69, 2027-03-13
    assert set(il2["time"].astype(str)) == {"09:00"}
    assert (il2["planned_at"] - before.loc[moved, "planned_at"] == pd.Timedelta(days=7)).all()
    assert il2["cycle_day"].tolist() == [1, 3, 5, 7, 9, 11, 13] * 2
    assert set(il2["sequence"]) == {1}
    columns = ["date", "time", "study_day", "planned_at", "dose", "held", "sequence"]
    unchanged = now.loc[~moved.to_numpy(), columns].astype(str)
    pd.testing.assert_frame_equal(unchanged, before.loc[~moved, columns].astype(str))


def test_delay_moves_cycle_anchored_visits_but_not_day_1_anchored_ones(
    seed_protocol: dosing.Protocol, cohort: dosing.Cohort
) -> None:
    plain = plan_visits(seed_protocol, cohort).set_index(["patient_id", "visit"])["scheduled_date"]
    after = plan_visits(seed_protocol, cohort, changes("changes-delay-cycle-2.csv", seed_protocol, cohort))
    now = after.set_index(["patient_id", "visit"])
    differs = now["scheduled_date"] != plain
    assert sorted(differs[differs].index) == [("RA-900", "week-4"), ("RA-900", "week-8")]
    # week 4 follows cycle 2 to Mon 2027-02-08, the Spring Festival (Feb 5-10 off, Feb 6/7 a weekend):
    # the nearest open day in 2027-02-05 .. 2027-02-11 is Thursday Feb 11.
    assert now.loc[("RA-900", "week-4"), "target_date"] == "2027-02-08"
    assert now.loc[("RA-900", "week-4"), "scheduled_date"] == "2027-02-11"
    assert now.loc[("RA-900", "week-4"), "moved_reason"].startswith("cycle 2 delayed 7 days: neutropenia")
    assert "target closed" in now.loc[("RA-900", "week-4"), "moved_reason"]
    assert now.loc[("RA-900", "week-8"), "scheduled_date"] == "2027-03-08"
    assert now.loc[("RA-900", "week-4"), "sequence"] == 1
    assert now.loc[("RA-900", "week-12"), "sequence"] == 0


def test_chained_visit_moves_with_its_anchor_and_day_1_visit_does_not() -> None:
    protocol = dosing.load_protocol(FIXTURES / "visits-chained.toml")
    chained = dosing.load_cohort(FIXTURES / "visits-chained-cohort.csv", protocol)
    found = load_changes(FIXTURES / "changes-chained.csv", protocol, chained)
    visits = plan_visits(protocol, chained, found).set_index(["patient_id", "visit"])["scheduled_date"]
    assert visits["P-1"].to_dict() == {"c2": "2027-02-08", "c2-follow": "2027-02-15", "fixed": "2027-03-01"}
    # P-2's c2 visit is rescheduled two days later; the visit chained to it follows, week 8 stays
    assert visits["P-2"].to_dict() == {"c2": "2027-02-04", "c2-follow": "2027-02-11", "fixed": "2027-03-02"}


# ---- each kind of change -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def each_kind(seed_protocol: dosing.Protocol, cohort: dosing.Cohort) -> Changes:
    return changes("changes-each-kind.csv", seed_protocol, cohort)


@pytest.fixture(scope="module")
def changed(planned: pd.DataFrame, each_kind: Changes) -> pd.DataFrame:
    return apply_changes(planned, each_kind)


def rows(doses: pd.DataFrame, patient: str, regimen: str) -> pd.DataFrame:
    return doses[(doses["patient_id"] == patient) & (doses["regimen"] == regimen)]


def test_hold_keeps_the_row_marked_held(changed: pd.DataFrame) -> None:
    il2 = rows(changed, "RA-900", "il2")
    assert len(il2) == 21
    assert il2.loc[il2["held"], "study_day"].tolist() == [3]
    # "hrIL-2 or placebo" (what blinded staff see) means the placebo for a placebo patient
    placebo = rows(changed, "RA-901", "il2-placebo")
    assert placebo.loc[placebo["held"], "study_day"].tolist() == [5]


def test_dose_change_applies_from_its_date(changed: pd.DataFrame) -> None:
    mtx = rows(changed, "RA-900", "methotrexate")
    assert mtx.loc[mtx["dose"] == 10.0, "study_day"].tolist() == [3, 10, 17, 24]
    assert mtx.loc[mtx["dose"] == 12.5, "study_day"].tolist() == list(range(31, 169, 7))
    assert set(mtx.loc[mtx["dose"] == 12.5, "sequence"]) == {1}


def test_stop_removes_doses_from_its_date(changed: pd.DataFrame, planned: pd.DataFrame) -> None:
    lox = rows(changed, "RA-900", "loxoprofen")
    assert lox["study_day"].max() == 56  # stopped from Monday 2027-03-01, day 57
    assert len(lox) == 56 * 3
    assert len(rows(planned, "RA-900", "loxoprofen")) == 168 * 3


def test_withdrawal_removes_doses_and_visits_but_keeps_follow_up(
    changed: pd.DataFrame, seed_protocol: dosing.Protocol, cohort: dosing.Cohort, each_kind: Changes
) -> None:
    assert changed.loc[changed["patient_id"] == "RA-901", "study_day"].max() == 70  # withdrawn from day 71
    visits = plan_visits(seed_protocol, cohort, each_kind)
    mine = visits[visits["patient_id"] == "RA-901"].set_index("visit")
    assert "week-12" not in mine.index
    assert mine.loc["week-24", "scheduled_date"] == "2027-06-21"


def test_rescheduled_visit_outside_its_window_is_a_warning(
    seed_protocol: dosing.Protocol, cohort: dosing.Cohort, each_kind: Changes
) -> None:
    visits = plan_visits(seed_protocol, cohort, each_kind).set_index(["patient_id", "visit"])
    week2 = visits.loc[("RA-901", "week-2")]
    assert (week2["scheduled_date"], week2["window_end"], week2["warning"]) == ("2027-01-25", "2027-01-20", OUTSIDE)
    assert week2["moved_reason"] == "rescheduled: patient travelling"


def test_contract_for_adherence(each_kind: Changes) -> None:
    assert list(each_kind.stops.columns) == ["patient_id", "regimen", "from_date"]
    assert each_kind.stops.iloc[0].tolist() == ["RA-900", "loxoprofen", pd.Timestamp("2027-03-01")]
    assert list(each_kind.withdrawals.columns) == ["patient_id", "from_date"]
    assert each_kind.withdrawals.iloc[0].tolist() == ["RA-901", pd.Timestamp("2027-03-15")]


# ---- bad rows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("RA-999,hold,il2,,2027-01-06,,,,,x", "line 2: unknown patient 'RA-999'"),
        ("RA-900,hold,aspirin,,2027-01-06,,,,,x", "line 2: unknown regimen 'aspirin'"),
        ("RA-900,delay,il2,4,2027-01-06,,7,,,x", "line 2: column 'cycle': 4 is outside 1-3"),
        ("RA-900,delay,methotrexate,1,2027-01-06,,7,,,x", "line 2: regimen 'methotrexate' has no cycles"),
        ("RA-900,hold,il2,,2027-01-03,,,,,x", "line 2: 2027-01-03 is before patient RA-900's first day"),
        ("RA-900,postpone,il2,,2027-01-06,,,,,x", "line 2: unknown change 'postpone'"),
        ("RA-900,hold,il2,,2027-01-06,,,,,", "line 2: give a reason"),
        ("RA-900,hold,il2,,2027-01-06,,7,,,x", "line 2: column 'days' does not apply to a hold"),
        ("RA-900,delay,il2,2,2027-01-06,,,,,x", "line 2: a delay needs a value in column 'days'"),
        ("RA-900,dose,methotrexate,,2027-02-01,,,40,,x", "line 2: column 'dose': 40 mg is outside 7.5-25"),
        ("RA-900,reschedule,,,2027-02-01,,,,week-3,x", "line 2: unknown visit 'week-3'"),
        (
            "RA-900,hold,il2,,2027-01-07,,,,,x",
            "line 2: no 'hrIL-2 or placebo' dose of patient RA-900 is planned on 2027-01-07",
        ),
        (
            "RA-900,withdraw,,,2027-02-01,,,,,x\nRA-900,hold,il2,,2027-02-03,,,,,x",
            "line 3: contradicts line 2: a hold on 2027-02-03 is on or after the withdrawal from 2027-02-01",
        ),
        (
            "RA-900,stop,il2,,2027-02-01,,,,,x\nRA-900,delay,il2,3,2027-02-20,,7,,,x",
            "line 3: contradicts line 2: a delay on 2027-02-20 is on or after the stop from 2027-02-01",
        ),
        (
            "RA-900,withdraw,,,2027-02-01,,,,,x\nRA-900,withdraw,,,2027-03-01,,,,,y",
            "line 3: contradicts line 2 (the same withdraw recorded twice)",
        ),
    ],
)
def test_bad_rows_name_the_file_and_line(
    tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort, planned: pd.DataFrame, row: str, message: str
) -> None:
    path = tmp_path / "changes.csv"
    path.write_text(HEADER + row + "\n", encoding="utf-8")
    with pytest.raises(ChangesError) as err:
        apply_changes(planned, load_changes(path, seed_protocol, cohort))
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_unknown_column_is_refused(tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    path = tmp_path / "changes.csv"
    path.write_text("patient_id,change,date,reason,dayz\nRA-900,withdraw,2027-02-01,x,\n", encoding="utf-8")
    with pytest.raises(ChangesError, match=r"line 1 \(header\): unknown column 'dayz'\n  Fix: did you mean 'days'"):
        load_changes(path, seed_protocol, cohort)


def test_bad_changes_file_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "changes.csv"
    path.write_text(HEADER + "RA-900,hold,il2,,2027-01-07,,,,,x\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [*generate_args(out), "--changes", str(path)])
    assert result.exit_code == 2
    assert "Error: " in result.output and "line 2" in result.output
    assert not out.exists()


# ---- regeneration: calendars update in place ------------------------------------------------------


def generate_args(out: Path) -> list[str]:
    cohort = FIXTURES / "changes-two-patients.csv"
    return ["generate", str(PROTOCOLS / "nct02467504.toml"), "--cohort", str(cohort), "--out", str(out)]


def events(path: Path) -> dict[str, str]:
    text = path.read_bytes().decode("utf-8")
    blocks = re.findall(r"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", text, flags=re.S)
    return {re.search(r"\r\nUID:(.*?)\r\n", b).group(1): b for b in blocks}  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    out = tmp_path_factory.mktemp("regen")
    first = CliRunner().invoke(main, generate_args(out / "before"))
    second = CliRunner().invoke(
        main, [*generate_args(out / "after"), "--changes", str(FIXTURES / "changes-delay-cycle-2.csv")]
    )
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    return out / "before" / "nct02467504", out / "after" / "nct02467504", second.output


@pytest.fixture(scope="module")
def regenerated_expanded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """As ``regenerated``, with one event per dose (``--ics-style expanded``)."""
    out = tmp_path_factory.mktemp("regen-expanded")
    style = ["--ics-style", "expanded", "--no-feeds"]
    first = CliRunner().invoke(main, [*generate_args(out / "before"), *style])
    changes = ["--changes", str(FIXTURES / "changes-delay-cycle-2.csv")]
    second = CliRunner().invoke(main, [*generate_args(out / "after"), *style, *changes])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    return out / "before" / "nct02467504", out / "after" / "nct02467504", second.output


@pytest.fixture(scope="module")
def regenerated_warn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """As ``regenerated``, for the seed protocol with ``on_closed_day = "warn"``. (The shipped seed gives
    injections on closed days at home, with a note in their instructions, so a delay that moves cycle 2
    into the Spring Festival changes which of its injections are at home, and so its runs.)"""
    from tests.seed_variants import seed_with, write

    out = tmp_path_factory.mktemp("regen-warn")
    path = write(out, "warn.toml", seed_with(('on_closed_day = "home"', 'on_closed_day = "warn"')))
    args = [*generate_args(out / "before"), "--no-feeds"]
    args[1] = str(path)
    first = CliRunner().invoke(main, args)
    changes = ["--changes", str(FIXTURES / "changes-delay-cycle-2.csv")]
    second = CliRunner().invoke(main, [*args[:-3], "--out", str(out / "after"), "--no-feeds", *changes])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    return out / "before" / "nct02467504", out / "after" / "nct02467504"


def test_recurring_runs_keep_their_uids_and_changed_drugs_rise_in_sequence(
    regenerated_warn: tuple[Path, Path],
) -> None:
    """Recurring style: the delayed cycles' runs keep their UIDs, move by 7 days and get SEQUENCE 1;
    runs of drugs the changes file did not touch keep their bytes."""
    before_dir, after_dir = regenerated_warn
    before = events(before_dir / "patients" / "RA-900" / "calendar.ics")
    after = events(after_dir / "patients" / "RA-900" / "calendar.ics")
    assert before.keys() == after.keys()
    cycle2 = "RA-900.b-hril-2-or-placebo.d029.0900.run@nct02467504.dosing"
    assert "DTSTART;TZID=Asia/Shanghai:20270201T090000" in before[cycle2]
    assert "DTSTART;TZID=Asia/Shanghai:20270208T090000" in after[cycle2]
    assert "\r\nSEQUENCE:1\r\n" in after[cycle2]
    untouched = [uid for uid in before if ".b-hril-2-or-placebo." not in uid and ".visit-" not in uid]
    assert untouched and all(before[uid] == after[uid] for uid in untouched)


def test_unchanged_events_keep_their_bytes_and_changed_ones_a_higher_sequence(
    regenerated_expanded: tuple[Path, Path, str],
) -> None:
    before_dir, after_dir, _ = regenerated_expanded
    before = events(before_dir / "patients" / "RA-900" / "calendar.ics")
    after = events(after_dir / "patients" / "RA-900" / "calendar.ics")
    assert before.keys() == after.keys()  # no UID is lost or invented
    changed = {uid for uid in before if before[uid] != after[uid]}
    il2_moved = {
        f"RA-900.b-hril-2-or-placebo.d{d:03d}.0900@nct02467504.dosing" for d in [*range(29, 42, 2), *range(57, 70, 2)]
    }
    visits_moved = {"RA-900.visit-week-4@nct02467504.dosing", "RA-900.visit-week-8@nct02467504.dosing"}
    assert changed == il2_moved | visits_moved
    for uid in changed:
        assert "\r\nSEQUENCE:0\r\n" in before[uid]
        assert "\r\nSEQUENCE:1\r\n" in after[uid]
        assert "\r\nDTSTAMP:20270129T000000Z\r\n" in after[uid]  # the delay's date
    day29 = "RA-900.b-hril-2-or-placebo.d029.0900@nct02467504.dosing"
    assert "DTSTART;TZID=Asia/Shanghai:20270208T090000" in after[day29]


def test_patients_without_changes_get_identical_files(regenerated: tuple[Path, Path, str]) -> None:
    before_dir, after_dir, _ = regenerated
    for name in ("calendar.ics", "doses.csv", "visits.csv"):
        assert (before_dir / "patients" / "RA-901" / name).read_bytes() == (
            after_dir / "patients" / "RA-901" / name
        ).read_bytes()


def test_held_dose_disappears_from_the_calendar_and_is_marked_on_the_worklist(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [*generate_args(tmp_path), "--changes", str(FIXTURES / "changes-each-kind.csv")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "nct02467504"
    held_uid = "RA-900.b-hril-2-or-placebo.d003.0900@nct02467504.dosing"
    assert held_uid not in events(folder / "patients" / "RA-900" / "calendar.ics")
    sheet = pd.read_csv(folder / "worklist.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert sheet.loc[sheet["uid"] == held_uid, "notes"].tolist() == ["HELD: do not give"]
    for table in (folder / "doses.csv", folder / "patients" / "RA-900" / "doses.csv"):
        doses = pd.read_csv(table, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        assert doses.loc[doses["uid"] == held_uid, "status"].tolist() == ["held"]
        assert (doses.loc[doses["patient_id"] == "RA-900", "status"] == "held").sum() == 1
    assert "RA-900  doses moved 0, held 1, dose changed 20, stopped 336; visits moved 0, cancelled 0" in result.output
    assert "RA-901  doses moved 0, held 1, dose changed 0, stopped" in result.output
    assert "visits moved 1, cancelled 1" in result.output


def test_summary_says_what_the_changes_did(regenerated: tuple[Path, Path, str]) -> None:
    *_, output = regenerated
    assert "changes applied:" in output
    assert "RA-900  doses moved 14, held 0, dose changed 0, stopped 0; visits moved 2, cancelled 0" in output


def test_changed_calendar_passes_a_strict_parser(regenerated: tuple[Path, Path, str]) -> None:
    from ical.calendar_stream import IcsCalendarStream

    _, after_dir, _ = regenerated
    text = (after_dir / "patients" / "RA-900" / "calendar.ics").read_bytes().decode("utf-8")
    calendar = IcsCalendarStream.calendar_from_ics(text)
    week4 = next(e for e in calendar.events if e.uid == "RA-900.visit-week-4@nct02467504.dosing")
    assert (str(week4.dtstart), str(week4.dtend), week4.sequence) == ("2027-02-11", "2027-02-12", 1)


@pytest.mark.slow  # writes all 47 calendars of the seed trial (about 10 s)
def test_walkthrough_prints_what_the_docs_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (PROTOCOLS.parent / "docs" / "visits-and-changes.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- walkthrough-output:")[1].split("```text\n")[1].split("```")[0]
    shipped = (PROTOCOLS / "nct02467504-changes.csv").read_text(encoding="utf-8")
    assert f"```csv\n{shipped}```" in readme
    monkeypatch.chdir(tmp_path)  # the walkthrough's command writes to ./output
    result = CliRunner().invoke(
        main,
        [
            "generate",
            str(PROTOCOLS / "nct02467504.toml"),
            "--cohort",
            str(PROTOCOLS / "nct02467504-cohort.csv"),
            "--changes",
            str(PROTOCOLS / "nct02467504-changes.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == shown


def test_delay_across_a_daylight_saving_change_keeps_the_wall_clock_time(tmp_path: Path) -> None:
    protocol = dosing.load_protocol(PROTOCOLS / "capecitabine.toml")
    cohort = dosing.load_cohort(PROTOCOLS / "capecitabine-cohort.csv", protocol)
    path = tmp_path / "changes.csv"
    delay = "CAPE-001,delay,capecitabine,2,2027-03-20,,7,,,neutropenia\n"
    # the last moved dose (study day 169) would fall after study.last_day (168): stopped there
    path.write_text(HEADER + delay + "CAPE-001,stop,capecitabine,,2027-08-16,,,,,end of study\n", encoding="utf-8")
    after = apply_changes(dosing.expand(protocol, cohort), load_changes(path, protocol, cohort))
    assert after.loc[after["patient_id"] == "CAPE-001", "study_day"].max() == 168
    cycle2 = after[(after["patient_id"] == "CAPE-001") & (after["cycle"] == 2)]
    # planned: Mon 2027-03-22 20:00 CET (19:00 UTC); Berlin moves to CEST on 2027-03-28
    first = cycle2.iloc[0]
    assert (str(first["date"]), str(first["time"]), int(first["study_day"])) == ("2027-03-29", "20:00", 29)
    assert first["planned_at"] == pd.Timestamp("2027-03-29 18:00", tz="UTC")
    assert first["uid"] == "CAPE-001.capecitabine.d022.2000@cape-adj.dosing"
    assert set(cycle2["time"].astype(str)) == {"08:00", "20:00"}
    others = after[after["patient_id"] != "CAPE-001"]
    assert set(others["sequence"]) == {0}


def test_hold_at_a_time_holds_only_that_dose(
    tmp_path: Path, seed_protocol: dosing.Protocol, cohort: dosing.Cohort, planned: pd.DataFrame
) -> None:
    path = tmp_path / "changes.csv"
    path.write_text(HEADER + "RA-900,hold,loxoprofen,,2027-01-05,13:00,,,,stomach pain\n", encoding="utf-8")
    after = apply_changes(planned, load_changes(path, seed_protocol, cohort))
    held = after[after["held"]]
    assert held[["date", "time"]].astype(str).values.tolist() == [["2027-01-05", "13:00"]]
    path.write_text(HEADER + "RA-900,hold,loxoprofen,,2027-01-05,10:00,,,,stomach pain\n", encoding="utf-8")
    with pytest.raises(ChangesError, match=r"line 2: no 'loxoprofen' dose .* planned on 2027-01-05 at 10:00"):
        apply_changes(planned, load_changes(path, seed_protocol, cohort))
