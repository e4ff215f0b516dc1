"""Quotas: fixed-window counters, in-process or shared through Redis."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

MINUTE = 60
DAY = 86_400


@dataclass(frozen=True, slots=True)
class Check:
    """Consume `amount` from counter `name`, which allows `limit` per `window` seconds."""

    name: str
    amount: int
    limit: int
    window: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    failed: str | None = None
    retry_after: int = 0


class Limiter(Protocol):
    async def consume(self, checks: list[Check]) -> Decision: ...

    async def add(self, checks: list[Check]) -> None: ...

    async def refund(self, checks: list[Check], since: float) -> None: ...

    async def close(self) -> None: ...


def _window(now: float, window: int) -> int:
    return int(now // window)


class LocalLimiter:
    """Counters in this process: all-or-nothing per request, so a refused request costs nothing.

    Every call runs on the event loop thread and never awaits in between, so a
    check-and-consume is atomic without a lock; each request costs a couple of
    dict operations per counter (O(1)). Expired windows are swept every few seconds.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}
        self._last_sweep = 0.0

    def consume_now(self, checks: list[Check]) -> Decision:
        now = time.time()
        if now - self._last_sweep >= 5:
            self._sweep(now)
        counts = self._counts
        keys = [(c.name, c.window, int(now // c.window)) for c in checks]
        for c, k in zip(checks, keys, strict=True):
            if counts.get(k, 0) + c.amount > c.limit:
                return Decision(False, c.name, int(c.window - now % c.window) + 1)
        for c, k in zip(checks, keys, strict=True):
            counts[k] = counts.get(k, 0) + c.amount
        return Decision(True)

    async def consume(self, checks: list[Check]) -> Decision:
        return self.consume_now(checks)

    async def add(self, checks: list[Check]) -> None:
        now = time.time()
        counts = self._counts
        for c in checks:
            k = (c.name, c.window, int(now // c.window))
            counts[k] = counts.get(k, 0) + c.amount

    async def refund(self, checks: list[Check], since: float) -> None:
        """Give back `amount` to each counter's window of time `since`, if it is still current; never below 0."""
        now = time.time()
        counts = self._counts
        for c in checks:
            if _window(since, c.window) != _window(now, c.window):
                continue
            k = (c.name, c.window, _window(now, c.window))
            left = counts.get(k, 0) - c.amount
            if left > 0:
                counts[k] = left
            else:
                counts.pop(k, None)

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        for k in [k for k in self._counts if k[2] < _window(now, k[1])]:
            del self._counts[k]

    async def close(self) -> None:
        return None


# All-or-nothing across several counters, atomically inside Redis.
_LUA = """
local n = #KEYS
for i = 1, n do
  local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
  if cur + tonumber(ARGV[3*i-2]) > tonumber(ARGV[3*i-1]) then
    return i
  end
end
for i = 1, n do
  local v = redis.call('INCRBY', KEYS[i], ARGV[3*i-2])
  if v == tonumber(ARGV[3*i-2]) then redis.call('EXPIRE', KEYS[i], ARGV[3*i]) end
end
return 0
"""


# A refund: give back at most what the counter holds, only where the key exists.
_REFUND_LUA = """
for i = 1, #KEYS do
  local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
  if cur > 0 then
    redis.call('DECRBY', KEYS[i], math.min(cur, tonumber(ARGV[i])))
  end
end
return 0
"""


class RedisLimiter:
    """Counters shared by every replica through Redis (one Lua call per request)."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._script = self._redis.register_script(_LUA)
        self._refund = self._redis.register_script(_REFUND_LUA)

    def _keys(self, checks: list[Check], now: float) -> list[str]:
        return [f"{self._prefix}:{c.name}:{c.window}:{_window(now, c.window)}" for c in checks]

    async def consume(self, checks: list[Check]) -> Decision:
        if not checks:
            return Decision(True)
        now = time.time()
        args: list[int] = []
        for c in checks:
            args += [c.amount, c.limit, c.window + 5]
        failed = int(await self._script(keys=self._keys(checks, now), args=args))
        if failed:
            c = checks[failed - 1]
            return Decision(False, c.name, int(c.window - now % c.window) + 1)
        return Decision(True)

    async def add(self, checks: list[Check]) -> None:
        if not checks:
            return
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for key, c in zip(self._keys(checks, now), checks, strict=True):
            pipe.incrby(key, c.amount)
            pipe.expire(key, c.window + 5)
        await pipe.execute()

    async def refund(self, checks: list[Check], since: float) -> None:
        """Give back to the windows of time `since` (their keys name them, so a later window is untouched)."""
        if not checks:
            return
        await self._refund(keys=self._keys(checks, since), args=[c.amount for c in checks])

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


def make_limiter(redis_url: str | None, prefix: str) -> LocalLimiter | RedisLimiter:
    return RedisLimiter(redis_url, prefix) if redis_url else LocalLimiter()
