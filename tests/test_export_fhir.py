"""``dosing export fhir``: FHIR R4 JSON that validates through the fhir.resources R4B models, whose
Timing gives back doses.csv dose for dose, that names the patient by identifier only, and whose blinded
export is the same bytes whichever arm a patient is in.

Golden files (tests/golden/fhir/) are the export of the seed protocol for two patients (RA-900 active,
RA-901 placebo, both from 2027-01-04) with a hold and a log of cycle 1; regenerate deliberately with
DOSING_REGOLD=1 after checking the difference by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.plandefinition import PlanDefinition

import dosing
from dosing.cli import main
from dosing.errors import ProtocolError
from dosing.io.write.fhir.codes import UCUM
from dosing.jobs.exports import BlindedExportRefused
from tests.conftest import FIXTURES, PROTOCOLS
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_blinding import PAIRS, leaks, template_row

GOLDEN = Path(__file__).parent / "golden" / "fhir"
SEED = PROTOCOLS / "nct02467504.toml"
TWO = FIXTURES / "seed-two-patients.csv"
HOLD = FIXTURES / "changes-seed-il2-hold.csv"
LOG = FIXTURES / "log-seed-two-patients-cycle-1.csv"
SHIPPED = sorted(PROTOCOLS.glob("*.toml"))
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def export(protocol_path: Path, cohort_path: Path, out: Path, **options: object) -> Path:
    protocol = dosing.load_protocol(protocol_path)
    cohort = dosing.load_cohort(cohort_path, protocol)
    if "changes" in options and isinstance(options["changes"], Path):
        options["changes"] = dosing.load_changes(options["changes"], protocol, cohort)
    return dosing.export_fhir(protocol, cohort, out, **options).folder  # type: ignore[arg-type]


def bundles(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted((folder / "bundles").glob("*.json"))}


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


# ---- the Timing round trip ---------------------------------------------------------------------


def end_of(day: dt.date, time: str, repeat: dict, zone: str) -> str:
    """An infusion's end ("2027-01-06 09:00", local): its start plus Timing.repeat.duration, elapsed
    time in the Timing's zone (its timezone extension); "" for a dose without duration."""
    if "duration" not in repeat:
        return ""
    hours = {"h": 1.0, "min": 1 / 60}[repeat["durationUnit"]] * repeat["duration"]
    start = pd.Timestamp(f"{day.isoformat()} {time[:5]}").tz_localize(zone)
    return (start + pd.Timedelta(hours=hours)).tz_convert(zone).strftime("%Y-%m-%d %H:%M")


def rebuild(request: dict) -> set[tuple[str, str, str, str]]:
    """(date, time, dose, end) of every dose a MedicationRequest's Timing describes: each date from the
    bounds' start date in steps of the period (or each date on dayOfWeek for a daily run on weekdays),
    at each timeOfDay, kept when inside the bounds (both ends included; local times, as the bounds carry
    the patient's offset); an infusion ends its Timing's duration after its start."""
    doses = set()
    for dosage in request["dosageInstruction"]:
        repeat = dosage["timing"]["repeat"]
        zone = dosage["timing"]["extension"][0]["valueCode"]
        start, end = (repeat["boundsPeriod"][k][:16] for k in ("start", "end"))
        first, last = dt.date.fromisoformat(start[:10]), dt.date.fromisoformat(end[:10])
        step = repeat["period"] * (7 if repeat["periodUnit"] == "wk" else 1)
        days = [first + dt.timedelta(days=n) for n in range(0, (last - first).days + 1, step)]
        if repeat["periodUnit"] == "d" and "dayOfWeek" in repeat:
            days = [d for d in days if WEEKDAYS[d.weekday()] in repeat["dayOfWeek"]]
        if repeat["periodUnit"] == "wk":
            assert repeat["dayOfWeek"] == [WEEKDAYS[first.weekday()]]
        assert repeat["frequency"] == len(repeat["timeOfDay"])
        quantity = dosage.get("doseAndRate", [{}])[0].get("doseQuantity")
        dose = f"{quantity['value']:g}" if quantity else dosage["text"].split(" ", 2)[0] + " syringe"
        for day in days:
            for time in repeat["timeOfDay"]:
                stamp = f"{day.isoformat()}T{time[:5]}"
                if start <= stamp <= end:
                    doses.add((day.isoformat(), time[:5], dose, end_of(day, time, repeat, zone)))
    return doses


def planned(doses_csv: Path) -> dict[tuple[str, str, str], set[tuple[str, str, str, str]]]:
    """doses.csv as {(patient, drug, regimen key): {(date, time, dose, end)}}, held doses left out; the
    end ("2027-01-06 09:00") of an infusion, "" for a dose without duration. The key
    (the uid's middle: "RA-901.b-hril-2-or-placebo.d001.0900@...") tells apart two regimens of one drug
    (a bolus and an infusion of fluorouracil; a loading dose and a taper of prednisone)."""
    table = pd.read_csv(doses_csv, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    table = table[table["status"] != "held"]
    dose = table["dose"].map(lambda v: f"{float(v):g}" if v.replace(".", "").isdigit() else v)
    uids = zip(table["patient_id"], table["uid"], strict=True)
    keys = [uid.split("@")[0][len(patient) + 1 :].rsplit(".", 2)[0] for patient, uid in uids]
    ends = (table["end_date"] + " " + table["end_time"]).str.strip()
    out: dict[tuple[str, str, str], set[tuple[str, str, str, str]]] = {}
    rows = zip(table["patient_id"], table["drug"], keys, table["date"], table["time"], dose, ends, strict=True)
    for patient, drug, key, date, time, amount, end in rows:
        out.setdefault((patient, drug, key), set()).add((date, time, amount, end))
    return out


def as_needed(request: dict) -> bool:
    return all(d.get("asNeededBoolean") for d in request["dosageInstruction"])


def request_key(pid: str, request: dict) -> tuple[str, str, str]:
    return (pid, request["medicationCodeableConcept"]["text"], request["identifier"][0]["value"])


@pytest.mark.parametrize("protocol_path", SHIPPED, ids=lambda p: p.stem)
def test_timing_gives_back_doses_csv_dose_for_dose(tmp_path: Path, protocol_path: Path) -> None:
    cohort = protocol_path.with_name(protocol_path.stem + "-cohort.csv")
    protocol = dosing.load_protocol(protocol_path)
    patients = dosing.load_cohort(cohort, protocol)
    generated = dosing.generate(protocol, patients, tmp_path / "gen", feeds=False).folder
    folder = export(protocol_path, cohort, tmp_path / "fhir")
    expected = planned(generated / "doses.csv")
    rebuilt = {}
    for pid, bundle in bundles(folder).items():
        for request in resources(bundle, "MedicationRequest"):
            if not as_needed(request):  # an as-needed request plans no dose (doses.csv has none)
                rebuilt[request_key(pid, request)] = rebuild(request)
    assert rebuilt.keys() == expected.keys()
    for key in expected:
        assert rebuilt[key] == expected[key], key


def test_round_trip_with_changes_leaves_out_held_doses_and_splits_at_a_delay(tmp_path: Path) -> None:
    protocol = dosing.load_protocol(SEED)
    patients = dosing.load_cohort(PROTOCOLS / "nct02467504-cohort.csv", protocol)
    changes = dosing.load_changes(PROTOCOLS / "nct02467504-changes.csv", protocol, patients)
    dosing.generate(protocol, patients, tmp_path / "gen", feeds=False, changes=changes)
    folder = dosing.export_fhir(protocol, patients, tmp_path / "fhir", changes=changes).folder
    expected = planned(tmp_path / "gen" / "nct02467504" / "doses.csv")
    for pid, bundle in bundles(folder).items():
        for request in resources(bundle, "MedicationRequest"):
            if not as_needed(request):
                assert rebuild(request) == expected[request_key(pid, request)], pid


def test_seed_timing_by_hand(tmp_path: Path) -> None:
    """RA-900 starts Monday 2027-01-04. hrIL-2: every 2 days for 14 days, 28-day cycles, 3 cycles ->
    cycle 1 days 1-13 (2027-01-04..01-16), cycle 2 days 29-41 (02-01..02-13), cycle 3 days 57-69
    (03-01..03-13), at 09:00 (+08:00, Asia/Shanghai). Methotrexate on the patient's Wednesday at 08:00,
    15 mg: first Wednesday 2027-01-06, last on or before day 168 (2027-06-20, a Sunday) is 2027-06-16.
    Folic acid daily except Wednesday, 1 mg at 08:00, 2027-01-04 (Mon) to 2027-06-20 (Sun)."""
    folder = export(SEED, FIXTURES / "seed-one-patient.csv", tmp_path)
    requests = {
        r["medicationCodeableConcept"]["text"]: r for r in resources(bundles(folder)["RA-900"], "MedicationRequest")
    }
    il2 = [d["timing"]["repeat"] for d in requests["hrIL-2 or placebo"]["dosageInstruction"]]
    assert [(r["boundsPeriod"]["start"], r["boundsPeriod"]["end"]) for r in il2] == [
        ("2027-01-04T09:00:00+08:00", "2027-01-16T09:00:00+08:00"),
        ("2027-02-01T09:00:00+08:00", "2027-02-13T09:00:00+08:00"),
        ("2027-03-01T09:00:00+08:00", "2027-03-13T09:00:00+08:00"),
    ]
    assert {(r["frequency"], r["period"], r["periodUnit"], tuple(r["timeOfDay"])) for r in il2} == {
        (1, 2, "d", ("09:00:00",))
    }
    (mtx,) = requests["Methotrexate"]["dosageInstruction"]
    assert mtx["timing"]["repeat"] == {
        "boundsPeriod": {"start": "2027-01-06T08:00:00+08:00", "end": "2027-06-16T08:00:00+08:00"},
        "frequency": 1,
        "period": 1,
        "periodUnit": "wk",
        "dayOfWeek": ["wed"],
        "timeOfDay": ["08:00:00"],
    }
    assert mtx["doseAndRate"][0]["doseQuantity"] == {
        "value": 15,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert mtx["route"]["coding"][0]["code"] == "26643006"  # SNOMED CT: oral route
    (folic,) = requests["Folic acid"]["dosageInstruction"]
    assert folic["timing"]["repeat"]["dayOfWeek"] == ["mon", "tue", "thu", "fri", "sat", "sun"]
    assert folic["timing"]["repeat"]["boundsPeriod"]["end"] == "2027-06-20T08:00:00+08:00"
    injection = requests["hrIL-2 or placebo"]["dosageInstruction"][0]
    assert injection["route"]["coding"][0]["code"] == "34206005"  # SNOMED CT: subcutaneous route
    assert injection["doseAndRate"][0]["doseQuantity"]["code"] == "[IU]"


def test_capecitabine_evening_of_day_1_to_morning_of_day_15_is_one_run_per_cycle(tmp_path: Path) -> None:
    """1250 mg/m2 twice daily, first dose the evening of day 1, last the morning of day 15, 21-day
    cycles x 8: eight runs, each bounded by day 1 evening and day 15 morning (CAPE-001 from 2027-03-01,
    Europe/Berlin: cycle 2 starts 2027-03-22, and its day 15, 2027-04-05, is in summer time)."""
    folder = export(PROTOCOLS / "capecitabine.toml", PROTOCOLS / "capecitabine-cohort.csv", tmp_path)
    (request,) = resources(bundles(folder)["CAPE-001"], "MedicationRequest")
    repeats = [d["timing"]["repeat"] for d in request["dosageInstruction"]]
    assert len(repeats) == 8
    assert repeats[0]["boundsPeriod"] == {"start": "2027-03-01T20:00:00+01:00", "end": "2027-03-15T08:00:00+01:00"}
    assert repeats[1]["boundsPeriod"] == {"start": "2027-03-22T20:00:00+01:00", "end": "2027-04-05T08:00:00+02:00"}


# ---- validation, the PlanDefinition, privacy ------------------------------------------------------


@pytest.mark.parametrize("protocol_path", SHIPPED, ids=lambda p: p.stem)
def test_every_resource_validates_against_the_r4_models(tmp_path: Path, protocol_path: Path) -> None:
    folder = export(protocol_path, protocol_path.with_name(protocol_path.stem + "-cohort.csv"), tmp_path)
    PlanDefinition.model_validate(json.loads((folder / "plan-definition.json").read_text(encoding="utf-8")))
    for bundle in bundles(folder).values():
        Bundle.model_validate(bundle)


def test_export_with_a_log_validates_and_says_what_was_given(tmp_path: Path) -> None:
    """As of 2027-01-18 the doses of days 1-14 (2027-01-04..01-17) are due. RA-900: hrIL-2 on days 1, 3,
    5, 7, 9, 11, 13: day 3 held (changes file), day 13 not logged (missed), 5 given; methotrexate on both
    Wednesdays (01-06, 01-13) given; folic acid 14 - 2 Wednesdays = 12 missed; loxoprofen 14 x 3 = 42
    missed. RA-901: all 7 injections given; methotrexate on its Sundays 01-10 and 01-17 missed."""
    folder = export(SEED, TWO, tmp_path, changes=HOLD, log=LOG, as_of=dt.date(2027, 1, 18))
    found = bundles(folder)
    for bundle in found.values():
        Bundle.model_validate(bundle)
    counts = {
        pid: Counter(
            (r["medicationCodeableConcept"]["text"], r["status"]) for r in resources(b, "MedicationAdministration")
        )
        for pid, b in found.items()
    }
    label = "hrIL-2 or placebo"
    assert counts["RA-900"] == Counter(
        {(label, "completed"): 5, (label, "not-done"): 2, ("Methotrexate", "completed"): 2,
         ("Folic acid", "not-done"): 12, ("Loxoprofen", "not-done"): 42}
    )  # fmt: skip
    assert counts["RA-901"] == Counter(
        {(label, "completed"): 7, ("Methotrexate", "not-done"): 2, ("Folic acid", "not-done"): 12,
         ("Loxoprofen", "not-done"): 42}
    )  # fmt: skip
    injections = [
        r
        for r in resources(found["RA-900"], "MedicationAdministration")
        if r["medicationCodeableConcept"]["text"] == label
    ]
    reasons = {
        r["effectiveDateTime"]: r["statusReason"][0]["text"].split(":")[0]
        for r in injections
        if r["status"] == "not-done"
    }
    assert reasons == {"2027-01-06T09:00:00+08:00": "held", "2027-01-16T09:00:00+08:00": "missed"}
    late = next(r for r in injections if r["effectiveDateTime"].startswith("2027-01-08"))
    assert late["effectiveDateTime"] == "2027-01-08T09:05:00+08:00"
    assert late["dosage"]["dose"]["value"] == 1000000
    request_urls = {
        e["fullUrl"] for e in found["RA-900"]["entry"] if e["resource"]["resourceType"] == "MedicationRequest"
    }
    assert {r["request"]["reference"] for r in injections} <= request_urls


def test_patients_are_named_by_identifier_only(tmp_path: Path) -> None:
    folder = export(SEED, TWO, tmp_path)
    for pid, bundle in bundles(folder).items():
        subjects = [e["resource"]["subject"] for e in bundle["entry"]]
        assert subjects and all(
            s == {"identifier": {"system": "urn:dosing:nct02467504:patient", "value": pid}} for s in subjects
        )
        assert not any(e["resource"]["resourceType"] == "Patient" for e in bundle["entry"])
        text = json.dumps(bundle)
        assert "birthDate" not in text and '"name"' not in text


def test_cyclic_regimen_is_a_cycle_action_with_days_of_cycle(tmp_path: Path) -> None:
    """hrIL-2: every 2 days in the first 14 days of a 28-day cycle, 3 cycles -> cycle days 1, 3, ..., 13."""
    folder = export(SEED, TWO, tmp_path)
    plan = json.loads((folder / "plan-definition.json").read_text(encoding="utf-8"))
    action = next(a for a in plan["action"] if a["title"] == "hrIL-2 or placebo")
    assert action["id"] == "b-hril-2-or-placebo"
    (cycle,) = action["action"]
    assert cycle["title"] == "28-day cycle for 3 cycles"
    assert cycle["timingTiming"] == {"repeat": {"count": 3, "duration": 28, "durationUnit": "d"}}
    (days,) = cycle["action"]
    (extension,) = days["timingTiming"]["extension"]
    assert extension["url"] == "http://hl7.org/fhir/StructureDefinition/timing-daysOfCycle"
    assert [e["valueInteger"] for e in extension["extension"]] == [1, 3, 5, 7, 9, 11, 13]
    assert [a["title"] for a in plan["action"]].count("hrIL-2 or placebo") == 1  # both arms' regimens, once


def test_unknown_route_is_an_error_naming_the_field(tmp_path: Path) -> None:
    text = SEED.read_text(encoding="utf-8").replace(
        'route = "oral"\ntimes = ["08:00"]\ninstructions = "not on',
        'route = "rectal"\ntimes = ["08:00"]\ninstructions = "not on',
    )
    path = tmp_path / "rectal.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"regimens\[3\]\.route: route 'rectal' has no SNOMED CT code") as err:
        export(path, FIXTURES / "seed-one-patient.csv", tmp_path / "out")
    assert "Fix:" in str(err.value)
    assert not (tmp_path / "out" / "nct02467504" / "fhir").exists()


# ---- blinding -----------------------------------------------------------------------------------


def cohort_of(tmp_path: Path, protocol_path: Path, arms: dict[str, str]) -> Path:
    row = template_row(protocol_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "cohort.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        for patient, arm in arms.items():
            writer.writerow({**row, "patient_id": patient, "arm": arm})
    return path


def cli_export(
    tmp_path: Path, protocol_path: Path, arms: dict[str, str], fmt: str = "fhir"
) -> tuple[dict[str, bytes], str]:
    cohort = cohort_of(tmp_path, protocol_path, arms)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", fmt, str(protocol_path), "--cohort", str(cohort), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    files = {str(p.relative_to(folder / fmt)): p.read_bytes() for p in sorted((folder / fmt).rglob("*")) if p.is_file()}
    manifest = json.loads(files.pop("manifest.json"))
    assert manifest["inputs"]["cohort"]["sha256"]
    return files, result.output.replace(str(tmp_path), "<tmp>")


@pytest.mark.parametrize(("protocol_path", "arm_a", "arm_b"), PAIRS, ids=[f"{p.stem}:{a}-vs-{b}" for p, a, b in PAIRS])
def test_swapping_arms_changes_no_byte_of_the_blinded_export(
    tmp_path: Path, protocol_path: Path, arm_a: str, arm_b: str
) -> None:
    first, said_first = cli_export(tmp_path / "1", protocol_path, {"PX-001": arm_a, "PX-002": arm_b})
    second, said_second = cli_export(tmp_path / "2", protocol_path, {"PX-001": arm_b, "PX-002": arm_a})
    assert said_first.replace("<tmp>/1", "<tmp>") == said_second.replace("<tmp>/2", "<tmp>")
    assert first.keys() == second.keys() and len(first) == 3
    for name in first:
        assert first[name] == second[name], f"{name} reveals which patient is in which arm"


@pytest.mark.parametrize("protocol_path", sorted({p for p, _, _ in PAIRS}), ids=lambda p: p.stem)
def test_no_arm_or_true_drug_in_the_blinded_export(tmp_path: Path, protocol_path: Path) -> None:
    protocol = dosing.load_protocol(protocol_path)
    files, said = cli_export(tmp_path, protocol_path, {f"PX-{i:03d}": arm.id for i, arm in enumerate(protocol.arms)})
    for name, content in files.items():
        # "active" is an arm id of the seed protocol, and also FHIR's status code and a word of the study's
        # title: both the same in every arm (the swap test above proves it), so not searched
        text = content.decode("utf-8").replace('"status": "active"', "").replace(protocol.study.title, "")
        assert leaks(name, protocol) == [] and leaks(text, protocol) == [], name
    assert leaks(said, protocol) == []


def test_blinded_export_refuses_a_log_that_gives_a_dose_differing_by_arm(tmp_path: Path) -> None:
    """NCT04077684's doses differ by arm (0.2, 0.5, 1 MIU or placebo, all "1 syringe" when blinded): a
    log that writes 200000 IU would tell the arm in MedicationAdministration.dosage. Refused, nothing written."""
    path = PROTOCOLS / "nct04077684.toml"
    cohort = cohort_of(tmp_path, path, {"PX-001": "il2-0.2"})
    log = tmp_path / "log.csv"
    log.write_text(
        "patient_id,drug,given_at,dose_given\nPX-001,IL-2 or placebo,2027-01-04 09:00,200000 IU\n", encoding="utf-8"
    )
    label = next(r.blinded_label for r in dosing.load_protocol(path).regimens if r.blinded_label)
    log.write_text(log.read_text(encoding="utf-8").replace("IL-2 or placebo", str(label)), encoding="utf-8")
    args = ["export", "fhir", str(path), "--cohort", str(cohort), "--out", str(tmp_path / "out"), "--log", str(log)]
    result = CliRunner().invoke(main, [*args, "--as-of", "2027-01-10"])
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output and "would reveal the arm" in result.output and "line 2" in result.output
    assert "Fix: export with --unblinded" in result.output and "Traceback" not in result.output
    assert "200000" not in result.output and "0.2" not in result.output
    assert not (tmp_path / "out" / "nct04077684" / "fhir").exists()
    unblinded = CliRunner().invoke(main, [*args, "--as-of", "2027-01-10", "--unblinded"])
    assert unblinded.exit_code == 0, unblinded.output
    with pytest.raises(BlindedExportRefused):
        protocol = dosing.load_protocol(path)
        dosing.export_fhir(
            protocol, dosing.load_cohort(cohort, protocol), tmp_path / "api", log=log, as_of=dt.date(2027, 1, 10)
        )


def test_unblinded_export_names_the_true_drug_in_its_own_folder(tmp_path: Path) -> None:
    folder = export(SEED, TWO, tmp_path, unblinded=True)
    assert folder == tmp_path / "nct02467504-UNBLINDED" / "fhir"
    drugs = {r["medicationCodeableConcept"]["text"] for r in resources(bundles(folder)["RA-901"], "MedicationRequest")}
    assert "Placebo" in drugs and "hrIL-2 or placebo" not in drugs
    assert not (tmp_path / "nct02467504").exists()


# ---- golden files -------------------------------------------------------------------------------


def check_golden(name: str, actual: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("DOSING_REGOLD"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
    assert path.exists(), f"missing golden file {path}; create it with DOSING_REGOLD=1"
    assert actual == path.read_bytes(), f"{name} differs from {path}; if the change is intended, DOSING_REGOLD=1"


def test_golden_seed_two_patients_with_a_hold_and_a_log(tmp_path: Path) -> None:
    folder = export(SEED, TWO, tmp_path, changes=HOLD, log=LOG, as_of=dt.date(2027, 1, 18))
    check_golden("plan-definition.json", (folder / "plan-definition.json").read_bytes())
    for path in sorted((folder / "bundles").glob("*.json")):
        check_golden(f"bundles/{path.name}", path.read_bytes())


def test_generate_keeps_an_export_and_says_when_its_plan_changed(tmp_path: Path) -> None:
    """An export before the first generate is not "files dosing did not write"; a later generate keeps
    fhir/ (as it keeps adherence/) and, run with other inputs (a changes file), says the export is stale."""
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(TWO, protocol)
    folder = dosing.export_fhir(protocol, cohort, tmp_path).folder
    before = (folder / "bundles" / "RA-900.json").read_bytes()
    result = dosing.generate(protocol, cohort, tmp_path, feeds=False)
    assert (folder / "bundles" / "RA-900.json").read_bytes() == before
    assert not [n for n in result.notes if "fhir/" in n]
    changed = dosing.generate(
        protocol, cohort, tmp_path, feeds=False, changes=dosing.load_changes(HOLD, protocol, cohort)
    )
    assert (folder / "bundles" / "RA-900.json").read_bytes() == before
    plan = "another plan (protocol, cohort or changes)"
    assert f"fhir/ was exported from {plan}: run dosing export fhir again" in changed.notes


def _not_done(folder: Path, patient: str) -> list[tuple[str, str]]:
    given = resources(bundles(folder)[patient], "MedicationAdministration")
    drug = "hrIL-2 or placebo"
    il2 = [r for r in given if r["status"] == "not-done" and r["medicationCodeableConcept"]["text"] == drug]
    return [(r["effectiveDateTime"][:10], r["statusReason"][0]["text"]) for r in il2]


def test_a_held_dose_carries_the_changes_files_reason(tmp_path: Path) -> None:
    """Audit: statusReason said only "held: the study's changes file holds this dose". The changes file
    holds RA-900's injection of 2027-01-06 "fever on the morning of the injection" (written by blinded
    staff, so the blinded export shows it too); RA-900's 2027-01-16 injection is not in the log: missed."""
    folder = export(SEED, TWO, tmp_path, changes=HOLD, log=LOG, as_of=dt.date(2027, 1, 18))
    assert _not_done(folder, "RA-900") == [
        ("2027-01-06", "held: fever on the morning of the injection"),
        ("2027-01-16", "missed: no administration was logged for this planned dose"),
    ]


def test_log_without_as_of_is_judged_as_of_today_and_a_later_hold_is_not_done_yet(tmp_path: Path) -> None:
    """Audit: without --as-of the manifest said "as_of": null and a hold not yet due was written as a
    not-done administration. Today (2026-12) is before the whole log (2027-01, 14 rows) and the hold
    (2027-01-06): the manifest records today, the summary says all 14 rows are left out, no administration."""
    today = dt.date.today()
    assert today < dt.date(2027, 1, 4), "the fixture log must lie after today for this test"
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(TWO, protocol)
    changes = dosing.load_changes(HOLD, protocol, cohort)
    result = dosing.export_fhir(protocol, cohort, tmp_path, changes=changes, log=LOG)
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["options"]["as_of"] == today.isoformat()
    rows = sum(1 for _ in LOG.open()) - 1
    assert f"given after {today.isoformat()} (left out): {rows}" in result.summary()
    assert all(resources(b, "MedicationAdministration") == [] for b in bundles(result.folder).values())
    # as of the day after the hold, it is written (not-done, with its reason)
    later = dosing.export_fhir(protocol, cohort, tmp_path, changes=changes, log=LOG, as_of=dt.date(2027, 1, 7))
    assert ("2027-01-06", "held: fever on the morning of the injection") in _not_done(later.folder, "RA-900")


def _plan(tmp_path: Path, protocol_path: Path, unblinded: bool) -> dict:
    protocol = dosing.load_protocol(protocol_path)
    cohort = dosing.load_cohort(cohort_of(tmp_path, protocol_path, {"P-1": protocol.arms[0].id}), protocol)
    folder = dosing.export_fhir(protocol, cohort, tmp_path / "out", unblinded=unblinded).folder
    return json.loads((folder / "plan-definition.json").read_text(encoding="utf-8"))


def test_plan_definition_orders_phases_groups_arms_and_says_the_first_dose(tmp_path: Path) -> None:
    """Audit: NCT04077684's phase 2 read "every 7 days; for 84 days; from study day 1", the unblinded
    PlanDefinition listed the arms' regimens as siblings, and capecitabine's first_dose 20:00 was lost.
    Phase 1 (every 2 days for 12 weeks) is study days 1-84; phase 2 (every 7 days) days 85-168 and
    starts after the end of phase 1."""
    plan = _plan(tmp_path / "sle", PROTOCOLS / "nct04077684.toml", unblinded=True)
    PlanDefinition.model_validate(plan)
    assert [a["id"] for a in plan["action"]] == ["arm-il2-0.2", "arm-il2-0.5", "arm-il2-1.0", "arm-placebo"]
    assert [a["title"] for a in plan["action"]] == ["hrIL-2 0.2 MIU", "hrIL-2 0.5 MIU", "hrIL-2 1 MIU", "Placebo"]
    low = plan["action"][0]["action"]
    assert [r["id"] for r in low] == ["il2-0.2-il2-low"]
    first, second = low[0]["action"]
    assert first["textEquivalent"] == "every 2 days; for 84 days; from study day 1 to 84"
    assert second["textEquivalent"] == "every 7 days; for 84 days; from study day 85 to 168"
    assert second["relatedAction"] == [{"actionId": first["id"], "relationship": "after-end"}]
    assert "relatedAction" not in first
    # blinded: one action per label, phases ordered the same way, no arm named
    blinded = _plan(tmp_path / "sle-blinded", PROTOCOLS / "nct04077684.toml", unblinded=False)
    phases = blinded["action"][0]["action"]
    assert phases[1]["relatedAction"][0]["relationship"] == "after-end" and "arm-" not in json.dumps(blinded)
    cape = _plan(tmp_path / "cape", PROTOCOLS / "capecitabine.toml", unblinded=False)
    action = cape["action"][0]
    assert action["description"].endswith("; the first dose at 20:00")
    assert action["action"][0]["textEquivalent"].endswith("; the first dose at 20:00")


def test_an_infusion_carries_its_duration_and_its_end_by_hand(tmp_path: Path) -> None:
    """mFOLFOX6, FOX-901 from Monday 2027-01-04 in Berlin (+01:00): fluorouracil over 46 hours from 11:00
    (Timing.repeat duration 46 h), oxaliplatin over 2 hours from 09:00 (duration 2 h), the bolus at 11:00
    (no duration). The log gives oxaliplatin started at 09:10: its administration runs 09:10 to 11:10
    (a log records starts only). As of 2027-01-05 the pump of day 1 is due and not logged: not-done, for
    the planned period 2027-01-04 11:00 to 2027-01-06 09:00."""
    cohort = tmp_path / "cohort.csv"
    cohort.write_text(
        "patient_id,arm,start_date,timezone,site,height,weight\n"
        "FOX-901,mfolfox6,2027-01-04,Europe/Berlin,Charite,180,80\n",
        encoding="utf-8",
    )
    log = tmp_path / "log.csv"
    log.write_text("patient_id,drug,given_at\nFOX-901,Oxaliplatin,2027-01-04 09:10\n", encoding="utf-8")
    folder = export(PROTOCOLS / "mfolfox6.toml", cohort, tmp_path / "out", log=log, as_of=dt.date(2027, 1, 5))
    bundle = bundles(folder)["FOX-901"]
    Bundle.model_validate(bundle)
    requests = {r["identifier"][0]["value"]: r for r in resources(bundle, "MedicationRequest")}
    (pump,) = requests["fluorouracil-infusion"]["dosageInstruction"]
    assert (pump["timing"]["repeat"]["duration"], pump["timing"]["repeat"]["durationUnit"]) == (46, "h")
    assert pump["timing"]["repeat"]["boundsPeriod"]["start"] == "2027-01-04T11:00:00+01:00"
    assert requests["oxaliplatin"]["dosageInstruction"][0]["timing"]["repeat"]["duration"] == 2
    assert "duration" not in requests["fluorouracil-bolus"]["dosageInstruction"][0]["timing"]["repeat"]
    given = {r["request"]["reference"]: r for r in resources(bundle, "MedicationAdministration")}
    urls = {e["resource"]["id"]: e["fullUrl"] for e in bundle["entry"]}
    oxaliplatin = given[urls[requests["oxaliplatin"]["id"]]]
    assert oxaliplatin["status"] == "completed" and "effectiveDateTime" not in oxaliplatin
    assert oxaliplatin["effectivePeriod"] == {"start": "2027-01-04T09:10:00+01:00", "end": "2027-01-04T11:10:00+01:00"}
    missed = given[urls[requests["fluorouracil-infusion"]["id"]]]
    assert missed["status"] == "not-done"
    assert missed["effectivePeriod"] == {"start": "2027-01-04T11:00:00+01:00", "end": "2027-01-06T09:00:00+01:00"}
    bolus = given[urls[requests["fluorouracil-bolus"]["id"]]]
    assert bolus["effectiveDateTime"] == "2027-01-04T11:00:00+01:00" and "effectivePeriod" not in bolus


def pem_001(folder: Path) -> Path:
    """A cohort of PEM-001 alone (the pemetrexed maintenance cohort's first patient)."""
    cohort = folder / "cohort.csv"
    lines = (PROTOCOLS / "pemetrexed-maintenance-cohort.csv").read_text(encoding="utf-8").splitlines()
    cohort.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    return cohort


def test_an_as_needed_regimen_is_a_request_with_its_limits_and_allowed_days_by_hand(tmp_path: Path) -> None:
    """Pemetrexed maintenance: metoclopramide 10 mg as needed, at most 3 in 24 hours, on cycle days 1-5
    of the 21-day cycles from study day 8. PEM-001 starts 2027-03-22 (Madrid, +02:00 from 03-28): days
    8-12 = 2027-03-29..04-02, days 29-33 = 2027-04-19..04-23. The changes file stops metoclopramide from
    2027-04-21: the second run ends 2027-04-20 and there is no later one."""
    cohort = pem_001(tmp_path)
    changes = tmp_path / "changes.csv"
    changes.write_text(
        "patient_id,change,regimen,cycle,date,time,days,dose,visit,reason\n"
        "PEM-001,stop,metoclopramide-prn,,2027-04-21,,,,,no longer needed\n",
        encoding="utf-8",
    )
    folder = export(PROTOCOLS / "pemetrexed-maintenance.toml", cohort, tmp_path / "out", changes=changes)
    bundle = bundles(folder)["PEM-001"]
    Bundle.model_validate(bundle)
    (request,) = [
        r for r in resources(bundle, "MedicationRequest") if r["identifier"][0]["value"] == "metoclopramide-prn"
    ]
    assert request["medicationCodeableConcept"]["text"] == "Metoclopramide"
    dosages = request["dosageInstruction"]
    assert [d["timing"]["repeat"]["boundsPeriod"] for d in dosages] == [
        {"start": "2027-03-29T00:00:00+02:00", "end": "2027-04-02T23:59:59+02:00"},
        {"start": "2027-04-19T00:00:00+02:00", "end": "2027-04-20T23:59:59+02:00"},
    ]
    first = dosages[0]
    assert first["asNeededBoolean"] is True and first["doseAndRate"][0]["doseQuantity"]["value"] == 10
    assert (first["maxDosePerPeriod"]["numerator"]["value"], first["maxDosePerPeriod"]["denominator"]["value"]) == (
        30,
        24,
    )
    assert first["maxDosePerPeriod"]["denominator"]["code"] == "h"
    assert first["text"].startswith("10 mg oral, as needed, at most 3 in 24 hours, at least 6 h apart")


def test_plan_definition_says_an_infusions_duration(tmp_path: Path) -> None:
    """mFOLFOX6: fluorouracil over 46 hours on day 1 of each 14-day cycle: the cycle action lasts 14 days
    (its own duration), each dose in its dosing-days child 46 hours; the bolus has no duration."""
    plan = _plan(tmp_path, PROTOCOLS / "mfolfox6.toml", unblinded=False)
    PlanDefinition.model_validate(plan)
    actions = {a["id"]: a for a in plan["action"]}
    (cycle,) = actions["fluorouracil-infusion"]["action"]
    assert (cycle["timingTiming"]["repeat"]["duration"], cycle["timingTiming"]["repeat"]["durationUnit"]) == (14, "d")
    (days,) = cycle["action"]
    assert (days["timingTiming"]["repeat"]["duration"], days["timingTiming"]["repeat"]["durationUnit"]) == (46, "h")
    assert "duration" not in actions["fluorouracil-bolus"]["action"][0]["action"][0]["timingTiming"]["repeat"]


def test_a_logged_as_needed_dose_is_a_completed_administration_of_its_request(tmp_path: Path) -> None:
    """PEM-001 (from 2027-03-22, Madrid) takes metoclopramide on 2027-03-30 at 08:00 and 14:30 ("10 mg"):
    two completed administrations at those times (+02:00), referencing the as-needed request."""
    cohort = pem_001(tmp_path)
    log = tmp_path / "log.csv"
    log.write_text(
        "patient_id,drug,given_at,dose_given\n"
        "PEM-001,Metoclopramide,2027-03-30 08:00,\nPEM-001,Metoclopramide,2027-03-30 14:30,10 mg\n",
        encoding="utf-8",
    )
    protocol = PROTOCOLS / "pemetrexed-maintenance.toml"
    folder = export(protocol, cohort, tmp_path / "out", log=log, as_of=dt.date(2027, 3, 31))
    bundle = bundles(folder)["PEM-001"]
    Bundle.model_validate(bundle)
    (request,) = [e for e in bundle["entry"] if e["resource"]["identifier"][0]["value"] == "metoclopramide-prn"]
    given = [
        r for r in resources(bundle, "MedicationAdministration") if r["request"]["reference"] == request["fullUrl"]
    ]
    assert [(r["status"], r["effectiveDateTime"], r.get("dosage")) for r in given] == [
        ("completed", "2027-03-30T08:00:00+02:00", None),
        ("completed", "2027-03-30T14:30:00+02:00", {"dose": {"value": 10, "unit": "mg", "system": UCUM, "code": "mg"}}),
    ]
    assert given[0]["identifier"][0]["value"] == "PEM-001.metoclopramide-prn.prn-line-2"


def test_swapping_arms_with_as_needed_doses_changes_no_byte_of_the_blinded_export(tmp_path: Path) -> None:
    """The seed with loxoprofen as needed: both patients' PRN requests and logged PRN doses are the same
    bytes whichever arm each patient is in."""
    protocol = FIXTURES / "blind-prn" / "nct02467504-prn.toml"
    log = tmp_path / "log.csv"
    log.write_text(
        "patient_id,drug,given_at\nPX-001,Loxoprofen,2027-01-05 08:00\nPX-002,Loxoprofen,2027-01-05 09:00\n",
        encoding="utf-8",
    )
    runs = []
    for number, arms in enumerate((("active", "placebo"), ("placebo", "active"))):
        cohort = cohort_of(tmp_path / str(number), protocol, {"PX-001": arms[0], "PX-002": arms[1]})
        loaded = dosing.load_protocol(protocol)
        patients = dosing.load_cohort(cohort, loaded)
        folder = dosing.export_fhir(
            loaded, patients, tmp_path / str(number) / "out", log=log, as_of=dt.date(2027, 1, 7)
        ).folder
        runs.append({p.name: p.read_bytes() for p in sorted((folder / "bundles").glob("*.json"))})
    assert runs[0] == runs[1]
    bundle = json.loads(runs[0]["PX-001.json"])
    assert any(d.get("asNeededBoolean") for r in resources(bundle, "MedicationRequest") for d in r["dosageInstruction"])
    assert "2027-01-05T08:00:00+08:00" in runs[0]["PX-001.json"].decode()
