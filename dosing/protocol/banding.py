"""Dose banding and rounding (``dose.round``): to a step or to whole tablets, in a direction, within a
stated percentage of the computed dose. Exact decimal arithmetic, as :mod:`dosing.protocol.units`.

* ``to = 50``: the nearest multiple of 50 (halves up, ROUND_HALF_UP), or the multiple below
  (``direction = "down"``) or above (``"up"``).
* ``tablets = [150, 500]``: the closest total made of whole tablets of those strengths (at most
  :data:`MAX_TABLETS` tablets in one dose), the total below or above with ``direction``; of the ways to
  make that total, the fewest tablets, then the most of the larger strengths (2350 mg is
  2 x 500 mg + 9 x 150 mg).
* ``within = "10%"``: how far the rounded dose may be from the computed one (checked by the caller,
  which knows the patient: :func:`deviation` gives the percentage).

Pure: no I/O.
"""

from __future__ import annotations

import bisect
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache

import numpy as np

from ..errors import ValueParseError
from .units import exact

#: The most tablets one dose may be made of (a dose needing more is refused by the caller).
MAX_TABLETS = 40
#: The most tablet strengths one regimen may list.
MAX_STRENGTHS = 4
DIRECTIONS = ("nearest", "down", "up")
_ROUNDING = {"nearest": ROUND_HALF_UP, "down": ROUND_FLOOR, "up": ROUND_CEILING}


def parse_percent(value: object) -> float:
    """ "10%" -> 10.0; a percentage from 0 to 100 (a bare number is refused: say it is a percentage)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueParseError(f'write within as a percentage of the computed dose, e.g. within = "10%", got {value!r}')
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
    if match is None:
        raise ValueParseError(f'expected a percentage such as "10%", got {value!r}')
    number = float(match.group(1))
    if number >= 100:
        raise ValueParseError(f"within {value!r}: a rounded dose must stay less than 100% from the computed dose")
    return number


def to_step(value: Decimal, step: object, direction: str) -> Decimal:
    """``value`` rounded to a multiple of ``step`` in ``direction`` (nearest: halves up)."""
    size = exact(step)
    return (value / size).quantize(Decimal(1), rounding=_ROUNDING[direction]) * size


def to_tablets(value: Decimal, strengths: tuple[float, ...], direction: str) -> tuple[Decimal, tuple[int, ...]] | None:
    """The total of whole tablets closest to ``value`` in ``direction`` and how many of each strength
    (in the order of ``strengths``); None when no total of 1 to :data:`MAX_TABLETS` tablets lies that way."""
    quantum, totals, counts, order = _table(tuple(strengths))
    units = value / quantum
    below = bisect.bisect_right(totals, units) - 1
    above = bisect.bisect_left(totals, units)
    down = totals[below] if below >= 0 else None
    up = totals[above] if above < len(totals) else None
    if direction == "down" or (direction == "nearest" and up is None):
        pick = below if down is not None else None
    elif direction == "up" or down is None:
        pick = above if up is not None else None
    else:
        assert up is not None and down is not None
        pick = below if units - down < up - units else above  # a tie rounds up, as halves do
    if pick is None:
        return None
    made = counts[pick]
    by_given = tuple(int(made[order.index(i)]) for i in range(len(strengths)))
    return Decimal(totals[pick]) * quantum, by_given


@lru_cache(maxsize=64)
def _table(strengths: tuple[float, ...]) -> tuple[Decimal, list[int], list[tuple[int, ...]], list[int]]:
    """Every total of 1 to MAX_TABLETS tablets, in units of ``quantum`` (a power of ten that makes every
    strength whole), ascending, each with its best combination (counts of the strengths largest first)
    and the order of the strengths (largest first, as indexes into ``strengths``)."""
    exact_strengths = [exact(s) for s in strengths]
    places = max(max(-s.normalize().as_tuple().exponent, 0) for s in exact_strengths)  # type: ignore[operator]
    quantum = Decimal(1).scaleb(-places)
    order = sorted(range(len(strengths)), key=lambda i: -exact_strengths[i])
    sizes = [int(exact_strengths[i] / quantum) for i in order]
    totals = np.zeros(1, dtype=np.int64)
    counts = np.zeros((1, 0), dtype=np.int64)
    n = np.arange(MAX_TABLETS + 1, dtype=np.int64)
    for size in sizes:
        t = (totals[:, None] + size * n[None, :]).ravel()
        c = np.concatenate([np.repeat(counts, len(n), axis=0), np.tile(n, len(totals))[:, None]], axis=1)
        keep = c.sum(axis=1) <= MAX_TABLETS
        t, c = t[keep], c[keep]
        # the best way to make each total: fewest tablets, then most of the larger strengths
        keys = (*(-c[:, j] for j in reversed(range(c.shape[1]))), c.sum(axis=1), t)
        ranked = np.lexsort(keys)
        t, c = t[ranked], c[ranked]
        first = np.r_[True, t[1:] != t[:-1]]
        totals, counts = t[first], c[first]
    made = totals > 0
    return quantum, totals[made].tolist(), [tuple(row) for row in counts[made].tolist()], order


def tablet_text(strengths: tuple[float, ...], counts: tuple[int, ...], unit: str) -> str:
    """ "2 × 500 mg + 9 × 150 mg": the larger strengths first, strengths not used left out."""
    pairs = sorted(zip(strengths, counts, strict=True), key=lambda pair: -exact(pair[0]))
    return " + ".join(f"{count} × {plain(strength)} {unit}" for strength, count in pairs if count)


def deviation(computed: Decimal, rounded: Decimal) -> Decimal:
    """How far ``rounded`` is from ``computed``, in percent of ``computed``."""
    return abs(rounded - computed) / computed * 100


def plain(value: object) -> str:
    """A number as people write it in a formula: 1870, 2337.5, 0.9 (no exponent, no trailing zeros,
    no thousands separator)."""
    number = exact(value).normalize()
    text = f"{number:f}"
    return text


__all__ = [
    "DIRECTIONS",
    "MAX_STRENGTHS",
    "MAX_TABLETS",
    "deviation",
    "parse_percent",
    "plain",
    "tablet_text",
    "to_step",
    "to_tablets",
]
