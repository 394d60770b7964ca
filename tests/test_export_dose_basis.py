"""dose_basis (how a computed dose was computed) in the exports: never in a blinded export of a blinded
study (SDTM, FHIR, REDCap), and in unblinded SDTM the computed dose is the dose (EC/EX ``--DOSE``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dosing
from dosing.plan.cohort import cohort_from_rows
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_formulas import _blinded_study

HEADER = ["patient_id", "arm", "start_date", "height", "weight"]
ROWS = [(2, ["B1", "active", "2027-01-04", "170", "74"]), (3, ["B2", "placebo", "2027-01-04", "110", "18"])]


@pytest.mark.parametrize("fmt", ["sdtm", "fhir", "redcap"])
def test_a_blinded_export_never_has_the_dose_basis(tmp_path: Path, fmt: str) -> None:
    # B1 (active): DuBois 170 cm, 74 kg -> 1.85 m2, 100 mg/m2 -> 185 mg, behind "Study infusion" /
    # "1 infusion"; its dose_basis "100 mg/m² × 1.85 m² (DuBois, 170 cm, 74 kg) = 185 mg" would tell the arm
    proto = _blinded_study()
    cohort = cohort_from_rows(HEADER, ROWS, proto)
    export = {"sdtm": dosing.export_sdtm, "fhir": dosing.export_fhir, "redcap": dosing.export_redcap}[fmt]
    folder = export(proto, cohort, tmp_path).folder
    written = [p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"]
    assert written
    for path in written:
        data = path.read_bytes()
        for secret in (b"dose_basis", b"DuBois", "m² ×".encode(), b"1.85", b"185"):
            assert secret not in data, f"{secret!r} in {path}"


def test_unblinded_sdtm_gives_the_computed_dose_as_the_dose(tmp_path: Path) -> None:
    # B1's active drug: 185 mg (DuBois 1.85 m2 x 100 mg/m2); gemcitabine 1000 mg/m2 by Mosteller: B1
    # sqrt(170 x 74 / 3600) = 1.87 m2 -> 1870 mg, B2 sqrt(110 x 18 / 3600) = 0.74 m2 -> 740 mg; B2's placebo 0.
    proto = _blinded_study()
    folder = dosing.export_sdtm(proto, cohort_from_rows(HEADER, ROWS, proto), tmp_path, unblinded=True).folder
    data = json.loads((folder / "ec.json").read_text(encoding="utf-8"))
    names = [c["name"] for c in data["columns"]]
    records = [dict(zip(names, row, strict=True)) for row in data["rows"]]
    doses = {(r["USUBJID"], r["ECTRT"], r["ECDOSE"], r["ECDOSU"]) for r in records}
    assert doses == {
        ("BLINDBSA-B1", "Activedrug", 185, "mg"),
        ("BLINDBSA-B1", "Gemcitabine", 1870, "mg"),
        ("BLINDBSA-B2", "PLACEBO", 0, "mg"),
        ("BLINDBSA-B2", "Gemcitabine", 740, "mg"),
    }
    assert "dose_basis" not in (folder / "ec.json").read_text(encoding="utf-8")
