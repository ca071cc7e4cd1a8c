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


def key(message: Message) -> tuple[str | None, str]:
    """A message as gettext finds it: its context (msgctxt) and its id."""
    return message.context, ids(message)[0]


@pytest.fixture(scope="module")
def code_messages() -> dict[tuple[str | None, str], Message]:
    template = extract()
    return {key(message): message for message in template if message.id}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_of_the_code_is_translated(
    language: str, code_messages: dict[tuple[str | None, str], Message]
) -> None:
    translated = {key(m): m for m in catalog(language) if m.id}
    missing = sorted(set(code_messages) - set(translated))
    assert not missing, f"run `python -m bot.catalogs`, then translate: {missing[:5]}"
    empty = [key for key in code_messages if not all(strings(translated[key]))]
    assert not empty, f"{len(empty)} messages untranslated in {language}: {empty[:5]}"
    fuzzy = [key for key in code_messages if translated[key].fuzzy]
    assert not fuzzy, f"fuzzy (unchecked) translations in {language}: {fuzzy[:5]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_placeholders_and_markup(
    language: str, code_messages: dict[tuple[str | None, str], Message]
) -> None:
    for message in catalog(language):
        if not message.id or key(message) not in code_messages:
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
    # Each language's long date as CLDR writes it, not one pattern forced on all three.
    assert t.date(date(2020, 1, 21)) == "21 января 2020\u202fг."
    assert translator("kk").date(date(2020, 1, 21)) == "2020\u202fж. 21 қаңтар"
    assert translator("en").date(date(2020, 1, 21)) == "21 January 2020"


def test_short_words_are_translated_in_their_context() -> None:
    """ "Keep", "Both", "All", "None", "Skip", "Cancel" carry a msgctxt, so that each language
    renders each where it stands."""
    from bot import broadcast_texts, staff_texts, texts

    for marked in (
        texts.KEEP_BUTTON,
        texts.BUTTON_ALL,
        texts.BUTTON_BOTH,
        texts.BUTTON_NONE,
        staff_texts.SKIP,
        staff_texts.CANCEL_FLOW,
        broadcast_texts.CANCEL,
    ):
        context, word = marked
        assert context
        for language in ("kk", "ru"):
            assert translator(language).marked(marked) != word, (language, word)
        assert translator("en").marked(marked) == word


def test_times_name_the_zone_as_a_reader_would() -> None:
    """The city in the reader's language and the offset at that date, never the IANA id."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    winter_2020 = datetime(2020, 1, 21, 10, 0, tzinfo=ZoneInfo("Asia/Almaty"))
    winter_2026 = datetime(2026, 12, 16, 10, 0, tzinfo=ZoneInfo("Asia/Almaty"))
    assert translator("en").zone("Asia/Almaty", winter_2026) == "Almaty time, UTC+5"
    assert translator("ru").zone("Asia/Almaty", winter_2026) == "по времени Алматы, UTC+5"
    assert translator("kk").zone("Asia/Almaty", winter_2026) == "Алматы уақытымен, UTC+5"
    assert translator("kk").zone("Asia/Almaty", winter_2020) == "Алматы уақытымен, UTC+6"
    oral = datetime(2026, 12, 16, 10, 0, tzinfo=ZoneInfo("Asia/Oral"))
    assert translator("ru").zone("Asia/Oral", oral) == "по времени Уральска, UTC+5"
    assert translator("kk").zone("Asia/Oral", oral) == "Орал уақытымен, UTC+5"


def test_russian_zone_label_never_leaves_a_city_in_the_wrong_case() -> None:
    """«по времени …» needs the genitive: the cities Russian's table declines (or that do not
    decline) keep it; any other city reads in a case-free wording, as staff may set any zone."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.i18n import RUSSIAN_GENITIVE, ZONE_CITIES, zone_city

    ru, kk = translator("ru"), translator("kk")

    def at(zone: str) -> datetime:
        return datetime(2026, 12, 16, 10, 0, tzinfo=ZoneInfo(zone))

    for zone in ZONE_CITIES:  # every zone Kazakhstan's courts sit in
        assert zone_city(zone, "ru") in RUSSIAN_GENITIVE, zone
        assert ru.zone(zone, at(zone)).startswith("по времени "), zone
    assert ru.zone("Asia/Qostanay", at("Asia/Qostanay")) == "по времени Костаная, UTC+5"
    assert ru.zone("Europe/Moscow", at("Europe/Moscow")) == "по времени Москвы, UTC+3"
    assert ru.zone("Asia/Shanghai", at("Asia/Shanghai")) == "часовой пояс: Шанхай, UTC+8"
    assert ru.zone("Europe/Istanbul", at("Europe/Istanbul")) == "часовой пояс: Стамбул, UTC+3"
    assert kk.zone("Asia/Shanghai", at("Asia/Shanghai")) == "Шанхай уақытымен, UTC+8"
    assert translator("en").zone("Asia/Shanghai", at("Asia/Shanghai")) == "Shanghai time, UTC+8"


def test_date_correction_reads_once_filled_in() -> None:
    """Russian's date ends in an abbreviation's full stop: never two in a row; Kazakh puts both
    dates in label positions."""
    from datetime import date

    message = (
        "The hearing is on <b>{when}</b> (it was given as {old} by mistake). The date was"
        " corrected; the hearing was not postponed."
    )
    for language in LANGUAGES:
        t = translator(language)
        text = t(message, when=t.date(date(2026, 12, 16)), old=t.date(date(2026, 12, 15)))
        assert ".." not in text, (language, text)


def test_every_language_loads() -> None:
    for language in LANGUAGES:
        assert translator(language)("Saved.")
