"""Keep the translation catalogs in step with the code: ``python -m bot.catalogs``.

Finds every message the code marks for translation (``t("...")``, ``t.plural(...)``,
``N_("...")``, with a context ``t.pgettext("context", "...")`` and ``NC_("context", "...")``,
and the English messages of ScheduleError, StaffError and UsageError), adds the
new ones to each ``bot/locales/<language>/LC_MESSAGES/messages.po`` with an empty translation,
and marks the ones the code no longer uses as obsolete. Translations already made are kept.
"""

from __future__ import annotations

import string
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.i18n import DOMAIN, LANGUAGES, SOURCE_LANGUAGE, catalog_path

ROOT = Path(__file__).resolve().parents[1]
# Where messages live: the bot's texts, and the errors storage raises for staff to read.
SOURCES = ("bot", "storage")
KEYWORDS = {
    "t": None,
    "plural": (1, 2),
    "N_": None,
    "NC_": ((1, "c"), 2),
    "pgettext": ((1, "c"), 2),
    "ScheduleError": None,
    "StaffError": None,
    "UsageError": (2,),
}
TRANSLATED = tuple(language for language in LANGUAGES if language != SOURCE_LANGUAGE)


def extract() -> Catalog:
    """Every message the code marks, as a template catalog (with where each is used)."""
    template = Catalog(domain=DOMAIN, project="Hearing Watch")
    for folder in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            template.add(
                message,
                locations=[(f"{folder}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
            )
    return template


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a message fills in."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def update(language: str, template: Catalog) -> Catalog:
    """The language's catalog with the template's messages, its translations kept."""
    path = catalog_path(language)
    if path.exists():
        with path.open("rb") as source:
            catalog = read_po(source, locale=language, domain=DOMAIN)
    else:
        catalog = Catalog(locale=language, domain=DOMAIN, project="Hearing Watch")
    catalog.update(template, no_fuzzy_matching=True)
    return catalog


def write(language: str, catalog: Catalog) -> None:
    path = catalog_path(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as target:
        write_po(target, catalog, width=100, omit_header=False, ignore_obsolete=True)


def main() -> int:
    """Refresh every catalog from the code; report what still needs translating."""
    template = extract()
    missing = 0
    for language in TRANSLATED:
        catalog = update(language, template)
        write(language, catalog)
        untranslated = [m for m in catalog if m.id and not all(_strings(m.string))]
        missing += len(untranslated)
        print(f"{catalog_path(language).relative_to(ROOT)}: {len(untranslated)} to translate")
    return 1 if missing else 0


def _strings(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    return list(value) if isinstance(value, tuple | list) else [value or ""]


if __name__ == "__main__":
    sys.exit(main())
