"""Patient feeds behind HMAC tokens: the key, the tokens, feeds.csv and rotating a token."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, PROTOCOLS

from dosing.cli import main
from dosing.serve.feeds import FEED_NAME, feed_token, load_key

#: The seed protocol with three patients in three zones and sites (one without a site).
SEED = [str(PROTOCOLS / "nct02467504.toml"), "--cohort", str(FIXTURES / "ics-three-sites.csv")]


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def feeds_table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "nct02467504" / "feeds.csv", dtype=str, encoding="utf-8-sig")


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Path, Path]:
    out, key = tmp_path / "out", tmp_path / "secret" / "feed.key"
    run("generate", *SEED, "--out", str(out), "--key-file", str(key), "--base-url", "https://feeds.example.org/ra/")
    return out, key


def test_the_key_is_created_on_first_use_readable_by_the_owner_only(generated: tuple[Path, Path]) -> None:
    _, key = generated
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64


def test_a_key_inside_the_output_folder_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["generate", *SEED, "--out", str(tmp_path), "--key-file", str(tmp_path / "feed.key")]
    )
    assert result.exit_code == 2
    assert "must not lie inside the output folder" in result.output
    assert not (tmp_path / "feed.key").exists()


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "feed.key"
    key.write_text("x" * 64)
    key.chmod(0o644)
    with pytest.raises(Exception, match="chmod 600"):
        load_key(key, tmp_path / "out")


def test_every_patient_has_one_feed_named_by_an_unguessable_token(generated: tuple[Path, Path]) -> None:
    out, key = generated
    folder = out / "nct02467504"
    table = feeds_table(out)
    assert len(table) == 3 and table["patient_id"].is_unique
    names = sorted(p.name for p in (folder / "feeds").iterdir())
    assert len(names) == 3 and all(FEED_NAME.fullmatch(n) for n in names)
    for row in table.itertuples():
        token = row.feed_url.removeprefix("https://feeds.example.org/ra/").removesuffix(".ics")
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 256 bits, URL-safe
        assert token == feed_token(load_key(key, out), "NCT02467504", row.patient_id)
        feed = (folder / "feeds" / f"{token}.ics").read_bytes()
        assert feed == (folder / "patients" / row.patient_id / "calendar.ics").read_bytes()
    assert not (folder / "feeds" / "feeds.csv").exists()


def test_tokens_depend_on_key_study_patient_and_version() -> None:
    key = b"k" * 32
    tokens = {
        feed_token(key, "S", "P1"),
        feed_token(key, "S", "P2"),
        feed_token(key, "T", "P1"),
        feed_token(b"j" * 32, "S", "P1"),
        feed_token(key, "S", "P1", 1),
    }
    assert len(tokens) == 5
    assert feed_token(key, "S", "P1") == feed_token(key, "S", "P1")


def test_regenerating_gives_the_same_urls(generated: tuple[Path, Path]) -> None:
    out, key = generated
    before = feeds_table(out)
    run("generate", *SEED, "--out", str(out), "--key-file", str(key), "--base-url", "https://feeds.example.org/ra/")
    assert feeds_table(out).equals(before)


def test_rotating_a_token_is_one_command_and_survives_regeneration(generated: tuple[Path, Path]) -> None:
    out, key = generated
    folder = out / "nct02467504"
    old = feeds_table(out).set_index("patient_id").loc["RA-102", "feed_url"]
    text = run("rotate-feed", *SEED, "--patient", "RA-102", "--out", str(out), "--key-file", str(key))
    new = feeds_table(out).set_index("patient_id").loc["RA-102", "feed_url"]
    assert new != old and new in text and new.startswith("https://feeds.example.org/ra/")
    assert not (folder / "feeds" / old.rsplit("/", 1)[1]).exists()
    assert (folder / "feeds" / new.rsplit("/", 1)[1]).exists()
    others = feeds_table(out).set_index("patient_id").drop(index="RA-102")
    run("generate", *SEED, "--out", str(out), "--key-file", str(key), "--base-url", "https://feeds.example.org/ra/")
    after = feeds_table(out).set_index("patient_id")
    assert after.loc["RA-102", "feed_url"] == new and after.loc["RA-102", "token_version"] == "1"
    assert after.drop(index="RA-102").equals(others)
    assert len(list((folder / "feeds").iterdir())) == 3


def test_rotating_an_unknown_patient_is_an_error(generated: tuple[Path, Path]) -> None:
    out, key = generated
    result = CliRunner().invoke(
        main, ["rotate-feed", *SEED, "--patient", "RA-999", "--out", str(out), "--key-file", str(key)]
    )
    assert result.exit_code == 2 and "RA-999" in result.output


def test_unblinded_runs_write_no_feeds_and_no_staff_calendars(tmp_path: Path) -> None:
    run("generate", *SEED, "--out", str(tmp_path / "out"), "--key-file", str(tmp_path / "k"), "--unblinded")
    folder = tmp_path / "out" / "nct02467504-UNBLINDED"
    assert not (folder / "feeds").exists() and not (folder / "feeds.csv").exists()
    assert not (folder / "staff").exists() and not (tmp_path / "k").exists()


def test_the_default_key_lives_in_the_user_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    run("generate", *SEED, "--out", str(tmp_path / "out"))
    key = tmp_path / "config" / "dosing" / "feed.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
