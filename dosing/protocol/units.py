"""Every dose unit the tool knows, exact conversions between them, dose rounding and the one
way doses are written for people.

A curated registry, not a parser of arbitrary unit expressions: a unit a protocol may use is
listed here (with its UCUM code where UCUM has one), and anything else is refused with the
closest known unit ("did you mean 'mg'?"). Symbols are case-sensitive, as in UCUM: ``Mg``
(megagram) is not ``mg``.

Conversions are exact (:class:`decimal.Decimal`): between mass units (g, mg, µg, ng), between
IU multiples (IU, kIU, MIU) and between volume units (L, mL). Count units (tablet, syringe,
...) convert to nothing but themselves. A per-size unit (``mg/m2``, ``mg/kg``) is an amount per
square metre of body-surface area or per kilogram of body weight; the absolute dose is in its
base unit (``mg``).

Rounding: a computed dose (amount x patient value) is rounded to the nearest multiple of
``round_to`` in decimal arithmetic, halves away from zero (ROUND_HALF_UP): 1250 x 1.14 = 1425
becomes 1500 with ``round_to = 150``, exactly as written on paper. Without ``round_to`` the
product is kept to 6 decimal places (halves up).

Pure: no I/O.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import ValueParseError

Kind = Literal["mass", "activity", "volume", "amount", "count"]


@dataclass(frozen=True)
class Unit:
    """One known unit. ``size`` is how many of its kind's base unit (mg, IU, mL, mmol) one of it
    is; ``per`` is "m2" or "kg" for a per-size unit (then ``base`` is the absolute unit)."""

    symbol: str
    kind: Kind
    size: Decimal
    ucum: str | None
    per: str | None = None
    base: str | None = None

    @property
    def absolute(self) -> str:
        """The unit of the dose a patient receives: ``mg`` for ``mg/m2``, else the unit itself."""
        return self.base or self.symbol


_ABSOLUTE: tuple[Unit, ...] = (
    Unit("g", "mass", Decimal(1000), "g"),
    Unit("mg", "mass", Decimal(1), "mg"),
    Unit("µg", "mass", Decimal("0.001"), "ug"),
    Unit("ng", "mass", Decimal("0.000001"), "ng"),
    Unit("IU", "activity", Decimal(1), "[IU]"),
    Unit("kIU", "activity", Decimal(1000), "k[IU]"),
    Unit("MIU", "activity", Decimal(1_000_000), "M[IU]"),
    Unit("L", "volume", Decimal(1000), "L"),
    Unit("mL", "volume", Decimal(1), "mL"),
    Unit("mmol", "amount", Decimal(1), "mmol"),
    *(
        Unit(name, "count", Decimal(1), None)
        for name in ("tablet", "capsule", "syringe", "vial", "drop", "puff", "patch", "sachet")
    ),
)

#: The sizes a dose may be per: body-surface area (m²) and body weight (kg).
PER_SIZE = {"m2": "m2", "kg": "kg"}


def _per_size_units() -> tuple[Unit, ...]:
    units = []
    for base in _ABSOLUTE:
        if base.kind == "count":
            continue
        for per, ucum_per in PER_SIZE.items():
            ucum = f"{base.ucum}/{ucum_per}" if base.ucum else None
            units.append(Unit(f"{base.symbol}/{per}", base.kind, base.size, ucum, per=per, base=base.symbol))
    return tuple(units)


UNITS: dict[str, Unit] = {u.symbol: u for u in (*_ABSOLUTE, *_per_size_units())}

#: Other spellings of the same unit (the tool stores and shows the symbol on the right).
ALIASES: dict[str, str] = {
    "mcg": "µg",
    "ug": "µg",
    "μg": "µg",  # Greek small letter mu, which looks like the micro sign
    "ml": "mL",
    "l": "L",
    **{f"{name}s": name for name in ("tablet", "capsule", "syringe", "vial", "drop", "puff", "patch", "sachet")},
}
for _symbol in list(UNITS):
    if "/" in _symbol:
        _num, _per = _symbol.split("/")
        for _alias, _target in list(ALIASES.items()):
            if _target == _num:
                ALIASES[f"{_alias}/{_per}"] = _symbol
        ALIASES[f"{_num}/m²"] = f"{_num}/m2"

#: Words people write for a unit: used only to suggest the symbol, never accepted silently.
_WORDS = {
    "gram": "g",
    "grams": "g",
    "milligram": "mg",
    "milligrams": "mg",
    "microgram": "µg",
    "micrograms": "µg",
    "nanogram": "ng",
    "liter": "L",
    "litre": "L",
    "milliliter": "mL",
    "millilitre": "mL",
    "unit": "IU",
    "units": "IU",
    "u": "IU",
    "tab": "tablet",
    "tabs": "tablet",
    "cap": "capsule",
    "caps": "capsule",
}


def unit_list() -> str:
    """The known units, for error messages and documentation."""
    absolute = ", ".join(u.symbol for u in _ABSOLUTE)
    return f"{absolute}, and any of the non-count ones per m2 or per kg, e.g. mg/m2, mg/kg"


def lookup(text: object) -> Unit:
    """The unit named ``text`` (a symbol or an alias such as ``mcg``), or ValueParseError saying
    which known unit was probably meant."""
    if not isinstance(text, str):
        raise ValueParseError(f'expected a unit such as "mg", got {text!r}')
    name = text.strip()
    name = ALIASES.get(name, name)
    if name in UNITS:
        return UNITS[name]
    raise ValueParseError(f"unknown unit {text!r}{_did_you_mean(text.strip())} (known units: {unit_list()})")


def suggestion(text: str) -> str:
    """ "; did you mean 'mg'?" for a unit text the registry does not know ("" without a guess)."""
    return _did_you_mean(text.strip())


def _did_you_mean(text: str) -> str:
    folded = text.casefold()
    names = [*UNITS, *ALIASES]
    guess = _WORDS.get(folded)
    if guess is None:
        same_case = [n for n in names if n.casefold() == folded]
        guess = same_case[0] if same_case else None
    if guess is None:
        close = difflib.get_close_matches(text, names, n=1, cutoff=0.6)
        guess = close[0] if close else None
    if guess is None:
        return ""
    return f"; did you mean {ALIASES.get(guess, guess)!r}?"


def canonical(text: object) -> str:
    """The symbol the tool uses for ``text``: ``µg`` for ``mcg``."""
    return lookup(text).symbol


def factor(unit: str, target: str) -> Decimal | None:
    """How many ``target`` one ``unit`` is, exactly (``g`` -> ``mg``: 1000); None when the two
    cannot be compared (mg and tablet, mg and IU, mg and mg/m2)."""
    a, b = lookup(unit), lookup(target)
    if a.symbol == b.symbol:
        return Decimal(1)
    if a.kind != b.kind or a.kind == "count" or a.per != b.per:
        return None
    return a.size / b.size


def convert(amount: object, unit: str, target: str) -> Decimal | None:
    """``amount`` in ``unit`` expressed in ``target``, exactly; None if not comparable."""
    ratio = factor(unit, target)
    return None if ratio is None else exact(amount) * ratio


def exact(value: object) -> Decimal:
    """A number as the decimal its author wrote: a float becomes the shortest decimal that reads
    back as the same float (1.14, never 1.1399999999999999023...)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float | np.floating):
        return Decimal(repr(float(value)))
    if isinstance(value, numbers.Integral):
        return Decimal(int(value))
    return Decimal(str(value))


_PLACES = Decimal("0.000001")


def per_size_dose(amount: object, size: object, round_to: object | None = None) -> Decimal:
    """``amount`` per unit of size times the patient's ``size``, in decimal: rounded to the
    nearest multiple of ``round_to`` (halves up), else to 6 decimal places (halves up)."""
    product = exact(amount) * exact(size)
    if round_to is None:
        return product.quantize(_PLACES, rounding=ROUND_HALF_UP)
    step = exact(round_to)
    return (product / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def per_size_doses(amount: object, sizes: npt.ArrayLike, round_to: object | None = None) -> npt.NDArray[np.float64]:
    """:func:`per_size_dose` for many patients: decimal arithmetic once per distinct size, then
    spread back with numpy (a cohort has far fewer distinct sizes than doses)."""
    values = np.asarray(sizes, dtype=float)
    distinct, inverse = np.unique(values, return_inverse=True)
    doses = np.array([float(per_size_dose(amount, size, round_to)) for size in distinct], dtype=float)
    return doses[inverse].reshape(values.shape)


def format_amount(value: object) -> str:
    """An amount for people: 60 -> "60", 7.5 -> "7.5", 1000000 -> "1,000,000"; text as it is."""
    number = exact_or_none(value)
    if number is not None and number.is_finite():
        if number == number.to_integral_value():
            return f"{int(number):,}"
        return f"{float(number):,.10g}"
    return str(value)


def format_dose(amount: object, unit: object) -> str:
    """A dose as people read it, the same in every people-facing output: "1,000,000 IU",
    "60 mg", "2 tablets", "1 tablet". A blinded dose (text such as "1 syringe", no unit) is shown
    as it is; a missing amount shows only the unit."""
    text = format_amount(amount) if amount is not None and amount == amount else ""
    unit_text = "" if unit is None or unit != unit else str(unit).strip()
    known = UNITS.get(unit_text)
    if known is not None and known.kind == "count" and text and exact_or_none(amount) not in (None, Decimal(1)):
        unit_text += "s"
    return f"{text} {unit_text}".strip()


def dose_texts(
    amounts: pd.Series, units: pd.Series, formatter: Callable[[object, object], str] | None = None
) -> npt.NDArray[np.object_]:
    """:func:`format_dose` (or ``formatter``) for a whole column: formatted once per distinct (amount,
    unit) pair, spread back with numpy (a worklist of millions of rows has a few hundred distinct doses)."""
    write = formatter or format_dose
    numeric = pd.api.types.is_numeric_dtype(amounts.dtype)
    amount_codes, amount_values = pd.factorize(amounts if numeric else amounts.astype(object), use_na_sentinel=False)
    unit_codes, unit_values = pd.factorize(units, use_na_sentinel=False)
    pair = amount_codes.astype(np.int64) * max(len(unit_values), 1) + unit_codes
    distinct, inverse = np.unique(pair, return_inverse=True)
    texts = np.array(
        [write(amount_values[p // max(len(unit_values), 1)], unit_values[p % max(len(unit_values), 1)])
         for p in distinct],
        dtype=object,
    )  # fmt: skip
    return texts[inverse.reshape(-1)]


def exact_or_none(value: object) -> Decimal | None:
    """``value`` as an exact decimal if it is a number (not a bool), else None."""
    if isinstance(value, numbers.Real | Decimal) and not isinstance(value, bool | np.bool_):
        return exact(value)
    return None


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
#: From this amount on, an activity dose (IU, kIU, MIU) is written as a power of ten: 1 × 10⁶ IU.
POWER_OF_TEN_FROM = Decimal(10_000)


def format_dose_written(amount: object, unit: object) -> str:
    """A dose as people write it on a ward sheet: activity doses of 10,000 or more with at most three
    significant digits as a power of ten ("1 × 10⁶ IU", "2.5 × 10⁵ IU"); every other dose as
    :func:`format_dose` writes it ("60 mg", "2 tablets", "12,345 IU", a blinded "1 syringe")."""
    number = exact_or_none(amount)
    known = UNITS.get("" if unit is None or unit != unit else str(unit).strip())
    if number is None or known is None or known.kind != "activity" or not number.is_finite():
        return format_dose(amount, unit)
    if abs(number) < POWER_OF_TEN_FROM or len(number.normalize().as_tuple().digits) > 3:
        return format_dose(amount, unit)
    exponent = number.adjusted()
    mantissa = (number / Decimal(10) ** exponent).normalize()
    return f"{mantissa:f} × 10{str(exponent).translate(_SUPERSCRIPT)} {known.symbol}"
