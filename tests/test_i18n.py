"""Translation foundation: gettext catalogues (Babel), the protocol's translated names and the
cohort's ``language`` column, with the messages a user gets for each bad input."""

from __future__ import annotations

import re
import string
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dosing.cli import main
from dosing.errors import LanguageError
from dosing.io.write.i18n import DOMAINS, catalogue, translator
from dosing.plan.load import protocol_from_dict
from dosing.protocol.languages import LANGUAGES, language_problem
from tests.conftest import PROTOCOLS

SEED = PROTOCOLS / "nct02467504.toml"
LOCALE = Path(__file__).parent.parent / "dosing" / "locale"
COHORT = (
    "patient_id,arm,start_date,timezone,site,mtx_dose,mtx_weekday{extra}\n"
    "RA-001,active,2026-12-11,Asia/Shanghai,PKUPH,20,Sunday{cell}\n"
)


def seed_data() -> dict:
    """The seed protocol without its translations."""
    data = tomllib.loads(SEED.read_text(encoding="utf-8"))
    for table in (*data["regimens"], *data["visits"]):
        for key in ("names", "blinded_names", "translated_instructions"):
            table.pop(key, None)
    del data["study"]["contact"], data["study"]["translated_contact"]
    return data


def validate(tmp_path: Path, protocol_text: str | None = None, cohort_text: str | None = None) -> tuple[int, str]:
    protocol = tmp_path / "p.toml"
    protocol.write_text(protocol_text if protocol_text is not None else SEED.read_text(encoding="utf-8"))
    args = ["validate", str(protocol)]
    if cohort_text is not None:
        cohort = tmp_path / "c.csv"
        cohort.write_text(cohort_text, encoding="utf-8")
        args += ["--cohort", str(cohort)]
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


# ---- catalogues -------------------------------------------------------------------------------------


def test_every_shipped_language_but_english_has_a_catalogue_per_domain_and_no_other_exists() -> None:
    on_disk = {p.name for p in LOCALE.iterdir() if p.is_dir()}
    assert on_disk == set(LANGUAGES) - {"en"}
    for language in on_disk:
        assert {p.stem for p in (LOCALE / language / "LC_MESSAGES").glob("*.po")} == set(DOMAINS)


def test_english_is_the_source_language_and_returns_the_id() -> None:
    assert translator("en", "diary")("Week {week}") == "Week {week}"


def test_a_message_without_translation_falls_back_to_its_id() -> None:
    assert translator("zh", "diary")("no such message id, surely") == "no such message id, surely"


@pytest.mark.parametrize("domain", DOMAINS)
def test_translations_keep_the_placeholders_of_their_ids(domain: str) -> None:
    fields = string.Formatter()
    for message in catalogue("zh", domain):
        if message.id and message.string:
            ids = sorted(f for _, f, _, _ in fields.parse(str(message.id)) if f is not None)
            got = sorted(f for _, f, _, _ in fields.parse(str(message.string)) if f is not None)
            assert got == ids, f"{domain}.po: {message.id!r} -> {message.string!r}"


def test_a_translated_message_comes_from_the_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup reads the .po file: a message the zh catalogue translates is returned translated."""
    messages = [m for m in catalogue("zh", "diary") if m.id and m.string]
    if not messages:
        pytest.skip("the diary catalogue has no messages yet")
    first = messages[0]
    assert translator("zh", "diary")(str(first.id)) == first.string
    assert re.search(r"[\u4e00-\u9fff]", str(first.string)), "a Simplified Chinese text"


@pytest.mark.parametrize(("code", "fragment"), [("fr", "unknown language 'fr'"), ("zh-CN", 'did you mean "zh"')])
def test_an_unknown_language_is_a_user_error(code: str, fragment: str) -> None:
    with pytest.raises(LanguageError, match=re.escape(fragment)):
        translator(code, "diary")


def test_an_unknown_domain_is_a_bug_not_a_user_error() -> None:
    with pytest.raises(ValueError, match="unknown message domain"):
        translator("zh", "diry")


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("en", None),
        ("zh", None),
        ("zh_CN", 'did you mean "zh"'),
        ("Chinese", 'did you mean "zh"'),
        ("eng", 'did you mean "en"'),
        ("de", "unknown language 'de' (shipped languages: en (English), zh (Simplified Chinese))"),
    ],
)
def test_language_codes(code: str, problem: str | None) -> None:
    found = language_problem(code)
    assert (found is None) if problem is None else (problem in str(found))


# ---- protocol fields --------------------------------------------------------------------------------


def test_translated_names_are_read_and_fall_back_to_english() -> None:
    data = seed_data()
    data["study"]["contact"] = "Study nurse: +86 10 0000 0000"
    data["study"]["translated_contact"] = {"zh": "研究护士：+86 10 0000 0000"}
    mtx = next(r for r in data["regimens"] if r["id"] == "methotrexate")
    mtx["names"] = {"zh": " 甲氨蝶呤 "}
    for r in data["regimens"]:
        if r["id"] in ("il2", "il2-placebo"):
            r["blinded_names"] = {"zh": "白介素-2或安慰剂"}
    protocol = protocol_from_dict(data)
    assert protocol.regimen("methotrexate").drug_in("zh") == "甲氨蝶呤"  # spaces stripped
    assert protocol.regimen("methotrexate").drug_in("en") == "Methotrexate"
    assert protocol.regimen("folic-acid").drug_in("zh") == "Folic acid"  # no name given: the protocol's
    assert protocol.regimen("il2").label_in("zh") == "白介素-2或安慰剂"  # never the true drug
    assert protocol.regimen("il2-placebo").label_in("en") == "hrIL-2 or placebo"
    assert protocol.study.contact_in("zh") == "研究护士：+86 10 0000 0000"
    assert protocol.study.contact_in("en") == "Study nurse: +86 10 0000 0000"


def _edited(old: str, new: str) -> str:
    """The seed protocol with its text ``old`` (found once) replaced by ``new``."""
    text = SEED.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new, 1)


MTX_NAMES = 'names = { zh = "甲氨蝶呤" }'
CONTACT = 'contact = "Questions or side effects? Call the study team: the number is on your consent form."'


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        (
            MTX_NAMES,
            'names = { fr = "Méthotrexate" }',
            ["regimens[2] (id 'methotrexate').names:", "unknown language 'fr'"],
        ),
        (MTX_NAMES, 'names = { zh_CN = "甲氨蝶呤" }', ["names:", "unknown language 'zh_CN'", 'did you mean "zh"']),
        (MTX_NAMES, 'names = { zh = "  " }', ["names:", "must be a non-empty string"]),
        (MTX_NAMES, 'names = "甲氨蝶呤"', ["names:", 'expected a table of language = "text"']),
        (MTX_NAMES, 'nmaes = { zh = "甲氨蝶呤" }', ["nmaes: unknown key 'nmaes'", "did you mean 'names'"]),
        (MTX_NAMES, 'blinded_names = { zh = "x" }', ["blinded_names translate the blinded_label"]),
        (CONTACT, "", ["study:", "translated_contact needs contact"]),
        (CONTACT, 'contakt = "Call us"', ["study.contakt: unknown key", "did you mean 'contact'"]),
        (CONTACT, 'contact = ""', ["study.contact:", "at least 1 character"]),
        (
            'names = { zh = "基线" }',
            'names = { cn = "基线" }',
            ["visits[1] (id 'baseline').names:", 'did you mean "zh"'],
        ),
    ],
)
def test_bad_translated_fields_are_refused_with_the_field_named(
    tmp_path: Path, old: str, new: str, fragments: list[str]
) -> None:
    code, output = validate(tmp_path, _edited(old, new))
    assert code == 2, output
    assert output.startswith("Error: ")
    assert "Traceback" not in output
    for fragment in fragments:
        assert fragment in output


@pytest.mark.parametrize("key", ["blinded_names", "translated_instructions"])
def test_blinded_twins_must_share_their_translations(tmp_path: Path, key: str) -> None:
    """A translated label or instruction only the active regimen has would reveal the arm in a Chinese diary."""
    text = SEED.read_text(encoding="utf-8")
    placebo = text.index('drug = "Placebo"')
    line = text.index(key, placebo)
    text = text[:line] + text[line:].replace(key + " = {", key + ' = { en = "other",', 1)
    code, output = validate(tmp_path, text)
    assert code == 2
    assert f"regimen 'il2-placebo' differs from 'il2' in {key}" in output


# ---- cohort column ----------------------------------------------------------------------------------


def test_language_column_defaults_to_english(tmp_path: Path) -> None:
    from dosing.io.read.files import load_cohort, load_protocol

    cohort_file = tmp_path / "c.csv"
    cohort_file.write_text(
        COHORT.format(extra=",language", cell=",zh") + "RA-002,placebo,2026-12-11,,,10,Monday,\n", encoding="utf-8"
    )
    cohort = load_cohort(cohort_file, load_protocol(SEED))
    assert cohort.patients["language"].tolist() == ["zh", "en"]
    no_column = tmp_path / "d.csv"
    no_column.write_text(COHORT.format(extra="", cell=""), encoding="utf-8")
    assert load_cohort(no_column, load_protocol(SEED)).patients["language"].tolist() == ["en"]


@pytest.mark.parametrize(
    ("header", "cell", "fragments"),
    [
        (",language", ",fr", ["line 2, column 'language': unknown language 'fr'", "shipped languages: en (English)"]),
        (",language", ",zh-CN", ["line 2, column 'language': unknown language 'zh-CN'", 'did you mean "zh"']),
        (",langauge", ",zh", ["unknown column 'langauge'", "did you mean 'language'"]),
    ],
)
def test_bad_language_in_the_cohort_is_refused_naming_the_line(
    tmp_path: Path, header: str, cell: str, fragments: list[str]
) -> None:
    code, output = validate(tmp_path, cohort_text=COHORT.format(extra=header, cell=cell))
    assert code == 2, output
    assert "Traceback" not in output
    for fragment in fragments:
        assert fragment in output


def test_every_diary_message_is_translated_and_the_catalogue_has_no_stale_ones() -> None:
    """The message ids in the diary writers (``_("...")``, found with Babel's extractor) are exactly the
    ids of the Chinese diary catalogue, each with a translation."""
    from babel.messages.extract import extract_from_file

    sources = sorted((Path(__file__).parent.parent / "dosing" / "io" / "write").glob("diary*.py"))
    used = {str(m[1]) for path in sources for m in extract_from_file("python", str(path))}
    translated = {str(m.id): str(m.string) for m in catalogue("zh", "diary") if m.id}
    assert used == set(translated)
    assert all(translated.values())
