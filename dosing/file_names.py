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


def site_file_names(sites: list[str]) -> dict[str, str]:
    """A distinct, portable file stem per site name. ``North Clinic``, ``North-Clinic`` and
    ``North/Clinic`` would all become ``North-Clinic``: each of them then gets a suffix made from
    its own name (stable across runs), so no site's calendar overwrites another's."""
    stems = {site: re.sub(r"[^\w.-]+", "-", site).strip("-.") or "site" for site in sites}
    taken: dict[str, int] = {}
    for stem in stems.values():
        taken[stem.casefold()] = taken.get(stem.casefold(), 0) + 1
    return {
        site: f"{stem}-{hashlib.sha256(site.encode()).hexdigest()[:8]}"
        if taken[stem.casefold()] > 1 or unportable(stem)
        else stem
        for site, stem in stems.items()
    }
