"""Time-zone names that mean what they say.

A patient's doses are planned on the wall clock of the place they live, so a zone name must
name a place. **The rule:** a zone is accepted when it is a geographic name of the IANA time
zone database, ``Area/Location`` with ``Area`` one of Africa, America, Antarctica, Arctic,
Asia, Atlantic, Australia, Europe, Indian or Pacific (``Asia/Shanghai``,
``America/Argentina/Buenos_Aires``). Every other name the database knows is refused for
patients and for the study, unless the protocol allows it explicitly (see
:func:`zone_problem`):

- fixed offsets: ``UTC``, ``GMT``, ``Etc/*`` (``Etc/GMT-8`` is UTC+08:00 all year), ``UCT``,
  ``Zulu``, ``Universal``, ``Greenwich``, ``GMT0``;
- abbreviations: ``EST``, ``MST``, ``HST``, ``CET``, ``MET``, ``EET``, ``WET``: they name no
  place (``EST`` keeps UTC-05:00 all year, so a New York patient would be an hour off all
  summer);
- POSIX-style rules: ``EST5EDT``, ``CST6CDT``, ``MST7MDT``, ``PST8PDT``;
- old aliases the database keeps for backward compatibility: ``US/*``, ``Canada/*``,
  ``Mexico/*``, ``Brazil/*``, ``Chile/*`` and country names such as ``Japan``, ``PRC``, ``GB``.

``localtime``, ``posixrules`` and ``Factory`` (the machine's own setting and placeholders)
are never accepted. Names are case-sensitive; an unknown name gets a suggestion found with
case, accents, spaces and hyphens folded (``asia/shanghai`` and ``Europe/Berlín`` ->
``Asia/Shanghai``, ``Europe/Berlin``), and a refused alias its geographic target
(``US/Eastern`` -> ``America/New_York``, read from tzdata's ``tzdata.zi`` link lines).

Pure: the only reading is the time-zone database itself (through :mod:`zoneinfo` and the
``tzdata`` package's resources).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ProtocolError

if TYPE_CHECKING:
    from .model import Protocol

#: The tz database's geographic areas: ``Area/Location`` names under these name a place.
GEOGRAPHIC_AREAS = frozenset(
    {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}
)
#: Names that are not a place's zone at all: never accepted, not even with fixed offsets allowed.
NEVER = frozenset({"localtime", "posixrules", "Factory"})
_FIXED = frozenset({"UTC", "UCT", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "Universal", "Zulu"})
_ABBREVIATIONS = frozenset({"EST", "MST", "HST", "CET", "MET", "EET", "WET"})
_POSIX = re.compile(r"^[A-Z]{3,4}\d{1,2}[A-Z]{3,4}$")
#: The places whose rules the POSIX-style names follow (tzdata 2024b made them links to these).
_POSIX_PLACES = {
    "EST5EDT": "America/New_York",
    "CST6CDT": "America/Chicago",
    "MST7MDT": "America/Denver",
    "PST8PDT": "America/Los_Angeles",
}
_OFFSET = re.compile(r"^(?:(?:UTC|GMT|Z)\s*)?[+\-\u2212]\s*\d{1,2}(?::?\d\d)?$", re.IGNORECASE)
_EXAMPLES = '"America/New_York", "Europe/Berlin" or "Asia/Shanghai"'
_FIX_FLAG = (
    "to use such a name anyway, set study.allow_fixed_offset_zones = true and say why in "
    "study.fixed_offset_zones_reason"
)


@dataclass(frozen=True)
class ZoneProblem:
    """Why a zone name is refused (``message``) and what to write instead (``hint``, if more than
    the message's did-you-mean)."""

    message: str
    hint: str | None = None

    def text(self) -> str:
        """One line: the message, then ``Fix:`` and the hint."""
        return self.message if self.hint is None else f"{self.message}. Fix: {self.hint}"


def is_geographic(name: str) -> bool:
    """True for ``Area/Location`` names of the tz database's geographic areas."""
    area, slash, _ = name.partition("/")
    return bool(slash) and area in GEOGRAPHIC_AREAS


def zone_problem(name: str, *, allow_fixed: bool = False) -> ZoneProblem | None:
    """None when ``name`` may be used for a patient or a study; else what is wrong and the fix.

    ``allow_fixed`` (the protocol's ``study.allow_fixed_offset_zones``) accepts the names of the
    tz database that are not geographic (fixed offsets, abbreviations, POSIX rules, old aliases)."""
    if name not in known_zones():
        return _unknown(name)
    if is_geographic(name) or allow_fixed:
        return None
    return _not_a_place(name)


def check_study_zone(protocol: Protocol) -> None:
    """The study's zone names a place unless fixed offsets are allowed, and an allowance says why."""
    study = protocol.study
    if study.allow_fixed_offset_zones and not study.fixed_offset_zones_reason:
        raise ProtocolError(
            "fixed-offset zones are allowed without a reason",
            source=protocol.source,
            where="study.allow_fixed_offset_zones",
            hint='say why in study.fixed_offset_zones_reason (e.g. "the ship keeps UTC"); validate shows it',
        )
    if study.fixed_offset_zones_reason and not study.allow_fixed_offset_zones:
        raise ProtocolError(
            "a reason is given but study.allow_fixed_offset_zones is not true",
            source=protocol.source,
            where="study.fixed_offset_zones_reason",
            hint="set allow_fixed_offset_zones = true, or remove the reason",
        )
    problem = zone_problem(study.timezone, allow_fixed=study.allow_fixed_offset_zones)
    if problem is not None:
        raise ProtocolError(problem.message, source=protocol.source, where="study.timezone", hint=problem.hint)


def _unknown(name: str) -> ZoneProblem:
    if _OFFSET.match(name.strip()):
        return ZoneProblem(
            f"{name!r} is a UTC offset, not a time zone: an offset does not follow daylight-saving time",
            f"name the patient's place, such as {_EXAMPLES}{_etc_hint(name)}",
        )
    guess = suggest(name)
    if guess is not None:
        return ZoneProblem(f"unknown time zone {name!r}; did you mean {guess!r}?")
    return ZoneProblem(f"unknown time zone {name!r}", f"use an IANA time zone name such as {_EXAMPLES}")


def _etc_hint(offset: str) -> str:
    """How a whole-hour offset is written in the tz database, for those who really mean it."""
    match = re.search(r"([+\-\u2212])\s*(\d{1,2})(?::?(\d\d))?$", offset.strip())
    if match is None or (match.group(3) not in (None, "00")) or int(match.group(2)) > 14:
        return ""
    hours, east = int(match.group(2)), match.group(1) == "+"
    etc = "Etc/GMT" if hours == 0 else f"Etc/GMT{'-' if east else '+'}{hours}"
    return f'; if a fixed offset is really meant, write "{etc}" (the tz database reverses the sign); {_FIX_FLAG}'


def _not_a_place(name: str) -> ZoneProblem:
    kind = _kind(name)
    target = alias_target(name)
    if target is not None and is_geographic(target) and kind in ("a POSIX-style rule", "an old alias"):
        instead = f'write "{target}", the place whose rules {name!r} follows'
    else:
        instead = f"name the patient's place, such as {_EXAMPLES}"
    return ZoneProblem(
        f"{name!r} is {kind}, not the zone of a place: {_consequence(name)}",
        f"{instead}; {_FIX_FLAG}",
    )


def _kind(name: str) -> str:
    if name in _FIXED or name.startswith("Etc/"):
        return "a fixed UTC offset"
    if name in _ABBREVIATIONS:
        return "a time-zone abbreviation"
    if _POSIX.match(name):
        return "a POSIX-style rule"
    return "an old alias"


def _consequence(name: str) -> str:
    if _kind(name) == "an old alias":
        return "it is kept only for backward compatibility"
    offsets = _offsets(name)
    if len(offsets) == 1:
        return f"its clock stays at UTC{next(iter(offsets))} all year and ignores daylight-saving time"
    return f"the rules of {name!r} need not be those of the place where the patient lives"


def _offsets(name: str) -> set[str]:
    zone = zoneinfo.ZoneInfo(name)
    moments = [dt.datetime(2027, month, 15, 12, tzinfo=zone) for month in (1, 4, 7, 10)]
    return {_format_offset(m.utcoffset() or dt.timedelta(0)) for m in moments}


def _format_offset(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def suggest(name: str) -> str | None:
    """The geographic zone ``name`` most likely means: equal after folding case, accents,
    spaces and hyphens (``asia/shanghai``), the same city alone (``Shanghai``), an old alias's
    target (``us/eastern``), or a close spelling (``Europe/Berlim``); None if nothing is close."""
    folded = fold(name.removeprefix("posix/").removeprefix("right/"))
    places = _folded_places()
    if folded in places:
        return _current(places[folded])
    city = _folded_cities().get(folded)
    if city is not None:
        return _current(city)
    target = _folded_aliases().get(folded)
    if target is not None:
        return _current(target)
    close = difflib.get_close_matches(folded, places, n=1, cutoff=0.85)
    return _current(places[close[0]]) if close else None


def _current(zone: str) -> str:
    """A suggestion names the zone as the tz database spells it now: an old spelling that is a
    link inside a geographic area (``Europe/Kiev``) becomes its target (``Europe/Kyiv``)."""
    target = alias_target(zone)
    return target if target is not None and is_geographic(target) else zone


def fold(text: str) -> str:
    """Case, accents, surrounding space, and runs of spaces, underscores or hyphens folded."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[\s_\-]+", "_", plain.strip()).casefold()


@functools.cache
def known_zones() -> frozenset[str]:
    """Every zone name :mod:`zoneinfo` offers here, except those that are never a place's zone."""
    return frozenset(zoneinfo.available_timezones()) - NEVER


@functools.cache
def _folded_places() -> dict[str, str]:
    return {fold(z): z for z in sorted(known_zones()) if is_geographic(z)}


@functools.cache
def _folded_cities() -> dict[str, str]:
    """Last name part -> zone, for cities that name only one geographic zone."""
    by_city: dict[str, list[str]] = {}
    for zone in sorted(known_zones()):
        if is_geographic(zone):
            by_city.setdefault(fold(zone.rsplit("/", 1)[1]), []).append(zone)
    return {city: zones[0] for city, zones in by_city.items() if len(zones) == 1}


@functools.cache
def _folded_aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for alias, target in {**_links(), **_POSIX_PLACES}.items():
        if is_geographic(target) and _kind(alias) in ("a POSIX-style rule", "an old alias"):
            out[fold(alias)] = target
    return out


def alias_target(name: str) -> str | None:
    """The zone an alias links to in the tz database (``US/Eastern`` -> ``America/New_York``)."""
    return _POSIX_PLACES.get(name) or _links().get(name)


@functools.cache
def _links() -> dict[str, str]:
    """``Link`` lines (``L target alias``) of the tzdata package's ``tzdata.zi``; empty without it."""
    try:
        from importlib.resources import files

        text = files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    links = (line.split() for line in text.splitlines() if line.startswith("L "))
    return {parts[2]: parts[1] for parts in links if len(parts) == 3}


__all__ = [
    "GEOGRAPHIC_AREAS",
    "NEVER",
    "ZoneProblem",
    "alias_target",
    "check_study_zone",
    "fold",
    "is_geographic",
    "suggest",
    "zone_problem",
]
