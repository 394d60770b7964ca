"""Match administrations to planned doses: optimal over each patient's whole sequence, vectorised.

Pure: takes and returns arrays. The rules (see the README's "Adherence" section):

- An administration written on a worklist row (its ``uid``) belongs to that row's planned dose
  when it falls within the dose's window: the nurse said which dose it was. Everything else
  is matched as follows.
- An administration written on a row but outside that dose's window ("beyond" it) is matched
  after all others: it takes its own dose (late or early, however far) when that dose is still
  free, unless it falls in the window of another still free dose of the same drug that is nearer
  to it and has no administration (one written on that dose's row counts, even a diary entry or
  one outside the window); then it is matched as one without a row would be. It never displaces
  an administration matched in the window; if its own dose was taken, it is a second dose.
- An administration may match one planned dose of the same patient and drug (as shown, so
  blinded logs work) whose planned instant is within that dose's window (``Pool.window`` of
  the dose; an administration's own window is only the widest of its drug, to find
  candidates); each planned dose takes at most one administration. Held doses take none.
- Among all assignments, the one with the most matches wins, then the smallest total
  |deviation|, then the most administrations recorded against the dose's own ``uid``. Points
  on a line with one window per drug have an optimal assignment that preserves order, and
  default windows (half the gap to the nearer neighbour) never overlap, so an
  order-preserving dynamic programme finds it.
- Most administrations have exactly one planned dose in reach that no other administration
  can reach: those pairs are optimal and are taken at once, vectorised. The programme runs
  only on the rest, split into small independent runs of overlapping reach.
- An administration with a date only (a diary) written on the row of a dose of that date takes
  it if no timed administration did; any other matches an unmatched planned dose of the same
  drug on that local date, earliest first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

SHIFT = 34  # seconds in the low bits of a (group, time) key: 2**34 s is 544 years


@dataclass(frozen=True)
class Pool:
    """Doses or administrations as aligned arrays: group (patient x drug), time, uid."""

    group: np.ndarray
    seconds: np.ndarray
    window: np.ndarray
    uid: np.ndarray


@dataclass(frozen=True)
class Matching:
    """``dose_admin[i]``: the administration matched to planned dose i, or -1.

    ``reachable[j]``: administration j had a planned dose in reach (so if unmatched it is a
    second dose); ``near_held[j]``: a held dose was in its reach.
    """

    dose_admin: np.ndarray
    reachable: np.ndarray
    near_held: np.ndarray


def match(
    planned: Pool, held: np.ndarray, planned_day: np.ndarray, given: Pool, timed: np.ndarray, given_day: np.ndarray
) -> Matching:
    """Match every administration (``given``) to at most one planned dose not ``held``."""
    dose_admin = np.full(len(planned.group), -1, dtype=np.int64)
    reachable = np.zeros(len(given.group), dtype=bool)
    base = int(min(planned.seconds.min(initial=0), given.seconds.min(initial=0))) - int(
        max(planned.window.max(initial=0), given.window.max(initial=0))
    )
    free = np.flatnonzero(~held)
    dated = np.flatnonzero(~timed)
    diary_own = _diary_own(planned, held, planned_day, given, dated, given_day)
    claimed = np.zeros(len(planned.group), dtype=bool)
    claimed[diary_own[diary_own >= 0]] = True
    _match_all_timed(planned, free, claimed, given, np.flatnonzero(timed), base, dose_admin, reachable)
    _take_own(planned, given, dated[diary_own[dated] >= 0], diary_own, dose_admin)
    dated = dated[~_matched(dose_admin, dated, len(given.group))]
    unmatched = free[dose_admin[free] < 0]
    _match_dated(planned.group, planned_day, unmatched, given.group, given_day, dated, dose_admin, reachable)
    near_held = _near(planned, np.flatnonzero(held), given, np.flatnonzero(timed), base)
    dated = np.flatnonzero(~timed)
    near_held[dated] = _same_day(planned.group, planned_day, np.flatnonzero(held), given.group, given_day, dated)
    return Matching(dose_admin, reachable, near_held)


def _match_all_timed(
    planned: Pool,
    free: np.ndarray,
    claimed: np.ndarray,
    given: Pool,
    admins: np.ndarray,
    base: int,
    dose_admin: np.ndarray,
    reachable: np.ndarray,
) -> None:
    """Timed administrations: those outside their own row's window after all others, which do
    not count the doses diary entries were written on (``claimed``) as without administration."""
    beyond, own = _beyond(planned, free, given, admins, base)
    later = np.zeros(len(given.group), dtype=bool)
    later[beyond] = True
    _match_timed(planned, free, given, admins[~later[admins]], base, dose_admin, reachable)
    if len(beyond):
        _match_beyond(planned, free[~claimed[free]], given, beyond, own, base, dose_admin, reachable)


def _beyond(
    planned: Pool, free: np.ndarray, given: Pool, admins: np.ndarray, base: int
) -> tuple[np.ndarray, np.ndarray]:
    """The administrations written on the row (``uid``) of a dose of theirs (not held, same patient
    and drug) whose window they are outside, and per administration that dose (-1: none).

    Only those with no dose of their uid in reach are looked up by uid: a few percent."""
    own = np.full(len(given.group), -1, dtype=np.int64)
    named = admins[given.uid[admins] != ""]
    if not len(named) or not len(planned.group):
        return named[:0], own
    p_rows = free[np.argsort(_keys(planned, free, base), kind="stable")]
    a_rows = named[np.argsort(_keys(given, named, base), kind="stable")]
    admin, dose = _pairs(planned, p_rows, given, a_rows, base)
    inside = np.zeros(len(given.group), dtype=bool)
    inside[a_rows[admin[given.uid[a_rows[admin]] == planned.uid[p_rows[dose]]]]] = True
    rest = named[~inside[named]]
    if not len(rest):
        return rest, own
    dose = _rows_of(planned.uid, given.uid[rest])
    at = np.maximum(dose, 0)
    is_free = np.zeros(len(planned.group), dtype=bool)
    is_free[free] = True
    fits = (dose >= 0) & is_free[at] & (planned.group[at] == given.group[rest])
    own[rest[fits]] = dose[fits]
    return rest[fits], own


def _rows_of(planned_uid: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The planned row of each uid in ``wanted`` (-1: none, or more than one row has it)."""
    codes, unique = pd.factorize(wanted)
    at = pd.Index(unique).get_indexer(planned_uid)
    hit = np.flatnonzero(at >= 0)
    row_of = np.full(len(unique), -1, dtype=np.int64)
    row_of[at[hit]] = hit
    row_of[np.bincount(at[hit], minlength=len(unique)) != 1] = -1
    return row_of[codes]


def _diary_own(
    planned: Pool, held: np.ndarray, planned_day: np.ndarray, given: Pool, dated: np.ndarray, given_day: np.ndarray
) -> np.ndarray:
    """Per administration: the dose (not held, same patient, drug and day) a diary entry (a date
    alone) was written on the row of, or -1."""
    own = np.full(len(given.group), -1, dtype=np.int64)
    named = dated[given.uid[dated] != ""]
    if len(named) and len(planned.group):
        dose = _rows_of(planned.uid, given.uid[named])
        at = np.maximum(dose, 0)
        fits = (dose >= 0) & ~held[at] & (planned.group[at] == given.group[named])
        fits &= planned_day[at] == given_day[named]
        own[named[fits]] = dose[fits]
    return own


def _matched(dose_admin: np.ndarray, admins: np.ndarray, n: int) -> np.ndarray:
    """Which of ``admins`` (out of ``n`` administrations) have a dose."""
    taken = np.zeros(n, dtype=bool)
    taken[dose_admin[dose_admin >= 0]] = True
    return taken[admins]


def _gap(planned: Pool, doses: np.ndarray, given: Pool, admins: np.ndarray) -> np.ndarray:
    """|given - planned| of each administration in ``admins`` and ``doses[admin]`` (0 where none)."""
    dose = doses[admins]
    return np.where(dose >= 0, np.abs(given.seconds[admins] - planned.seconds[np.maximum(dose, 0)]), 0)


def _match_beyond(
    planned: Pool,
    free: np.ndarray,
    given: Pool,
    beyond: np.ndarray,
    own: np.ndarray,
    base: int,
    dose_admin: np.ndarray,
    reachable: np.ndarray,
) -> None:
    """Administrations written on a row but outside its dose's window (see the module's rules)."""
    open_doses = free[dose_admin[free] < 0]
    p_rows = open_doses[np.argsort(_keys(planned, open_doses, base), kind="stable")]
    a_rows = beyond[np.argsort(_keys(given, beyond, base), kind="stable")]
    admin, dose = _pairs(planned, p_rows, given, a_rows, base)
    admin, dose = a_rows[admin], p_rows[dose]
    gap = np.abs(given.seconds[admin] - planned.seconds[dose])
    written = np.zeros(len(planned.group), dtype=bool)  # another's row: it has an administration
    written[own[beyond]] = True
    nearer = ~written[dose] & (gap < _gap(planned, own, given, admin))
    elsewhere = np.isin(beyond, admin[nearer])
    n = len(given.group)
    _take_own(planned, given, beyond[~elsewhere], own, dose_admin)
    left = beyond[~_matched(dose_admin, beyond, n)]
    if len(left):
        open_doses = free[dose_admin[free] < 0]
        _match_timed(planned, open_doses, given, left, base, dose_admin, reachable)
        _take_own(planned, given, left[~_matched(dose_admin, left, n)], own, dose_admin)
    left = beyond[~_matched(dose_admin, beyond, n)]  # their own dose was taken: a second dose
    reachable[left] = True


def _take_own(planned: Pool, given: Pool, admins: np.ndarray, own: np.ndarray, dose_admin: np.ndarray) -> None:
    """Each of ``admins`` whose own dose is still free takes it (two for one dose: the nearer)."""
    admins = admins[dose_admin[own[admins]] < 0]
    dose, gap = own[admins], _gap(planned, own, given, admins)
    order = np.lexsort((gap, dose))
    first = np.r_[True, dose[order][1:] != dose[order][:-1]] if len(order) else np.zeros(0, dtype=bool)
    dose_admin[dose[order][first]] = admins[order][first]


def _keys(pool: Pool, rows: np.ndarray, base: int) -> np.ndarray:
    return (pool.group[rows].astype(np.int64) << SHIFT) | (pool.seconds[rows] - base)


def _reach(pool: Pool, rows: np.ndarray, base: int, sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``: the range [lo, hi) of ``sorted_keys`` within its window."""
    keys = _keys(pool, rows, base)
    window = pool.window[rows]
    return np.searchsorted(sorted_keys, keys - window, "left"), np.searchsorted(sorted_keys, keys + window, "right")


def _pairs(
    planned: Pool, p_rows: np.ndarray, given: Pool, a_rows: np.ndarray, base: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (administration, dose) pair in reach, as positions in ``a_rows`` and ``p_rows`` (both
    sorted by group and time), ordered by administration then dose. An administration's window
    (the widest of its drug) finds the candidates; each dose's own window decides."""
    p_keys = _keys(planned, p_rows, base)
    lo, hi = _reach(given, a_rows, base, p_keys)
    counts = hi - lo
    admin = np.repeat(np.arange(len(a_rows)), counts)
    dose = lo[admin] + np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    gap = np.abs(given.seconds[a_rows[admin]] - planned.seconds[p_rows[dose]])
    fits = gap <= planned.window[p_rows[dose]]
    return admin[fits], dose[fits]


def _match_timed(
    planned: Pool,
    free: np.ndarray,
    given: Pool,
    admins: np.ndarray,
    base: int,
    dose_admin: np.ndarray,
    reachable: np.ndarray,
) -> None:
    p_rows = free[np.argsort(_keys(planned, free, base), kind="stable")]
    a_rows = admins[np.argsort(_keys(given, admins, base), kind="stable")]
    admin, dose = _pairs(planned, p_rows, given, a_rows, base)
    per_admin = np.bincount(admin, minlength=len(a_rows))
    per_dose = np.bincount(dose, minlength=len(p_rows))
    reachable[a_rows] = per_admin > 0
    easy = (per_admin[admin] == 1) & (per_dose[dose] == 1)
    dose_admin[p_rows[dose[easy]]] = a_rows[admin[easy]]
    contested = ~easy
    admin, dose = admin[contested], dose[contested]
    if len(admin):
        placed = _match_own_rows(planned, p_rows, given, a_rows, admin, dose, dose_admin)
        left = ~np.isin(admin, placed) & (dose_admin[p_rows[dose]] < 0)
        if left.any():
            _match_hard(planned, p_rows, given, a_rows, admin[left], dose[left], dose_admin)


def _match_own_rows(
    planned: Pool,
    p_rows: np.ndarray,
    given: Pool,
    a_rows: np.ndarray,
    admin: np.ndarray,
    dose: np.ndarray,
    dose_admin: np.ndarray,
) -> np.ndarray:
    """Contested administrations written on a worklist row whose dose is in reach take that dose
    (two rows naming one dose: the nearer). Returns the positions of those placed.

    Only contested ones need this: an uncontested pair is the only dose in reach of its
    administration, so a uid naming another dose in reach cannot exist."""
    uid = given.uid[a_rows[admin]]
    own = (uid == planned.uid[p_rows[dose]]) & (uid != "")
    admin, dose = admin[own], p_rows[dose[own]]
    gap = np.abs(given.seconds[a_rows[admin]] - planned.seconds[dose])
    order = np.lexsort((gap, dose))
    first = np.r_[True, dose[order][1:] != dose[order][:-1]] if len(order) else np.zeros(0, dtype=bool)
    admin, dose = admin[order][first], dose[order][first]
    dose_admin[dose] = a_rows[admin]
    return admin


def _match_hard(
    planned: Pool,
    p_rows: np.ndarray,
    given: Pool,
    a_rows: np.ndarray,
    admin: np.ndarray,
    dose: np.ndarray,
    dose_admin: np.ndarray,
) -> None:
    """Split the contested pairs into independent runs (overlapping dose ranges); solve each exactly."""
    frame = pd.DataFrame({"admin": admin, "dose": dose}).groupby("admin")["dose"].agg(["min", "max"])
    lo, hi = frame["min"].to_numpy(), frame["max"].to_numpy() + 1
    order = np.argsort(lo, kind="stable")
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = lo[order][1:] >= np.maximum.accumulate(hi[order])[:-1]
    run = np.empty(len(order), dtype=np.int64)
    run[order] = np.cumsum(starts) - 1
    by_run = np.lexsort((frame.index.to_numpy(), run))
    bounds = np.flatnonzero(np.r_[True, run[by_run][1:] != run[by_run][:-1], True])
    for first, last in itertools.pairwise(bounds):
        members = by_run[first:last]
        a_run = a_rows[frame.index.to_numpy()[members]]
        p_run = p_rows[int(lo[members].min()) : int(hi[members].max())]
        p_run = p_run[dose_admin[p_run] < 0]
        for p, a in _optimal(planned, p_run, given, a_run):
            dose_admin[p] = a


def _optimal(planned: Pool, p_run: np.ndarray, given: Pool, a_run: np.ndarray) -> list[tuple[int, int]]:
    """Order-preserving assignment: most matches, then least |deviation|, then most uid agreements."""
    p_t, a_t = planned.seconds[p_run], given.seconds[a_run]
    p_uid, a_uid = planned.uid[p_run], given.uid[a_run]
    window = planned.window[p_run]
    n, m = len(a_run), len(p_run)
    # best[i][j]: (matches, -cost) using the first i administrations and the first j doses
    best = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, above = best[i], best[i - 1]
        for j in range(1, m + 1):
            choice = max(above[j], row[j - 1])
            gap = abs(int(a_t[i - 1]) - int(p_t[j - 1]))
            if gap <= window[j - 1]:
                cost = 2 * gap + (0 if a_uid[i - 1] and a_uid[i - 1] == p_uid[j - 1] else 1)
                prev = above[j - 1]
                choice = max(choice, (prev[0] + 1, prev[1] - cost))
            row[j] = choice
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 and j > 0:
        if best[i][j] == best[i - 1][j]:
            i -= 1
        elif best[i][j] == best[i][j - 1]:
            j -= 1
        else:
            pairs.append((int(p_run[j - 1]), int(a_run[i - 1])))
            i, j = i - 1, j - 1
    return pairs


def _day_keys(group: np.ndarray, day: np.ndarray) -> np.ndarray:
    return group.astype(np.int64) * 1_000_000 + day.astype(np.int64)


def _match_dated(
    p_group: np.ndarray,
    p_day: np.ndarray,
    p_rows: np.ndarray,
    a_group: np.ndarray,
    a_day: np.ndarray,
    a_rows: np.ndarray,
    dose_admin: np.ndarray,
    reachable: np.ndarray,
) -> None:
    """The k-th diary entry of a drug on a day takes the k-th still unmatched dose of that day."""
    if not len(a_rows):
        return
    doses = pd.DataFrame({"key": _day_keys(p_group[p_rows], p_day[p_rows]), "row": p_rows})
    entries = pd.DataFrame({"key": _day_keys(a_group[a_rows], a_day[a_rows]), "admin": a_rows})
    doses["rank"] = doses.groupby("key", sort=False).cumcount()
    entries["rank"] = entries.groupby("key", sort=False).cumcount()
    pairs = entries.merge(doses, on=["key", "rank"], how="inner")
    dose_admin[pairs["row"].to_numpy()] = pairs["admin"].to_numpy()
    planned_days = _day_keys(p_group, p_day)
    reachable[a_rows] = np.isin(entries["key"].to_numpy(), planned_days)


def _near(planned: Pool, held_rows: np.ndarray, given: Pool, admins: np.ndarray, base: int) -> np.ndarray:
    near = np.zeros(len(given.group), dtype=bool)
    if len(held_rows) and len(admins):
        p_rows = held_rows[np.argsort(_keys(planned, held_rows, base), kind="stable")]
        a_rows = admins[np.argsort(_keys(given, admins, base), kind="stable")]
        admin, _ = _pairs(planned, p_rows, given, a_rows, base)
        near[a_rows[admin]] = True
    return near


def _same_day(
    p_group: np.ndarray,
    p_day: np.ndarray,
    held_rows: np.ndarray,
    a_group: np.ndarray,
    a_day: np.ndarray,
    dated: np.ndarray,
) -> np.ndarray:
    held_keys = _day_keys(p_group[held_rows], p_day[held_rows])
    return np.isin(_day_keys(a_group[dated], a_day[dated]), held_keys)
