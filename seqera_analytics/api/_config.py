"""Client configuration: endpoint, token, workspace, TLS/proxy, pacing and retry policy.

Read the way ``tw`` reads it (API-NOTES §4): ``TOWER_ACCESS_TOKEN``, ``TOWER_API_ENDPOINT``
(default ``https://api.cloud.seqera.io``; Enterprise ``https://host/api`` bases work) and
``TOWER_WORKSPACE_ID`` (a numeric id or ``org/workspace``); explicit arguments win.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .._exceptions import ConfigurationError

__all__ = [
    "DEFAULT_ENDPOINT",
    "ClientConfig",
    "RetryPolicy",
    "Secret",
]

DEFAULT_ENDPOINT = "https://api.cloud.seqera.io"
#: Documented Cloud limit: 20 calls/s per token (API-NOTES §3). We pace a little under it so
#: network jitter cannot push a 21st request into one of the server's 1-second cycles.
DOCUMENTED_RATE_LIMIT = 20.0
DEFAULT_REQUESTS_PER_SECOND = 19.0
#: The server's page cap (a larger ``max`` is answered 400).
PAGE_SIZE = 100

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")


class Secret:
    """A string that never prints: ``repr``/``str`` give ``'***'``.

    The value is read only while building the ``Authorization`` header.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def fingerprint(self) -> str:
        """A short non-reversible id of the value (keys the per-token rate limiter)."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:  # pickling would write the token into files
        raise TypeError("Secret values cannot be pickled")


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are retried.

    Parameters
    ----------
    max_retries : int
        Retries after the first attempt (so ``max_retries + 1`` attempts) for 429, 408,
        500/502/503/504, connection errors, timeouts and invalid (truncated) bodies.
    initial_delay_s, max_delay_s : float
        Backoff ``min(initial * 2**n, max) * uniform(0.75, 1)`` [s].
    max_retry_after_s : float
        ``Retry-After`` values are obeyed up to this many seconds [s].
    rate_limit_cycle_s : float
        Length of the server's permit cycle [s]. ``Retry-After`` is whole seconds,
        truncated, so after a 429 the wait is ``Retry-After`` plus 0.5-1 cycle.
    """

    max_retries: int = 6
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0
    rate_limit_cycle_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigurationError("max_retries must be >= 0")
        if self.initial_delay_s < 0 or self.max_delay_s < self.initial_delay_s:
            raise ConfigurationError("need 0 <= initial_delay_s <= max_delay_s")


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client needs; build it with :meth:`from_env`.

    Parameters
    ----------
    endpoint : str
        API base URL, e.g. ``https://api.cloud.seqera.io`` or ``https://host/api``.
    token : Secret
        Personal access token.
    workspace : str or int or None
        Default workspace: numeric id or ``org/workspace``; ``None`` is the personal workspace.
    verify : bool or str
        TLS verification; a path is a custom CA bundle (Enterprise installs).
    proxy : str or None
        Proxy URL; ``None`` lets httpx read ``HTTPS_PROXY``/``ALL_PROXY``.
    timeout_s : float
        Per-request timeout [s].
    requests_per_second : float
        Pacing per token [req/s]; the documented limit is 20.
    max_concurrency : int
        Requests in flight at once; enough to use the whole rate at high latency.
    retry : RetryPolicy
    allow_insecure : bool
        Allow ``http://`` to a non-local host (the token would travel in clear text).
    """

    endpoint: str = DEFAULT_ENDPOINT
    token: Secret | None = None
    workspace: str | int | None = None
    verify: bool | str = True
    proxy: str | None = None
    timeout_s: float = 60.0
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    max_concurrency: int = 16
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    allow_insecure: bool = False

    def __post_init__(self) -> None:
        endpoint = (self.endpoint or "").strip().rstrip("/")
        try:
            parts = urlsplit(endpoint)
            parts.port  # noqa: B018  (raises on a port out of range)
        except ValueError as exc:
            shown = re.sub(r"//[^/@]*@", "//***@", str(self.endpoint))  # never echo credentials
            raise ConfigurationError(f"TOWER_API_ENDPOINT is not a valid URL ({exc}): {shown!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"TOWER_API_ENDPOINT must be an http(s) URL like {DEFAULT_ENDPOINT} "
                f"or https://your-host/api, got {self.endpoint!r}"
            )
        if parts.username or parts.password:
            raise ConfigurationError(
                "TOWER_API_ENDPOINT must not contain credentials (user:password@); the access "
                "token goes in TOWER_ACCESS_TOKEN.")
        if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS and not self.allow_insecure:
            raise ConfigurationError(
                f"Refusing plain http:// for {parts.hostname}: the access token would be sent "
                "unencrypted. Use https://, or pass allow_insecure=True if you must."
            )
        object.__setattr__(self, "endpoint", endpoint)
        if self.token is not None and not _TOKEN_CHARS.fullmatch(self.token.get_secret_value()):
            # A second line or a stray space would otherwise reach the Authorization header
            # (and httpx's error message about it). Never echo the value.
            raise ConfigurationError(
                "TOWER_ACCESS_TOKEN contains spaces, line breaks or non-ASCII characters; a token "
                "is one line of printable characters. Copy it again from the Platform's Tokens page.")
        if self.requests_per_second <= 0:
            raise ConfigurationError("requests_per_second must be > 0")
        if self.max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be >= 1")
        if self.timeout_s <= 0:
            raise ConfigurationError("timeout_s must be > 0")
        if isinstance(self.workspace, str) and not self.workspace.strip():
            object.__setattr__(self, "workspace", None)

    @classmethod
    def from_env(
        cls,
        token: str | Secret | None = None,
        endpoint: str | None = None,
        workspace: str | int | None = None,
        **kwargs: Any,
    ) -> ClientConfig:
        """Build from arguments, falling back to ``TOWER_ACCESS_TOKEN``,
        ``TOWER_API_ENDPOINT``, ``TOWER_WORKSPACE_ID`` and ``SEQERA_ANALYTICS_CA_BUNDLE``.

        Raises
        ------
        ConfigurationError
            Malformed endpoint or settings. A missing token is not an error here; the
            first request raises it (listing bundled demo data needs no token).
        """
        tok = token if token is not None else os.environ.get("TOWER_ACCESS_TOKEN") or None
        if isinstance(tok, str):
            tok = Secret(tok.strip()) if tok.strip() else None
        if "verify" not in kwargs and os.environ.get("SEQERA_ANALYTICS_CA_BUNDLE"):
            kwargs["verify"] = os.environ["SEQERA_ANALYTICS_CA_BUNDLE"]
        return cls(
            endpoint=endpoint or os.environ.get("TOWER_API_ENDPOINT") or DEFAULT_ENDPOINT,
            token=tok,
            workspace=workspace if workspace is not None else (os.environ.get("TOWER_WORKSPACE_ID") or None),
            **kwargs,
        )

    def with_options(self, **changes: Any) -> ClientConfig:
        """A copy with some settings changed."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        return (
            f"ClientConfig(endpoint={self.endpoint!r}, token={'***' if self.token else None}, "
            f"workspace={self.workspace!r}, requests_per_second={self.requests_per_second}, "
            f"max_concurrency={self.max_concurrency})"
        )
