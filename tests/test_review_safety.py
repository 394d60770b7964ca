"""Regressions found in review: blinded keys that collide, a blinded dose on one arm only,
methotrexate under other names, limits in other units, and the weekly warning on a blinded
placebo. Each case is one a user could write."""

from __future__ import annotations

from typing import Any

import pytest

import dosing
from dosing.errors import ProtocolError
from dosing.io.write.ics import dose_description, dose_summary
from dosing.plan.cohort import cohort_from_rows
from dosing.plan.load import protocol_from_dict
from dosing.protocol.safety import is_methotrexate, unit_factor
from tests.builders import UTC_ALLOWED, protocol, regimen


def blinded(regimens: list[dict[str, Any]], arms: list[dict[str, Any]], **extra: Any) -> dosing.Protocol:
    study = {"id": "B", "title": "t", "blinding": "double", "timezone": "UTC", **UTC_ALLOWED, "last_day": 21}
    return protocol_from_dict({"study": study, "arms": arms, "regimens": regimens, **extra})


def pair(label_a: str, label_b: str) -> list[dict[str, Any]]:
    """Two blinded groups (tablet A, tablet B), each with an active regimen and a placebo."""
    return [
        regimen("a-act", {"daily": True}, blinded_label=label_a),
        regimen("a-pbo", {"daily": True}, blinded_label=label_a),
        regimen("b-act", {"daily": True}, blinded_label=label_b, times=["20:00"]),
        regimen("b-pbo", {"daily": True}, blinded_label=label_b, times=["20:00"]),
    ]


ARMS = [{"id": "act", "label": "A", "regimens": ["a-act", "b-act"]},
        {"id": "pbo", "label": "P", "regimens": ["a-pbo", "b-pbo"]}]  # fmt: skip


def test_long_blinded_labels_get_distinct_keys() -> None:
    long = "Investigational medicinal product or placebo: tablet "
    proto = blinded(pair(long + "A", long + "B"), ARMS)
    keys = {r.blinded_label: r.display_key for r in proto.regimens}
    assert len(set(keys.values())) == 2
    assert all(len(key) <= 42 for key in keys.values())


def test_a_blinded_key_equal_to_a_regimen_id_is_refused() -> None:
    regimens = [*pair("Tablet A", "Tablet B"), regimen("b-tablet-a", {"daily": True}, times=["12:00"])]
    arms = [{**arm, "regimens": [*arm["regimens"], "b-tablet-a"]} for arm in ARMS]
    with pytest.raises(ProtocolError, match="would share the key 'b-tablet-a'"):
        blinded(regimens, arms)


def test_a_blinded_dose_on_one_arm_only_is_refused() -> None:
    regimens = pair("Tablet A", "Tablet B")
    regimens[0]["blinded_dose"] = "1 tablet"  # active only: its rows would read "1 tablet", placebo "1 mg"
    with pytest.raises(ProtocolError, match="differs from 'a-act' in blinded_dose"):
        blinded(regimens, ARMS)


@pytest.mark.parametrize(
    "name",
    ["Methotrexate", "methotrexate sodium", "MTX", "Methotrexat", "Méthotrexate", "metotrexato", "Metoject",
     "Trexall", "Otrexup", "Jylamvo", "amethopterin"],
)  # fmt: skip
def test_methotrexate_under_any_name(name: str) -> None:
    assert is_methotrexate(name)
    with pytest.raises(ProtocolError, match="ONCE WEEKLY"):
        protocol([{**regimen("m", {"daily": True}), "drug": name}])


@pytest.mark.parametrize("name", ["Folic acid", "Metformin", "Loxoprofen", "Mitoxantrone", "Pemetrexed"])
def test_other_drugs_are_not_methotrexate(name: str) -> None:
    assert not is_methotrexate(name)


@pytest.mark.parametrize(
    ("unit", "target", "factor"),
    [("mg", "mg", 1.0), ("g", "mg", 1000.0), ("µg", "mg", 0.001), ("mcg", "mg", 0.001), ("MIU", "IU", 1e6),
     ("tablet", "mg", None), ("IU", "mg", None), ("mg/m2", "mg", None)],
)  # fmt: skip
def test_unit_factor(unit: str, target: str, factor: float | None) -> None:
    assert unit_factor(unit, target) == factor


@pytest.mark.parametrize(("amount", "unit"), [(100, "mg"), (0.1, "g"), (100_000, "mcg")])
def test_loxoprofen_limit_holds_in_any_mass_unit(amount: float, unit: str) -> None:
    lox = {**regimen("lox", {"daily": True}, times=["08:00", "13:00", "19:00"]), "drug": "Loxoprofen"}
    lox["dose"] = {"amount": amount, "unit": unit}  # 3 x 100 mg = 300 mg > 180 mg a day
    with pytest.raises(ProtocolError, match="300 mg of loxoprofen"):
        protocol([lox])


def test_a_limited_drug_in_an_incomparable_unit_is_refused() -> None:
    lox = {**regimen("lox", {"daily": True}), "drug": "Loxoprofen", "dose": {"amount": 1, "unit": "tablet"}}
    with pytest.raises(ProtocolError, match="cannot be checked"):
        protocol([lox])


def test_methotrexate_above_25_mg_a_week_is_refused_outside_oncology() -> None:
    mtx = {**regimen("mtx", {"weekdays": ["Monday"]}), "drug": "Methotrexate", "dose": {"amount": 150, "unit": "mg"}}
    with pytest.raises(ProtocolError, match="150 mg of methotrexate"):
        protocol([mtx])
    limit = {"amount": 150, "unit": "mg"}
    with pytest.raises(ProtocolError, match="above the built-in limit of Methotrexate"):
        protocol([{**mtx, "max_daily_dose": limit}])  # loosening the built-in limit needs a named reason
    acknowledged = {**mtx, "max_daily_dose": limit, "acknowledge_limit_above_label": "protocol section 6.2"}
    assert protocol([acknowledged]).regimens[0].max_daily_dose.amount == 150  # the protocol may say so


def test_a_blinded_placebo_for_methotrexate_carries_the_weekly_warning() -> None:
    regimens = [
        {**regimen("mtx", {"weekday_from": "wd"}), "drug": "Methotrexate", "blinded_label": "Study tablets"},
        {**regimen("pbo", {"weekday_from": "wd"}), "drug": "Placebo", "blinded_label": "Study tablets"},
    ]
    arms = [{"id": "a", "label": "A", "regimens": ["mtx"]}, {"id": "p", "label": "P", "regimens": ["pbo"]}]
    proto = blinded(regimens, arms, patient_values={"wd": {"type": "weekday"}})
    rows = [(2, ["P1", "a", "2027-01-04", "UTC", "Monday"]), (3, ["P2", "p", "2027-01-04", "UTC", "Monday"])]
    cohort = cohort_from_rows(["patient_id", "arm", "start_date", "timezone", "wd"], rows, proto)
    from dosing.plan.blinding import blind

    table = blind(dosing.expand(proto, cohort), proto)
    for pid in ("P1", "P2"):
        first = table[table["patient_id"] == pid].iloc[0]
        assert dose_summary(first) == "Study tablets 1 mg (weekly, Monday)"
        assert "Once weekly, on Monday. Never take it daily." in dose_description(first)
        assert "Study tablets 1 mg (once weekly, Monday)" in dosing.show(proto, cohort, pid)
