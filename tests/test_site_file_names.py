"""Staff calendar file names made from site names: distinct after suffixes, the patients without a
site apart from a site named ``all``, and bounded in bytes (audit of issue 10, findings 1 and 2)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dosing.cli import main
from dosing.plan.file_names import MAX_STEM_BYTES, site_file_names

PROTOCOLS = Path(__file__).resolve().parent.parent / "protocols"
SEED = PROTOCOLS / "nct02467504.toml"
STUDY = "nct02467504"
PIDS = ("RA-001", "RA-002", "RA-003", "RA-004", "RA-005")


def _generate(tmp_path: Path, sites: list[str]) -> tuple[object, list[Path]]:
    lines = (PROTOCOLS / "nct02467504-cohort.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1 : len(sites) + 1]]
    for row, site in zip(rows, sites, strict=True):
        row[header.index("site")] = site
    cohort = tmp_path / "sites.csv"
    cohort.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    args = ["generate", SEED, "--cohort", cohort, "--out", tmp_path / "out", "--no-feeds"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    staff = tmp_path / "out" / STUDY / "staff"
    return result, sorted(staff.iterdir()) if staff.exists() else []


def test_a_site_named_like_another_sites_suffixed_file_gets_its_own_file() -> None:
    """Before: North Clinic -> North-Clinic-c7c6a219, and the site "North-Clinic-c7c6a219" kept
    that very name; a site "all" shared all.ics with the patients without a site."""
    names = site_file_names(["North Clinic", "North-Clinic", "North-Clinic-c7c6a219", "all", ""])
    assert names["North Clinic"] == "North-Clinic-c7c6a219"  # sha256("North Clinic")[:8]
    assert names["North-Clinic-c7c6a219"] != "North-Clinic-c7c6a219"
    assert names["all"] != names[""] and names[""].startswith("all")
    assert len({name.casefold() for name in names.values()}) == 5


def test_case_folded_names_meeting_a_suffixed_name_are_distinct() -> None:
    names = site_file_names(["North Clinic", "North-Clinic", "NORTH-CLINIC-C7C6A219"])
    assert len({name.casefold() for name in names.values()}) == 3


def test_without_collisions_names_stay_plain() -> None:
    assert site_file_names(["PKUPH", "", "North Clinic"]) == {
        "PKUPH": "PKUPH",
        "": "all",
        "North Clinic": "North-Clinic",
    }


def test_long_site_names_are_bounded_in_bytes() -> None:
    names = site_file_names(["S" * 300, "é" * 200, "x" * MAX_STEM_BYTES, "x" * (MAX_STEM_BYTES + 1)])
    assert names["x" * MAX_STEM_BYTES] == "x" * MAX_STEM_BYTES
    assert all(len(name.encode()) <= MAX_STEM_BYTES + 9 for name in names.values())
    assert names["é" * 200].startswith("é" * 50 + "-")  # cut at a character boundary (2 bytes each)
    assert len({name.casefold() for name in names.values()}) == 4


def test_every_site_of_the_audit_cohort_has_its_own_staff_file(tmp_path: Path) -> None:
    """Before: 3 files for 5 sites; RA-001 (North Clinic) was in none, RA-004 (all) shared RA-005's."""
    result, staff = _generate(tmp_path, ["North Clinic", "North-Clinic", "North-Clinic-c7c6a219", "all", ""])
    assert result.exit_code == 0, result.output
    assert len(staff) == 5 and len({p.name.casefold() for p in staff}) == 5
    holders = [{pid for pid in PIDS if pid.encode() in p.read_bytes()} for p in staff]
    assert sorted(map(sorted, holders)) == [[pid] for pid in PIDS]


def test_long_site_names_generate_without_a_traceback(tmp_path: Path) -> None:
    """Before: OSError [Errno 36] File name too long, exit 1."""
    result, staff = _generate(tmp_path, ["S" * 300, "é" * 200])
    assert result.exit_code == 0, result.output
    assert len(staff) == 2 and all(len(p.name.encode()) <= MAX_STEM_BYTES + 13 for p in staff)
