"""The documentation is tested: every protocol example in docs/ and README.md validates (or fails as
it says), the study days its schedule examples list are the days ``dosing`` schedules, the Python
example of docs/python-api.md runs, the README stays short and links only to pages that exist, and
every command's --help has an example."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pydantic import BaseModel

import dosing
from dosing.cli import main
from dosing.plan.cohort import OPTIONAL, REQUIRED, cohort_from_rows
from dosing.plan.load import protocol_from_dict
from dosing.protocol.dose_steps import Step, Titrate
from dosing.protocol.model import (
    AdherenceBand,
    AdherenceRule,
    Arm,
    Dose,
    PatientValue,
    Regimen,
    Schedule,
    Study,
)
from tests.builders import UTC_ALLOWED
from tests.conftest import ROOT

FORMAT = ROOT / "docs" / "protocol-format.md"
README = ROOT / "README.md"
PYTHON_API = ROOT / "docs" / "python-api.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)


def marker(block: str) -> str:
    first = block.splitlines()[0]
    return first.removeprefix("# ").split(":")[0] if first.startswith("# ") and ":" in first else ""


TOML_BLOCKS = [(path.name, i, block) for path in (FORMAT, README) for i, block in enumerate(blocks(path, "toml"))]


def test_the_docs_have_examples_of_every_kind() -> None:
    kinds = [marker(block) or ("protocol" if "[study]" in block else "other") for _, _, block in TOML_BLOCKS]
    assert kinds.count("protocol") >= 2  # the README links here; it has no examples of its own
    assert kinds.count("invalid") >= 2
    assert kinds.count("fragment") >= 6
    assert kinds.count("other") <= 1  # only the [patient_values] example, checked below


@pytest.mark.parametrize(
    "block",
    [b for _, _, b in TOML_BLOCKS if "[study]" in b and marker(b) != "invalid"],
    ids=lambda b: b.split('id = "')[1].split('"')[0],
)
def test_complete_protocols_validate(block: str) -> None:
    protocol = protocol_from_dict(tomllib.loads(block), source="docs")
    assert protocol.regimens


@pytest.mark.parametrize("block", [b for _, _, b in TOML_BLOCKS if marker(b) == "invalid"])
def test_invalid_examples_fail_with_the_quoted_message(block: str) -> None:
    expected = block.splitlines()[0].split(":", 1)[1].strip()
    with pytest.raises(dosing.DosingError) as caught:
        protocol_from_dict(tomllib.loads(block), source="docs")
    assert expected in str(caught.value)


# ---- fragments: completed by a template protocol -----------------------------------------

PATIENT_VALUES = {
    "mtx_dose": {"type": "number", "unit": "mg", "min": 7.5, "max": 25},
    "mtx_weekday": {"type": "weekday"},
    "bsa": {"type": "number", "unit": "m2", "min": 1.0, "max": 3.0},
    "injection_time": {"type": "time"},
    "weight": {"type": "number", "unit": "kg", "min": 2, "max": 150},
}
PATIENT = {"mtx_dose": "15", "mtx_weekday": "Wednesday", "bsa": "1.82", "injection_time": "08:00", "weight": "70"}
METHOTREXATE = {
    "id": "methotrexate",
    "drug": "Methotrexate",
    "dose": {"patient_value": "mtx_dose", "unit": "mg"},
    "route": "oral",
    "times": ["08:00"],
    "schedule": {"weekday_from": "mtx_weekday"},
}


def template(regimens: list[dict[str, Any]]) -> dosing.Protocol:
    return protocol_from_dict(
        {
            "study": {
                "id": "DOC",
                "title": "docs",
                "blinding": "open",
                "timezone": "UTC",
                **UTC_ALLOWED,
                "last_day": 168,
            },
            "patient_values": PATIENT_VALUES,
            "arms": [{"id": "a", "label": "A", "regimens": [r["id"] for r in regimens]}],
            "regimens": regimens,
        },
        source="docs",
    )


def expand_one(protocol: dosing.Protocol) -> Any:
    header = ["patient_id", "arm", "start_date", *PATIENT]
    cohort = cohort_from_rows(header, [(2, ["P1", "a", "2027-01-04", *PATIENT.values()])], protocol)
    return dosing.expand(protocol, cohort)


@pytest.mark.parametrize("block", [b for _, _, b in TOML_BLOCKS if b.startswith("# fragment: regimen\n")])
def test_regimen_fragments_validate_and_expand(block: str) -> None:
    regimens = tomllib.loads(block)["regimens"]
    extra = [] if any(r["id"] == "methotrexate" for r in regimens) else [METHOTREXATE]
    assert len(expand_one(template([*regimens, *extra]))) > 0


def listed_days(comment: str) -> list[int]:
    """ "days 1, 3, ..., 13, 29" -> [1, 3, 5, 7, 9, 11, 13, 29]."""
    tokens = [t.strip() for t in comment.removeprefix("days").split(",")]
    days: list[int] = []
    for i, token in enumerate(tokens):
        if token == "...":
            step = days[-1] - days[-2]
            days.extend(range(days[-1] + step, int(tokens[i + 1]), step))
        else:
            days.append(int(token))
    return days


SCHEDULE_LINES = [
    line
    for _, _, block in TOML_BLOCKS
    if block.startswith("# fragment: schedules\n")
    for line in block.splitlines()[1:]
    if line.strip()
]


def test_schedule_examples_are_there() -> None:
    assert len(SCHEDULE_LINES) >= 20
    assert all("# days " in line for line in SCHEDULE_LINES)


@pytest.mark.parametrize("line", SCHEDULE_LINES, ids=lambda line: line.split("#")[0].strip())
def test_schedule_examples_give_the_days_they_list(line: str) -> None:
    code, comment = line.split("# ", 1)
    schedule = next(iter(tomllib.loads(code).values()))
    drug = {"id": "x", "drug": "Drug", "dose": {"amount": 1, "unit": "mg"}, "route": "oral", "times": ["09:00"]}
    doses = expand_one(template([{**drug, "schedule": schedule}, METHOTREXATE]))
    assert doses.loc[doses["regimen"] == "x", "study_day"].tolist() == listed_days(comment.strip())


def test_listed_days_reads_ellipses() -> None:
    assert listed_days("days 1, 3, ..., 9, 29") == [1, 3, 5, 7, 9, 29]
    assert listed_days("days 85, 92, ..., 106") == [85, 92, 99, 106]


def test_patient_values_example_is_valid() -> None:
    (block,) = [b for _, _, b in TOML_BLOCKS if b.startswith("[patient_values]")]
    values = tomllib.loads(block)["patient_values"]
    proto = protocol_from_dict(
        {
            "study": {
                "id": "DOC",
                "title": "docs",
                "blinding": "open",
                "timezone": "UTC",
                **UTC_ALLOWED,
                "last_day": 7,
            },
            "patient_values": values,
            "arms": [{"id": "a", "label": "A", "regimens": ["x"]}],
            "regimens": [{**METHOTREXATE, "id": "x"}],
        }
    )
    assert set(proto.patient_values) == set(values)


def test_cohort_example_is_valid() -> None:
    block = blocks(FORMAT, "csv")[0]
    lines = block.splitlines()
    protocol = protocol_from_dict(tomllib.loads(blocks(FORMAT, "toml")[0]), source="docs")
    rows = [(i + 2, line.split(",")) for i, line in enumerate(lines[1:])]
    cohort = cohort_from_rows(lines[0].split(","), rows, protocol)
    assert cohort.patients["timezone"].tolist() == ["Asia/Shanghai", "Asia/Shanghai"]
    assert cohort.patients["mtx_weekday"].tolist() == [2, 0]


def test_error_examples_are_what_the_command_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    typo_error, cohort_error = blocks(FORMAT, "text")
    monkeypatch.chdir(tmp_path)
    seed = (ROOT / "protocols" / "nct02467504.toml").read_text(encoding="utf-8")
    Path("typo.toml").write_text(seed.replace('times = ["09:00"]', 'tims = ["09:00"]', 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "typo.toml"])
    assert (result.exit_code, result.stderr) == (2, typo_error)
    Path("c.csv").write_text(blocks(FORMAT, "csv")[1], encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(ROOT / "protocols" / "nct02467504.toml"), "--cohort", "c.csv"])
    assert (result.exit_code, result.stderr) == (2, cohort_error)


@pytest.mark.parametrize(
    "model",
    [Study, PatientValue, Arm, Regimen, Dose, Schedule, AdherenceBand, AdherenceRule, Step, Titrate],
    ids=lambda m: m.__name__,
)
def test_the_reference_names_every_key_of_the_model(model: type[BaseModel]) -> None:
    """A key added to dosing/protocol/model.py must be documented in docs/protocol-format.md."""
    text = FORMAT.read_text(encoding="utf-8")
    for name, field in model.model_fields.items():
        if name != "source":
            assert f"`{field.alias or name}`" in text, f"{model.__name__}.{field.alias or name} is not documented"


def test_the_reference_names_every_cohort_column() -> None:
    text = FORMAT.read_text(encoding="utf-8")
    for column in (*REQUIRED, *OPTIONAL):
        assert f"| `{column}` |" in text


# ---- README -------------------------------------------------------------------------------


def test_python_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (code,) = blocks(PYTHON_API, "python")
    shutil.copytree(ROOT / "protocols", tmp_path / "protocols")
    cohort = tmp_path / "protocols" / "nct02467504-cohort.csv"
    cohort.write_text(
        "".join(cohort.read_text(encoding="utf-8").splitlines(keepends=True)[:6])
    )  # RA-001..RA-005 (the changes file names them)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/python-api.md", "exec"), {})  # the example as a user would paste it
    assert (tmp_path / "output" / "nct02467504" / "doses.csv").is_file()


def test_readme_is_short_and_its_links_lead_somewhere() -> None:
    """Issue 12: the README is at most ~1,500 words (the details live in docs/), and every relative
    link in it and in docs/ names a file that exists."""
    text = README.read_text(encoding="utf-8")
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # commands are not words to read
    assert len(prose.split()) <= 1600, len(prose.split())
    for page in (README, *DOCS):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_readme_names_every_command() -> None:
    text = README.read_text(encoding="utf-8")
    for name in main.commands:
        assert f"`dosing {name} " in text, name


# ---- --help is the manual -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help_with_an_example(name: str) -> None:
    command = main.commands[name]
    assert command.help and len(command.help.split()) >= 5, f"{name} has no help text"
    assert "Example" in command.help and f"dosing {name}" in command.help, f"{name} --help has no example"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{name} {param.opts[0]} has no help text"


def test_top_level_help_has_an_example() -> None:
    assert main.help and "Example" in main.help
