"""The blind holds: tested as an attacker would, over every shipped protocol and every file
that ``dosing generate`` writes (the whole output folder is walked, so outputs added later,
such as visits, feeds or HTML, are covered without changing this test).

For every pair of arms of every shipped protocol, two patients with identical start dates,
sites and per-patient values but different arms are generated into one blinded folder:

1. Once their patient ids (and everything derived from them: file names, UIDs, calendar
   names, feed tokens) are replaced by a placeholder, their files are byte-identical, and
   their rows of the shared files (doses.csv, worklist.csv, ...) are identical line by line.
   Derived strings need not be known in advance: a file whose name lacks the id but whose
   content names one patient (e.g. ``feeds/<token>.ics``) belongs to that patient, and the
   parts of its name are learnt as that patient's aliases.
2. Swapping the two patients' arms leaves the whole folder byte-identical.
3. No arm id, arm label, true drug name or regimen id of a blinded regimen appears in any
   blinded file. The rule, precisely: first every blinded label (e.g. "hrIL-2 or placebo")
   and the regimen key derived from it (e.g. "b-hril-2-or-placebo", part of the UIDs) is
   removed, because every arm shows those same words; then each forbidden term is searched
   for, ignoring case, as a whole token (not preceded or followed by a letter or digit). So
   the lower-case "placebo" inside the blinded label "hrIL-2 or placebo" is allowed, and a
   "Placebo" anywhere else (a drug column, a calendar summary, a file name) is a leak.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dosing.cli import main
from dosing.errors import SafetyError
from dosing.io.read.files import load_protocol
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.expand import expand
from dosing.protocol.model import Protocol, _slug
from dosing.protocol.safety import check_max_daily
from tests.conftest import PROTOCOLS
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)

SHIPPED_PROTOCOLS = sorted(p for p in PROTOCOLS.glob("*.toml"))
PATIENT_A, PATIENT_B = "PX-001", "PX-002"  # same length: sorting and widths cannot differ
PLACEHOLDER = "<PATIENT>"

PATIENTS = (PATIENT_A, PATIENT_B)


def arm_pairs() -> list[tuple[Path, str, str]]:
    pairs = []
    for path in SHIPPED_PROTOCOLS:
        protocol = load_protocol(path)
        if protocol.study.blinded:
            pairs += [(path, a.id, b.id) for a, b in itertools.combinations(protocol.arms, 2)]
    return pairs


PAIRS = arm_pairs()


def test_every_blinded_shipped_protocol_is_covered() -> None:
    blinded = [p for p in SHIPPED_PROTOCOLS if load_protocol(p).study.blinded]
    assert {path for path, _, _ in PAIRS} == set(blinded)
    assert len(blinded) >= 2


def template_row(protocol_path: Path) -> dict[str, str]:
    """The first patient of the shipped cohort: start date, zone, site and own values."""
    cohort = protocol_path.with_name(protocol_path.stem + "-cohort.csv")
    with cohort.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.DictReader(handle))


def generate(tmp_path: Path, protocol_path: Path, arms: dict[str, str], *extra: str) -> Path:
    row = template_row(protocol_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    cohort = tmp_path / "cohort.csv"
    with cohort.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        for patient, arm in arms.items():
            writer.writerow({**row, "patient_id": patient, "arm": arm})
    out = tmp_path / "out"
    args = ["generate", str(protocol_path), "--cohort", str(cohort), "--out", str(out), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def text_of(content: bytes) -> str:
    """Any bytes as text that encodes back to the same bytes (outputs may be binary)."""
    return content.decode("utf-8", errors="surrogateescape")


def owners(files: dict[str, bytes]) -> dict[str, str | None]:
    """The patient a file belongs to: the one its name mentions, else the only one its content
    mentions (e.g. a feed named by an opaque token); None for shared files."""
    owner: dict[str, str | None] = {}
    for name, content in files.items():
        named = [p for p in PATIENTS if p in name]
        mentioned = [p for p in PATIENTS if p in text_of(content)]
        owner[name] = named[0] if len(named) == 1 else mentioned[0] if not named and len(mentioned) == 1 else None
    return owner


def aliases(owner: dict[str, str | None]) -> dict[str, list[str]]:
    """Strings derived from each patient's id, learnt from the names of the patient's files that do
    not contain the id (tokens, hashes): the path parts that the other patient's files do not share."""
    parts: dict[str, set[str]] = {p: set() for p in PATIENTS}
    for name, patient in owner.items():
        if patient is not None and patient not in name:
            parts[patient].update(part for part in Path(name).with_suffix("").parts if len(part) >= 8)
    common = parts[PATIENT_A] & parts[PATIENT_B]
    return {p: [p, *sorted(parts[p] - common, key=len, reverse=True)] for p in PATIENTS}


def split_by_patient(files: dict[str, bytes]) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, list[str]]]]:
    """Each patient's own files, and the lines of shared files that mention one patient, with the
    patient's id and everything derived from it replaced by a placeholder (a line naming both,
    e.g. a list of patients, cannot differ by arm without failing the swap and leak tests)."""
    owner = owners(files)
    aliases_of = aliases(owner)

    def hide(text: str, patient: str) -> str:
        for derived in aliases_of[patient]:
            text = text.replace(derived, PLACEHOLDER)
        return text

    own: dict[str, dict[str, str]] = {p: {} for p in PATIENTS}
    lines: dict[str, dict[str, list[str]]] = {p: {} for p in PATIENTS}
    for name, content in files.items():
        patient = owner[name]
        if patient is not None:
            own[patient][hide(name, patient)] = hide(text_of(content), patient)
            continue
        text = text_of(content).splitlines()
        for patient, other in ((PATIENT_A, PATIENT_B), (PATIENT_B, PATIENT_A)):
            lines[patient][name] = [
                hide(line, patient) for line in text if hide(line, patient) != line and hide(line, other) == line
            ]
    return own, lines


@pytest.mark.parametrize(("protocol_path", "arm_a", "arm_b"), PAIRS, ids=[f"{p.stem}:{a}-vs-{b}" for p, a, b in PAIRS])
def test_two_arms_give_identical_blinded_outputs(tmp_path: Path, protocol_path: Path, arm_a: str, arm_b: str) -> None:
    folder = generate(tmp_path, protocol_path, {PATIENT_A: arm_a, PATIENT_B: arm_b})
    own, lines = split_by_patient(snapshot(folder))
    assert own[PATIENT_A], "no per-patient files were written"
    assert own[PATIENT_A].keys() == own[PATIENT_B].keys()
    for name in own[PATIENT_A]:
        assert own[PATIENT_A][name] == own[PATIENT_B][name], f"{name} differs between arms {arm_a} and {arm_b}"
    assert lines[PATIENT_A]["doses.csv"], "doses.csv names no patient"
    for name in lines[PATIENT_A]:
        assert lines[PATIENT_A][name] == lines[PATIENT_B][name], f"{name} differs between arms {arm_a} and {arm_b}"


@pytest.mark.parametrize(("protocol_path", "arm_a", "arm_b"), PAIRS, ids=[f"{p.stem}:{a}-vs-{b}" for p, a, b in PAIRS])
def test_swapping_arms_changes_no_byte(tmp_path: Path, protocol_path: Path, arm_a: str, arm_b: str) -> None:
    first = snapshot(generate(tmp_path / "1", protocol_path, {PATIENT_A: arm_a, PATIENT_B: arm_b}))
    second = snapshot(generate(tmp_path / "2", protocol_path, {PATIENT_A: arm_b, PATIENT_B: arm_a}))
    # The manifest names the cohort file (its folder differs here) and the time; its hashes must not differ.
    first["manifest.json"], second["manifest.json"] = (
        masked_manifest(run["manifest.json"], tmp_path / n) for run, n in ((first, "1"), (second, "2"))
    )
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], f"{name} reveals which patient is in which arm"


def masked_manifest(content: bytes, folder: Path) -> bytes:
    data = json.loads(content.replace(str(folder).encode(), b"<folder>"))
    assert data["inputs"]["cohort"]["sha256"], "the manifest hashes the cohort"
    return json.dumps({**data, "written_at": None}).encode()


def forbidden_terms(protocol: Protocol) -> list[str]:
    """Lower case (the search ignores case), longest first."""
    terms = {a.id for a in protocol.arms} | {a.label for a in protocol.arms}
    for regimen in protocol.regimens:
        if regimen.blinded_label is not None:
            terms |= {regimen.drug, regimen.id}
    return sorted({t.lower() for t in terms}, key=lambda t: (-len(t), t))


def shared_words(protocol: Protocol) -> list[str]:
    """What every arm shows: blinded labels and the regimen keys derived from them."""
    labels = {r.blinded_label for r in protocol.regimens if r.blinded_label is not None}
    return sorted(labels | {"b-" + _slug(label) for label in labels}, key=len, reverse=True)


def leaks(text: str, protocol: Protocol) -> list[str]:
    for word in shared_words(protocol):
        text = re.sub(re.escape(word), " ", text, flags=re.IGNORECASE)
    found = []
    for term in forbidden_terms(protocol):
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(term)}(?![A-Za-z0-9])", text, flags=re.IGNORECASE):
            found.append(term)
    return found


def test_leak_rule_itself() -> None:
    protocol = load_protocol(PROTOCOLS / "nct02467504.toml")
    assert leaks("hrIL-2 or placebo,1000000,IU", protocol) == []
    assert leaks("RA-1.b-hril-2-or-placebo.d001.0900@nct02467504.dosing", protocol) == []
    assert leaks("Placebo,1000000", protocol) == ["placebo"]
    assert leaks("arm: active", protocol) == ["active"]
    assert leaks("RA-1.il2-placebo.d001", protocol) == ["il2-placebo", "placebo", "il2"]
    assert leaks("hrIL-2 1 MIU", protocol) == ["hril-2 1 miu", "hril-2"]
    assert leaks("inactive ingredients", protocol) == []


@pytest.mark.parametrize("protocol_path", sorted({p for p, _, _ in PAIRS}), ids=lambda p: p.stem)
def test_no_arm_or_true_drug_in_any_blinded_file(tmp_path: Path, protocol_path: Path) -> None:
    protocol = load_protocol(protocol_path)
    arms = {f"PX-{i:03d}": arm.id for i, arm in enumerate(protocol.arms)}
    files = snapshot(generate(tmp_path, protocol_path, arms))
    for name, content in files.items():
        assert leaks(name, protocol) == [], name
        assert leaks(text_of(content), protocol) == [], name


def test_different_doses_are_hidden_behind_the_blinded_dose(tmp_path: Path) -> None:
    path = PROTOCOLS / "nct04077684.toml"
    folder = generate(tmp_path, path, {"PX-001": "il2-0.2", "PX-002": "placebo"})
    text = (folder / "doses.csv").read_text(encoding="utf-8-sig")
    assert "1 syringe" in text
    for amount in ("200000", "200,000", "1000000", "1,000,000", "mL"):
        assert amount not in text


def test_unblinded_writes_elsewhere_says_so_and_leaves_blinded_outputs_alone(tmp_path: Path) -> None:
    path = PROTOCOLS / "nct02467504.toml"
    blinded = generate(tmp_path, path, {PATIENT_A: "active", PATIENT_B: "placebo"})
    before = snapshot(blinded)
    stamps = {p: p.stat().st_mtime_ns for p in blinded.rglob("*")}
    cohort = tmp_path / "cohort.csv"
    args = ["generate", str(path), "--cohort", str(cohort), "--out", str(tmp_path / "out"), "--unblinded"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "UNBLINDED" in result.stderr
    assert "keep them from blinded staff" in result.stderr
    unblinded = tmp_path / "out" / "nct02467504-UNBLINDED"
    assert str(unblinded) in result.stdout
    assert snapshot(blinded) == before
    assert {p: p.stat().st_mtime_ns for p in blinded.rglob("*")} == stamps
    header = (unblinded / "doses.csv").read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert {"arm", "regimen", "blinded_label"} <= set(header)
    assert "Placebo" in (unblinded / "doses.csv").read_text(encoding="utf-8-sig")
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == [
        "nct02467504",
        "nct02467504-UNBLINDED",
    ]


SEED_TEXT = (PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8")
PLACEBO = 'id = "il2-placebo"\ndrug = "Placebo"\n'


PLACEBO_TAIL = (
    'in_clinic = true\ninstructions = "subcutaneous injection"\n'
    'schedule = { every = "2 days", for = "14 days", rest = "14 days", cycles = 3 }\n\n'
    '[[regimens]]\nid = "methotrexate"'
)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('placebo_for = "il2"\nblinded_label = "hrIL-2 or placebo"\n', 'placebo_for = "il2"\n', "only some arms"),
        (PLACEBO_TAIL, PLACEBO_TAIL.replace("in_clinic = true", "in_clinic = false"), "in in_clinic"),
        (PLACEBO, PLACEBO + "adherence = { on_time_hours = 1 }\n", "in adherence"),
        ('amount = 1_000_000, unit = "IU" }   #', 'amount = 1, unit = "mL" }   #', "different dose"),
        (PLACEBO_TAIL, PLACEBO_TAIL.replace('rest = "14 days"', 'rest = "15 days"'), "in schedule"),
        (PLACEBO_TAIL, PLACEBO_TAIL.replace('"subcutaneous injection"', '"inject slowly"'), "in instructions"),
    ],
    ids=["no-blinded-label", "in-clinic", "adherence", "dose", "schedule", "instructions"],
)
def test_protocol_that_would_reveal_the_arm_is_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert SEED_TEXT.count(old) == 1
    path = tmp_path / "p.toml"
    path.write_text(SEED_TEXT.replace(old, new, 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "blinding: regimen 'il2-placebo'" in result.output and message in result.output


def test_safety_errors_in_a_blinded_study_do_not_reveal_the_arm(tmp_path: Path) -> None:
    """Blinded staff may run generate: a dose-level error names the blinded label, never the true
    drug or regimen. (The protocol model is validated without its cross checks, which would refuse
    this protocol before any patient is expanded.)"""
    text = SEED_TEXT.replace(PLACEBO, PLACEBO + 'max_daily_dose = { amount = 500_000, unit = "IU" }\n', 1)
    protocol = Protocol.model_validate({**tomllib.loads(text), "source": "p.toml"})
    cohort = cohort_from_rows(
        ["patient_id", "arm", "start_date", "mtx_dose", "mtx_weekday"],
        [(2, [PATIENT_A, "placebo", "2027-01-04", "15", "Monday"])],
        protocol,
    )
    with pytest.raises(SafetyError) as caught:
        check_max_daily(expand(protocol, cohort), protocol)
    message = str(caught.value)
    assert message.startswith(
        f"p.toml, regimen 'hrIL-2 or placebo': patient {PATIENT_A} would receive 1,000,000 IU of hrIL-2 or placebo "
        "on 2027-01-04"
    )
    assert leaks(message, protocol) == []
