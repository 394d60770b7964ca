"""Maximum daily doses: the limits the tool knows, and how a regimen's own limit may change them.

A regimen's ``max_daily_dose`` states its unit (``{ amount = 180, unit = "mg" }``). For a drug
with a built-in limit it may tighten that limit; it may loosen it only with a named
acknowledgement (``acknowledge_limit_above_label = "<reason>"``), which ``dosing validate``
prints. A limit in a unit that cannot be compared with the built-in one (tablets against mg) is
an error: it would silently mean something else (180 tablets, or 180 g).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..errors import ProtocolError
from .drugs import drug_key
from .units import exact, factor, format_dose

if TYPE_CHECKING:
    from .model import Protocol, Regimen

#: Maximum daily doses the tool knows for drugs of the shipped protocols, by drug name
#: (lower case) -> (amount, unit).
KNOWN_DAILY_LIMITS: dict[str, tuple[float, str]] = {
    "loxoprofen": (180.0, "mg"),
    "folic acid": (5.0, "mg"),
}

#: Methotrexate for rheumatic disease: 7.5-25 mg once weekly (DOMAIN.md section 1); a protocol
#: that needs more sets max_daily_dose (with an acknowledgement) on the regimen.
METHOTREXATE_NON_ONCOLOGY_MAX = (25.0, "mg")


def built_in_limits(protocol: Protocol) -> dict[str, tuple[float, str]]:
    """Drug key -> (maximum per day, unit) that the tool applies whatever the protocol says."""
    limits = dict(KNOWN_DAILY_LIMITS)
    if not protocol.study.oncology:
        limits["methotrexate"] = METHOTREXATE_NON_ONCOLOGY_MAX
    return limits


def daily_limits(protocol: Protocol) -> dict[str, tuple[float, str]]:
    """Drug key -> (maximum per day, unit): the built-in limit, or the tightest of the regimens'
    own limits for that drug (checked by :func:`check_own_limits`)."""

    check_own_limits(protocol)
    limits = built_in_limits(protocol)
    own: dict[str, tuple[float, str]] = {}
    for regimen in protocol.regimens:
        if regimen.max_daily_dose is None:
            continue
        key, limit = drug_key(regimen.drug), (regimen.max_daily_dose.amount, regimen.max_daily_dose.unit)
        if key not in own or _in(limit, own[key][1]) < exact(own[key][0]):
            own[key] = limit
    return {**limits, **own}


def check_own_limits(protocol: Protocol) -> None:
    """Every regimen's own limit is comparable with its drug's other limits, and above the
    built-in limit only with ``acknowledge_limit_above_label``."""

    built_in = built_in_limits(protocol)
    seen: dict[str, tuple[float, str]] = {}
    for index, regimen in enumerate(protocol.regimens):
        where = f"regimens[{index}] (id {regimen.id!r})"
        own = regimen.max_daily_dose
        if own is None:
            if regimen.acknowledge_limit_above_label is not None:
                _fail(protocol, where, "acknowledge_limit_above_label is set but there is no max_daily_dose", None)
            continue
        key = drug_key(regimen.drug)
        limit = (own.amount, own.unit)
        other = seen.setdefault(key, limit)
        if factor(limit[1], other[1]) is None:
            _fail(
                protocol,
                f"{where}.max_daily_dose",
                f"{own.unit!r} cannot be compared with {other[1]!r}, the unit of another limit of {regimen.drug}",
                "give every limit of one drug in comparable units (e.g. all in mg)",
            )
        _against_built_in(protocol, regimen, where, built_in.get(key))


def _against_built_in(protocol: Protocol, regimen: Regimen, where: str, built_in: tuple[float, str] | None) -> None:
    own = regimen.max_daily_dose
    assert own is not None
    acknowledged = regimen.acknowledge_limit_above_label
    if built_in is None:
        if acknowledged is not None:
            _fail(protocol, where, f"acknowledge_limit_above_label: the tool has no built-in limit for {regimen.drug}")
        return
    shown = format_dose(built_in[0], built_in[1])
    if factor(own.unit, built_in[1]) is None:
        _fail(
            protocol,
            f"{where}.max_daily_dose",
            f"the limit is in {own.unit!r}, which cannot be compared with the built-in limit of {regimen.drug} "
            f"({shown} a day)",
            f'state the limit in a mass unit: max_daily_dose = {{ amount = {built_in[0]:g}, unit = "{built_in[1]}" }}',
        )
    above = _in((own.amount, own.unit), built_in[1]) > exact(built_in[0])
    if above and acknowledged is None:
        _fail(
            protocol,
            f"{where}.max_daily_dose",
            f"{format_dose(own.amount, own.unit)} a day is above the built-in limit of {regimen.drug} ({shown} a day)",
            "lower it, or if the protocol really allows more, add "
            'acknowledge_limit_above_label = "<reason, e.g. the protocol section>" to the regimen',
        )
    if not above and acknowledged is not None:
        _fail(
            protocol,
            where,
            f"acknowledge_limit_above_label is set but the limit is not above the built-in limit ({shown} a day)",
        )


def _in(limit: tuple[float, str], unit: str) -> Decimal:
    ratio = factor(limit[1], unit)
    assert ratio is not None
    return exact(limit[0]) * ratio


def _fail(protocol: Protocol, where: str, message: str, hint: str | None = "remove it") -> None:
    raise ProtocolError(message, source=protocol.source, where=where, hint=hint)


def describe_limit(protocol: Protocol, regimen: Regimen) -> str | None:
    """What ``dosing validate`` says about a regimen's own limit: "max 180 mg a day", and the
    acknowledgement when it is above the built-in limit."""
    own = regimen.max_daily_dose
    if own is None:
        return None
    text = f"max {format_dose(own.amount, own.unit)} a day"
    if regimen.acknowledge_limit_above_label is not None:
        built = built_in_limits(protocol)[drug_key(regimen.drug)]
        text += (
            f" (ABOVE the built-in {format_dose(*built)} a day; acknowledged: {regimen.acknowledge_limit_above_label})"
        )
    return text
