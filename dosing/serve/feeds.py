"""Patient calendar feeds behind unguessable tokens, and rotating a patient's token.

``generate`` writes each patient's calendar to ``<out>/<study>/feeds/<token>.ics``, so that the
``feeds`` folder alone can be published by any static web server (or ``dosing serve``), and
``<out>/<study>/feeds.csv`` (kept out of ``feeds/``) for the coordinator who hands out URLs.

The token is HMAC-SHA256(key, study id, patient id, version) in URL-safe base64 (256 bits).
The key is a random secret in a file outside the output folder (default
``~/.config/dosing/feed.key``), created on first use with permissions 0600. Rotating a
patient's token raises that patient's version, stored beside the key in
``<key file>.versions.json``; the old URL stops working at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import OutputError
from ..io.manifest import read_manifest
from ..io.permissions import restrict
from ..io.study_lock import study_lock
from ..io.write.csv import write_csv
from ..plan.cohort import Cohort
from ..protocol.model import Protocol

DEFAULT_KEY_FILE = Path("~/.config/dosing/feed.key")  # under $XDG_CONFIG_HOME when that is set
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
#: The only file names a feed server may answer: a token of 20+ URL-safe characters.
FEED_NAME = re.compile(r"^[A-Za-z0-9_-]{20,}\.ics$")
FEED_COLUMNS = ["patient_id", "feed_url", "token_version"]


def key_path(key_file: str | Path | None) -> Path:
    """The key file: as given, else ``$XDG_CONFIG_HOME/dosing/feed.key`` or ``~/.config/dosing/feed.key``."""
    if key_file is None:
        config = os.environ.get("XDG_CONFIG_HOME")
        key_file = Path(config) / "dosing" / "feed.key" if config else DEFAULT_KEY_FILE
    return Path(key_file).expanduser().resolve()


def load_key(key_file: str | Path | None, out_dir: Path) -> bytes:
    """The feed key, created (0600) on first use; refused if it lies inside ``out_dir``."""
    path = key_path(key_file)
    if path.is_relative_to(out_dir.expanduser().resolve()):
        raise OutputError(
            "the feed key must not lie inside the output folder (it would be published with the feeds)",
            source=str(path),
            hint="use the default ~/.config/dosing/feed.key or --key-file outside --out",
        )
    if not path.exists():
        _create_key(path)
    if path.stat().st_mode & 0o077:
        raise OutputError("the feed key is readable by other users", source=str(path), hint=f"run: chmod 600 {path}")
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise OutputError("the feed key is too short (at least 32 characters)", source=str(path))
    return key


def _create_key(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first
    except OSError as err:
        raise OutputError(f"cannot create the feed key ({err.strerror})", source=str(path)) from None
    with os.fdopen(handle, "w") as out:
        out.write(secrets.token_hex(32) + "\n")


def feed_token(key: bytes, study_id: str, patient_id: str, version: int = 0) -> str:
    """URL-safe token (43 characters, 256 bits) for one patient's feed."""
    message = "\x1f".join([study_id, patient_id, str(version)]).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _versions_file(key_file: str | Path | None) -> Path:
    path = key_path(key_file)
    return path.with_name(path.name + ".versions.json")


def token_versions(key_file: str | Path | None, study_id: str) -> dict[str, int]:
    """Each rotated patient's token version (patients never rotated are at 0)."""
    return _read_versions(_versions_file(key_file)).get(study_id, {})


def _read_versions(path: Path) -> dict[str, dict[str, int]]:
    """The versions file: {study id: {patient id: version}}; a damaged file is an :class:`OutputError`."""
    if not path.exists():
        return {}
    hint = (
        'restore it from a backup, or fix it by hand ({"<study id>": {"<patient id>": <version>}}); deleting '
        "it puts every rotated patient back on their old, revoked URL"
    )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OutputError(f"cannot read the feed token versions ({err})", source=str(path), hint=hint) from None
    valid = isinstance(data, dict) and all(
        isinstance(patients, dict)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in patients.values())
        for patients in data.values()
    )
    if not valid:
        raise OutputError(
            "the feed token versions file is damaged (expected an object of studies, each mapping patient ids "
            "to whole numbers)",
            source=str(path),
            hint=hint,
        )
    return {str(study): {str(k): int(v) for k, v in patients.items()} for study, patients in data.items()}


def _save_version(key_file: str | Path | None, study_id: str, patient_id: str, version: int) -> None:
    path = _versions_file(key_file)
    data = _read_versions(path)
    data.setdefault(study_id, {})[patient_id] = version
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def feed_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/{token}.ics"


@dataclass(frozen=True)
class Feeds:
    """Where each patient's feed goes (``<study>/feeds/<token>.ics``): the tokens from the key and each
    rotated patient's version. ``generate`` writes a feed beside each patient's calendar, in the
    process that wrote the calendar (:meth:`write`), and ``feeds.csv`` at the end (:meth:`finish`)."""

    folder: Path  # the study folder
    study_id: str
    key: bytes
    versions: dict[str, int]
    base_url: str = DEFAULT_BASE_URL

    def start(self) -> Feeds:
        """Make ``feeds/``, owner-only from the start (see :mod:`dosing.io.permissions`)."""
        (self.folder / "feeds").mkdir(mode=0o700)
        return self

    def token(self, patient_id: str) -> str:
        return feed_token(self.key, self.study_id, patient_id, self.versions.get(patient_id, 0))

    def write(self, patient_id: str, ics: bytes) -> None:
        (self.folder / "feeds" / f"{self.token(patient_id)}.ics").write_bytes(ics)

    def finish(self, patient_ids: list[str]) -> pd.DataFrame:
        """``feeds.csv``: each patient's URL and token version, in the order given; the table."""
        rows = [(pid, feed_url(self.base_url, self.token(pid)), self.versions.get(pid, 0)) for pid in patient_ids]
        table = pd.DataFrame(rows, columns=FEED_COLUMNS)
        write_csv(table, self.folder / "feeds.csv")
        return table


@dataclass
class RotatedFeed:
    patient_id: str
    old_url: str
    new_url: str
    version: int

    def summary(self) -> str:
        return f"{self.patient_id}: new feed URL (version {self.version})\n  {self.new_url}\n  old URL now answers 404"


def rotate_feed(
    protocol: Protocol,
    cohort: Cohort,
    patient_id: str,
    out_dir: str | Path = "output",
    key_file: str | Path | None = None,
) -> RotatedFeed:
    """Give ``patient_id`` a new token: the old URL stops working at once. Renames the feed
    file in ``<out>/<study>/feeds/`` and updates ``feeds.csv`` in place; later runs of
    ``generate`` keep the new token (the version is stored beside the key)."""
    cohort.patient(patient_id)
    folder = Path(out_dir) / protocol.study.id.lower()
    with study_lock(folder):
        return _rotate(protocol.study.id, patient_id, folder, key_file)


def _rotate(study_id: str, patient_id: str, folder: Path, key_file: str | Path | None) -> RotatedFeed:
    table_path = folder / "feeds.csv"
    if not table_path.exists():
        raise OutputError("no feeds.csv here", source=str(folder), hint="run `dosing generate` first")
    table = pd.read_csv(table_path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    match = table.index[table["patient_id"] == patient_id]
    if len(match) != 1:
        raise OutputError(f"no feed for patient {patient_id!r}", source=str(table_path), hint="check the patient id")
    key = load_key(key_file, folder.parent)
    version = int(str(table.at[match[0], "token_version"]))
    old = feed_token(key, study_id, patient_id, version)
    new = feed_token(key, study_id, patient_id, version + 1)
    old_file = folder / "feeds" / f"{old}.ics"
    if not old_file.exists():
        raise OutputError(
            "the patient's feed file is missing", source=str(old_file), hint="run `dosing generate` again"
        )
    _save_version(key_file, study_id, patient_id, version + 1)
    os.replace(old_file, folder / "feeds" / f"{new}.ics")
    old_url = str(table.at[match[0], "feed_url"])
    new_url = old_url[: old_url.rfind("/") + 1] + f"{new}.ics"
    table.loc[match[0], ["feed_url", "token_version"]] = [new_url, str(version + 1)]
    write_csv(table, table_path)
    restrict(table_path, ((read_manifest(folder) or {}).get("options") or {}).get("group"))
    return RotatedFeed(patient_id, old_url, new_url, version + 1)
