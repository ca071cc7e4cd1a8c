"""The translation catalogs: complete, in step with the code, and faithful to its placeholders."""

from __future__ import annotations

import re
from datetime import date

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot.catalogs import TRANSLATED, extract, placeholders
from bot.i18n import LANGUAGES, catalog_path, translator

# Telegram's HTML tags (not the <id> or <text> of a command's syntax in a menu).
TAGS = re.compile(r"</?(?:b|i|u|s|a|em|strong|code|pre|blockquote)>")


def catalog(language: str) -> Catalog:
    with catalog_path(language).open("rb") as source:
        return read_po(source, locale=language)


def strings(message: Message) -> list[str]:
    value = message.string
    return list(value) if isinstance(value, tuple | list) else [value]


def ids(message: Message) -> list[str]:
    value = message.id
    return list(value) if isinstance(value, tuple | list) else [value]


@pytest.fixture(scope="module")
def code_messages() -> dict[str, Message]:
    template = extract()
    return {ids(message)[0]: message for message in template if message.id}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_of_the_code_is_translated(
    language: str, code_messages: dict[str, Message]
) -> None:
    translated = {ids(m)[0]: m for m in catalog(language) if m.id}
    missing = sorted(set(code_messages) - set(translated))
    assert not missing, f"run `python -m bot.catalogs`, then translate: {missing[:5]}"
    empty = [key for key in code_messages if not all(strings(translated[key]))]
    assert not empty, f"{len(empty)} messages untranslated in {language}: {empty[:5]}"
    fuzzy = [key for key in code_messages if translated[key].fuzzy]
    assert not fuzzy, f"fuzzy (unchecked) translations in {language}: {fuzzy[:5]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_placeholders_and_markup(
    language: str, code_messages: dict[str, Message]
) -> None:
    for message in catalog(language):
        if not message.id or ids(message)[0] not in code_messages:
            continue
        sources = ids(message)
        wanted = set().union(*(placeholders(source) for source in sources))
        for text in strings(message):
            where = f"{language}: {sources[0]!r} → {text!r}"
            assert placeholders(text) <= wanted, where  # no placeholder the code does not fill
            if len(sources) == 1:
                assert placeholders(text) == wanted, where  # none dropped
            assert sorted(TAGS.findall(text)) == sorted(TAGS.findall(sources[0])), where


@pytest.mark.parametrize("language", TRANSLATED)
def test_plural_entries_have_every_form_of_the_language(language: str) -> None:
    forms = catalog(language).num_plurals
    for message in catalog(language):
        if message.pluralizable and message.id:
            assert len(strings(message)) == forms, ids(message)[0]


def test_russian_plurals_and_dates_read_as_russian() -> None:
    t = translator("ru")
    chats = [t.plural("{count} subscribed chat", "{count} subscribed chats", n) for n in (1, 2, 5)]
    assert [text.split()[1] for text in chats] != [chats[0].split()[1]] * 3  # three forms
    assert t.date(date(2020, 1, 21)) == "21 января 2020"
    assert translator("kk").date(date(2020, 1, 21)) == "21 қаңтар 2020"
    assert translator("en").date(date(2020, 1, 21)) == "21 January 2020"


def test_every_language_loads() -> None:
    for language in LANGUAGES:
        assert translator(language)("Saved.")
