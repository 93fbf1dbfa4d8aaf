"""Rate limits of one generator: token buckets for the configured requests/tokens per minute, a shared pause after a
429 with Retry-After, and the provider's own advertised limits (`ProviderLimits`, from its rate-limit headers)."""

from __future__ import annotations

import asyncio
import math
import re
import time
from datetime import UTC, datetime
from typing import Any


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


# --- the providers' rate-limit headers ------------------------------------------------------------------

# dimension -> (limit, remaining, reset) header names. OpenAI resets are durations ("1s", "6m0s", "20ms"),
# Anthropic's RFC 3339 times. A dimension's need per request: requests 1, tokens prompt + max_tokens (both
# providers count max_tokens against the limit when the request arrives), input-tokens the prompt,
# output-tokens max_tokens.
OPENAI_RATE_LIMIT_HEADERS: dict[str, tuple[str, str, str]] = {
    dim: (f"x-ratelimit-limit-{dim}", f"x-ratelimit-remaining-{dim}", f"x-ratelimit-reset-{dim}")
    for dim in ("requests", "tokens")
}
ANTHROPIC_RATE_LIMIT_HEADERS: dict[str, tuple[str, str, str]] = {
    dim: tuple(f"anthropic-ratelimit-{dim}-{part}" for part in ("limit", "remaining", "reset"))  # type: ignore[misc]
    for dim in ("requests", "tokens", "input-tokens", "output-tokens")
}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3}


def reset_seconds(value: str | None) -> float | None:
    """Seconds until a rate-limit window resets: a Go-style duration ("1s", "6m0s", "20ms", "1h2m3.5s"), an RFC
    3339 time ("2026-01-01T00:00:05Z") or plain seconds; None when it cannot be read."""
    if not value:
        return None
    value = value.strip()
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * _UNIT_S[u] for n, u in parts)
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class _Window:
    """What the provider last said about one dimension, less what was sent since."""

    __slots__ = ("limit", "remaining", "reset_at")

    def __init__(self) -> None:
        self.limit: float | None = None
        self.remaining: float | None = None  # None: unknown, nothing to wait for
        self.reset_at = math.inf  # monotonic time the window refills; inf: not told


class ProviderLimits:
    """The provider's advertised limits for one API key, shared by every request of a backend.

    The backend calls `observe(headers)` on each response (errors included); the engine brackets each request with
    `reserve(needs)` / `release(needs)`. When what remains of a window is less than a request needs, the request
    waits until the window resets instead of collecting 429s; until the first response has said what the limits are
    (or that there are none), one request goes at a time, so a quota smaller than `max_concurrency` is not overrun
    by the first burst. Counts are conservative: requests in flight that the provider had not yet seen when it
    answered are subtracted from what it said remains.
    """

    def __init__(self, headers: dict[str, tuple[str, str, str]]):
        self.headers = headers
        self.windows: dict[str, _Window] = {}
        self.learned = False  # a response has been seen (with or without rate-limit headers)
        self.waits = 0  # how often a request waited for a window to reset
        self.waited_s = 0.0
        self._in_flight: dict[str, float] = {}
        self._count = 0
        self._probe: asyncio.Lock | None = None
        self._changed: asyncio.Event | None = None

    # -- what the engine calls --------------------------------------------------------------------------

    async def reserve(self, needs: dict[str, float]) -> bool:
        """Wait until every window has room for `needs`, then take it. Returns whether this request is the probe
        that holds the others back until a first answer (pass it to `release`)."""
        probe = False
        if not self.learned:
            if self._probe is None:
                self._probe = asyncio.Lock()
            await self._probe.acquire()
            if self.learned:
                self._probe.release()
            else:
                probe = True
        try:
            while True:
                delay = self._delay(needs)
                if delay <= 0.0:
                    break
                self.waits += 1
                started = time.monotonic()
                if math.isinf(delay):
                    # No room and no reset time: wait for an answer to say more.
                    if self._changed is None:
                        self._changed = asyncio.Event()
                    await self._changed.wait()
                else:
                    await asyncio.sleep(delay)
                self.waited_s += time.monotonic() - started
        except BaseException:  # cancelled while waiting: let the next request probe
            if probe and self._probe is not None and self._probe.locked():
                self._probe.release()
            raise
        for dim, window in self.windows.items():
            if window.remaining is not None and dim in needs:
                window.remaining -= needs[dim]
        for dim, need in needs.items():
            self._in_flight[dim] = self._in_flight.get(dim, 0.0) + need
        self._count += 1
        return probe

    def release(self, needs: dict[str, float], probe: bool = False) -> None:
        """The request is over (answered, failed or cancelled)."""
        for dim, need in needs.items():
            self._in_flight[dim] = max(0.0, self._in_flight.get(dim, 0.0) - need)
        self._count = max(0, self._count - 1)
        if probe and self._probe is not None and self._probe.locked():
            self._probe.release()
        self._signal()

    # -- what the backend calls ------------------------------------------------------------------------

    def observe(self, headers: Any) -> None:
        """Read a response's rate-limit headers (a mapping with `.get`)."""
        self.learned = True
        if headers is not None:
            now = time.monotonic()
            share = 1.0 / self._count if self._count else 0.0
            for dim, (limit_name, remaining_name, reset_name) in self.headers.items():
                remaining = _number(headers.get(remaining_name))
                if remaining is None:
                    continue
                window = self.windows.get(dim)
                if window is None:
                    window = self.windows[dim] = _Window()
                window.limit = _number(headers.get(limit_name))
                # The provider did not count the requests still in flight besides this one (its share).
                others = self._in_flight.get(dim, 0.0) * (1.0 - share)
                window.remaining = remaining - others
                reset = reset_seconds(headers.get(reset_name))
                window.reset_at = now + reset if reset is not None else math.inf
        self._signal()

    # -- internals ----------------------------------------------------------------------------------------

    def _delay(self, needs: dict[str, float]) -> float:
        """0 when every window has room for `needs`; else how long until the last one resets (inf: unknown)."""
        now = time.monotonic()
        delay = 0.0
        for dim, window in self.windows.items():
            need = needs.get(dim)
            if not need or window.remaining is None:
                continue
            if now >= window.reset_at:  # refilled
                window.remaining = window.limit
                window.reset_at = math.inf
                if window.remaining is None:
                    continue
            # A request bigger than the whole window waits for a full one rather than forever.
            needed = min(need, window.limit) if window.limit else need
            if window.remaining >= needed:
                continue
            if math.isinf(window.reset_at) and self._count == 0:
                continue  # nothing in flight could tell us more: try, and let a 429 say when
            delay = max(delay, window.reset_at - now)
        return delay

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


class RateLimiter:
    """Requests/min and tokens/min limits of one generator, a pause shared by all its requests, and the provider's
    advertised limits when the backend reads them (`provider`, shared by every engine using that backend)."""

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        provider: ProviderLimits | None = None,
    ):
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None
        self.provider = provider
        self.paused_until = 0.0

    async def acquire(self, estimated_tokens: int, prompt_tokens: int = 0) -> Any:
        """Wait for every limit; returns a ticket to hand to `release` when the request is over."""
        # A 429 with Retry-After means the server wants everyone to wait, not just the unlucky request.
        delay = self.paused_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            await self.tokens.acquire(estimated_tokens)
        if self.provider is None:
            return None
        needs = {
            "requests": 1.0,
            "tokens": float(estimated_tokens),
            "input-tokens": float(prompt_tokens),
            "output-tokens": float(max(estimated_tokens - prompt_tokens, 0)),
        }
        return needs, await self.provider.reserve(needs)

    def release(self, ticket: Any) -> None:
        if ticket is not None and self.provider is not None:
            needs, probe = ticket
            self.provider.release(needs, probe)

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        if self.tokens is not None and actual_tokens < estimated_tokens:
            self.tokens.refund(estimated_tokens - actual_tokens)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
