"""Staff commands that end on a Confirm button, as tests give them: the command, then the press."""

from __future__ import annotations

from tests.fakebot import ChatRef, FakeBotApi, UserRef
from tests.fakebot.server import Json


def buttons(message: Json) -> dict[str, str]:
    """A message's inline buttons, label to callback data."""
    markup = message.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


def confirm_button(message: Json) -> str | None:
    """The callback data of a message's Confirm button (the first button of a confirmation)."""
    return next((data for data in buttons(message).values() if data.startswith("confirm:")), None)


async def asked_to_confirm(fake: FakeBotApi, chat: ChatRef, user: UserRef, command: str) -> Json:
    """Send a command and return the message that asks to confirm it."""
    before = len(fake.sent_to(chat.id))
    fake.send_text(chat, user, command)
    return await fake.wait_for(
        lambda: next((m for m in fake.sent_to(chat.id)[before:] if confirm_button(m)), None)
    )


async def press_confirm(fake: FakeBotApi, chat: ChatRef, user: UserRef, prompt: Json) -> Json:
    """Press Confirm under ``prompt``; the bot's answer to the press."""
    data = confirm_button(prompt)
    assert data is not None, prompt
    return await fake.click(chat, user, prompt, data)


async def confirmed(fake: FakeBotApi, chat: ChatRef, user: UserRef, command: str) -> Json:
    """Send a command, press its Confirm button, and return the confirmation as it reads then."""
    prompt = await asked_to_confirm(fake, chat, user, command)
    await press_confirm(fake, chat, user, prompt)
    shown = fake.messages[(chat.id, prompt["message_id"])]
    await fake.wait_for(lambda: not confirm_button(shown))
    return shown


async def grant(fake: FakeBotApi, admin: UserRef, moderator: UserRef) -> None:
    """``admin`` makes ``moderator`` a moderator (and confirms it)."""
    shown = await confirmed(fake, fake.private_chat(admin), admin, f"/grant {moderator.id}")
    assert "now a moderator" in shown["text"], shown["text"]
