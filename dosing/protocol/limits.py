"""How big a protocol may be: its file size and the counts of what it lists.

The limits are far above any real trial (a large platform trial has tens of arms and regimens)
and keep every check fast: a protocol at the limits loads in about a second. They are checked
on the parsed TOML before the model is built, so an oversized protocol is refused at once with
the limit and the fix named, instead of being validated for minutes.
"""

from __future__ import annotations

from typing import Any

from ..errors import ProtocolError

#: the largest protocol file (a protocol at the count limits is well under 1 MiB)
MAX_BYTES = 4 * 1024 * 1024
MAX_REGIMENS = 1000
MAX_ARMS = 100
MAX_VISITS = 1000
MAX_PATIENT_VALUES = 100
#: any other list (an arm's regimens, times of day, phases, cycle days, procedures, ...)
MAX_LIST = 3660

_COUNTED = ("regimens", "arms", "visits", "patient_values")


def check_counts(data: dict[str, Any], source: str) -> None:
    """Raise :class:`ProtocolError` if a top-level table or any list is longer than its limit."""
    limits = {"regimens": MAX_REGIMENS, "arms": MAX_ARMS, "visits": MAX_VISITS, "patient_values": MAX_PATIENT_VALUES}
    for key, limit in limits.items():
        items = data.get(key)
        what = key.replace("_", " ")
        if isinstance(items, (list, dict)) and len(items) > limit:
            raise ProtocolError(
                f"{len(items):,} {what}: a protocol may have at most {limit:,} {what}",
                source=source,
                where=key,
                hint=f"split the study into several protocol files of at most {limit:,} {what} each",
            )
    _check_lists(data, "", source)


def _check_lists(node: Any, path: str, source: str) -> None:
    """Every list under ``node`` holds at most :data:`MAX_LIST` items (iterative: no recursion limit)."""
    pending = [(node, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, dict):
            pending += [(value, f"{where}.{key}" if where else str(key)) for key, value in item.items()]
        elif isinstance(item, list):
            if len(item) > MAX_LIST and where not in _COUNTED:
                raise ProtocolError(
                    f"a list of {len(item):,} items: a protocol's lists may hold at most {MAX_LIST:,}",
                    source=source,
                    where=where,
                    hint="shorten the list (a schedule pattern or phases can say what a long list of days says)",
                )
            pending += [(value, f"{where}[{index}]") for index, value in enumerate(item)]
