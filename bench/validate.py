"""Benchmark: validate a protocol with N regimens (default 1,000, 2,000, 8,000 and 32,000).

Each protocol has two arms (active, placebo): blinded pairs (an active regimen and its placebo
under one label), shared open-label regimens, every fifth one not on the days of the one before
and every seventh one starting the day after the one before; a TOML file of it is written and
loaded as ``dosing validate`` loads it. Prints the file size and the time to load and check it
(or the error, e.g. a count over the limit), with the limits as shipped or raised to N
(``--raised``, to measure how the checks grow past them).
Run: python bench/validate.py [--raised] [N ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dosing

try:
    from dosing.protocol import limits as protocol_limits
except ImportError:  # before the limits existed
    protocol_limits = None  # type: ignore[assignment]


def regimen(i: int) -> dict[str, Any]:
    """Regimen ``r<i>``: pairs (2k, 2k + 1) in blocks of six are active/placebo, the rest open-label."""
    item: dict[str, Any] = {
        "id": f"r{i}",
        "drug": f"Drug {i}",
        "dose": {"amount": 10, "unit": "mg"},
        "route": "oral",
        "times": ["08:00"],
        "schedule": {"daily": True, "start_day": 1, "end_day": 28},
    }
    kind = i % 6
    if kind in (0, 1):
        item["blinded_label"] = f"Study drug {i // 6}"
    if kind == 1:
        item["drug"] = "Placebo"
        item["placebo_for"] = f"r{i - 1}"
    elif kind >= 3 and i % 5 == 0:  # the regimen before is open-label too, so both arms have it
        item["schedule"]["except_days_of"] = [f"r{i - 1}"]
    elif kind >= 3 and i % 7 == 0:
        item["schedule"] = {"after": f"r{i - 1}", "offset": 1}
    return item


def protocol_toml(n: int) -> str:
    items = [regimen(i) for i in range(n)]
    active = [r["id"] for r in items if int(r["id"][1:]) % 6 != 1]
    placebo = [r["id"] for r in items if int(r["id"][1:]) % 6 != 0]
    lines = [
        "[study]",
        'id = "BENCH"',
        'title = "many regimens"',
        'blinding = "double"',
        'timezone = "Europe/Berlin"',
        "last_day = 28",
        "[[arms]]",
        'id = "active"',
        'label = "Active"',
        f"regimens = {_toml(active)}",
        "[[arms]]",
        'id = "placebo"',
        'label = "Placebo"',
        f"regimens = {_toml(placebo)}",
    ]
    for item in items:
        lines.append("[[regimens]]")
        lines += [f"{key} = {_toml(value)}" for key, value in item.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"


def main(argv: list[str]) -> None:
    raised = "--raised" in argv
    sizes = [int(a) for a in argv if a != "--raised"] or [1000, 2000, 8000, 32000]
    cap = protocol_limits.MAX_REGIMENS if protocol_limits else "no limit on the"
    print(f"limits {'raised to N' if raised else 'as shipped'}: at most {cap} regimens")
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            path = Path(folder) / f"bench-{n}.toml"
            path.write_text(protocol_toml(n), encoding="utf-8")
            if raised and protocol_limits:  # to measure the checks' growth past the limits
                protocol_limits.MAX_REGIMENS = protocol_limits.MAX_LIST = n
                protocol_limits.MAX_BYTES = 1 << 30
            started = time.perf_counter()
            try:
                dosing.load_protocol(path)
                outcome = "valid"
            except dosing.DosingError as err:
                outcome = "refused: " + str(err).splitlines()[0][:90]
            elapsed = time.perf_counter() - started
            size = path.stat().st_size / 1024
            print(f"{n:>7,} regimens  {size:>8,.0f} KiB  {elapsed:8.2f} s  {outcome}")


if __name__ == "__main__":
    main(sys.argv[1:])
