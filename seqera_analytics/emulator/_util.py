"""Small helpers shared by the emulator modules: timestamps, stable ids, tokens, JSON.

Everything here is deterministic: ids and tokens derive from SHA-256 of a name and a seed,
never from Python's salted ``hash()``, so two processes with the same seed agree byte for
byte.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import re
import time
from datetime import datetime, timezone
from typing import Any

import msgspec

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# The API's own timestamp shape (API-NOTES §6): UTC, second precision, trailing "Z".
_ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"

_encoder = msgspec.json.Encoder()


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as compact JSON bytes (msgspec: fast, key order preserved)."""
    return _encoder.encode(obj)


def iso(epoch_s: float | None) -> str | None:
    """Format epoch seconds as the API does (``2025-03-31T16:11:53Z``); ``None`` stays ``None``."""
    if epoch_s is None:
        return None
    return time.strftime(_ISO_SECONDS, time.gmtime(int(epoch_s)))


def parse_iso(value: str) -> float:
    """Parse an API timestamp (or any ISO-8601 string) into epoch seconds.

    Naive values are taken as UTC. Raises ``ValueError`` on anything unparseable.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


_PARTIAL_DATE = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")


def parse_search_date(value: str) -> float:
    """Parse an ``after:``/``before:`` search value into epoch seconds.

    Accepts a full ISO-8601 timestamp (``2024-05-29T00:00:00.000Z``, what the API and tw
    expect) and, like the web UI, a date or partial date (``2024-05-29``, ``2022-5``),
    read as midnight UTC at the start of that day or month.
    """
    m = _PARTIAL_DATE.match(value.strip())
    if m:
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
        return float(calendar.timegm((year, month, day, 0, 0, 0)))
    return parse_iso(value)


def sha(*parts: object) -> bytes:
    """SHA-256 of the parts joined by ``|`` (stable across processes and platforms)."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def stable_int(*parts: object, lo: int, hi: int) -> int:
    """A deterministic integer in ``[lo, hi)`` derived from ``parts``."""
    return lo + int.from_bytes(sha(*parts)[:8], "big") % (hi - lo)


def entity_id(*parts: object) -> int:
    """An org/workspace/label id: an int64 around 1e14, like the real ones (e.g. 75887156211589)."""
    return stable_int("entity", *parts, lo=30_000_000_000_000, hi=280_000_000_000_000)


def base62(raw: bytes, length: int) -> str:
    """``length`` base62 characters from ``raw`` bytes (workflow ids look like ``5mDfiUtqyptDib``)."""
    n = int.from_bytes(raw, "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(out)


def make_token(seed: int, user_name: str) -> str:
    """An opaque, URL-safe access token (43 characters) for ``user_name`` under ``seed``.

    Real Seqera tokens are long opaque strings; nothing parses them, so a random-looking
    string of the same alphabet is enough.
    """
    return base64.urlsafe_b64encode(sha("token", seed, user_name)).decode().rstrip("=")
