"""`hearing-watch run` as a real process, as an operator starts it: config file, environment,
its output collected line by line while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.fakebot import FakeBotApi

REPOSITORY = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nothing listens on now (the OS's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


LOG_KEY = "a-log-key-for-the-tests-processes-0123456789"


def write_config(
    folder: Path, *, base_url: str, database_url: str, port: int, extra: str = ""
) -> Path:
    """A config file as an operator writes one; the token comes from the environment."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f'[telegram]\nbase_url = "{base_url}"\n{extra}\n'
        f"[server]\nport = {port}\n"
        f'[database]\nurl = "{database_url}"\n',
        encoding="utf-8",
    )
    return path


class BotProcess:
    """One `hearing-watch run`; ``lines`` is everything it printed so far (stderr and stdout)."""

    def __init__(self, workdir: Path, port: int, *, token: str, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = port
        self.token = token
        self.env = env
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> BotProcess:
        # Only what the test means: none of the test process's HEARINGWATCH_* variables.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("HEARINGWATCH_")}
        env = {
            **inherited,
            "HEARINGWATCH_TELEGRAM__TOKEN": self.token,
            # As an operator sets it (else each start warns that it keys at random).
            "HEARINGWATCH_PRIVACY__LOG_KEY": LOG_KEY,
            "PYTHONPATH": str(REPOSITORY),
            **self.env,
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "service.cli", "run", cwd=self.workdir, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.process.stdout)),
            asyncio.create_task(self._read(self.process.stderr)),
        ]
        return self

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def wait_for_line(self, probe: Callable[[str], bool], seconds: float = 30) -> str:
        """The first line printed for which ``probe`` is true, waiting up to ``seconds``."""
        async with asyncio.timeout(seconds):
            while True:
                found = next((line for line in self.lines if probe(line)), None)
                if found is not None:
                    return found
                if self.process is not None and self.process.returncode is not None:
                    raise AssertionError(f"exited {self.process.returncode}:\n{self.output}")
                await asyncio.sleep(0.05)

    async def health(self) -> tuple[int, dict[str, object]] | None:
        """(status code, report) of /healthz, or None while nothing answers."""
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.get(f"http://127.0.0.1:{self.port}/healthz")
        except httpx.TransportError:
            return None
        return response.status_code, response.json()

    async def wait_for_role(self, role: str, seconds: float = 30) -> None:
        async with asyncio.timeout(seconds):
            while True:
                answer = await self.health()
                if answer is not None and answer[1].get("role") == role:
                    return
                if self.process is not None and self.process.returncode is not None:
                    raise AssertionError(f"exited {self.process.returncode}:\n{self.output}")
                await asyncio.sleep(0.1)

    async def stop(self, signum: int = signal.SIGTERM, seconds: float = 30) -> int:
        """Send ``signum`` and wait for the process to end; its exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)
        async with asyncio.timeout(seconds):
            code = await self.process.wait()
            await asyncio.gather(*self._readers)
        return code

    async def exited(self, seconds: float = 30) -> int:
        """Wait for the process to end by itself; its exit code."""
        assert self.process is not None
        async with asyncio.timeout(seconds):
            code = await self.process.wait()
            await asyncio.gather(*self._readers)
        return code


async def start_bot_process(
    folder: Path,
    fake: FakeBotApi,
    database_url: str,
    *,
    base_url: str | None = None,
    token: str | None = None,
    extra_config: str = "",
    env: dict[str, str] | None = None,
) -> BotProcess:
    """Write a config in ``folder`` and start `hearing-watch run` there on a free port."""
    port = free_port()
    write_config(
        folder,
        base_url=base_url or fake.base_url,
        database_url=database_url,
        port=port,
        extra=extra_config,
    )
    return await BotProcess(folder, port, token=token or fake.token, env=env or {}).start()
