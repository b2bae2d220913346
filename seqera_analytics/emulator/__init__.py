"""A Seqera Platform API emulator: a real HTTP server for tests, benchmarks and the demo.

It serves the bundled real runs (and optionally a deterministic synthetic workspace of
any size) with the response shapes of the official OpenAPI spec, and behaves like the real
service where clients can tell: bearer tokens (401), workspace membership (403), the page
cap (``max`` > 100 is a 400), newest-first listings, the documented ``search`` syntax, a
per-token limit of 20 requests per 1-second cycle (429 + ``Retry-After``), and optional
latency and faults (HTML 5xx, dropped connections, truncated bodies, 429 bursts, runs added
while a client pages).

>>> from seqera_analytics.emulator import Emulator
>>> with Emulator() as emu:  # doctest: +SKIP
...     print(emu.url, emu.workspaces[0]["full_name"])

Start it from the command line with ``seqera-analytics emulator --port 8080``.
"""

from __future__ import annotations

from ._emulator import Emulator, RequestRecord
from ._faults import Faults
from ._ratelimit import FixedWindowRateLimiter
from ._search import SearchQuery, parse_search
from ._synthetic import RunHeader, SyntheticWorkspace

__all__ = [
    "Emulator",
    "Faults",
    "FixedWindowRateLimiter",
    "RequestRecord",
    "RunHeader",
    "SearchQuery",
    "SyntheticWorkspace",
    "parse_search",
]

for _name in __all__:
    # Reprs and docs show the public path (seqera_analytics.emulator.Emulator).
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith(__name__ + "._"):
        _obj.__module__ = __name__
del _name, _obj
