"""The bot in Kazakh, Russian and English, as new users meet it."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

from bot import texts
from bot.context import HearingWatchApp
from bot.i18n import translator
from bot.texts import duration
from tests.conftest import ADMIN_ID, Clock, instance_of
from tests.fakebot import FakeBotApi, UserRef

RU = translator("ru")
KK = translator("kk")
EN = translator("en")
ADMIN = UserRef(ADMIN_ID)


def visible(markup: str) -> str:
    """What a reader sees of an HTML message."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


async def test_a_russian_phone_gets_russian(bot: HearingWatchApp, fake: FakeBotApi) -> None:
    user = UserRef(6101, language_code="ru-RU")
    chat = fake.private_chat(user)
    start = await fake.say(chat, user, "/start")
    assert start["text"] == visible(RU(texts.START))
    assert start["text"] != visible(EN(texts.START))  # translated, not the English
    cases = await fake.say(chat, user, "/cases")
    # The seed's hearings were in January 2020: the last ones are shown.
    assert visible(RU("Previous hearing: {when}", when="")) in cases["text"]
    buttons = [b["text"] for row in cases["reply_markup"]["inline_keyboard"] for b in row]
    assert RU(texts.BUTTON_SUBSCRIBE, case_id="tabarak") in buttons
    case = await fake.say(chat, user, "/case tabarak")
    assert "16 января 2020\u202fг." in case["text"]  # CLDR's long date, the month in the genitive


async def test_a_kazakh_phone_gets_kazakh_and_language_switches_to_english(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    user = UserRef(6102, language_code="kk")
    chat = fake.private_chat(user)
    case = await fake.say(chat, user, "/case tabarak")
    assert "2020\u202fж. 16 қаңтар" in case["text"]  # CLDR's long date: the year first
    help_text = await fake.say(chat, user, "/help")
    assert help_text["text"] == visible(texts.help_text(KK))
    switched = await fake.say(chat, user, "/language en")
    assert switched["text"] == EN(texts.LANGUAGE_SET)
    case = await fake.say(chat, user, "/case tabarak")
    assert "16 January 2020" in case["text"]
    # The buttons work as well: back to Russian.
    prompt = await fake.say(chat, user, "/language")
    await fake.click(chat, user, prompt, "lang:ru")
    case = await fake.say(chat, user, "/case tabarak")
    assert "16 января 2020\u202fг." in case["text"]


async def test_a_groups_administrators_choose_its_language(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    group = fake.group(-100_610)
    admin, member = UserRef(6103, language_code="ru"), UserRef(6104, language_code="kk")
    fake.set_member(group, admin, "administrator")
    before = await fake.say(group, member, "/case tabarak")
    assert "16 January 2020" in before["text"]  # a group reads the default until it chooses
    refused = await fake.say(group, member, "/language kk")
    assert refused["text"] == EN(texts.ONLY_GROUP_ADMINS)
    chosen = await fake.say(group, admin, "/language kk")
    assert chosen["text"] == KK(texts.LANGUAGE_SET)
    after = await fake.say(group, member, "/case tabarak")
    assert "2020\u202fж. 16 қаңтар" in after["text"]


async def test_the_menu_is_registered_in_every_language(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    for language, t in (("ru", RU), ("kk", KK), ("en", EN)):
        menu = fake.commands[fake.menu_key(None, language)]
        described = {entry["command"]: entry["description"] for entry in menu}
        assert described["cases"] == t(texts.COMMANDS[0][1])
        assert "language" in described
    assert json.dumps({"type": "default"}) in fake.commands


async def test_a_three_language_update_reaches_each_chat_in_its_language(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    readers = {
        "kk": UserRef(6201, language_code="kk"),
        "ru": UserRef(6202, language_code="ru"),
        "en": UserRef(6203, language_code="en"),
    }
    for user in readers.values():
        await fake.say(fake.private_chat(user), user, "/subscribe tabarak")
    admin = fake.private_chat(ADMIN)
    preview = await fake.say(
        admin,
        ADMIN,
        "/update tabarak\n"
        "kk: Сот отырысы 16 қаңтарға ауыстырылды.\n"
        "ru: Заседание перенесли на 16 января.\n"
        "en: The hearing was moved to 16 January.",
    )
    # The preview shows every version and how many chats get it.
    assert "Сот отырысы 16 қаңтарға ауыстырылды." in preview["text"]
    assert "Заседание перенесли на 16 января." in preview["text"]
    assert "The hearing was moved to 16 January." in preview["text"]
    send = preview["reply_markup"]["inline_keyboard"][0][0]
    assert send["text"] == EN.plural("Send to {count} chat", "Send to {count} chats", 3)
    await fake.click(admin, ADMIN, preview, send["callback_data"])
    await fake.wait_for(lambda: all(len(fake.sent_to(user.id)) >= 2 for user in readers.values()))
    news = {language: fake.sent_to(user.id)[-1]["text"] for language, user in readers.items()}
    assert "Сот отырысы 16 қаңтарға ауыстырылды." in news["kk"]
    assert news["kk"].startswith(visible(KK("<b>News</b>: {title}", title="Тілек Табарақ")))
    assert "Заседание перенесли на 16 января." in news["ru"]
    assert news["ru"].startswith(visible(RU("<b>News</b>: {title}", title="Тилек Табарак")))
    assert "The hearing was moved to 16 January." in news["en"]


async def test_reminders_come_in_each_chats_language(
    bot: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    russian, kazakh = UserRef(6301, language_code="ru"), UserRef(6302, language_code="kk")
    for user in (russian, kazakh):
        await fake.say(fake.private_chat(user), user, "/subscribe tabarak")
    admin = fake.private_chat(ADMIN)
    await fake.say(admin, ADMIN, "/addhearing tabarak 2026-12-16 10:00 Zharkent court; Zharkent")
    clock.now = datetime(2026, 12, 16, 4, 0, tzinfo=UTC)  # 09:00 in Almaty: the 2h one is due
    await instance_of(bot).parts.reminders.reconcile()
    await fake.wait_for(lambda: all(len(fake.sent_to(u.id)) >= 2 for u in (russian, kazakh)))
    ru_text = fake.sent_to(russian.id)[-1]["text"]
    kk_text = fake.sent_to(kazakh.id)[-1]["text"]
    assert ru_text.startswith(
        "⏰ " + visible(RU("<b>Reminder</b>: {title}", title="Тилек Табарак"))
    )
    assert "16 декабря 2026\u202fг., 10:00 (по времени Алматы, UTC+5)" in ru_text
    assert RU("Starts in {duration}.", duration=duration(RU, timedelta(hours=1))) in ru_text
    assert kk_text.startswith(
        "⏰ " + visible(KK("<b>Reminder</b>: {title}", title="Тілек Табарақ"))
    )
    assert "2026\u202fж. 16 желтоқсан, 10:00 (Алматы уақытымен, UTC+5)" in kk_text
