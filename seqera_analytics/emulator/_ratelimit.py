"""The per-token rate limiter, shaped like the Platform's (API-NOTES §3).

The legacy Tower server used a resilience4j ``AtomicRateLimiter`` per authenticated
principal: ``limit`` permits per *fixed* cycle of ``period`` seconds (cycles counted from
the limiter's creation, i.e. the token's first request), and an optional wait of up to
``timeout`` (``TOWER_RATELIMIT_TIMEOUT``) for a permit of a coming cycle before rejecting.
A rejected request does not consume a permit. The HTTP layer answers a rejection with 429,
``Retry-After: <whole seconds to the next cycle, truncated>`` (so usually ``0``) and
``{"message": "Maximum request rate exceeded. Wait 0secs before issuing a new request"}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Decision", "FixedWindowRateLimiter"]


@dataclass(frozen=True)
class Decision:
    """Outcome of one permit request.

    Attributes
    ----------
    allowed : bool
        Whether the request may proceed.
    wait_s : float
        If allowed: how long to wait first (a permit reserved in a coming cycle) [s].
        If rejected: time until the next cycle starts [s].
    """

    allowed: bool
    wait_s: float

    @property
    def retry_after(self) -> int:
        """``Retry-After`` header value: whole seconds, truncated."""
        return int(self.wait_s)


class _State:
    __slots__ = ("cycle", "origin", "permits")

    def __init__(self, origin: float, limit: int) -> None:
        self.origin = origin
        self.cycle = 0
        self.permits = limit


class FixedWindowRateLimiter:
    """``limit`` permits per fixed ``period``-second cycle, per key (token).

    Parameters
    ----------
    limit : int
        Permits per cycle (20 on Seqera Cloud).
    period : float
        Cycle length [s].
    timeout : float
        Longest wait for a permit of a coming cycle before rejecting [s] (0: reject at once).
    clock : callable
        Monotonic clock [s]; injectable for tests.
    """

    def __init__(
        self,
        limit: int,
        period: float = 1.0,
        timeout: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if period <= 0:
            raise ValueError(f"period must be positive, got {period}")
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0, got {timeout}")
        self.limit = limit
        self.period = period
        self.timeout = timeout
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> Decision:
        """Ask for one permit for ``key`` (the caller sleeps ``wait_s`` if allowed with a wait)."""
        with self._lock:
            now = self._clock()
            st = self._states.get(key)
            if st is None:
                st = self._states[key] = _State(now, self.limit)
            cycle = int((now - st.origin) // self.period)
            if cycle > st.cycle:
                # New cycle(s): refill, never above the limit (reservations stay owed).
                st.permits = min(st.permits + (cycle - st.cycle) * self.limit, self.limit)
                st.cycle = cycle
            if st.permits > 0:
                st.permits -= 1
                return Decision(True, 0.0)
            next_start = st.origin + (cycle + 1) * self.period
            cycles_needed = (-st.permits) // self.limit  # full cycles already reserved
            wait = next_start - now + cycles_needed * self.period
            if wait <= self.timeout:
                st.permits -= 1  # reserve a permit of a coming cycle
                return Decision(True, wait)
            return Decision(False, next_start - now)

    def reset(self) -> None:
        """Forget every key's state."""
        with self._lock:
            self._states.clear()
