"""Translations of patient-facing text: gettext catalogues read with Babel.

``translator("zh", "diary")`` gives a function with gettext semantics: it returns the catalogue's
translation of a message id (an English text), or the id itself where the catalogue has none (or only a
fuzzy one). English is the source language and needs no catalogue. Each other shipped language
(:data:`dosing.protocol.languages.LANGUAGES`) has one ``.po`` file per domain in
``dosing/locale/<language>/LC_MESSAGES/<domain>.po``, read at run time (no compiled ``.mo`` is
committed, so the ``.po`` a translator edits is the one that runs) and cached per process.

Placeholders are ``str.format`` fields: ``_("Week {week}").format(week=3)``; a test checks that every
translation keeps its id's fields.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from ...errors import LanguageError
from ...protocol.languages import DEFAULT_LANGUAGE, LANGUAGES, language_problem

#: Catalogue domains: the patient's printable diary and the patient's calendar feed.
DOMAINS = ("diary", "calendar")

Translate = Callable[[str], str]


def translator(language: str, domain: str) -> Translate:
    """The gettext function of ``domain`` in ``language`` (a shipped code such as "zh")."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown message domain {domain!r}; known: {', '.join(DOMAINS)}")  # a bug, not a user error
    problem = language_problem(language)
    if problem is not None:
        raise LanguageError(problem, hint=f"write one of the shipped language codes: {', '.join(LANGUAGES)}")
    if language == DEFAULT_LANGUAGE:
        return _identity
    return _lookup(language, domain)


def _identity(message: str) -> str:
    return message


@cache
def _lookup(language: str, domain: str) -> Translate:
    table = _messages(catalogue(language, domain))

    def gettext(message: str) -> str:
        return table.get(message) or message

    return gettext


def catalogue(language: str, domain: str) -> Catalog:
    """The parsed ``.po`` catalogue of ``domain`` in ``language`` (for the translator and the tests)."""
    path = resources.files("dosing").joinpath("locale", language, "LC_MESSAGES", f"{domain}.po")
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=domain)


def _messages(catalog: Catalog) -> dict[str, str]:
    """Translated, non-fuzzy singular messages: id -> text."""
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string and not m.fuzzy
    }
