"""Unblinded FHIR and REDCap exports are owner-only from their first byte, as generate and
export sdtm are (audit of issue 14: the folders were 755 and the files 644 until the export ended, so
a long or killed unblinded export stayed readable by anyone on the machine)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import dosing
import dosing.jobs.export_fhir as export_fhir_module
from tests.seed_variants import private_config  # noqa: F401  (autouse: keeps $XDG_CONFIG_HOME private)
from tests.test_export_fhir import SEED, TWO


def test_an_unblinded_fhir_export_is_owner_only_while_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.umask(0o022)
    protocol = dosing.load_protocol(SEED)
    cohort = dosing.load_cohort(TWO, protocol)
    seen: list[tuple[str, int]] = []
    real = export_fhir_module.write_json

    def spy(document: object, path: Path) -> None:
        study = tmp_path / "nct02467504-UNBLINDED"
        staged = next(p for p in path.parents if p.parent == study)  # .fhir.partial-...: what a reader must pass
        for folder in (study, staged):
            seen.append((folder.name, stat.S_IMODE(folder.stat().st_mode)))
        real(document, path)

    monkeypatch.setattr(export_fhir_module, "write_json", spy)
    dosing.export_fhir(protocol, cohort, tmp_path, unblinded=True)
    assert seen, "the export wrote no JSON"
    # nobody but the owner can pass the study folder or the staged one, from the first file on
    assert all(mode & 0o077 == 0 for _, mode in seen), seen
