"""The bot's languages: Kazakh, Russian and English, from gettext catalogs and CLDR (Babel).

Every text a person reads is written in English in the code, marked for translation, and looked
up in ``bot/locales/<language>/LC_MESSAGES/messages.po`` (translators edit those files; see the
README). The catalogs are compiled when the bot starts, so a ``.po`` file is the only source and
nothing compiled can fall out of step with it.

In the code:

    t = translator("ru")
    t("Hearing postponed")                          # a message
    t("This chat now follows {title}.", title=...)   # with named placeholders (str.format)
    t.plural("{count} chat", "{count} chats", n)     # plural forms as the language has them
    t.date(day)                                      # "21 января 2020", CLDR's months
    START = N_("...")  ...  t(START)                 # marked where defined, translated where used
"""

from __future__ import annotations

import functools
import gettext
import io
from datetime import date, datetime
from pathlib import Path
from typing import Final

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES: Final = ("kk", "ru", "en")
SOURCE_LANGUAGE: Final = "en"  # the language the code is written in
LOCALES: Final = Path(__file__).with_name("locales")
DOMAIN: Final = "messages"
# The names each language calls itself, for the /language buttons.
NAMES: Final = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def N_(message: str) -> str:  # noqa: N802  (gettext's conventional name)
    """Mark a message for translation where it is defined; translate it where it is used."""
    return message


def catalog_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


class Translator:
    """One language's messages, plurals, dates and numbers."""

    def __init__(self, language: str, translations: gettext.NullTranslations) -> None:
        self.language = language
        self._translations = translations
        self._locale = Locale.parse(language)

    def __call__(self, message: str, /, **values: object) -> str:
        """The message in this language, with ``values`` put into its placeholders."""
        text = self._translations.gettext(message)
        return text.format(**values) if values else text

    def plural(self, singular: str, plural: str, count: int, /, **values: object) -> str:
        """The form that fits ``count``; ``{count}`` is written in this language's digits."""
        text = self._translations.ngettext(singular, plural, count)
        return text.format(count=self.number(count), **values)

    def date(self, day: date | datetime) -> str:
        """'21 January 2020', '21 января 2020', '21 қаңтар 2020'."""
        return format_date(day, "d MMMM y", locale=self._locale)

    def number(self, value: int) -> str:
        """'3,000', '3 000'."""
        return format_decimal(value, locale=self._locale)


def _compiled(language: str) -> gettext.NullTranslations:
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    with catalog_path(language).open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@functools.cache
def translator(language: str) -> Translator:
    """The translator of a language (one of LANGUAGES)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; the bot speaks {', '.join(LANGUAGES)}")
    return Translator(language, _compiled(language))


def supported(code: str | None) -> str | None:
    """The bot's language for an IETF tag such as 'ru-RU' or 'kk', or None."""
    if not code:
        return None
    language = code.replace("_", "-").split("-")[0].lower()
    return language if language in LANGUAGES else None
