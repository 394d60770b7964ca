"""``dosing export redcap``: a data dictionary with REDCap's own 18 columns and field names REDCap
accepts, an import file of planned (and, with a log, given) doses and visits, and the way back:
``dosing adherence --log`` reads REDCap's export of the dose_administration instrument directly.

Golden files (tests/golden/redcap/) are the export of the seed protocol for two patients with a hold
and a log of cycle 1 (the fixtures of tests/test_export_fhir.py); regenerate deliberately with
DOSING_REGOLD=1 after checking the difference by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import dosing
from dosing.cli import main
from dosing.errors import LogError
from dosing.io.write.redcap import DICTIONARY_COLUMNS, RESERVED
from tests.conftest import PROTOCOLS
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_blinding import PAIRS, leaks
from tests.test_export_fhir import HOLD, LOG, SEED, TWO, check_golden, cli_export, cohort_of

AS_OF = dt.date(2027, 1, 18)
#: "Download the Data Dictionary" in REDCap writes exactly these headers, in this order.
REDCAP_HEADERS = (
    "Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"
    '"Choices, Calculations, OR Slider Labels",Field Note,Text Validation Type OR Show Slider Number,'
    "Text Validation Min,Text Validation Max,Identifier?,Branching Logic (Show field only if...),"
    "Required Field?,Custom Alignment,Question Number (surveys only),Matrix Group Name,Matrix Ranking?,"
    "Field Annotation"
)


def export(tmp_path: Path, **options: object) -> Path:
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(TWO, protocol)
    if options.pop("hold", False):
        options["changes"] = dosing.load_changes(HOLD, protocol, cohort)
    return dosing.export_redcap(protocol, cohort, tmp_path, **options).folder  # type: ignore[arg-type]


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def test_data_dictionary_has_redcaps_own_18_columns(tmp_path: Path) -> None:
    folder = export(tmp_path)
    text = (folder / "data-dictionary.csv").read_text(encoding="utf-8")
    assert not text.startswith("\ufeff")
    assert text.splitlines()[0] == REDCAP_HEADERS
    assert len(DICTIONARY_COLUMNS) == 18
    table = read(folder / "data-dictionary.csv")
    assert table.iloc[0]["Variable / Field Name"] == "record_id"  # REDCap: the first field is the record id
    assert set(table["Form Name"]) == {"patient", "dose_administration", "visit"}
    status = table.set_index("Variable / Field Name").loc["dose_status"]
    assert status["Field Type"] == "radio"
    assert status["Choices, Calculations, OR Slider Labels"] == "1, planned | 2, held | 3, given | 4, missed"
    annotations = set(table["Field Annotation"]) - {""}
    assert annotations == {"@READONLY"}  # an action tag, not neutralised to '@READONLY


def test_field_and_form_names_obey_redcaps_rules(tmp_path: Path) -> None:
    """Lower case letters, digits and underscores, a letter first, at most 26 characters, unique,
    none of REDCap's reserved names or its redcap_ prefix."""
    table = read(export(tmp_path) / "data-dictionary.csv")
    names = list(table["Variable / Field Name"])
    assert len(names) == len(set(names))
    for name in [*names, *set(table["Form Name"])]:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert len(name) <= 26, name
        assert name not in RESERVED and not name.startswith("redcap_"), name
    assert {"action", "target", "instance", "event_id"} <= RESERVED  # the check knows REDCap's list


def test_import_file_columns_and_instances(tmp_path: Path) -> None:
    folder = export(tmp_path)
    records = read(folder / "import.csv")
    fields = set(read(folder / "data-dictionary.csv")["Variable / Field Name"])
    assert list(records.columns[:3]) == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    assert "redcap_event_name" not in records.columns  # a classic project, not longitudinal
    assert set(records.columns[3:]) <= fields
    patients = records[records["redcap_repeat_instrument"] == ""]
    assert list(patients["record_id"]) == ["RA-900", "RA-901"] and (patients["redcap_repeat_instance"] == "").all()
    for (pid, form), rows in records[records["redcap_repeat_instrument"] != ""].groupby(
        ["record_id", "redcap_repeat_instrument"]
    ):
        assert list(rows["redcap_repeat_instance"].astype(int)) == list(range(1, len(rows) + 1)), (pid, form)
    doses = records[records["redcap_repeat_instrument"] == "dose_administration"]
    # doses.csv of generate: 2 patients x (21 injections + 24 methotrexate + 144 folic acid + 504 loxoprofen)
    protocol = dosing.load_protocol(SEED)
    assert len(doses) == len(dosing.expand(protocol, dosing.load_cohort(TWO, protocol)))
    assert (doses["dose_status"] == "1").all()  # no log: every dose is planned
    visits = records[records["redcap_repeat_instrument"] == "visit"]
    assert len(visits) == 2 * 7  # screening, baseline, weeks 2, 4, 8, 12, 24


def test_log_fills_status_and_what_was_given_by_hand(tmp_path: Path) -> None:
    """RA-900's hrIL-2 cycle 1 (2027-01-04 .. 01-16, every other day at 09:00): day 3 (01-06) held by
    the changes file, day 13 (01-16) not in the log: missed; the others given, day 5 at 09:05."""
    records = read(export(tmp_path, hold=True, log=LOG, as_of=AS_OF) / "import.csv")
    injections = records[(records["record_id"] == "RA-900") & (records["dose_drug"] == "hrIL-2 or placebo")]
    cycle_1 = injections[injections["dose_cycle"] == "1"]
    assert list(cycle_1["dose_planned_date"]) == [f"2027-01-{d:02d}" for d in (4, 6, 8, 10, 12, 14, 16)]
    assert list(cycle_1["dose_status"]) == ["3", "2", "3", "3", "3", "3", "4"]
    assert list(cycle_1["dose_given_date"]) == [
        "2027-01-04",
        "",
        "2027-01-08",
        "2027-01-10",
        "2027-01-12",
        "2027-01-14",
        "",
    ]
    assert list(cycle_1["dose_given_time"]) == ["09:00", "", "09:05", "09:00", "09:00", "09:00", ""]
    assert set(cycle_1["dose_given_amount"]) == {"1000000", ""}
    assert (injections[injections["dose_cycle"] != "1"]["dose_status"] == "1").all()  # not yet due


def test_adherence_reads_the_redcap_export_back(tmp_path: Path) -> None:
    """import.csv has the columns and rows REDCap exports (raw data, variable names): judged as a
    log, it gives the statuses, times and doses the original log gave (only the line numbers differ)."""
    folder = export(tmp_path, hold=True, log=LOG, as_of=AS_OF)
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(TWO, protocol)
    changes = dosing.load_changes(HOLD, protocol, cohort)
    original = dosing.check_adherence(protocol, cohort, LOG, changes=changes, as_of=AS_OF)
    back = dosing.check_adherence(protocol, cohort, folder / "import.csv", changes=changes, as_of=AS_OF)
    columns = ["uid", "status", "given_at", "dose_given", "deviation_hours", "wrong_dose"]
    pd.testing.assert_frame_equal(original.doses[columns], back.doses[columns])
    assert len(back.bad_rows) == 0 and len(back.extra) == 0
    assert (back.doses["status"] == "on_time").sum() == 14  # 5 + 2 methotrexate (RA-900) + 7 (RA-901)


def test_bad_redcap_rows_are_listed_with_their_line_numbers(tmp_path: Path) -> None:
    """A time REDCap would refuse (25:00) and a 'given' dose without a date are bad rows, named by
    their line in the REDCap file; a notes cell spanning two lines shifts the line numbers after it."""
    folder = export(tmp_path, hold=True, log=LOG, as_of=AS_OF)
    rows = list(csv.reader(io.StringIO((folder / "import.csv").read_text(encoding="utf-8"))))
    header = rows[0]
    col = {name: i for i, name in enumerate(header)}
    injections = [i for i, r in enumerate(rows) if r[col["dose_drug"]] == "hrIL-2 or placebo" and r[0] == "RA-900"]
    first, fifth = injections[0], injections[4]
    rows[first][col["dose_notes"]] = "site: left\nupper arm"  # one cell, two lines
    rows[first + 1][col["dose_notes"]] = ""
    rows[fifth][col["dose_given_time"]] = "25:00"
    missed = injections[6]
    rows[missed][col["dose_status"]] = "3"
    path = tmp_path / "redcap-export.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(TWO, protocol)
    result = dosing.check_adherence(protocol, cohort, path, as_of=AS_OF)
    # rows[i] is on file line i + 1, and one more after the two-line cell of rows[first]
    assert sorted(result.bad_rows["line"].astype(int)) == [fifth + 2, missed + 2]
    with pytest.raises(LogError, match=rf"line {fifth + 2}"):
        dosing.check_adherence(protocol, cohort, path, as_of=AS_OF, strict=True)


@pytest.mark.parametrize(("protocol_path", "arm_a", "arm_b"), PAIRS, ids=[f"{p.stem}:{a}-vs-{b}" for p, a, b in PAIRS])
def test_swapping_arms_changes_no_byte_of_the_blinded_redcap_export(
    tmp_path: Path, protocol_path: Path, arm_a: str, arm_b: str
) -> None:
    first, said_first = cli_export(tmp_path / "1", protocol_path, {"PX-001": arm_a, "PX-002": arm_b}, "redcap")
    second, said_second = cli_export(tmp_path / "2", protocol_path, {"PX-001": arm_b, "PX-002": arm_a}, "redcap")
    assert said_first.replace("<tmp>/1", "<tmp>") == said_second.replace("<tmp>/2", "<tmp>")
    assert first.keys() == second.keys() == {"data-dictionary.csv", "import.csv"}
    for name in first:
        assert first[name] == second[name], f"{name} reveals which patient is in which arm"


@pytest.mark.parametrize("protocol_path", sorted({p for p, _, _ in PAIRS}), ids=lambda p: p.stem)
def test_no_arm_or_true_drug_in_the_blinded_redcap_export(tmp_path: Path, protocol_path: Path) -> None:
    protocol = dosing.load_protocol(protocol_path)
    files, said = cli_export(
        tmp_path, protocol_path, {f"PX-{i:03d}": a.id for i, a in enumerate(protocol.arms)}, "redcap"
    )
    for name, content in files.items():
        assert leaks(name, protocol) == [] and leaks(content.decode("utf-8"), protocol) == [], name
    assert leaks(said, protocol) == []


def test_blinded_redcap_export_refuses_a_true_dose_that_differs_by_arm(tmp_path: Path) -> None:
    path = PROTOCOLS / "nct04077684.toml"
    cohort = cohort_of(tmp_path, path, {"PX-001": "il2-0.5"})
    label = next(r.blinded_label for r in dosing.load_protocol(path).regimens if r.blinded_label)
    log = tmp_path / "log.csv"
    log.write_text(
        f"patient_id,drug,given_at,dose_given\nPX-001,{label},2027-01-04 09:00,500000 IU\n", encoding="utf-8"
    )
    args = ["export", "redcap", str(path), "--cohort", str(cohort), "--out", str(tmp_path / "out"), "--log", str(log)]
    result = CliRunner().invoke(main, [*args, "--as-of", "2027-01-10"])
    assert result.exit_code == 2 and "would reveal the arm" in result.output and "500000" not in result.output
    assert not (tmp_path / "out" / "nct04077684" / "redcap").exists()


def test_golden_seed_two_patients_with_a_hold_and_a_log(tmp_path: Path) -> None:
    folder = export(tmp_path, hold=True, log=LOG, as_of=AS_OF)
    for name in ("data-dictionary.csv", "import.csv"):
        check_golden(f"../redcap/{name}", (folder / name).read_bytes())


# ---- the attacker's view: every arm, the same input, the same bytes ----------------------------------

BLINDED = sorted({p for p, _, _ in PAIRS})
LOG_CASES = {
    "true dose of the study drug": "{P},{DRUG},2027-01-04 09:00,200000 IU",
    "blinded dose of the study drug": "{P},{DRUG},2027-01-04 09:00,1 syringe",
    "dose without a unit": "{P},{DRUG},2027-01-04 09:00,1",
    "no dose given": "{P},{DRUG},2027-01-06 09:20,",
    "bad time": "{P},{DRUG},2027-01-04 25:00,",
}


def run_in_arm(
    tmp_path: Path, protocol_path: Path, arm: str, fmt: str, log_row: str
) -> tuple[int, str, dict[str, bytes]]:
    protocol = dosing.load_protocol(protocol_path)
    label = next(r.blinded_label for r in protocol.regimens if r.blinded_label)
    cohort = cohort_of(tmp_path, protocol_path, {"PX-001": arm})
    log = tmp_path / "log.csv"
    readable = "{P},{DRUG},2027-01-06 09:00,"  # one row that reads, after the case's: a log of only bad rows is refused
    rows = [row.format(P="PX-001", DRUG=label) for row in (log_row, readable)]
    log.write_text("patient_id,drug,given_at,dose_given\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["export", fmt, str(protocol_path), "--cohort", str(cohort), "--out", str(out), "--log", str(log)]
    result = CliRunner().invoke(main, [*args, "--as-of", "2027-01-20"])
    files = {}
    if out.exists():
        for path in sorted(out.rglob("*")):
            if path.is_file() and path.name != "manifest.json" and not path.name.startswith("."):
                files[str(path.relative_to(out))] = path.read_bytes()
    return result.exit_code, result.output.replace(str(tmp_path), "<RUN>"), files


@pytest.mark.parametrize("case", sorted(LOG_CASES))
@pytest.mark.parametrize("fmt", ["fhir", "redcap"])
@pytest.mark.parametrize("protocol_path", BLINDED, ids=lambda p: p.stem)
def test_a_blinded_export_with_a_log_is_the_same_in_every_arm(
    tmp_path: Path, protocol_path: Path, fmt: str, case: str
) -> None:
    protocol = dosing.load_protocol(protocol_path)
    runs = {arm.id: run_in_arm(tmp_path / arm.id, protocol_path, arm.id, fmt, LOG_CASES[case]) for arm in protocol.arms}
    first = next(iter(runs.values()))
    for arm, run in runs.items():
        assert run == first, f"{case}: the {fmt} export differs in arm {arm}"
    code, said, files = first
    assert leaks(said, protocol) == []
    for name, content in files.items():
        text = content.decode("utf-8").replace('"status": "active"', "").replace(protocol.study.title, "")
        assert leaks(text, protocol) == [], name
    hides_dose = any(r.blinded_dose for r in protocol.regimens)
    if case == "true dose of the study drug" and hides_dose:  # 200000 IU is the 0.2 MIU arm's dose
        assert code == 2 and said.startswith("Error:") and "would reveal the arm" in said and not files, said
    else:
        assert code == 0 and files, said
    if case == "bad time" and code == 0:
        assert "1 log row(s) could not be read and are not in the export (line 2)" in said


def _edited_export(tmp_path: Path, edit: dict[int, dict[str, str]]) -> tuple[Path, list[int]]:
    """The export of RA-900/RA-901 with a hold and a log, with cells of RA-900's hrIL-2 rows edited
    (``edit``: the injection's number in cycle order -> column -> text); the file and those rows' lines."""
    folder = export(tmp_path, hold=True, log=LOG, as_of=AS_OF)
    rows = list(csv.reader(io.StringIO((folder / "import.csv").read_text(encoding="utf-8"))))
    col = {name: i for i, name in enumerate(rows[0])}
    injections = [i for i, r in enumerate(rows) if r[col["dose_drug"]] == "hrIL-2 or placebo" and r[0] == "RA-900"]
    for number, cells in edit.items():
        for name, text in cells.items():
            rows[injections[number]][col[name]] = text
    path = tmp_path / "redcap-export.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path, [i + 1 for i in injections]  # rows[i] is on file line i + 1 (no cell spans lines)


def test_a_status_that_contradicts_the_date_is_a_bad_row(tmp_path: Path) -> None:
    """Audit: a row the site marked 4 (missed) with a date was counted given. RA-900's injection 7
    (2027-01-16, missed) gets a date; injection 3 (2027-01-08, given at 09:05) gets status 2 (held):
    both are bad rows naming the status, the other 12 hrIL-2/methotrexate doses read as before."""
    path, lines = _edited_export(
        tmp_path, {6: {"dose_given_date": "2027-01-16", "dose_given_time": "09:00"}, 2: {"dose_status": "2"}}
    )
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(TWO, protocol)
    changes = dosing.load_changes(HOLD, protocol, cohort)
    result = dosing.check_adherence(protocol, cohort, path, changes=changes, as_of=AS_OF)
    bad = result.bad_rows.set_index(result.bad_rows["line"].astype(int))["reason"]
    assert sorted(bad.index) == sorted([lines[6], lines[2]])
    assert "dose_status 4 (missed) but a date given (2027-01-16)" in bad[lines[6]]
    assert "dose_status 2 (held) but a date given (2027-01-08)" in bad[lines[2]]
    assert "set dose_status 3 (given) or clear the date" in bad[lines[6]]
    # neither counts as given: 01-16 stays missed, 01-08 is now missed (its only record is refused)
    ra900 = result.doses[(result.doses["patient_id"] == "RA-900") & (result.doses["drug"] == "hrIL-2 or placebo")]
    by_date = dict(zip(ra900["date"].astype(str), ra900["status"].astype(str), strict=True))
    assert (by_date["2027-01-16"], by_date["2027-01-08"], by_date["2027-01-06"]) == ("missed", "missed", "held")


def test_a_hold_entered_in_redcap_is_a_bad_row_saying_to_record_it(tmp_path: Path) -> None:
    """A site's status 2 (held) without a date is not silently counted missed: the check can only know
    a hold from the changes file, so the row is bad and says so. The hold the export wrote (injection 2,
    2027-01-06, from the changes file) carries the file's reason in dose_notes and reads back cleanly."""
    path, lines = _edited_export(tmp_path, {6: {"dose_status": "2"}})
    exported = read(path)
    held = exported[exported["dose_status"] == "2"]
    assert list(held["dose_notes"]) == [
        "held by the study's changes file: fever on the morning of the injection",
        "",  # the row edited to "held" by the site
    ]
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(TWO, protocol)
    changes = dosing.load_changes(HOLD, protocol, cohort)
    result = dosing.check_adherence(protocol, cohort, path, changes=changes, as_of=AS_OF)
    assert list(result.bad_rows["line"].astype(int)) == [lines[6]]
    assert "record the hold with `dosing change`" in str(result.bad_rows["reason"].iloc[0])


def test_log_without_as_of_records_today_in_the_manifest_and_says_what_was_left_out(tmp_path: Path) -> None:
    """Audit: "as_of": null in the manifest. Today (2026-12) is before the whole log (2027-01, 14 rows):
    the manifest records today, the summary says 14 left out, and no dose is judged (all status 1, or
    2 for the changes file's hold, which stays a hold)."""
    today = dt.date.today()
    assert today < dt.date(2027, 1, 4), "the fixture log must lie after today for this test"
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(TWO, protocol)
    changes = dosing.load_changes(HOLD, protocol, cohort)
    result = dosing.export_redcap(protocol, cohort, tmp_path, changes=changes, log=LOG)
    manifest = pd.read_json(result.folder / "manifest.json", typ="series")
    assert manifest["options"]["as_of"] == today.isoformat()
    assert f"given after {today.isoformat()} (left out): 14" in result.summary()
    doses = read(result.folder / "import.csv")
    assert set(doses[doses["redcap_repeat_instrument"] == "dose_administration"]["dose_status"]) == {"1", "2"}


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        (  # a labels export names the instrument "Dose Administration": it used to read as 0 rows, all missed
            "record_id,redcap_repeat_instrument,dose_uid,dose_drug,dose_status,dose_given_date",
            "RA-900,Dose Administration,,hrIL-2 or placebo,3,2027-01-04",
            "no dose_administration rows in this REDCap export (redcap_repeat_instrument holds: Dose Administration)",
        ),
        (  # without the date column every row was a bad row, and the command still exited 0
            "record_id,redcap_repeat_instrument,dose_uid,dose_drug,dose_status",
            "RA-900,dose_administration,,hrIL-2 or placebo,3",
            "a REDCap export without the column(s) dose_given_date",
        ),
    ],
)
def test_a_redcap_export_that_cannot_be_read_as_a_log_is_refused(
    tmp_path: Path, header: str, row: str, message: str
) -> None:
    log = tmp_path / "export.csv"
    log.write_text(f"{header}\n{row}\n", encoding="utf-8")
    args = ["adherence", str(SEED), "--cohort", str(TWO), "--log", str(log), "--as-of", "2027-01-18"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not (tmp_path / "out").exists()
