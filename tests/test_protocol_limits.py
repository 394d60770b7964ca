"""A protocol's size: its file and the counts of what it lists are capped, with the limit and the fix
named, and the checks take linear time (a chain of regimens is no recursion)."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

import dosing
from dosing.errors import CohortError, ProtocolError
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from dosing.protocol import limits as protocol_limits
from dosing.protocol.checks import dependency_order
from dosing.protocol.visit_checks import visit_order
from tests.conftest import PROTOCOLS


def seed() -> dict[str, Any]:
    return tomllib.loads((PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8"))


def open_label(i: int, **schedule: Any) -> dict[str, Any]:
    return {
        "id": f"extra-{i}",
        "drug": f"Vitamin {i}",
        "dose": {"amount": 1, "unit": "mg"},
        "route": "oral",
        "times": ["08:00"],
        "schedule": schedule or {"daily": True, "start_day": 1, "end_day": 28},
    }


def with_open_label(data: dict[str, Any], regimens: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed protocol plus these regimens, given in both arms."""
    ids = [r["id"] for r in regimens]
    arms = [{**arm, "regimens": [*arm["regimens"], *ids]} for arm in data["arms"]]
    return {**data, "arms": arms, "regimens": [*data["regimens"], *regimens]}


def test_a_protocol_at_the_regimen_limit_is_valid() -> None:
    data = with_open_label(seed(), [open_label(i) for i in range(protocol_limits.MAX_REGIMENS - 5)])
    assert len(protocol_from_dict(data).regimens) == protocol_limits.MAX_REGIMENS


def test_twenty_thousand_regimens_are_refused_at_once() -> None:
    data = with_open_label(seed(), [open_label(i) for i in range(20_000)])
    started = time.perf_counter()
    with pytest.raises(ProtocolError) as caught:
        protocol_from_dict(data, source="big.toml")
    assert time.perf_counter() - started < 5  # before: quadratic checks, about 40 s
    message = str(caught.value)
    assert "20,005 regimens: a protocol may have at most 1,000 regimens" in message
    assert "big.toml" in message and "split the study into several protocol files" in caught.value.hint


@pytest.mark.parametrize(
    ("key", "item", "words"),
    [
        ("arms", {"id": "a", "label": "A", "regimens": ["il2"]}, "arms"),
        ("visits", {"id": "v", "name": "V", "day": 1}, "visits"),
    ],
)
def test_too_many_arms_or_visits_are_refused(key: str, item: dict[str, Any], words: str) -> None:
    limit = {"arms": protocol_limits.MAX_ARMS, "visits": protocol_limits.MAX_VISITS}[key]
    data = {**seed(), key: [{**item, "id": f"x{i}"} for i in range(limit + 1)]}
    with pytest.raises(ProtocolError, match=f"{limit + 1:,} {words}: a protocol may have at most {limit:,}"):
        protocol_from_dict(data)


def test_too_many_patient_values_are_refused() -> None:
    values = {f"v{i}": {"type": "number", "unit": "mg"} for i in range(protocol_limits.MAX_PATIENT_VALUES + 1)}
    with pytest.raises(ProtocolError, match="101 patient values: a protocol may have at most 100"):
        protocol_from_dict({**seed(), "patient_values": values})


def test_a_long_list_inside_is_refused_with_its_path() -> None:
    data = seed()
    data["arms"][0]["regimens"] = data["arms"][0]["regimens"] + ["il2"] * protocol_limits.MAX_LIST
    with pytest.raises(ProtocolError) as caught:
        protocol_from_dict(data)
    assert caught.value.where == "arms[0].regimens"
    assert "a list of 3,664 items: a protocol's lists may hold at most 3,660" in str(caught.value)


def test_a_chain_of_a_thousand_regimens_each_after_the_one_before_is_valid() -> None:
    data = seed()
    data["study"]["last_day"] = 3000
    chain = [open_label(0)] + [open_label(i, after=f"extra-{i - 1}", offset=1) for i in range(1, 995)]
    protocol = protocol_from_dict(with_open_label(data, chain))  # walked with its own stack, not recursion
    order = dependency_order(protocol)
    assert order.index("extra-994") > order.index("extra-0")


def test_a_circular_relation_is_still_named() -> None:
    data = with_open_label(seed(), [open_label(1, after="extra-2"), open_label(2, after="extra-3"),
                                    open_label(3, after="extra-1")])  # fmt: skip
    with pytest.raises(
        ProtocolError, match="circular relation between regimens: extra-1 -> extra-2 -> extra-3 -> extra-1"
    ):
        protocol_from_dict(data)


def test_a_protocol_file_over_4_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text((PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8") + "# padding\n" * 420_000, "utf-8")
    with pytest.raises(ProtocolError, match="is larger than 4 MiB"):
        dosing.load_protocol(path)


def test_a_chain_of_a_thousand_visits_each_anchored_to_the_one_before_is_valid() -> None:
    visits = [{"id": "v0", "name": "Visit 0", "day": 1}]
    visits += [{"id": f"v{i}", "name": f"Visit {i}", "day": 1 + i, "anchor": f"v{i - 1}"} for i in range(1, 1000)]
    protocol = protocol_from_dict({**seed(), "visits": visits})
    assert [v.id for v in visit_order(protocol)] == [f"v{i}" for i in range(1000)]


def test_circular_visit_anchors_are_still_named() -> None:
    visits = [
        {"id": "a", "name": "A", "day": 1, "anchor": "c"},
        {"id": "b", "name": "B", "day": 2, "anchor": "a"},
        {"id": "c", "name": "C", "day": 3, "anchor": "b"},
    ]
    with pytest.raises(ProtocolError, match="circular visit anchors: a -> c -> b -> a"):
        protocol_from_dict({**seed(), "visits": visits})


def test_a_cohort_naming_too_many_sites_is_refused() -> None:
    protocol = dosing.load_protocol(PROTOCOLS / "nct02467504.toml")
    header = ["patient_id", "arm", "start_date", "site", "mtx_dose", "mtx_weekday"]
    rows = [(i + 2, [f"P{i}", "active", "2027-01-04", f"Clinic {i}", "10", "Monday"]) for i in range(1001)]
    with pytest.raises(CohortError) as caught:
        cohort_from_rows(header, rows, protocol, "many.csv")
    assert "1,001 different sites: a cohort may name at most 1,000" in str(caught.value)
    assert len(cohort_from_rows(header, rows[:1000], protocol)) == 1000
