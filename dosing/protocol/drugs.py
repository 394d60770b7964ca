"""Which drug a name means: methotrexate by any of its names, and one comparison key per drug."""

from __future__ import annotations

import re
import unicodedata

#: Methotrexate by its generic name in several languages (folded: no accents, lower case), by
#: abbreviation, and by the brand names of its oral and injectable forms.
_METHOTREXATE = re.compile(
    r"m[e]th?otrexat|\bmtx\b|amethopterin|\b(metoject|trexall|otrexup|rasuvo|reditrex|jylamvo|xatmep|nordimet"
    r"|zlatal|ebetrex|lantarel|maxtrex|rheumatrex|trexan|metex|emthexate|ledertrexate)\b"
)


def is_methotrexate(drug: str) -> bool:
    """True for any name a protocol may use: methotrexate, Methotrexate sodium, MTX, Methotrexat,
    Méthotrexate, metotrexato, amethopterin, and brands such as Metoject, Trexall or Jylamvo."""
    folded = unicodedata.normalize("NFKD", drug).encode("ascii", "ignore").decode("ascii").lower()
    return bool(_METHOTREXATE.search(folded))


def drug_key(drug: str) -> str:
    """One name per drug for comparisons: lower case, every methotrexate spelling as "methotrexate"."""
    return "methotrexate" if is_methotrexate(drug) else " ".join(drug.lower().split())
