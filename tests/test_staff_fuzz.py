"""Arbitrary text at every staff command of the running bot: no handler fails, and a refused
command changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.context import HearingWatchApp
from bot.texts import APOLOGY
from tests.conftest import ADMIN_ID
from tests.fakebot import FakeBotApi, UserRef
from tests.snapshot import snapshot
from tests.test_parsing import TEXT

ADMIN = UserRef(ADMIN_ID)
COMMANDS = [
    "addcase", "editcase", "closecase", "addhearing", "edithearing", "postpone",
    "cancelhearing", "hearings", "staff", "grant", "revoke", "audit",
    "outcome", "update", "broadcasts",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=TEXT.filter(lambda t: t.strip() != ""), arbitrary=st.booleans())
async def test_arbitrary_arguments(
    bot: HearingWatchApp, fake: FakeBotApi, command: str, text: str, arbitrary: bool
) -> None:
    admin = fake.private_chat(ADMIN)
    # Telegram delivers no NUL and no lone surrogates; anything else may come.
    text = text.replace("\x00", "").encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    before = await snapshot(bot.bot_data.database)
    reply = await fake.say(admin, ADMIN, f"/{command} {text}")
    assert reply["text"] != APOLOGY
    if reply["text"].startswith("⚠️"):
        assert await snapshot(bot.bot_data.database) == before
