"""Fault injection settings for the emulator (off by default).

Faults apply to every endpoint (a load balancer or a flaky network does not pick routes),
before authentication and rate limiting, in this order of precedence for one request:
dropped connection, HTML 5xx, 429 burst; a truncated body is decided on the way out and
only hits 200 JSON responses. ``new_runs_per_list_page`` acts inside ``GET /workflow``.

Two faults are aimed rather than random, so that a test can make one thing happen at one
point without a timer: ``down_after_requests`` (the server goes away after exactly N
requests) and :meth:`Faults.fail_run_tasks` (one run's ``/tasks`` fails N times).

Decisions are drawn from a ``random.Random(seed)`` owned by the ``Faults`` object, a fixed
number of draws per request, so a given sequence of requests meets the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Faults"]

_RATES = ("error_rate", "drop_rate", "truncate_rate", "burst_429_rate")

_HTML = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def html_error_body(status: int) -> bytes:
    """A load balancer's HTML error page (what an ALB/nginx in front of the API sends)."""
    reason = _HTML.get(status, "Error")
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()


@dataclass
class _Draw:
    drop: bool = False
    down: bool = False
    error: int | None = None
    burst: bool = False
    truncate_at: float | None = None  # fraction of the body kept


@dataclass
class Faults:
    """Which faults an :class:`~seqera_analytics.emulator.Emulator` injects.

    Every rate is the share of requests affected, in [0, 1]. Attributes may be changed on a
    running emulator (``emu.faults.error_rate = 0.2``); assigning a new ``Faults`` to
    ``emu.faults`` also works.

    Parameters
    ----------
    error_rate : float
        Share answered 502, 503 or 504 (picked at random) with an HTML body, as a load
        balancer would (``Content-Type: text/html``).
    drop_rate : float
        Share whose connection is closed without any response (the client sees a
        connection error such as ``httpx.RemoteProtocolError``).
    truncate_rate : float
        Share of 200 JSON responses whose body is cut in the middle; ``Content-Length``
        matches the bytes sent, so the HTTP exchange is complete but the JSON is invalid.
    burst_429_rate : float
        Share answered 429 with ``Retry-After: 0`` and the rate-limit message, even under
        the rate limit.
    new_runs_per_list_page : int
        Each ``GET /workflow`` with ``offset > 0`` first adds this many new (newest) runs to
        the listed workspace, shifting offsets under a paging client.
    down_after_requests : int or None
        Serve this many requests (counted from when it is set), then drop the connection of
        every later one, as a server that went down mid-sync (the client sees connection
        errors). ``None``: never.
    seed : int
        Seed of the fault decisions.
    """

    error_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    burst_429_rate: float = 0.0
    new_runs_per_list_page: int = 0
    down_after_requests: int | None = None
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: Any = field(init=False, repr=False, compare=False)
    _served: int = field(init=False, repr=False, compare=False, default=0)
    _task_failures: dict[str, list[int]] = field(init=False, repr=False, compare=False,
                                                 default_factory=dict)

    def __post_init__(self) -> None:
        for name in (*_RATES, "new_runs_per_list_page", "down_after_requests", "seed"):
            self._check(name, getattr(self, name))
        object.__setattr__(self, "_rng", random.Random(self.seed))
        object.__setattr__(self, "_lock", threading.Lock())

    @staticmethod
    def _check(name: str, value: Any) -> None:
        if name in _RATES:
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0.0 <= value <= 1.0
            ):
                raise ValueError(f"Faults.{name} must be a number between 0 and 1, got {value!r}")
        elif name == "new_runs_per_list_page":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"Faults.new_runs_per_list_page must be a non-negative integer, got {value!r}"
                )
        elif name == "down_after_requests":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(
                    f"Faults.down_after_requests must be None or a non-negative integer, got {value!r}"
                )
        elif name == "seed" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"Faults.seed must be an integer, got {value!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            self._check(name, value)
        super().__setattr__(name, value)
        if name == "seed" and hasattr(self, "_rng"):
            self._rng.seed(value)
        if name == "down_after_requests" and hasattr(self, "_lock"):
            with self._lock:
                super().__setattr__("_served", 0)

    @property
    def active(self) -> bool:
        """Whether any fault of the gateway is switched on (``fail_run_tasks`` acts in its route)."""
        return (any(getattr(self, n) for n in _RATES) or self.new_runs_per_list_page > 0
                or self.down_after_requests is not None)

    def fail_run_tasks(self, run_id: str, status: int = 403, times: int = 1) -> None:
        """Answer the next ``times`` ``GET /workflow/{run_id}/tasks`` requests with ``status``.

        403 and 404 come as ``{"message": ...}`` JSON (as the API sends them), 5xx as a load
        balancer's HTML page. Calls add up: ``fail_run_tasks(r, 403); fail_run_tasks(r, 503)``
        fails the next request with 403 and the one after with 503.

        Raises
        ------
        ValueError
            ``status`` is not a 4xx/5xx code or ``times`` is not a positive integer.
        """
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error code (400-599), got {status!r}")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a positive integer, got {times!r}")
        with self._lock:
            self._task_failures.setdefault(str(run_id), []).extend([status] * times)

    def take_task_failure(self, run_id: str) -> int | None:
        """The status to fail this ``/tasks`` request of ``run_id`` with, if one is due."""
        with self._lock:
            due = self._task_failures.get(str(run_id))
            if not due:
                return None
            status = due.pop(0)
            if not due:
                del self._task_failures[str(run_id)]
            return status

    def draw(self) -> _Draw:
        """Decide the faults of one request (always five draws, so decisions stay aligned)."""
        with self._lock:
            u_drop, u_err, u_code, u_burst, u_trunc = (self._rng.random() for _ in range(5))
            cut = self._rng.uniform(0.2, 0.8)
            object.__setattr__(self, "_served", self._served + 1)
            down = self.down_after_requests is not None and self._served > self.down_after_requests
        d = _Draw()
        if down:
            d.down = True
        elif u_drop < self.drop_rate:
            d.drop = True
        elif u_err < self.error_rate:
            d.error = (502, 503, 504)[int(u_code * 3) % 3]
        elif u_burst < self.burst_429_rate:
            d.burst = True
        elif u_trunc < self.truncate_rate:
            d.truncate_at = cut
        return d
