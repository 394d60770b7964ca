"""The languages patient-facing text is shipped in, and the check of a language code (pure).

English is the source language (the message ids); every other language has a gettext catalogue per
domain in ``dosing/locale/<code>/LC_MESSAGES/<domain>.po`` (see docs/patient-diary.md, "Adding a
language"). A test keeps this list and the catalogues one.
"""

from __future__ import annotations

import difflib
from typing import Any

#: Shipped languages: code -> the language's name in English (for messages).
LANGUAGES: dict[str, str] = {"en": "English", "zh": "Simplified Chinese"}
DEFAULT_LANGUAGE = "en"

#: Codes people write for a shipped language, with the code to write instead.
_ALIASES = {
    "zh-cn": "zh",
    "zh_cn": "zh",
    "zh-hans": "zh",
    "zh_hans": "zh",
    "zh-sg": "zh",
    "cn": "zh",
    "chinese": "zh",
    "en-us": "en",
    "en_us": "en",
    "en-gb": "en",
    "en_gb": "en",
    "english": "en",
}


def shipped() -> str:
    """``en (English), zh (Simplified Chinese)``: the codes with their names, for messages."""
    return ", ".join(f"{code} ({name})" for code, name in LANGUAGES.items())


def language_problem(code: str) -> str | None:
    """None for a shipped language code, else what is wrong with it and what to write instead."""
    if code in LANGUAGES:
        return None
    alias = _ALIASES.get(code.strip().casefold())
    guess = [alias] if alias else difflib.get_close_matches(code.strip().casefold(), list(LANGUAGES), n=1)
    hint = f'; did you mean "{guess[0]}"?' if guess else ""
    return f"unknown language {code!r}{hint} (shipped languages: {shipped()})"


def check_names(value: Any) -> Any:
    """A pydantic before-validator for ``names = { zh = "甲氨蝶呤" }``: shipped language codes only,
    each with a non-empty text (surrounding spaces removed)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f'expected a table of language = "text", e.g. {{ zh = "甲氨蝶呤" }} (got {value!r})')
    checked: dict[str, str] = {}
    for code, text in value.items():
        problem = language_problem(str(code))
        if problem is not None:
            raise ValueError(problem)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"the {LANGUAGES[code]} text ({code}) must be a non-empty string, got {text!r}")
        checked[code] = text.strip()
    return checked
