"""Map HTTP outcomes to the typed errors of :mod:`seqera_analytics._exceptions`, in one place.

Messages name the request by method and path only (never headers, never the query string,
which is where nothing secret goes anyway) and say what to do.
"""

from __future__ import annotations

import httpx
import msgspec

from ._logging import redact

from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

__all__ = ["RETRYABLE", "from_status", "from_transport", "invalid_body", "not_the_api", "parse_retry_after",
           "wrong_shape"]

#: Errors worth another attempt: the request may well succeed on a retry.
RETRYABLE: tuple[type[Exception], ...] = (
    RateLimitError,
    ServerError,
    APIConnectionError,
    InvalidResponseError,
)

TOKEN_HELP = (
    "Check TOWER_ACCESS_TOKEN (create a token at https://cloud.seqera.io/tokens, or in your "
    "Enterprise install's user menu) and that TOWER_API_ENDPOINT points at the same Platform"
)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: an integer/decimal number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _api_message(response: httpx.Response) -> str | None:
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return None


def _short_body(response: httpx.Response) -> str:
    text = response.content[:500].decode("utf-8", errors="replace")
    return " ".join(text.split())


def from_status(response: httpx.Response, *, method: str, path: str, endpoint: str) -> APIStatusError:
    """The typed error for a non-2xx response (``path`` without query string)."""
    status = response.status_code
    msg = _api_message(response)
    where = f"{method} {path}"
    said = f" The API said: {msg!r}." if msg else ""
    kw = dict(status_code=status, body=_short_body(response), api_message=msg, method=method, path=path)
    if status == 401 or (status == 403 and path.rstrip("/").endswith("/user-info")):
        return AuthenticationError(
            f"The Seqera Platform at {endpoint} rejected the access token (HTTP {status} on "
            f"{where}).{said} {TOKEN_HELP}.", **kw)
    if status == 403:
        return PermissionDeniedError(
            f"Forbidden (HTTP 403) on {where}: the token has no access to this workspace or run, "
            f"or the run does not exist there (deleted runs answer 403 too).{said} Check the "
            "workspace (TOWER_WORKSPACE_ID) and the run id.", **kw)
    if status == 404:
        return NotFoundError(f"Not found (HTTP 404) on {where}.{said} Check the run/task id and "
                             "TOWER_API_ENDPOINT (Enterprise installs need the /api base path).", **kw)
    if status == 400:
        return BadRequestError(f"The API rejected {where} (HTTP 400).{said}", **kw)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimitError(
            f"Rate limited (HTTP 429) on {where}.{said} The Platform allows 20 requests/s per "
            "token (Enterprise installs may allow fewer); another program may be using the same "
            "token. Lower the rate (requests_per_second=..., or --requests-per-second) or try "
            "again later.", retry_after=retry_after, **kw)
    if status >= 500 or status == 408:
        return ServerError(f"The Platform failed on {where} (HTTP {status}).{said} This is "
                           "usually transient; try again later.", **kw)
    return APIStatusError(f"Unexpected HTTP {status} on {where}.{said}", **kw)


def from_transport(exc: httpx.TransportError, *, method: str, path: str, endpoint: str) -> APIConnectionError:
    """The typed error for a request that got no (complete) response."""
    where = f"{method} {path}"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"No response from {endpoint} in time on {where} "
                               f"({type(exc).__name__}). Try again later, or allow more time "
                               "(timeout_s=..., or --timeout).", method=method, path=path)
    # httpx's text can quote a header value (e.g. LocalProtocolError): redact before use.
    err = APIConnectionError(
        f"Connection to {endpoint} failed on {where} ({type(exc).__name__}: {redact(str(exc))}). "
        "Check TOWER_API_ENDPOINT, your network, proxy (HTTPS_PROXY) and CA bundle settings.",
        method=method, path=path)
    err.refused = isinstance(exc, httpx.ConnectError)  # type: ignore[attr-defined]
    return err


def invalid_body(error: Exception, *, method: str, path: str, size: int) -> InvalidResponseError:
    """A body that is not valid JSON: most likely cut off in transit, worth a retry."""
    return InvalidResponseError(
        f"The API's answer to {method} {path} is not valid JSON ({size} bytes: {error}); "
        "it was probably cut off in transit.", method=method, path=path)


def wrong_shape(detail: str, *, method: str, path: str) -> InvalidResponseError:
    """A complete answer of the wrong kind: retrying will not help."""
    return InvalidResponseError(
        f"The answer to {method} {path} is not what the Seqera Platform API sends ({detail}). "
        "Check TOWER_API_ENDPOINT: it must be the API (https://api.cloud.seqera.io, or "
        "https://your-host/api on Enterprise), not the web interface or a proxy.",
        retryable=False, method=method, path=path)


def not_the_api(response: httpx.Response, *, method: str, path: str, endpoint: str) -> APIStatusError | InvalidResponseError:
    """A redirect or an HTML page where API JSON belongs: a wrong TOWER_API_ENDPOINT."""
    status = response.status_code
    if 300 <= status < 400:
        target = response.headers.get("location", "?")
        return APIStatusError(
            f"{method} {path} was redirected (HTTP {status}) to {target}: TOWER_API_ENDPOINT "
            f"({endpoint}) is probably not the API URL. Use https://api.cloud.seqera.io, or "
            "https://your-host/api on Enterprise.", status_code=status, body=_short_body(response),
            method=method, path=path)
    return wrong_shape(f"an HTML page, HTTP {status}", method=method, path=path)
