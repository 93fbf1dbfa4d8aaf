"""Token buckets for requests/min and tokens/min, plus a shared pause after a 429 with Retry-After."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Token bucket refilling at `rate_per_minute`, holding at most `burst_s` seconds' worth.

    A short burst window paces requests evenly instead of firing a minute's quota at once and then
    stalling (which trips providers' own per-second limits). `acquire(n)` waits until n units are
    available; an amount larger than the capacity waits for a full bucket and drives it negative, so
    one huge request cannot deadlock.
    """

    def __init__(self, rate_per_minute: float, burst_s: float = 1.0):
        self.rate_per_s = rate_per_minute / 60.0
        self.capacity = max(1.0, self.rate_per_s * burst_s)
        self.level = self.capacity
        self.updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate_per_s)
        self.updated = now

    async def acquire(self, amount: float = 1.0) -> None:
        while True:
            self._refill()
            needed = min(amount, self.capacity)
            if self.level >= needed:
                self.level -= amount
                return
            await asyncio.sleep((needed - self.level) / self.rate_per_s)

    def refund(self, amount: float) -> None:
        """Give back an over-estimate once the real usage is known."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests/min and tokens/min limits of one generator, and a pause shared by all its requests."""

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None):
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None
        self.paused_until = 0.0

    async def acquire(self, estimated_tokens: int) -> None:
        # A 429 with Retry-After means the server wants everyone to wait, not just the unlucky request.
        delay = self.paused_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            await self.tokens.acquire(estimated_tokens)

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        if self.tokens is not None and actual_tokens < estimated_tokens:
            self.tokens.refund(estimated_tokens - actual_tokens)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
