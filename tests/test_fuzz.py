"""Property-based fuzzing of every reader: whatever the input, a reader either returns or
raises a DosingError with a message; never another exception (a crash with a traceback).

Readers are listed once in ``READERS``; each entry is the reader (a function of a path) and
a good sample file whose mutations are tried. Adding a reader (e.g. administration logs or
changes files) is one line there; every file-level property below then runs on it too.

Fast by default (each property has a small ``max_examples``; the whole module runs in well
under 40 s). ``pytest -m slow tests/test_fuzz.py`` runs the same properties with many more
examples.
"""

from __future__ import annotations

import atexit
import shutil
import string
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dosing
from dosing.errors import DosingError
from dosing.io.read.changes import load_changes
from dosing.io.read.files import load_cohort, load_protocol
from dosing.io.read.log import read_log
from dosing.plan.apply_changes import apply_changes
from dosing.plan.changes import Changes, changes_from_rows
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.expand import expand
from dosing.plan.load import protocol_from_dict
from dosing.protocol.safety import check_max_daily, check_methotrexate_doses, check_same_drug
from tests.conftest import FIXTURES, PROTOCOLS

SEED_PROTOCOL = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
SEED_DATA = tomllib.loads((PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8"))
SEED_PATIENT = FIXTURES / "seed-one-patient.csv"
SEED_COHORT = dosing.load_cohort(PROTOCOLS / "nct02467504-cohort.csv", SEED_PROTOCOL)
SEED_CHANGES = PROTOCOLS / "nct02467504-changes.csv"


@dataclass(frozen=True)
class Reader:
    read: Callable[[Path], object]
    sample: Path


#: Every reader of user files. One line per reader.
READERS: dict[str, Reader] = {
    "protocol": Reader(load_protocol, PROTOCOLS / "nct02467504.toml"),
    "protocol-phases": Reader(load_protocol, PROTOCOLS / "nct04077684.toml"),
    "protocol-oncology": Reader(load_protocol, PROTOCOLS / "capecitabine.toml"),
    "cohort": Reader(lambda path: load_cohort(path, SEED_PROTOCOL), PROTOCOLS / "nct02467504-cohort.csv"),
    "log": Reader(lambda path: read_log(path, SEED_PROTOCOL, SEED_COHORT), FIXTURES / "log-seed-cohort-small.csv"),
    "changes": Reader(lambda path: load_changes(path, SEED_PROTOCOL, SEED_COHORT), SEED_CHANGES),
}

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
SLOW = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Fragments that tend to break parsers: syntax, numbers at the edges, odd dates and bytes.
TOKENS = [
    "=", '"', "'", '"""', "[", "]", "[[", "]]", "{", "}", ",", ".", "\n", "\r\n", "\r", "#", " ", "\t",
    "0", "-1", "1e309", "-0", "nan", "inf", "99999999999999999999", "true", "false", '""',
    '"0 days"', '"-2 days"', '"99999 weeks"', '"1-99999"', "2026-02-30", "9999-12-31", "0001-01-01",
    "1979-05-27T07:32:00Z", "07:32:00", "\x00", "\ufeff", "\x1b", "é", "北京", "\U0001f600", "\\u0000",
    "../", "=HYPERLINK(", "Monday", "Funday", "Asia/Shanghai", "Mars/Olympus", "Asia", "/", "methotrexate", "MTX",
    "active", "placebo", "patient_id", "arm", "start_date", "mtx_dose", "mtx_weekday",
    "mg", " IU", "1 syringe", "T", "Z", "+08:00", "-05:00", "1,000", "-1", "1e-400", "2027-02-30 08:00",
    "delay", "hold", "stop", "dose", "reschedule", "withdraw", "il2", "hrIL-2 or placebo", "RA-001", "week-2",
]  # fmt: skip


def check(read: Callable[[], object]) -> object:
    """Run a reader: a DosingError with a message is fine, any other exception fails the test."""
    try:
        return read()
    except DosingError as err:
        assert str(err).strip(), "a DosingError without a message"
        assert err.message.strip()
        return None


_FOLDER = Path(tempfile.mkdtemp(prefix="dosing-fuzz-"))
atexit.register(shutil.rmtree, _FOLDER, True)


def as_file(content: bytes, suffix: str) -> Path:
    path = _FOLDER / f"input{suffix}"
    path.write_bytes(content)
    return path


fragments = st.one_of(st.sampled_from(TOKENS), st.text(max_size=8))


@st.composite
def mutations(draw: st.DrawFn, text: str) -> str:
    """The sample with a few random edits: deletions, insertions, replacements, line shuffles."""
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate-line", "drop-line", "swap-lines"]))
        at = draw(st.integers(0, len(text)))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif op == "insert":
            text = text[:at] + draw(fragments) + text[at:]
        elif op == "replace":
            text = text[:at] + draw(fragments) + text[at + draw(st.integers(1, 12)) :]
        else:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "duplicate-line":
                lines.insert(j, lines[i])
            elif op == "drop-line":
                del lines[i]
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def mutate_and_read(name: str, data: st.DataObject) -> None:
    reader = READERS[name]
    text = data.draw(mutations(reader.sample.read_text(encoding="utf-8")))
    check(lambda: reader.read(as_file(text.encode("utf-8", "surrogatepass"), reader.sample.suffix)))


def random_text_and_read(name: str, text: str) -> None:
    reader = READERS[name]
    check(lambda: reader.read(as_file(text.encode("utf-8", "surrogatepass"), reader.sample.suffix)))


def random_bytes_and_read(name: str, raw: bytes) -> None:
    reader = READERS[name]
    check(lambda: reader.read(as_file(raw, reader.sample.suffix)))


texts = st.one_of(
    st.text(),
    st.lists(st.sampled_from(TOKENS), max_size=40).map("".join),
    st.text(alphabet=string.printable, max_size=300),
)


@pytest.mark.parametrize("name", sorted(READERS))
@FAST
@given(data=st.data())
def test_mutated_sample(name: str, data: st.DataObject) -> None:
    mutate_and_read(name, data)


@pytest.mark.parametrize("name", sorted(READERS))
@FAST
@given(text=texts)
def test_random_text(name: str, text: str) -> None:
    random_text_and_read(name, text)


@pytest.mark.parametrize("name", sorted(READERS))
@settings(FAST, max_examples=50)
@given(raw=st.binary(max_size=400))
def test_random_bytes(name: str, raw: bytes) -> None:
    random_bytes_and_read(name, raw)


# -- the protocol model, fed random structures directly -------------------------------------

#: Plausible and edge values of protocol fields, unquoted (as TOML strings hold them).
FIELD_VALUES = [
    "0 days", "2 days", "-2 days", "14 days", "3 weeks", "99999999999999999999 days", "1-14", "1-99999",
    "Monday", "Funday", "08:00", "25:00", "mtx_dose", "mtx_weekday", "methotrexate", "MTX", "il2", "il2-placebo",
    "folic-acid", "active", "placebo", "Asia", "Europe/Berlin", "", " ", "number", "weekday", "time", "text",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.sampled_from(FIELD_VALUES),
    st.integers(-3, 400),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(TOKENS),
    st.dates(),
    st.datetimes(),
    st.times(),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def deep_copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: deep_copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [deep_copy(v) for v in node]
    return node


SEED_PATHS = paths(SEED_DATA)[1:]
KEYS = sorted({str(p[-1]) for p in SEED_PATHS if isinstance(p[-1], str)})


@st.composite
def mutated_seed_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """The seed protocol with a few values replaced, keys removed or added anywhere in the tree."""
    data = deep_copy(SEED_DATA)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(SEED_PATHS))
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            op = draw(st.sampled_from(["replace", "delete", "add"]))
            if op == "replace":
                parent[path[-1]] = draw(values)
            elif op == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.sampled_from(KEYS) | st.text(max_size=6))] = draw(values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    return data


def load_and_expand(data: dict[str, Any]) -> None:
    """A protocol that loads must also expand for a patient, or fail with a DosingError."""
    protocol = check(lambda: protocol_from_dict(data, source="fuzz.toml"))
    if not isinstance(protocol, dosing.Protocol):
        return
    cohort = check(lambda: load_cohort(SEED_PATIENT, protocol))
    if isinstance(cohort, dosing.Cohort):
        check(lambda: run_checks(protocol, cohort))


def run_checks(protocol: dosing.Protocol, cohort: dosing.Cohort) -> None:
    doses = expand(protocol, cohort)
    check_methotrexate_doses(doses, protocol)
    check_max_daily(doses, protocol)
    check_same_drug(doses, protocol)


@FAST
@given(data=st.dictionaries(st.sampled_from(["study", "arms", "regimens", "patient_values", "x"]), values))
def test_random_structures_through_protocol_from_dict(data: dict[str, Any]) -> None:
    check(lambda: protocol_from_dict(data, source="fuzz.toml"))


@settings(FAST, max_examples=300)
@given(data=mutated_seed_dicts())
def test_mutated_seed_structures(data: dict[str, Any]) -> None:
    load_and_expand(data)


# -- the cohort model, fed random rows directly ---------------------------------------------

cells = st.one_of(st.sampled_from(TOKENS), st.text(max_size=10), st.sampled_from(["RA-1", "RA-2", "2027-01-04", "15"]))
header = st.lists(st.sampled_from(["patient_id", "arm", "start_date", "timezone", "site", "mtx_dose", "mtx_weekday"]))


@FAST
@given(
    head=st.one_of(header, st.lists(cells, max_size=8)),
    rows=st.lists(st.lists(cells, max_size=9), max_size=5),
)
def test_random_rows_through_cohort_from_rows(head: list[str], rows: list[list[str]]) -> None:
    numbered = [(line, row) for line, row in enumerate(rows, start=2)]
    cohort = check(lambda: cohort_from_rows(head, numbered, SEED_PROTOCOL, source="fuzz.csv"))
    if isinstance(cohort, dosing.Cohort):
        check(lambda: run_checks(SEED_PROTOCOL, cohort))


GOOD_ROW = ["RA-1", "active", "2027-01-04", "Asia/Shanghai", "PKUPH", "15", "Monday"]
FULL_HEADER = ["patient_id", "arm", "start_date", "timezone", "site", "mtx_dose", "mtx_weekday"]


@FAST
@given(column=st.integers(0, 6), cell=cells)
def test_one_bad_cell_in_a_good_cohort(column: int, cell: str) -> None:
    row = list(GOOD_ROW)
    row[column] = cell
    cohort = check(lambda: cohort_from_rows(FULL_HEADER, [(2, row)], SEED_PROTOCOL, source="fuzz.csv"))
    if isinstance(cohort, dosing.Cohort):
        check(lambda: run_checks(SEED_PROTOCOL, cohort))


# -- the changes model, fed one bad cell in good rows, then applied ----------------------------

CHANGES_HEADER = ["patient_id", "change", "regimen", "cycle", "date", "time", "days", "dose", "visit", "reason"]
GOOD_CHANGES = [
    ["RA-900", "delay", "il2", "2", "2027-01-29", "", "7", "", "", "neutropenia"],
    ["RA-900", "hold", "loxoprofen", "", "2027-01-06", "13:00", "", "", "", "stomach pain"],
    ["RA-901", "dose", "methotrexate", "", "2027-02-01", "", "", "12.5", "", "disease still active"],
    ["RA-901", "reschedule", "", "", "2027-01-25", "", "", "", "week-2", "travelling"],
    ["RA-901", "stop", "hrIL-2 or placebo", "", "2027-03-01", "", "", "", "", "rash"],
]
TWO_PATIENTS = dosing.load_cohort(FIXTURES / "changes-two-patients.csv", SEED_PROTOCOL)
TWO_PATIENTS_DOSES = expand(SEED_PROTOCOL, TWO_PATIENTS)
change_cells = st.one_of(
    cells,
    st.sampled_from(["2027-01-03", "2027-02-30", "2999-01-01", "0", "-7", "400", "3", "4", "25", "24:00", "week-24"]),
    st.sampled_from(["screening", "withdraw", "il2-placebo", "folic-acid", "RA-901", "1e309", "nan", "7.5"]),
)


@FAST
@given(row=st.integers(0, len(GOOD_CHANGES) - 1), column=st.integers(0, 9), cell=change_cells)
def test_one_bad_cell_in_good_changes(row: int, column: int, cell: str) -> None:
    rows = [list(r) for r in GOOD_CHANGES]
    rows[row][column] = cell
    numbered = list(enumerate(rows, start=2))
    changes = check(lambda: changes_from_rows(CHANGES_HEADER, numbered, SEED_PROTOCOL, TWO_PATIENTS, "fuzz.csv"))
    if isinstance(changes, Changes):
        check(lambda: apply_changes(TWO_PATIENTS_DOSES, changes))


# -- the same properties with many more examples --------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(READERS))
@SLOW
@given(data=st.data())
def test_mutated_sample_slow(name: str, data: st.DataObject) -> None:
    mutate_and_read(name, data)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(READERS))
@SLOW
@given(text=texts)
def test_random_text_slow(name: str, text: str) -> None:
    random_text_and_read(name, text)


@pytest.mark.slow
@SLOW
@given(data=mutated_seed_dicts())
def test_mutated_seed_structures_slow(data: dict[str, Any]) -> None:
    load_and_expand(data)


# -- the CSV writer: whatever the text, the file reads back as written, and nothing runs ----


@FAST
@given(texts=st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)), min_size=1, max_size=6))
def test_csv_cells_read_back_neutralised(texts: list[str]) -> None:
    import csv

    import pandas as pd

    from dosing.io.write.csv import safe_cell, write_csv

    texts = [t.replace("\x00", "") for t in texts]  # NUL cannot come from our readers
    frame = pd.DataFrame({"text": texts, "category": pd.Categorical(texts), "number": range(len(texts))})
    path = _FOLDER / "out.csv"
    write_csv(frame, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["text", "category", "number"]
    assert len(rows) == len(texts) + 1  # no cell splits a row
    assert [row[0] for row in rows[1:]] == [safe_cell(t) for t in texts]
    assert [row[1] for row in rows[1:]] == [safe_cell(t) for t in texts]
    assert [row[2] for row in rows[1:]] == [str(i) for i in range(len(texts))]
