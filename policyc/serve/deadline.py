"""A time limit on receiving a request's body, for clients that send it slowly or never.

uvicorn limits the time between requests (keep-alive), not the time a request's body
takes: a client that sends its headers and then trickles or withholds the body holds a
connection and a handler forever. An `asyncio.timeout` per request costs 3-4 µs (a timer
handle made and cancelled), several per cent of a `/v1/check`; instead each body read
registers its task and start time in a dict (~0.2 µs), and one sweeper task cancels the
reads that have waited too long. The read turns that cancellation into a 408 answer.
"""

from __future__ import annotations

import asyncio
import time


class BodyDeadlines:
    """Body reads in progress and the sweeper that ends the ones past `seconds`."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._reading: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._loop_time = time.monotonic  # the loop's clock once `start` ran

    def start(self) -> None:
        """Start the sweeper on the running loop (the app's lifespan)."""
        loop = asyncio.get_running_loop()
        self._loop_time = loop.time
        self._sweeper = loop.create_task(self._sweep())

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def begin(self) -> asyncio.Task[object] | None:
        """A body read starts in the current task (its handle for `end` and `ended`)."""
        task = asyncio.current_task()
        if task is not None and self._sweeper is not None:
            self._reading[task] = self._loop_time()
        return task

    def end(self, task: asyncio.Task[object] | None) -> None:
        if task is not None:
            self._reading.pop(task, None)
            self._expired.discard(task)

    def ended(self, task: asyncio.Task[object] | None) -> bool:
        """After a `CancelledError` in the read: was it the sweeper's? (then the task is
        uncancelled, so the handler can answer 408; otherwise the error goes on)."""
        if task is None or task not in self._expired:
            return False
        task.uncancel()
        return True

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        period = min(1.0, self.seconds / 4)
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            for task, started in list(self._reading.items()):
                if now - started > self.seconds and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()


__all__ = ["BodyDeadlines"]
