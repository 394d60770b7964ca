"""The matcher on small hand-made sequences: optimal over the whole sequence, never greedy."""

from __future__ import annotations

import numpy as np

from dosing.adherence.match import Pool, match

H = 3600


def pool(hours: list[float], window_h: float, uids: list[str] | None = None, group: int = 0) -> Pool:
    n = len(hours)
    return Pool(
        np.full(n, group, dtype=np.int64),
        (np.array(hours, dtype=float) * H).astype(np.int64) + 10**9,
        np.full(n, int(window_h * H), dtype=np.int64),
        np.array(uids or [""] * n, dtype=object),
    )


def run(planned: Pool, given: Pool, held: list[bool] | None = None) -> list[int]:
    n = len(planned.group)
    found = match(
        planned,
        np.array(held or [False] * n, dtype=bool),
        np.zeros(n, dtype=np.int64),
        given,
        np.ones(len(given.group), dtype=bool),
        np.zeros(len(given.group), dtype=np.int64),
    )
    return found.dose_admin.tolist()


def test_a_late_dose_does_not_steal_the_next_slot() -> None:
    """Doses every 48 h with a 36 h window: the dose of hour 0 given at hour 30 is nearer to the
    dose of hour 48 (18 h) than to its own (30 h), but hour 48 has its own administration at 49."""
    planned = pool([0, 48, 96], 36)
    given = pool([30, 49], 36)
    assert run(planned, given) == [0, 1, -1]


def test_when_only_one_can_match_the_nearer_wins() -> None:
    planned = pool([0], 12)
    given = pool([-1, 0.5, 3], 12)
    assert run(planned, given) == [1]


def test_most_matches_before_least_deviation() -> None:
    """Greedy nearest would pair 40 with 48 and leave 0 unmatched; two matches beat one."""
    planned = pool([0, 48], 40)
    given = pool([40, 80], 40)
    assert run(planned, given) == [0, 1]


def test_uid_breaks_a_tie() -> None:
    """An administration exactly between two doses goes to the dose whose worklist row it was written on."""
    planned = pool([0, 48], 24, uids=["d1", "d3"])
    assert run(planned, pool([24], 24, uids=["d3"])) == [-1, 0]
    assert run(planned, pool([24], 24, uids=["d1"])) == [0, -1]


def test_held_doses_take_nothing_and_are_reported_near() -> None:
    planned = pool([0, 24], 12)
    given = pool([0.5], 12)
    found = match(
        planned, np.array([True, False]), np.zeros(2, np.int64), given, np.ones(1, bool), np.zeros(1, np.int64)
    )
    assert found.dose_admin.tolist() == [-1, -1]
    assert found.near_held.tolist() == [True]
    assert found.reachable.tolist() == [False]


def test_groups_never_mix() -> None:
    planned = Pool(
        np.array([0, 1]), np.array([10**9, 10**9]), np.array([12 * H, 12 * H]), np.array(["", ""], dtype=object)
    )
    given = Pool(np.array([1]), np.array([10**9]), np.array([12 * H]), np.array([""], dtype=object))
    assert run(planned, given) == [-1, 0]


def test_random_sequences_match_brute_force() -> None:
    """Against an exhaustive search of every assignment on small random cases."""
    rng = np.random.default_rng(6)
    for _ in range(200):
        planned_h = np.sort(rng.choice(np.arange(0, 200, 4), size=rng.integers(1, 6), replace=False)).tolist()
        given_h = np.sort(rng.uniform(-10, 210, size=rng.integers(0, 6)).round(1)).tolist()
        window = float(rng.choice([6, 12, 24, 30]))
        got = run(pool(planned_h, window), pool(given_h, window))
        assert _score(got, planned_h, given_h) == _brute(planned_h, given_h, window)


def _score(assignment: list[int], planned_h: list[float], given_h: list[float]) -> tuple[int, float]:
    pairs = [(p, a) for p, a in enumerate(assignment) if a >= 0]
    return len(pairs), round(-sum(abs(given_h[a] - planned_h[p]) for p, a in pairs), 6)


def _brute(planned_h: list[float], given_h: list[float], window: float) -> tuple[int, float]:
    best = (0, 0.0)

    def go(i: int, used: frozenset[int], count: int, cost: float) -> None:
        nonlocal best
        if i == len(given_h):
            best = max(best, (count, round(-cost, 6)))
            return
        go(i + 1, used, count, cost)
        for p, t in enumerate(planned_h):
            if p not in used and abs(given_h[i] - t) <= window:
                go(i + 1, used | {p}, count + 1, cost + abs(given_h[i] - t))

    go(0, frozenset(), 0, 0.0)
    return best


def test_a_dose_on_its_own_row_beyond_its_window_is_judged_against_it() -> None:
    """Doses at 0 and 5 h with ±2.5 h windows: given at 3.5 h on row d0 (in d5's window) while d5
    has its own administration at 5 h: d0 takes it (late), not missed plus an extra."""
    planned = pool([0, 5], 2.5, uids=["d0", "d5"])
    assert run(planned, pool([3.5, 5], 2.5, uids=["d0", "d5"])) == [0, 1]
    # d5 without an administration: 4 h is nearer to d5 and in its window, so it is d5's
    assert run(planned, pool([4], 2.5, uids=["d0"])) == [-1, 0]
    # 7 h on row d0: in no window, nothing nearer is free: late for d0
    assert run(planned, pool([7, 5], 2.5, uids=["d0", "d5"])) == [0, 1]
    # a held own dose takes nothing
    assert run(planned, pool([3.5, 5], 2.5, uids=["d0", "d5"]), held=[True, False]) == [-1, 1]


def test_no_planned_dose_at_all() -> None:
    assert run(pool([], 2.5), pool([3.5], 2.5, uids=["d0"])) == []


def test_a_chain_of_late_doses_on_their_rows_stays_on_their_rows() -> None:
    """Daily doses (±12 h): each given 14-16 h late on its own row, so each is nearer to the next dose,
    which has its own (late) administration: all are late for their own dose, none extra."""
    planned = pool([0, 24, 48], 12, uids=["d0", "d1", "d2"])
    given = pool([16, 38.5, 62.5], 12, uids=["d0", "d1", "d2"])
    assert run(planned, given) == [0, 1, 2]
