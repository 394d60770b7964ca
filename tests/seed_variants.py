"""Variants of the seed protocol for safety and bad-input tests, made by editing its text.

Each variant replaces exact lines of ``protocols/nct02467504.toml`` so that a test reads as
"the seed protocol, but with this line changed"; a replacement that no longer matches the
seed fails loudly instead of silently testing the unchanged protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, PROTOCOLS

SEED_TEXT = (PROTOCOLS / "nct02467504.toml").read_text(encoding="utf-8")
SEED_PATIENT = FIXTURES / "seed-one-patient.csv"

MTX_SCHEDULE = 'schedule = { weekday_from = "mtx_weekday", start_day = 1, end_day = 168 }'
MTX_DRUG = 'drug = "Methotrexate"'
MTX_TIMES = 'times = ["08:00"]\ninstructions = "ONCE WEEKLY'
STUDY_BLINDING = 'blinding = "quadruple"'
LOX_TIMES = 'times = ["08:00", "13:00", "19:00"]'
ARM_TAIL = '"folic-acid", "loxoprofen"]'


def seed_with(*replacements: tuple[str, str], append: str = "") -> str:
    """The seed protocol's text with each ``(old, new)`` replaced (every occurrence)."""
    text = SEED_TEXT
    for old, new in replacements:
        if old not in text:
            raise AssertionError(f"{old!r} is not in the seed protocol any more; update the test")
        text = text.replace(old, new)
    return text + append


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True, scope="module")
def private_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep per-user files that commands may create (e.g. a feed key under $XDG_CONFIG_HOME)
    out of the real home folder while these tests run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        yield
