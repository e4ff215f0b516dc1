"""Admission control: a bounded number of requests in the guarded stage, a bounded queue, the rest refused.

Without it an overloaded gateway accepted everything and every request got slower:
guard time budgets then ran out in queues rather than in guards, so fail-open guards
(injection) let prompts through unchecked and fail-closed ones (PII) refused benign
requests. With it, at most `limit` requests run their CPU-heavy stage (validation,
input guards, limits) at once, at most `queue` wait for a slot (first come, first
served, each for at most `wait_s`), and any further request is refused at once with
503 and `Retry-After`: latency stays bounded and the work admitted gets the CPU it
needs. Slow bodies are read before a slot is taken, so slow clients cannot hold them;
the upstream call runs after the slot is given back, so a slow model does not either.

Everything here runs on the event loop thread and never awaits between a check and
its update, so no lock is needed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress


class Overloaded(Exception):
    """No slot now and none within the wait; `reason` says which (value-free, for the audit record)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Admission:
    """`limit` slots and a FIFO queue of at most `queue` waiters, each waiting at most `wait_s`."""

    def __init__(self, limit: int, queue: int, wait_s: float) -> None:
        self.limit = limit
        self.queue = queue
        self.wait_s = wait_s
        self.active = 0
        self.refused = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def busy(self) -> bool:
        """Every slot taken: the guard chain reads this to tell a starved guard from a slow one."""
        return self.active >= self.limit

    def full(self) -> bool:
        """No slot and no place in the queue: a request would be refused, so refuse it before any work.

        Checked first thing on the proxied routes, so a shed request costs no authentication,
        body parsing or JSON decoding: under overload those made refusing nearly as
        expensive as serving, and the event loop itself became the queue.
        """
        return self.active >= self.limit and len(self._waiters) >= self.queue

    async def acquire(self) -> None:
        """Take a slot, queueing if allowed; `Overloaded` at once when the queue is full, or after `wait_s`."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return
        if len(self._waiters) >= self.queue:
            self.refused += 1
            raise Overloaded("queue_full")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.wait_s)
        except TimeoutError:
            if fut.done() and not fut.cancelled():  # the slot arrived as the wait ended: pass it on
                self.release()
            else:
                fut.cancel()
                self._discard(fut)
            self.refused += 1
            raise Overloaded("queue_timeout") from None
        except asyncio.CancelledError:  # the client went away while queued
            if fut.done() and not fut.cancelled():
                self.release()
            else:
                fut.cancel()
                self._discard(fut)
            raise

    def release(self) -> None:
        """Give a slot back: straight to the oldest live waiter, else to the pool."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot changes hands; `active` stays the same
                return
        self.active -= 1

    def _discard(self, fut: asyncio.Future[None]) -> None:
        with suppress(ValueError):
            self._waiters.remove(fut)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()
