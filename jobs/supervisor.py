"""Background work that nobody can lose track of.

Each worker is a coroutine function run by the supervisor as a named task. One that ends
unexpectedly (an exception, or returning when it should run forever) is logged with its
traceback and started again after a pause; each beats a heartbeat so that health can tell a
worker that is alive from one that is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from jobs.outage import Backoff

logger = logging.getLogger(__name__)

WorkerFn = Callable[["Worker"], Awaitable[None]]
# A worker that fails at once, again and again, waits longer each time before it starts again.
RESTARTS = Backoff(first=0.5, cap=5.0)
# While a worker is being stopped, how often to look whether it swallowed its cancellation.
LOST_CANCEL_CHECK = 1.0


@dataclass
class Worker:
    """One supervised piece of background work."""

    name: str
    run: WorkerFn
    # A worker that beats no heartbeat for this long is reported as stalled; None: never.
    stall_after: float | None
    clock: Callable[[], float] = time.monotonic
    task: asyncio.Task[None] | None = None
    started_at: float = 0.0
    last_beat: float = 0.0
    restarts: int = 0
    beats: int = 0

    def beat(self) -> None:
        """The worker is making progress (or idly waiting, which is progress too)."""
        self.last_beat = self.clock()
        self.beats += 1

    def stalled(self, now: float) -> bool:
        return self.stall_after is not None and now - self.last_beat > self.stall_after


class Supervisor:
    """Starts, watches and restarts workers; stops them all on request."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, restarts: Backoff = RESTARTS
    ) -> None:
        self._clock = clock
        self._restarts = restarts
        self._workers: dict[str, Worker] = {}
        self._stopping: set[str] = set()

    def start(self, name: str, run: WorkerFn, *, stall_after: float | None = 60.0) -> Worker:
        """Run ``run(worker)`` as a supervised task named ``name`` (which must not be running)."""
        existing = self._workers.get(name)
        if existing is not None and existing.task is not None and not existing.task.done():
            raise RuntimeError(f"worker {name} is running already")
        worker = Worker(name, run, stall_after, self._clock)
        self._workers[name] = worker
        self._stopping.discard(name)
        worker.task = asyncio.create_task(self._keep_running(worker), name=name)
        return worker

    async def _keep_running(self, worker: Worker) -> None:
        failures = 0
        while True:
            worker.started_at = worker.last_beat = self._clock()
            try:
                await worker.run(worker)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker %s failed; restarting it", worker.name)
            else:
                if worker.name in self._stopping:
                    return
                logger.error("worker %s ended unexpectedly; restarting it", worker.name)
            # A worker that ran a while before failing starts again quickly; one that fails at
            # once, again and again, waits longer each time.
            failures = 1 if self._clock() - worker.started_at > 60 else failures + 1
            worker.restarts += 1
            await asyncio.sleep(self._restarts.delay(failures))

    async def stop(self, name: str, grace: float | None = None) -> None:
        """Cancel a worker and wait for it (its own clean-up included, for at most ``grace``
        seconds) to end."""
        worker = self._workers.pop(name, None)
        if worker is None or worker.task is None:
            return
        self._stopping.add(name)
        task = worker.task
        task.cancel()
        beats = worker.beats
        deadline = None if grace is None else asyncio.get_running_loop().time() + grace
        while not task.done():
            left = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if left is not None and left <= 0:  # its clean-up overran the timeout
                task.cancel()
                break
            await asyncio.wait(
                {task}, timeout=LOST_CANCEL_CHECK if left is None else min(left, LOST_CANCEL_CHECK)
            )
            if not task.done() and worker.beats != beats:
                # It beat again after it was cancelled: its work went on, so something it
                # awaited swallowed the cancellation (Python 3.11's wait_for can). Once more.
                logger.warning(
                    "worker %s went on after it was cancelled; cancelling it again", name
                )
                beats = worker.beats
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def stop_all(self) -> None:
        for name in list(self._workers):
            await self.stop(name)

    def running(self, name: str) -> bool:
        worker = self._workers.get(name)
        return worker is not None and worker.task is not None and not worker.task.done()

    def problems(self) -> list[str]:
        """Workers that are dead or stalled, as lines for the health report."""
        now = self._clock()
        found = []
        for worker in self._workers.values():
            if worker.task is None or worker.task.done():
                found.append(f"worker {worker.name} is not running")
            elif worker.stalled(now):
                found.append(
                    f"worker {worker.name} has made no progress for {now - worker.last_beat:.0f} s"
                )
        return found

    def workers(self) -> list[Worker]:
        return list(self._workers.values())
