"""`hearing-watch run` as an operator starts it: a real process against the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.fakebot import FakeBotApi, UserRef

ALICE = UserRef(2001)
REPOSITORY = Path(__file__).resolve().parents[1]


async def run_bot(
    fake: FakeBotApi, workdir: Path, env: dict[str, str]
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "run",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop(process: asyncio.subprocess.Process) -> str:
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(20):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode() + err.decode()


async def test_run_serves_keeps_subscriptions_and_never_prints_the_token(
    fake: FakeBotApi, tmp_path: Path, database_url: str
) -> None:
    """The token comes from the environment, as the README says; nothing prints it."""
    (tmp_path / "config.toml").write_text(
        f'[telegram]\nbase_url = "{fake.base_url}"\n[server]\nport = 0\n'
        f'[database]\nurl = "{database_url}"\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "HEARINGWATCH_TELEGRAM__TOKEN": fake.token,
        "PYTHONPATH": str(REPOSITORY),
    }
    chat = fake.private_chat(ALICE)

    process = await run_bot(fake, tmp_path, env)
    try:
        reply = await fake.say(chat, ALICE, "/subscribe tabarak", seconds=30)
        assert "now follows" in reply["text"]
        # A failing call logs its error; the token must not be in it either.
        await fake.say(chat, ALICE, "/case <unknown>")
    finally:
        output = await stop(process)

    process = await run_bot(fake, tmp_path, env)
    try:
        reply = await fake.say(chat, ALICE, "/mysubs", seconds=30)
        assert "tabarak" in reply["text"]
    finally:
        output += await stop(process)

    assert "starting" in output
    assert fake.token not in output
    assert fake.token.split(":")[1] not in output
