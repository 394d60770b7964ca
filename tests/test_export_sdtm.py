"""``dosing export sdtm``: CDISC SDTM datasets (EC, EX, TA, TE, TV) as Dataset-JSON 1.1 and XPT v5.

Golden files (tests/golden/sdtm/, CSV renderings of the Dataset-JSON rows) are regenerated, after
checking the difference by hand, with ``DOSING_REGOLD=1 pytest tests/test_export_sdtm.py``. The rows
that matter are also checked here by hand from the protocol, the cohort, the changes and the log.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
from pathlib import Path

import jsonschema
import pyreadstat
import pytest
from click.testing import CliRunner

import dosing
from dosing.cli import main
from dosing.io.write.sdtm.design import add_days
from tests.conftest import PROTOCOLS
from tests.seed_variants import private_config, seed_with, write  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_blinding import leaks

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden" / "sdtm"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "dataset-json-1.1.schema.json").read_text())
SEED = PROTOCOLS / "nct02467504.toml"
SLE = PROTOCOLS / "nct04077684.toml"
SEED_COHORT = FIXTURES / "sdtm-seed-two-patients.csv"
SLE_COHORT = FIXTURES / "sdtm-sle-two-patients.csv"
SEED_ARGS = ["--changes", str(FIXTURES / "sdtm-seed-changes.csv")]
SEED_ARGS += ["--log", str(FIXTURES / "log-sdtm-seed-cycle-1.csv"), "--as-of", "2027-02-04"]
SLE_ARGS = ["--log", str(FIXTURES / "log-sdtm-sle-week-1.csv"), "--as-of", "2027-01-10"]
PRN = FIXTURES / "blind-prn" / "nct02467504-prn.toml"  # the seed with loxoprofen as needed
PRN_COHORT = FIXTURES / "sdtm-prn-two-patients.csv"
PRN_ARGS = ["--log", str(FIXTURES / "log-sdtm-prn.csv"), "--as-of", "2027-01-07"]
IL2 = "hrIL-2 or placebo"


def export(out: Path, protocol: Path, cohort: Path, *more: str) -> tuple[Path, str]:
    result = CliRunner().invoke(
        main, ["export", "sdtm", str(protocol), "--cohort", str(cohort), "--out", str(out), *more]
    )
    assert result.exit_code == 0, result.output + result.stderr
    name = dosing.load_protocol(protocol).study.id.lower() + ("-UNBLINDED" if "--unblinded" in more else "")
    return out / name / "sdtm", result.stdout


def rows(folder: Path, name: str) -> list[dict[str, object]]:
    data = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    names = [c["name"] for c in data["columns"]]
    return [dict(zip(names, row, strict=True)) for row in data["rows"]]


def golden(name: str, records: list[dict[str, object]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    path = GOLDEN / name
    if os.environ.get("DOSING_REGOLD"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.getvalue(), encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; create it with DOSING_REGOLD=1"
    assert text.getvalue() == path.read_text(encoding="utf-8"), f"{name} differs; if intended, DOSING_REGOLD=1"


def pick(records: list[dict[str, object]], **wanted: object) -> list[dict[str, object]]:
    return [r for r in records if all(r[k] == v for k, v in wanted.items())]


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("seed")
    blinded, _ = export(out, SEED, SEED_COHORT, *SEED_ARGS)
    unblinded, _ = export(out, SEED, SEED_COHORT, *SEED_ARGS, "--unblinded")
    return {"blinded": blinded, "unblinded": unblinded}


@pytest.fixture(scope="module")
def sle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sle")
    blinded, _ = export(out, SLE, SLE_COHORT, *SLE_ARGS)
    unblinded, _ = export(out, SLE, SLE_COHORT, *SLE_ARGS, "--unblinded")
    return {"blinded": blinded, "unblinded": unblinded}


def test_seed_cycle_1_scheduled_records_by_hand(seed: dict[str, Path]) -> None:
    # RA-901 starts Monday 2027-01-04 (study day 1); hrIL-2 every other day for 14 days: study days
    # 1, 3, ..., 13 = 2027-01-04, 06, ..., 16, at 09:00 Asia/Shanghai (+08:00), 1,000,000 IU s.c.
    ec = pick(rows(seed["blinded"], "ec"), USUBJID="NCT02467504-RA-901", ECTRT=IL2, ECMOOD="SCHEDULED")
    first_cycle = [r for r in ec if int(r["ECSTDY"]) <= 13]  # type: ignore[call-overload]
    assert [r["ECSTDTC"] for r in first_cycle] == [f"2027-01-{d:02d}T09:00+08:00" for d in (4, 6, 8, 10, 12, 14, 16)]
    assert [r["ECSTDY"] for r in first_cycle] == [1, 3, 5, 7, 9, 11, 13]
    assert all(r["ECENDTC"] == r["ECSTDTC"] and r["ECENDY"] == r["ECSTDY"] for r in first_cycle)
    assert {(r["ECDOSE"], r["ECDOSU"], r["ECDOSFRQ"], r["ECROUTE"], r["EPOCH"]) for r in first_cycle} == {
        (1000000, "IU", "QOD", "SUBCUTANEOUS", "TREATMENT")
    }
    assert first_cycle[0]["ECLNKID"] == "RA-901.b-hril-2-or-placebo.d001.0900"
    assert {r["ECOCCUR"] for r in first_cycle} == {None}  # no occurrence on a planned record
    assert len(ec) == 21  # 3 cycles x 7 injections


def test_seed_cycle_1_performed_records_by_hand(seed: dict[str, Path]) -> None:
    # The log: RA-901 given at 09:05 on day 1 and 09:40 on day 3, nothing on day 7 (2027-01-10: missed),
    # the rest at 09:00. As of 2027-02-04, cycle 2's days 29 and 31 (2027-02-01, 02-03) are missed too,
    # day 33 (2027-02-05) is not due: no PERFORMED record.
    ec = pick(rows(seed["blinded"], "ec"), USUBJID="NCT02467504-RA-901", ECTRT=IL2, ECMOOD="PERFORMED")
    assert [(r["ECSTDY"], r["ECOCCUR"], r["ECSTDTC"]) for r in ec] == [
        (1, "Y", "2027-01-04T09:05+08:00"),
        (3, "Y", "2027-01-06T09:40+08:00"),
        (5, "Y", "2027-01-08T09:00+08:00"),
        (7, "N", "2027-01-10T09:00+08:00"),
        (9, "Y", "2027-01-12T09:00+08:00"),
        (11, "Y", "2027-01-14T09:00+08:00"),
        (13, "Y", "2027-01-16T09:00+08:00"),
        (29, "N", "2027-02-01T09:00+08:00"),
        (31, "N", "2027-02-03T09:00+08:00"),
    ]
    missed = ec[3]
    assert (missed["ECREASOC"], missed["ECDOSE"], missed["ECDOSU"]) == ("missed", None, None)  # never a dose of 0
    assert (ec[0]["ECREASOC"], ec[0]["ECDOSE"], ec[0]["ECDOSU"]) == (None, 1000000, "IU")


def test_seed_held_dose_gives_the_changes_files_reason(seed: dict[str, Path]) -> None:
    # RA-902 starts 2027-01-05; the changes file holds the injection of 2027-01-09 (study day 5).
    # The log gives day 13 (2027-01-17) as a date alone: ECSTDTC is that date, without a time.
    ec = pick(rows(seed["blinded"], "ec"), USUBJID="NCT02467504-RA-902", ECTRT=IL2, ECMOOD="PERFORMED")
    held = pick(ec, ECSTDY=5)
    assert [(r["ECOCCUR"], r["ECREASOC"], r["ECSTDTC"]) for r in held] == [
        ("N", "fever 38.5 C on the morning of the injection", "2027-01-09T09:00+08:00")
    ]
    assert pick(ec, ECSTDY=13)[0]["ECSTDTC"] == "2027-01-17"


def test_seed_ex_by_hand(seed: dict[str, Path]) -> None:
    ex = rows(seed["unblinded"], "ex")
    placebo = pick(ex, USUBJID="NCT02467504-RA-902", EXTRT="PLACEBO")
    assert len(placebo) == 6 and {(r["EXDOSE"], r["EXDOSU"]) for r in placebo} == {(0, "IU")}  # 7 planned, 1 held
    active = pick(ex, USUBJID="NCT02467504-RA-901", EXTRT="hrIL-2")
    assert len(active) == 6 and {r["EXDOSE"] for r in active} == {1000000}  # day 7 missed
    # Methotrexate, RA-901's Wednesdays: 2027-01-06 (day 3) 15 mg; 12.5 mg from 2027-02-01 (the changes file),
    # given 2027-02-03 = 30 days after day 1 = study day 31.
    mtx = pick(ex, USUBJID="NCT02467504-RA-901", EXTRT="Methotrexate")
    assert [(r["EXSTDY"], r["EXDOSE"], r["EXADJ"], r["EXDOSFRQ"], r["EXROUTE"]) for r in mtx] == [
        (3, 15, None, "EVERY WEEK", "ORAL"),  # CDISC FREQ C67069 (there is no QW)
        (31, 12.5, "disease still active", "EVERY WEEK", "ORAL"),
    ]
    ec_links = {r["ECLNKID"] for r in rows(seed["unblinded"], "ec") if r["ECOCCUR"] == "Y"}
    assert {r["EXLNKID"] for r in ex} == ec_links  # every EX record links to its EC record, and back


def test_seed_golden_files(seed: dict[str, Path]) -> None:
    golden("nct02467504_blinded_ec_hril2.csv", pick(rows(seed["blinded"], "ec"), ECTRT=IL2))
    golden("nct02467504_unblinded_ex.csv", rows(seed["unblinded"], "ex"))
    golden("nct02467504_te.csv", rows(seed["blinded"], "te"))
    golden("nct02467504_tv.csv", rows(seed["blinded"], "tv"))
    golden("nct02467504_unblinded_ta.csv", rows(seed["unblinded"], "ta"))


def test_sle_golden_files_and_the_hidden_dose(sle: dict[str, Path]) -> None:
    ec = rows(sle["blinded"], "ec")
    golden("nct04077684_blinded_ec.csv", ec)
    # The dose differs by arm: the blinded EC gives the blinded dose as text, no number, no unit.
    assert {(r["ECDOSE"], r["ECDOSTXT"], r["ECDOSU"]) for r in ec if r["ECOCCUR"] != "N"} == {(None, "1 syringe", None)}
    ex = rows(sle["unblinded"], "ex")
    golden("nct04077684_unblinded_ex.csv", ex)
    # SLE-901 (0.5 MIU arm) logged "1 syringe": EX gives the arm's true dose; SLE-902 placebo: 0 in the
    # active drug's unit (IU; the placebo's own unit, mL, before the audit fix).
    assert [(r["USUBJID"], r["EXTRT"], r["EXDOSE"], r["EXDOSU"], r["EXSTDY"]) for r in ex] == [
        ("NCT04077684-SLE-901", "hrIL-2", 500000, "IU", 1),
        ("NCT04077684-SLE-901", "hrIL-2", 500000, "IU", 3),
        ("NCT04077684-SLE-902", "PLACEBO", 0, "IU", 1),
        ("NCT04077684-SLE-902", "PLACEBO", 0, "IU", 5),
    ]


def test_blinded_export_writes_no_ex_and_says_why(tmp_path: Path) -> None:
    folder, stdout = export(tmp_path, SEED, SEED_COHORT, *SEED_ARGS)
    assert not (folder / "ex.json").exists() and not (folder / "ex.xpt").exists()
    assert not (folder / "ta.json").exists()
    assert "no EX and no TA" in stdout and "--unblinded" in stdout


def test_every_dataset_json_is_valid_against_the_official_schema(seed: dict[str, Path], sle: dict[str, Path]) -> None:
    checked = 0
    for folder in (*seed.values(), *sle.values()):
        for path in folder.glob("*.json"):
            if path.name in ("define.json", "manifest.json"):
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.validate(data, SCHEMA)
            assert data["records"] == len(data["rows"])
            assert all(len(row) == len(data["columns"]) for row in data["rows"])
            checked += 1
    assert checked == 16  # seed: EC TE TV + EC EX TA TE TV; SLE the same


def test_xpt_reads_back_with_labels_names_and_values(seed: dict[str, Path]) -> None:
    for name in ("ec", "ex", "ta", "te", "tv"):
        frame, meta = pyreadstat.read_xport(str(seed["unblinded"] / f"{name}.xpt"))
        data = json.loads((seed["unblinded"] / f"{name}.json").read_text(encoding="utf-8"))
        assert meta.table_name == name.upper()
        assert list(frame.columns) == [c["name"] for c in data["columns"]]
        assert meta.column_labels == [c["label"] for c in data["columns"]]
        assert all(len(c) <= 8 for c in frame.columns) and all(len(label) <= 40 for label in meta.column_labels)
        assert len(frame) == data["records"]
    ex, _ = pyreadstat.read_xport(str(seed["unblinded"] / "ex.xpt"))
    assert sorted(ex["EXADJ"].unique()) == ["", "disease still active"]


def test_seq_is_unique_per_subject(seed: dict[str, Path]) -> None:
    for name, seq in (("ec", "ECSEQ"), ("ex", "EXSEQ")):
        records = rows(seed["unblinded"], name)
        for subject in {r["USUBJID"] for r in records}:
            numbers = [r[seq] for r in records if r["USUBJID"] == subject]
            assert numbers == list(range(1, len(numbers) + 1)), (name, subject)


def test_define_json_lists_every_variable(seed: dict[str, Path]) -> None:
    define = json.loads((seed["unblinded"] / "define.json").read_text(encoding="utf-8"))
    by_name = {d["name"]: d for d in define["datasets"]}
    assert set(by_name) == {"EC", "EX", "TA", "TE", "TV"}
    ex = {v["name"]: v for v in by_name["EX"]["variables"]}
    assert ex["EXDOSE"] == {"name": "EXDOSE", "label": "Dose", "dataType": "double", "xptType": "Num",
                            "length": 8, "origin": "Derived"}  # fmt: skip
    assert ex["EXTRT"]["origin"] == "Protocol" and ex["EXADJ"]["origin"] == "Collected"


def test_study_days_have_no_day_0() -> None:
    # Counting calendar days: the day before day 1 is day -1; 27 days after day -28 is day -1, 28 is day 1.
    assert [add_days(1, -1), add_days(-1, 1), add_days(-28, 27), add_days(-28, 28), add_days(85, 3)] == [
        -1,
        1,
        -1,
        1,
        88,
    ]


def test_trial_design_by_hand(seed: dict[str, Path]) -> None:
    # Screening (days -28..-1) comes before day 1; 3 cycles of 14 treatment + 14 rest days end on day 84;
    # follow-up runs from day 85 to study.last_day 168 (84 days).
    te = {r["ETCD"]: r for r in rows(seed["blinded"], "te")}
    assert list(te) == ["SCRN", "TRT", "REST", "FU"]
    assert (te["TRT"]["TEDUR"], te["REST"]["TEDUR"], te["FU"]["TEDUR"]) == ("P14D", "P14D", "P84D")
    assert te["FU"]["TESTRL"] == "Study day 85"
    tv = rows(seed["blinded"], "tv")
    assert [(r["VISITNUM"], r["VISIT"], r["VISITDY"]) for r in tv[:3]] == [
        (1, "Screening", -1),
        (2, "Baseline", 1),
        (3, "Week 2", 15),
    ]
    # Week 2: day 15 with a window of 2 days either side -> days 13 to 17. Screening: days -28 to -1.
    assert [(tv[i]["TVSTRL"], tv[i]["TVENRL"]) for i in (0, 2)] == [
        ("study day -28", "study day -1"),
        ("study day 13", "study day 17"),
    ]
    # Week 4 follows cycle 2 (day 29, window 3 days): named by the blinded label, not 'il2'
    assert tv[3]["TVSTRL"] == f"3 days before the first day of cycle 2 of {IL2!r} (planned study day 26)"
    ta = rows(seed["unblinded"], "ta")
    assert [r["ETCD"] for r in ta if r["ARMCD"] == "PLACEBO"] == ["SCRN", *["TRT", "REST"] * 3, "FU"]


def _snapshot(folder: Path, out: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(folder.iterdir()):
        content = path.read_bytes()
        if path.name == "manifest.json":
            data = json.loads(content.replace(str(out).encode(), b"<out>"))
            content = json.dumps({**data, "written_at": None}).encode()
        if path.suffix == ".json":  # the time the datasets were made
            content = re.sub(rb'"datasetJSONCreationDateTime": "[^"]*"', b"<time>", content)
        if path.suffix == ".xpt":  # the transport file's header holds its creation time
            content = re.sub(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d", b"<time>", content)
        files[path.name] = content
    return files


@pytest.mark.parametrize(
    ("protocol", "cohort", "args", "arms"),
    [
        (SEED, SEED_COHORT, SEED_ARGS, ("active", "placebo")),
        (SLE, SLE_COHORT, SLE_ARGS, ("il2-0.5", "placebo")),
        (SLE, SLE_COHORT, SLE_ARGS, ("il2-0.2", "il2-1.0")),
        (PRN, PRN_COHORT, PRN_ARGS, ("active", "placebo")),  # logged as-needed doses: PERFORMED records
    ],
    ids=["seed", "sle-0.5-vs-placebo", "sle-0.2-vs-1.0", "seed-prn"],
)
def test_swapping_arms_changes_no_byte_of_the_blinded_export(
    tmp_path: Path, protocol: Path, cohort: Path, args: list[str], arms: tuple[str, str]
) -> None:
    runs = []
    for number, order in enumerate((arms, arms[::-1])):
        lines = cohort.read_text(encoding="utf-8").splitlines()
        swapped = [lines[0]] + [
            re.sub(r"^([^,]*),[^,]*,", rf"\1,{arm},", line) for line, arm in zip(lines[1:], order, strict=True)
        ]
        run = tmp_path / str(number)  # the same file names in both runs: the manifest names the cohort file
        run.mkdir()
        (run / "cohort.csv").write_text("\n".join(swapped) + "\n", encoding="utf-8")
        folder, stdout = export(run / "out", protocol, run / "cohort.csv", *args)
        runs.append((_snapshot(folder, run), stdout.replace(str(run), "<run>")))
    (first, first_out), (second, second_out) = runs
    assert first_out == second_out
    assert first.keys() == second.keys() and "ec.xpt" in first
    for name in first:
        assert first[name] == second[name], f"{name} reveals which patient is in which arm"


@pytest.mark.parametrize(
    ("protocol", "cohort", "args"),
    [(SEED, SEED_COHORT, SEED_ARGS), (SLE, SLE_COHORT, SLE_ARGS), (PRN, PRN_COHORT, PRN_ARGS)],
)
def test_no_arm_or_true_drug_in_the_blinded_export(
    tmp_path: Path, protocol: Path, cohort: Path, args: list[str]
) -> None:
    from dosing.io.read.files import load_protocol

    loaded = load_protocol(protocol)
    folder, stdout = export(tmp_path, protocol, cohort, *args)
    assert leaks(stdout, loaded) == []
    for path in folder.iterdir():
        text = path.read_bytes().decode("latin-1")
        assert leaks(text, loaded) == [], path.name


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('route = "subcutaneous"', 'route = "intraperitoneal"', "regimens[0].route"),
        ('dose = { amount = 1_000_000, unit = "IU" }', 'dose = { amount = 1, unit = "vial" }', "regimens[0].dose.unit"),
        ('route = "oral"', 'route = "oral"\ndose_form = "lozenge"', "regimens[2].dose_form"),
    ],
    ids=["route", "unit", "dose-form"],
)
def test_an_unmappable_value_is_an_error_naming_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    path = tmp_path / "protocol.toml"
    path.write_text(SEED.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    args = ["export", "sdtm", str(path), "--cohort", str(SEED_COHORT), "--out", str(tmp_path / "out"), "--unblinded"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"\nError: {path}, {field}: " in result.stderr and "controlled term" in result.stderr
    assert "Fix: " in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "nct02467504-UNBLINDED" / "sdtm").exists()  # nothing half-written


def test_generate_keeps_the_export_and_notes_when_it_is_stale(tmp_path: Path) -> None:
    folder, _ = export(tmp_path, SEED, SEED_COHORT)  # before any generate
    args = ["generate", str(SEED), "--cohort", str(SEED_COHORT), "--out", str(tmp_path), "--no-feeds"]
    result = CliRunner().invoke(main, [*args, "--today", "2027-01-01"])
    assert result.exit_code == 0, result.output
    assert (folder / "ec.json").is_file() and "sdtm/ was exported from another plan" not in result.stdout
    changed = [*args, "--today", "2027-01-01", "--changes", str(FIXTURES / "sdtm-seed-changes.csv")]
    result = CliRunner().invoke(main, changed)
    assert (folder / "ec.json").is_file() and "sdtm/ was exported from another plan" in result.stdout


def test_library_function_is_the_command(tmp_path: Path) -> None:
    import dosing

    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(SEED_COHORT, protocol)
    created = dt.datetime(2027, 2, 4, 12, 0, tzinfo=dt.UTC)
    result = dosing.export_sdtm(protocol, cohort, tmp_path, created=created)
    # Per patient over days 1-168: hrIL-2 21, methotrexate 24 (weekly), folic acid 168 - 24 (not on the
    # methotrexate day), loxoprofen 3 x 168.
    assert result.records == {"EC": 2 * (21 + 24 + 144 + 504), "TE": 4, "TV": 7}
    data = json.loads((result.folder / "ec.json").read_text(encoding="utf-8"))
    assert data["datasetJSONCreationDateTime"] == "2027-02-04T12:00:00+00:00"


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_protocol_exports(tmp_path: Path, protocol: Path) -> None:
    cohort = protocol.with_name(f"{protocol.stem}-cohort.csv")
    result = CliRunner().invoke(
        main, ["export", "sdtm", str(protocol), "--cohort", str(cohort), "--out", str(tmp_path), "--unblinded"]
    )
    assert result.exit_code == 0, result.output + result.stderr
    for path in tmp_path.glob("*/sdtm/*.json"):
        if path.name not in ("define.json", "manifest.json"):
            jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), SCHEMA)


def test_the_commands_in_docs_exports_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).parent.parent / "docs" / "exports.md").read_text(encoding="utf-8")
    block = text.split("```console\n", 1)[1].split("```", 1)[0]
    commands = [line.split() for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    monkeypatch.chdir(Path(__file__).parent.parent)
    for command in commands:
        assert command[0] == "dosing"
        result = CliRunner().invoke(main, [*command[1:], "--out", str(tmp_path)])
        assert result.exit_code == 0, result.output + result.stderr
    assert (tmp_path / "nct02467504" / "sdtm" / "ec.xpt").is_file()
    assert (tmp_path / "nct02467504-UNBLINDED" / "sdtm" / "ex.xpt").is_file()


def test_long_arm_ids_get_distinct_arm_codes(tmp_path: Path) -> None:
    # Audit: "lowdose-interleukin2-a" and "-b" both became ARMCD "LOWDOSE-INTERLEUKIN2" (cut to 20).
    # Now an id longer than 20 is cut to 17 characters + "_" + the arm's number in the protocol:
    # "LOWDOSE-INTERLEU" is 16 characters, "LOWDOSE-INTERLEUK" 17, so "LOWDOSE-INTERLEUK_01" / "_02".
    long_a, long_b = "lowdose-interleukin2-a", "lowdose-interleukin2-b"
    protocol = write(tmp_path, "nct02467504.toml", seed_with(('id = "active"', f'id = "{long_a}"'),
                                                          ('id = "placebo"', f'id = "{long_b}"')))  # fmt: skip
    cohort = SEED_COHORT.read_text().replace(",active,", f",{long_a},").replace(",placebo,", f",{long_b},")
    folder, _ = export(tmp_path / "out", protocol, write(tmp_path, "cohort.csv", cohort), "--unblinded")
    ta = rows(folder, "ta")
    codes = list(dict.fromkeys(str(r["ARMCD"]) for r in ta))
    assert codes == ["LOWDOSE-INTERLEUK_01", "LOWDOSE-INTERLEUK_02"]
    assert len({(r["ARMCD"], r["TAETORD"]) for r in ta}) == len(ta)  # the declared keys are unique
    # short ids are kept as they are
    assert {r["ARMCD"] for r in rows(export(tmp_path / "short", SEED, SEED_COHORT, "--unblinded")[0], "ta")} == {
        "ACTIVE",
        "PLACEBO",
    }


def test_log_without_as_of_is_judged_as_of_today_and_says_so(tmp_path: Path) -> None:
    # Audit: without --as-of every log row was dropped silently and the manifest said "as_of": null.
    # The shipped fixture log is all in 2027 (15 rows), after today: all 15 are left out, and said.
    today = dt.date.today()
    assert today < dt.date(2027, 1, 4), "the fixture log must lie after today for this test"
    log = ["--log", str(FIXTURES / "log-sdtm-seed-cycle-1.csv"), "--changes", str(FIXTURES / "sdtm-seed-changes.csv")]
    folder, said = export(tmp_path, SEED, SEED_COHORT, *log)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["options"]["as_of"] == today.isoformat()
    assert f"given after {today.isoformat()} (left out): 15" in said
    # RA-902's hold on 2027-01-09 is not due yet: no PERFORMED record (it was ECOCCUR=N before the fix)
    assert pick(rows(folder, "ec"), ECMOOD="PERFORMED") == []


@pytest.mark.parametrize(("as_of", "records"), [("2027-01-09", 0), ("2027-01-10", 1)])
def test_a_hold_gets_a_performed_record_only_once_due(tmp_path: Path, as_of: str, records: int) -> None:
    # The changes file holds RA-902's injection of 2027-01-09 (study day 5). As of 2027-01-09 it is not
    # yet due (due = planned before the as-of date, as in `dosing adherence`): no PERFORMED record;
    # as of 2027-01-10 it is: ECOCCUR N with the reason.
    args = [*SEED_ARGS[:-1], as_of]
    folder, said = export(tmp_path, SEED, SEED_COHORT, *args)
    held = pick(rows(folder, "ec"), USUBJID="NCT02467504-RA-902", ECMOOD="PERFORMED", ECSTDY=5, ECTRT=IL2)
    assert [(r["ECOCCUR"], r["ECREASOC"]) for r in held] == [
        ("N", "fever 38.5 C on the morning of the injection")
    ] * records
    # log rows after the as-of date: 2027-01-09 leaves out 9 rows (RA-901 from 01-12: 4; RA-902 from
    # 01-10: 5); 2027-01-10 leaves out 8 (the 01-10 methotrexate row of RA-902 is on the day, kept)
    assert f"given after {as_of} (left out): {9 if records == 0 else 8}" in said


def test_declared_keys_identify_every_record(tmp_path: Path) -> None:
    # Audit: three loxoprofen doses of one day logged as a date alone shared STUDYID, USUBJID, ECTRT,
    # ECSTDTC (the date) and ECMOOD. RA-901 takes loxoprofen at 08:00, 13:00 and 19:00; the log here
    # gives 2027-01-04 three times without a time: three PERFORMED records with one ECSTDTC.
    log = tmp_path / "log.csv"
    log.write_text("patient_id,drug,given_at\n" + "RA-901,Loxoprofen,2027-01-04\n" * 3, encoding="utf-8")
    folder, _ = export(tmp_path, SEED, SEED_COHORT, "--log", str(log), "--as-of", "2027-01-05", "--unblinded")
    define = {d["name"]: d["keys"] for d in json.loads((folder / "define.json").read_text())["datasets"]}
    assert define["EC"][-1] == "ECLNKID" and define["EX"][-1] == "EXLNKID"
    for name in ("ec", "ex"):
        records = rows(folder, name)
        keys = define[name.upper()]
        assert len({tuple(r[k] for k in keys) for r in records}) == len(records)
        columns = json.loads((folder / f"{name}.json").read_text())["columns"]
        declared = sorted((c for c in columns if "keySequence" in c), key=lambda c: c["keySequence"])
        assert [c["name"] for c in declared] == keys
    lox = pick(rows(folder, "ex"), USUBJID="NCT02467504-RA-901", EXSTDTC="2027-01-04")
    assert len(lox) == 3


def test_blinded_sdtm_refuses_a_true_dose_that_differs_by_arm_as_fhir_and_redcap_do(tmp_path: Path) -> None:
    # Audit: a blinded sdtm export took a log with "500000 IU" for the blinded hrIL-2 of NCT04077684
    # (0.5 MIU in one arm, 1 MIU in the other) silently; fhir and redcap refuse it. Now sdtm does too,
    # exit 2, the amount not repeated, nothing written.
    from tests.test_export_fhir import cohort_of

    cohort = cohort_of(tmp_path, SLE, {"PX-001": "il2-0.5"})
    label = next(r.blinded_label for r in dosing.load_protocol(SLE).regimens if r.blinded_label)
    log = tmp_path / "log.csv"
    log.write_text(f"patient_id,drug,given_at,dose_given\nPX-001,{label},2027-01-04 09:00,500000 IU\n", "utf-8")
    args = ["export", "sdtm", str(SLE), "--cohort", str(cohort), "--out", str(tmp_path / "out"), "--log", str(log)]
    result = CliRunner().invoke(main, [*args, "--as-of", "2027-01-10"])
    assert result.exit_code == 2 and "would reveal the arm" in result.output and "500000" not in result.output
    assert "Fix: export with --unblinded" in result.output
    assert not (tmp_path / "out" / "nct04077684" / "sdtm").exists()
    unblinded = CliRunner().invoke(main, [*args, "--as-of", "2027-01-10", "--unblinded"])
    assert unblinded.exit_code == 0, unblinded.output


def test_placebo_is_dose_0_in_the_active_drugs_unit_in_ec_and_ex(seed: dict[str, Path], sle: dict[str, Path]) -> None:
    # Audit: the unblinded EC gave RA-902's placebo as 1000000 IU; the SLE EX gave PLACEBO in mL.
    # SDTMIG: placebo dose 0 in the active drug's unit (hrIL-2: IU), the same in EC and EX.
    ec = pick(rows(seed["unblinded"], "ec"), USUBJID="NCT02467504-RA-902", ECTRT="PLACEBO")
    given = [r for r in ec if r["ECOCCUR"] != "N"]  # SCHEDULED and PERFORMED Y (N has no dose)
    assert given and {(r["ECDOSE"], r["ECDOSU"]) for r in given} == {(0, "IU")}
    for folder, subject in ((seed, "NCT02467504-RA-902"), (sle, "NCT04077684-SLE-902")):
        ex = pick(rows(folder["unblinded"], "ex"), USUBJID=subject, EXTRT="PLACEBO")
        assert ex and {(r["EXDOSE"], r["EXDOSU"]) for r in ex} == {(0, "IU")}
    # blinded EC is unchanged: the dose as the worklist shows it
    blinded = pick(rows(seed["blinded"], "ec"), USUBJID="NCT02467504-RA-902", ECTRT=IL2, ECMOOD="SCHEDULED")
    assert {(r["ECDOSE"], r["ECDOSU"]) for r in blinded} == {(1000000, "IU")}


def test_epoch_follows_the_trial_design(seed: dict[str, Path]) -> None:
    # Audit: EPOCH was always TREATMENT though TE/TA start FOLLOW-UP on study day 85 (3 cycles of 28
    # days end on day 84). RA-901's weekly methotrexate (Wednesdays; day 1 = Monday 2027-01-04, so
    # days 3, 10, ..., 80 then 87, ...) runs to day 168: doses on days 3..80 are TREATMENT, 87.. FOLLOW-UP.
    te = {r["ETCD"]: r for r in rows(seed["blinded"], "te")}
    assert te["FU"]["TESTRL"] == "Study day 85"
    ec = pick(rows(seed["blinded"], "ec"), USUBJID="NCT02467504-RA-901", ECTRT="Methotrexate", ECMOOD="SCHEDULED")
    epochs = {(int(r["ECSTDY"]), r["EPOCH"]) for r in ec}  # type: ignore[call-overload]
    assert (80, "TREATMENT") in epochs and (87, "FOLLOW-UP") in epochs
    assert all((epoch == "FOLLOW-UP") == (day >= 85) for day, epoch in epochs)
    assert {r["EPOCH"] for r in rows(seed["unblinded"], "ex")} == {"TREATMENT"}  # the log is of days 1-31


def test_a_part_dose_in_blinded_terms_is_refused_not_written_as_the_whole_dose(tmp_path: Path) -> None:
    """Audit of issue 14: "0.5 syringe" of a blinded "1 syringe" was exported as the whole planned dose
    (ECDOSTXT "1 syringe"; unblinded EXDOSE 200,000 IU). SDTM records doses as collected, and the true
    amount of half a blinded syringe is not known: the export is refused, naming the log line."""

    protocol_path = PROTOCOLS / "nct04077684.toml"
    cohort = tmp_path / "c.csv"
    cohort.write_text(
        "".join((PROTOCOLS / "nct04077684-cohort.csv").read_text(encoding="utf-8").splitlines(keepends=True)[:3]),
        encoding="utf-8",
    )
    out = tmp_path / "o"
    made = CliRunner().invoke(main, ["generate", str(protocol_path), "--cohort", str(cohort), "--out", str(out)])
    assert made.exit_code == 0, made.output
    rows = list(csv.DictReader((out / "nct04077684" / "worklist.csv").open(encoding="utf-8-sig")))
    filled = [r | {"given_at": f"{r['date']} {r['time']}", "dose_given": "1 syringe"} for r in rows[:4]]
    filled[0]["dose_given"] = "0.5 syringe"  # log line 2: half the blinded dose
    log = tmp_path / "log.csv"
    with log.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(filled)
    args = ["export", "sdtm", str(protocol_path), "--cohort", str(cohort), "--log", str(log), "--as-of", "2027-01-20"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "(log line(s) 2): SDTM cannot record the amount given" in result.stderr
    assert not (out / "nct04077684" / "sdtm").exists()


def _codelist() -> dict[str, str]:
    """CDISC FREQ (C71113), CT 2025-03-25: submission value -> NCI code."""
    lines = (FIXTURES / "cdisc-freq-c71113.tsv").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[1]: line.split("\t")[0] for line in lines if not line.startswith("#")}


def test_every_frequency_term_is_in_the_cdisc_freq_codelist() -> None:
    # Audit: the table held QW, BIW, TIW, Q2W, Q3W and Q4W, none of which is a CDISC submission value
    # (CDISC says EVERY WEEK, 2 TIMES PER WEEK, 3 TIMES PER WEEK, EVERY 2/3/4 WEEKS).
    from dosing.io.write.sdtm.terminology import FREQUENCY_TERMS

    codelist = _codelist()
    assert sorted(FREQUENCY_TERMS - codelist.keys()) == []
    assert {t: codelist[t] for t in ("EVERY WEEK", "EVERY 3 WEEKS", "2 TIMES PER CYCLE", "Q8H", "ONCE", "PRN")} == {
        "EVERY WEEK": "C67069",
        "EVERY 3 WEEKS": "C64535",
        "2 TIMES PER CYCLE": "C176288",
        "Q8H": "C64523",
        "ONCE": "C64576",
        "PRN": "C64499",
    }
    assert not {"QW", "BIW", "TIW", "Q2W", "Q3W", "Q4W"} & codelist.keys()


@pytest.mark.parametrize(
    ("protocol", "regimen", "terms"),
    [
        ("gemcarbo", "gemcitabine", [(1, "2 TIMES PER CYCLE")]),  # days 1 and 8 of a 21-day cycle
        ("gemcarbo", "carboplatin", [(1, "EVERY 3 WEEKS")]),  # day 1 of a 21-day cycle (was QD)
        ("mfolfox6", "oxaliplatin", [(1, "EVERY 2 WEEKS")]),  # day 1 of a 14-day cycle
        ("mfolfox6", "ondansetron-pre", [(1, "EVERY 2 WEEKS")]),  # relative to oxaliplatin: its term
        ("capecitabine", "capecitabine", [(1, "BID")]),  # days 1-14 twice a day
        # day 1, then from day 71 every 9 weeks: FREQ has EVERY 8 and EVERY 10 WEEKS, not 9 -> ONCE
        ("pemetrexed-maintenance", "vitamin-b12", [(1, "EVERY 10 WEEKS"), (71, "ONCE")]),
        ("pemetrexed-maintenance", "dexamethasone-day-of", [(1, "EVERY 3 WEEKS")]),  # after pemetrexed: its term
        ("pemetrexed-maintenance", "metoclopramide-prn", [(8, "PRN")]),
        ("prednisone-pmr", "prednisone-taper", [(43, "QD")]),
    ],
)
def test_frequency_terms_of_the_library_by_hand(protocol: str, regimen: str, terms: list[tuple[int, str]]) -> None:
    from dosing.io.write.sdtm.terminology import frequency_terms

    loaded = dosing.load_protocol(PROTOCOLS / f"{protocol}.toml")
    assert frequency_terms(loaded, loaded.regimen(regimen)) == terms


def test_an_infusions_end_is_its_start_plus_its_duration_by_hand(tmp_path: Path) -> None:
    # mFOLFOX6: fluorouracil 2400 mg/m2 over 46 hours from 11:00 on cycle day 1, a bolus of 400 mg/m2 at
    # 11:00 (a point in time), oxaliplatin 85 mg/m2 over 2 hours from 09:00. 180 cm, 80 kg: Mosteller
    # sqrt(180 x 80 / 3600) = 2.0 m2, so 4800 mg, 800 mg and 170 mg. FOX-901 starts Monday 2027-01-04 in
    # Berlin (+01:00): the pump runs 2027-01-04 11:00 to 2027-01-06 09:00 (study days 1 to 3). FOX-902
    # starts 2027-03-12: cycle 2 starts 2027-03-26 11:00 +01:00 = 10:00 UTC; 46 hours later is
    # 2027-03-28 08:00 UTC, after the clocks went forward that night: 10:00 +02:00, study day 17.
    cohort = write(
        tmp_path,
        "cohort.csv",
        "patient_id,arm,start_date,timezone,site,height,weight\n"
        "FOX-901,mfolfox6,2027-01-04,Europe/Berlin,Charite,180,80\n"
        "FOX-902,mfolfox6,2027-03-12,Europe/Berlin,Charite,180,80\n",
    )
    # the log: FOX-901's oxaliplatin started at 09:10: it ends 2 hours later (the log records starts only)
    log = write(tmp_path, "log.csv", "patient_id,drug,given_at\nFOX-901,Oxaliplatin,2027-01-04 09:10\n")
    args = ["--log", str(log), "--as-of", "2027-01-05", "--unblinded"]
    folder, _ = export(tmp_path / "out", PROTOCOLS / "mfolfox6.toml", cohort, *args)
    ec = rows(folder, "ec")
    fu = pick(ec, USUBJID="MFOLFOX6-FOX-901", ECTRT="Fluorouracil", ECMOOD="SCHEDULED")
    pump = [(r["ECSTDTC"], r["ECENDTC"], r["ECSTDY"], r["ECENDY"]) for r in fu if r["ECDOSE"] == 4800]
    assert pump[0] == ("2027-01-04T11:00+01:00", "2027-01-06T09:00+01:00", 1, 3)
    bolus = [(r["ECSTDTC"], r["ECENDTC"], r["ECENDY"]) for r in fu if r["ECDOSE"] == 800]
    assert bolus[0] == ("2027-01-04T11:00+01:00", "2027-01-04T11:00+01:00", 1)  # a point in time: end = start
    spring = pick(ec, USUBJID="MFOLFOX6-FOX-902", ECTRT="Fluorouracil", ECMOOD="SCHEDULED", ECDOSE=4800)
    assert (spring[1]["ECSTDTC"], spring[1]["ECENDTC"], spring[1]["ECENDY"]) == (
        "2027-03-26T11:00+01:00",
        "2027-03-28T10:00+02:00",
        17,
    )
    given = pick(ec, USUBJID="MFOLFOX6-FOX-901", ECTRT="Oxaliplatin", ECMOOD="PERFORMED")
    assert [(r["ECOCCUR"], r["ECSTDTC"], r["ECENDTC"], r["ECDOSE"]) for r in given] == [
        ("Y", "2027-01-04T09:10+01:00", "2027-01-04T11:10+01:00", 170)
    ]
    ex = pick(rows(folder, "ex"), USUBJID="MFOLFOX6-FOX-901", EXTRT="Oxaliplatin")
    assert [(r["EXSTDTC"], r["EXENDTC"], r["EXENDY"], r["EXDOSE"], r["EXDOSU"]) for r in ex] == [
        ("2027-01-04T09:10+01:00", "2027-01-04T11:10+01:00", 1, 170, "mg")
    ]


def test_an_infusion_logged_as_a_date_alone_has_no_end(tmp_path: Path) -> None:
    # The log gives FOX-901's oxaliplatin as 2027-01-04 without a time: the start is that date, and when
    # a 2-hour infusion ended is not known: ECENDTC and ECENDY are empty (never the start's date).
    cohort = write(
        tmp_path,
        "cohort.csv",
        "patient_id,arm,start_date,timezone,site,height,weight\nFOX-901,mfolfox6,2027-01-04,Europe/Berlin,Charite,180,80\n",
    )
    log = write(tmp_path, "log.csv", "patient_id,drug,given_at\nFOX-901,Oxaliplatin,2027-01-04\n")
    folder, _ = export(
        tmp_path / "out", PROTOCOLS / "mfolfox6.toml", cohort, "--log", str(log), "--as-of", "2027-01-05"
    )
    given = pick(rows(folder, "ec"), ECTRT="Oxaliplatin", ECMOOD="PERFORMED")
    assert [(r["ECSTDTC"], r["ECENDTC"], r["ECSTDY"], r["ECENDY"]) for r in given] == [("2027-01-04", None, 1, None)]
    frame, _ = pyreadstat.read_xport(str(folder / "ec.xpt"))
    assert frame["ECENDY"].isna().sum() == 1


def test_a_logged_as_needed_dose_is_a_performed_record_and_an_ex_record_by_hand(tmp_path: Path) -> None:
    # Pemetrexed maintenance: metoclopramide 10 mg as needed (no planned dose). PEM-001 starts Monday
    # 2027-03-22 in Madrid; the log gives it on 2027-03-30 (study day 9, +02:00 since 03-28) at 08:00
    # and 14:30, the second with "10 mg". Each is a PERFORMED record (ECOCCUR Y, ECDOSFRQ PRN) with no
    # SCHEDULED one, linked to its EX record by patient, regimen and log line.
    lines = (PROTOCOLS / "pemetrexed-maintenance-cohort.csv").read_text(encoding="utf-8").splitlines()
    cohort = write(tmp_path, "cohort.csv", "\n".join(lines[:2]) + "\n")
    log = write(
        tmp_path,
        "log.csv",
        "patient_id,drug,given_at,dose_given\n"
        "PEM-001,Metoclopramide,2027-03-30 08:00,\n"
        "PEM-001,Metoclopramide,2027-03-30 14:30,10 mg\n",
    )
    args = ["--log", str(log), "--as-of", "2027-03-31", "--unblinded"]
    folder, _ = export(tmp_path / "out", PROTOCOLS / "pemetrexed-maintenance.toml", cohort, *args)
    ec = pick(rows(folder, "ec"), ECTRT="Metoclopramide")
    assert [(r["ECMOOD"], r["ECOCCUR"], r["ECSTDTC"], r["ECENDTC"], r["ECSTDY"], r["ECDOSE"], r["ECDOSU"],
             r["ECDOSFRQ"], r["ECLNKID"]) for r in ec] == [
        ("PERFORMED", "Y", "2027-03-30T08:00+02:00", "2027-03-30T08:00+02:00", 9, 10, "mg", "PRN",
         "PEM-001.metoclopramide-prn.prn-line-2"),
        ("PERFORMED", "Y", "2027-03-30T14:30+02:00", "2027-03-30T14:30+02:00", 9, 10, "mg", "PRN",
         "PEM-001.metoclopramide-prn.prn-line-3"),
    ]  # fmt: skip
    ex = pick(rows(folder, "ex"), EXTRT="Metoclopramide")
    assert [(r["EXSTDTC"], r["EXDOSE"], r["EXDOSFRQ"], r["EXROUTE"], r["EXLNKID"]) for r in ex] == [
        ("2027-03-30T08:00+02:00", 10, "PRN", "ORAL", "PEM-001.metoclopramide-prn.prn-line-2"),
        ("2027-03-30T14:30+02:00", 10, "PRN", "ORAL", "PEM-001.metoclopramide-prn.prn-line-3"),
    ]
    records = rows(folder, "ec")
    assert [r["ECSEQ"] for r in records] == list(range(1, len(records) + 1))
