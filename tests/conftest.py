"""Shared fixtures: the shipped protocols and named fixture files, by name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import dosing

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = ROOT / "protocols"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHIPPED = ["nct02467504", "nct04077684", "capecitabine"]


@pytest.fixture(autouse=True)
def _private_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Feed keys default to $XDG_CONFIG_HOME/dosing/feed.key: keep tests out of the real home folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "config-home"))


#: "Today" for every test: warnings about first days in the past never depend on the wall clock.
PINNED_TODAY = dt.date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dosing.plan.warnings.today_in", lambda zone: PINNED_TODAY)


@pytest.fixture(scope="session")
def seed_protocol() -> dosing.Protocol:
    return dosing.load_protocol(PROTOCOLS / "nct02467504.toml")


@pytest.fixture(scope="session")
def seed_cohort(seed_protocol: dosing.Protocol) -> dosing.Cohort:
    return dosing.load_cohort(PROTOCOLS / "nct02467504-cohort.csv", seed_protocol)


def shipped(name: str) -> tuple[dosing.Protocol, dosing.Cohort]:
    protocol = dosing.load_protocol(PROTOCOLS / f"{name}.toml")
    return protocol, dosing.load_cohort(PROTOCOLS / f"{name}-cohort.csv", protocol)
