"""uvicorn's server with a quiet housekeeping tick.

uvicorn wakes ten times a second to refresh its Date header and look for an exit request;
on an idle network of eight processes that alone costs more than the whole idle budget.
Here the tick runs once a second, and an exit request wakes the loop at once.
(tessera_like has the same class: the two packages share no code by design.)
"""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

TICK_S = 1.0


class QuietServer(uvicorn.Server):
    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    @property  # type: ignore[override]
    def should_exit(self) -> bool:
        return bool(self.__dict__.get("_should_exit", False))

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self.__dict__["_should_exit"] = value
        if value and self._loop is not None and self._wake is not None:
            # A second request (a second SIGTERM, a stop after the server ended) finds the loop
            # closed: there is nothing left to wake, and raising would break the caller's cleanup.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # a multiple of 10: every tick refreshes the Date header
            try:
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            except TimeoutError:
                pass
            should_exit = await self.on_tick(counter)


__all__ = ["QuietServer"]
