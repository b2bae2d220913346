"""Even request pacing per access token.

The Platform's limiter (resilience4j ``AtomicRateLimiter``, API-NOTES §3) hands out 20
permits per fixed one-second cycle. A token bucket with a burst of 20 can put up to 40
requests into one cycle (a full bucket plus its refill) and earn 429s; requests spaced
evenly at a little under the limit cannot. So each token gets a *pacer*: every request
reserves the next free time slot, ``1/rate`` seconds after the previous one.

Pacers live in a process-wide registry keyed by a fingerprint of the token and the
endpoint, so every client, event loop and thread using one token shares one budget (the
server counts per token, not per client). Reserving a slot is arithmetic under a
``threading.Lock``, which is why this is not ``aiolimiter``: its limiters belong to one
event loop, and the sync facade and a notebook's own loop are two.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time

__all__ = ["Pacer", "pacer_for"]


class Pacer:
    """Evenly spaced request slots at ``rate`` per second.

    Parameters
    ----------
    rate : float
        Requests per second [1/s].
    """

    def __init__(self, rate: float) -> None:
        self.rate = float(rate)
        self.interval = 1.0 / self.rate
        self._next = 0.0
        self._lock = threading.Lock()
        self._monotonic = time.monotonic

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

    async def acquire(self) -> None:
        """Wait for the next slot."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


_REGISTRY: dict[tuple[str, str, float], Pacer] = {}
_REGISTRY_LOCK = threading.Lock()


def pacer_for(token_fingerprint: str, endpoint: str, rate: float) -> Pacer:
    """The shared pacer of one token at one endpoint and rate."""
    key = (token_fingerprint, endpoint, float(rate))
    with _REGISTRY_LOCK:
        pacer = _REGISTRY.get(key)
        if pacer is None:
            pacer = _REGISTRY[key] = Pacer(rate)
        return pacer


def jitter(low: float = 0.75, high: float = 1.0) -> float:
    """A random factor in [low, high) that de-synchronises retries."""
    return random.uniform(low, high)
