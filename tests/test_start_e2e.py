"""Starting as an operator does: the Bot API unreachable for a while, a refused token."""

from __future__ import annotations

from pathlib import Path

from tests.fakebot import FakeBotApi, UserRef
from tests.processes import start_bot_process
from tests.tcpproxy import TcpProxy

ALICE = UserRef(5101)


async def test_the_bot_waits_for_an_unreachable_bot_api_then_starts(
    fake: FakeBotApi, tmp_path: Path, database_url: str
) -> None:
    async with TcpProxy("127.0.0.1", fake.port) as proxy:
        await proxy.cut()  # Telegram cannot be reached (yet)
        bot = await start_bot_process(
            tmp_path, fake, database_url, base_url=f"http://127.0.0.1:{proxy.port}/bot"
        )
        try:
            for attempt in (1, 2):
                await bot.wait_for_line(lambda line, n=attempt: f"(attempt {n}:" in line)
            health = await bot.health()
            assert health is not None
            assert health[0] == 503  # not yet serving
            await proxy.restore()
            await bot.wait_for_role("active")
            chat = fake.private_chat(ALICE)
            reply = await fake.say(chat, ALICE, "/start", seconds=30)
            assert "Hearing Watch" in reply["text"]
        finally:
            assert await bot.stop() == 0
    waiting = [line for line in bot.lines if "cannot reach the Bot API" in line]
    assert len(waiting) >= 2
    assert "Traceback" not in bot.output  # one line per attempt, nothing more
    assert fake.token not in bot.output


async def test_a_refused_token_stops_at_once_with_one_line(
    fake: FakeBotApi, tmp_path: Path, database_url: str
) -> None:
    bot = await start_bot_process(tmp_path, fake, database_url, token="999:not-the-bots-token")
    assert await bot.exited(seconds=30) == 1
    errors = [line for line in bot.lines if line.startswith("hearing-watch:")]
    assert errors == ["hearing-watch: Telegram refused the token: check telegram.token"]
    assert "Traceback" not in bot.output
    assert "not-the-bots-token" not in bot.output
