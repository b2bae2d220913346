"""Even request pacing per access token.

The Platform's limiter (resilience4j ``AtomicRateLimiter``, API-NOTES §3) hands out 20
permits per fixed one-second cycle. A token bucket with a burst of 20 can put up to 40
requests into one cycle (a full bucket plus its refill) and earn 429s; requests spaced
evenly at a little under the limit cannot. So each token gets a *pacer*: every request
reserves the next free time slot, ``1/rate`` seconds after the previous one.

Slots are reserved ahead, so a stalled event loop (GC, a big frame build, a busy thread)
can wake several waiters late and send them together. A sliding one-second window over the
actual send times guards against that: no more than ``floor(rate)`` requests leave in any
second, whatever the stalls.

Pacers live in a process-wide registry keyed by a fingerprint of the token and the
endpoint, so every client, event loop and thread using one token shares one budget (the
server counts per token, not per client); clients asking for different rates get the lowest.
Reserving a slot is arithmetic under a ``threading.Lock``, which is why this is not
``aiolimiter``: its limiters belong to one event loop, and the sync facade and a notebook's
own loop are two.

A 429 means the real budget is smaller than ours (an Enterprise install with a lower
``TOWER_RATELIMIT_PERIOD``, another program on the same token): the pacer then slows down
multiplicatively and creeps back up with successful requests (AIMD), so a sustained lower
limit costs a few 429s, not a failed sync.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections import deque

__all__ = ["Pacer", "pacer_for"]


class Pacer:
    """Evenly spaced request slots at ``rate`` per second.

    Parameters
    ----------
    rate : float
        Requests per second [1/s].
    """

    #: Slow-down factor per 429 (at most once per second: one exhausted cycle often answers
    #: several requests with 429), the floor as a share of the ceiling, and the recovery step
    #: [req/s] per successful request (from half speed back to full in ~100 requests).
    DECREASE, FLOOR, INCREASE = 0.8, 0.05, 0.1

    def __init__(self, rate: float) -> None:
        self.max_rate = float(rate)
        self._lock = threading.Lock()
        self._set_rate(self.max_rate)
        self._next = 0.0
        self._last_penalty = -math.inf
        self._sent: deque[float] = deque()
        self._monotonic = time.monotonic

    def _set_rate(self, rate: float) -> None:
        self.rate = max(min(rate, self.max_rate), self.max_rate * self.FLOOR, 0.2)
        self.interval = 1.0 / self.rate
        self.window = max(1, math.floor(self.rate))

    def limit(self, rate: float) -> None:
        """Lower the ceiling to ``rate`` (another client on this token asked for less)."""
        with self._lock:
            if rate < self.max_rate:
                self.max_rate = float(rate)
                self._set_rate(self.rate)

    def penalize(self) -> None:
        """After a 429: slow down (once per second at most)."""
        with self._lock:
            now = self._monotonic()
            if now - self._last_penalty >= 1.0:
                self._last_penalty = now
                self._set_rate(self.rate * self.DECREASE)

    def reward(self) -> None:
        """After a success: creep back towards the ceiling."""
        if self.rate < self.max_rate:
            with self._lock:
                self._set_rate(self.rate + self.INCREASE)

    def reserve(self) -> float:
        """Reserve the next slot; returns how long to wait for it [s]."""
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now

    def hold(self, seconds: float) -> None:
        """Let no request start for ``seconds`` from now (after a 429: the budget is spent)."""
        with self._lock:
            self._next = max(self._next, self._monotonic() + seconds)

    def _admit(self) -> float:
        """Record a send now if the last second has room; else how long until it has [s]."""
        with self._lock:
            now = self._monotonic()
            while self._sent and now - self._sent[0] >= 1.0:
                self._sent.popleft()
            if len(self._sent) < self.window:
                self._sent.append(now)
                return 0.0
            return 1.0 - (now - self._sent[0])

    async def acquire(self) -> None:
        """Wait for the next slot (and for room in the sliding second)."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
        while (wait := self._admit()) > 0:
            await asyncio.sleep(wait)


_REGISTRY: dict[tuple[str, str], Pacer] = {}
_REGISTRY_LOCK = threading.Lock()


def pacer_for(token_fingerprint: str, endpoint: str, rate: float) -> Pacer:
    """The shared pacer of one token at one endpoint (at the lowest rate any client asked)."""
    key = (token_fingerprint, endpoint)
    with _REGISTRY_LOCK:
        pacer = _REGISTRY.get(key)
        if pacer is None:
            pacer = _REGISTRY[key] = Pacer(rate)
        else:
            pacer.limit(rate)
        return pacer


def jitter(low: float = 0.75, high: float = 1.0) -> float:
    """A random factor in [low, high) that de-synchronises retries."""
    return random.uniform(low, high)
