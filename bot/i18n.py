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
    t.pgettext("button", "Keep")                     # a short word, in its context (msgctxt)
    t.date(day)                                      # CLDR's long date: "21 January 2020"
    t.zone("Asia/Almaty", start)                     # "по времени Алматы, UTC+5"
    START = N_("...")  ...  t(START)                 # marked where defined, translated where used
"""

from __future__ import annotations

import datetime as datetime_module
import functools
import gettext
import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Final

from babel import Locale
from babel.dates import format_date, format_skeleton, get_timezone_location
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES: Final = ("kk", "ru", "en")
SOURCE_LANGUAGE: Final = "en"  # the language the code is written in
LOCALES: Final = Path(__file__).with_name("locales")
DOMAIN: Final = "messages"
# The names each language calls itself, for the /language buttons.
NAMES: Final = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


# English dates as CLDR writes them for British English ("21 January 2020"): the bot's English
# is British, and its readers outside the US read day-month-year.
DATE_LOCALES: Final = {"kk": "kk", "ru": "ru", "en": "en_GB"}
# A zone's city where CLDR names none for a language (Babel then gives the IANA id's tail), for
# the zones Kazakhstan's courts sit in; and Russian's genitive, which «по времени …» needs (the
# cities that do not decline stand as they are). A city not in the table reads in a case-free
# wording instead («часовой пояс: Шанхай, UTC+8»): ZONE_TIME_ANY_CITY.
ZONE_CITIES: Final = {
    "Asia/Almaty": {"kk": "Алматы", "ru": "Алматы", "en": "Almaty"},
    "Asia/Qostanay": {"kk": "Қостанай", "ru": "Костанай", "en": "Kostanay"},
    "Asia/Aqtobe": {"kk": "Ақтөбе", "ru": "Актобе", "en": "Aktobe"},
    "Asia/Oral": {"kk": "Орал", "ru": "Уральск", "en": "Oral"},
    "Asia/Aqtau": {"kk": "Ақтау", "ru": "Актау", "en": "Aktau"},
    "Asia/Atyrau": {"kk": "Атырау", "ru": "Атырау", "en": "Atyrau"},
    "Asia/Qyzylorda": {"kk": "Қызылорда", "ru": "Кызылорда", "en": "Kyzylorda"},
}
RUSSIAN_GENITIVE: Final = {
    "Алматы": "Алматы",
    "Актобе": "Актобе",
    "Актау": "Актау",
    "Атырау": "Атырау",
    "Урумчи": "Урумчи",
    "Костанай": "Костаная",
    "Уральск": "Уральска",
    "Кызылорда": "Кызылорды",
    "Москва": "Москвы",
    "Ташкент": "Ташкента",
    "Бишкек": "Бишкека",
    "Новосибирск": "Новосибирска",
    "Омск": "Омска",
    "Екатеринбург": "Екатеринбурга",
}


def N_(message: str) -> str:  # noqa: N802  (gettext's conventional name)
    """Mark a message for translation where it is defined; translate it where it is used."""
    return message


# "Almaty time, UTC+5". Russian's «по времени {city}» takes the genitive from RUSSIAN_GENITIVE;
# a city that table lacks reads as ZONE_TIME_ANY_CITY.
ZONE_TIME: Final = N_("{city} time, {offset}")


def NC_(context: str, message: str) -> tuple[str, str]:  # noqa: N802
    """Mark a short message with its context (``msgctxt``): translate it with ``t.pgettext``."""
    return context, message


# The same label for a city the language cannot put in the case its ZONE_TIME needs (Russian:
# a city not in RUSSIAN_GENITIVE), in a wording that takes the city as it is.
ZONE_TIME_ANY_CITY: Final = NC_("a time zone whose city is not declined", "{city} time, {offset}")


def format_offset(offset: timedelta | None) -> str:
    """'UTC+6', 'UTC+5:30', 'UTC-3', 'UTC'."""
    minutes = int((offset or timedelta()).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_city(zone: str, language: str) -> str:
    """The city a zone is named after, as ``language`` writes it: CLDR's exemplar city, else
    the table above, else the IANA id's last part."""
    tail = zone.rsplit("/", 1)[-1].replace("_", " ")
    try:
        city = str(get_timezone_location(zone, locale=DATE_LOCALES[language], return_city=True))
    except (LookupError, ValueError):
        city = tail
    if not city or (city == tail and language != "en"):
        city = ZONE_CITIES.get(zone, {}).get(language, city or tail)
    return city


def catalog_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


class Translator:
    """One language's messages, plurals, dates and numbers."""

    def __init__(self, language: str, translations: gettext.NullTranslations) -> None:
        self.language = language
        self._translations = translations
        self._locale = Locale.parse(language)
        self._date_locale = Locale.parse(DATE_LOCALES[language])

    def __call__(self, message: str, /, **values: object) -> str:
        """The message in this language, with ``values`` put into its placeholders."""
        text = self._translations.gettext(message)
        return text.format(**values) if values else text

    def plural(self, singular: str, plural: str, count: int, /, **values: object) -> str:
        """The form that fits ``count``; ``{count}`` is written in this language's digits."""
        text = self._translations.ngettext(singular, plural, count)
        return text.format(count=self.number(count), **values)

    def pgettext(self, context: str, message: str, /, **values: object) -> str:
        """A message in its context (``msgctxt``): a short word that reads differently in
        different places ("Keep" a chat, "Both" reminders)."""
        text = self._translations.pgettext(context, message)
        return text.format(**values) if values else text

    def marked(self, marked: tuple[str, str], /, **values: object) -> str:
        """A message marked with ``NC_(context, message)``, translated in its context."""
        return self.pgettext(*marked, **values)

    def date(self, day: date | datetime) -> str:
        """A date as CLDR writes it in full: '21 January 2020', '2020 ж. 21 қаңтар',
        and in Russian the day, the month's genitive, the year and its abbreviation."""
        return format_date(day, "long", locale=self._date_locale)

    def short_date(self, day: datetime_module.date) -> str:
        """Day and month for a button: '21 Jan', '21 янв.', '21 қаң.'."""
        return format_skeleton("MMMd", day, locale=self._date_locale)

    def month(self, first: datetime_module.date) -> str:
        """A month and its year, for a calendar's title: 'January 2026', '2026 ж. қаңтар'."""
        return format_skeleton("yMMMM", first, locale=self._date_locale)

    def zone(self, zone: str, at: datetime) -> str:
        """The zone as a reader names it, with its offset at ``at`` (a local time in it):
        'Almaty time, UTC+5', 'по времени Алматы, UTC+5', 'Алматы уақытымен, UTC+5', and for a
        city Russian's table does not decline, 'часовой пояс: Шанхай, UTC+8'."""
        city = zone_city(zone, self.language)
        offset = format_offset(at.utcoffset())
        if self.language == "ru":
            genitive = RUSSIAN_GENITIVE.get(city)
            if genitive is None:
                return self.marked(ZONE_TIME_ANY_CITY, city=city, offset=offset)
            city = genitive
        return self(ZONE_TIME, city=city, offset=offset)

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
