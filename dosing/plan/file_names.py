"""File and folder names made from user text (patient ids, site names) that work everywhere.

Windows refuses the device names (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM1``-``COM9``,
``LPT1``-``LPT9``), with or without an extension (``NUL.txt``), and silently drops trailing dots
and spaces; Windows and macOS fold upper and lower case. A study folder copied there would lose
or merge files, so such names are refused (patient ids) or made distinct (site calendars).
Pure: no file access.
"""

from __future__ import annotations

import hashlib
import re

_DEVICE = re.compile(r"^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³])(\..*)?$", re.IGNORECASE)


def unportable(name: str) -> str | None:
    """Why ``name`` cannot be a file name on every system, or None when it can."""
    if _DEVICE.match(name):
        return f"{name!r} is a reserved device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
    if name != name.rstrip(". "):
        return f"{name!r} ends in a dot or a space, which Windows drops from file names"
    return None


#: Longest file stem in UTF-8 bytes made from a site name (file systems allow 255 bytes a name):
#: a longer name is cut at a character boundary and gets its suffix.
MAX_STEM_BYTES = 100
#: The stem of the staff calendar of the patients without a site.
NO_SITE = "all"


def site_file_names(sites: list[str]) -> dict[str, str]:
    """A distinct (also when upper and lower case are folded), portable file stem per site name;
    ``""`` stands for the patients without a site, whose stem is ``all``.

    ``North Clinic``, ``North-Clinic`` and ``North/Clinic`` would all become ``North-Clinic``:
    each of them then gets a suffix made from its own name (stable across runs), so no site's
    calendar overwrites another's. A name that still meets a suffixed one (a site literally
    named ``North-Clinic-c7c6a219``, or ``all`` beside the patients without a site) gets its
    suffix too; a stem longer than :data:`MAX_STEM_BYTES` is cut and suffixed."""
    stems = {site: _stem(site) for site in sites}
    suffixed = {site for site, stem in stems.items() if unportable(stem) or _too_long(site, stem)}
    while True:
        names = {site: _suffixed(site, stem) if site in suffixed else stem for site, stem in stems.items()}
        count: dict[str, int] = {}
        for name in names.values():
            count[name.casefold()] = count.get(name.casefold(), 0) + 1
        clashing = {site for site, name in names.items() if count[name.casefold()] > 1}
        if not clashing - suffixed:
            break
        suffixed |= clashing
    if clashing:  # two names with the same stem and the same 32-bit hash: never met, refused
        raise ValueError(f"site names {sorted(clashing)} would share a staff calendar file")
    return names


def _stem(site: str) -> str:
    if not site:
        return NO_SITE
    stem = re.sub(r"[^\w.-]+", "-", site).strip("-.") or "site"
    return stem.encode()[:MAX_STEM_BYTES].decode(errors="ignore").rstrip("-.") or "site"


def _too_long(site: str, stem: str) -> bool:
    return len(re.sub(r"[^\w.-]+", "-", site).strip("-.").encode()) > MAX_STEM_BYTES


def _suffixed(site: str, stem: str) -> str:
    return f"{stem}-{hashlib.sha256(site.encode()).hexdigest()[:8]}"
