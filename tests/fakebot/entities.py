"""Telegram's HTML parse mode, checked as strictly as Telegram checks it."""

from __future__ import annotations

import html
from html.parser import HTMLParser

# The tags Telegram's HTML parse mode accepts.
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip


class EntityError(ValueError):
    """Text Telegram would refuse with 'Can't parse entities'."""


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.visible: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise EntityError(f'Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise EntityError(f'Unmatched end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            raise EntityError("Unescaped angle bracket")
        self.visible.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            raise EntityError(f"Unknown entity &{name};")
        self.visible.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.visible.append(html.unescape(f"&#{name};"))


def visible_text(text: str, parse_mode: str | None) -> str:
    """What the recipient sees; EntityError where Telegram would refuse the markup."""
    if parse_mode is None:
        return text
    if parse_mode.upper() != "HTML":
        raise EntityError(f"parse mode {parse_mode} is not emulated")
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise EntityError(f'Unclosed start tag "{parser.open[-1]}"')
    # A bare '&' that is no entity reaches handle_data unchanged; Telegram refuses it.
    seen = "".join(parser.visible)
    if "&" in text and text.count("&") != text.count("&amp;") + text.count("&lt;") + text.count(
        "&gt;"
    ) + text.count("&quot;") + text.count("&#"):
        raise EntityError("Unescaped ampersand")
    return seen
