"""The exception tree of seqera-analytics.

::

    SeqeraError                      root of everything this package raises on purpose
    ├── ConfigurationError           missing/invalid token, endpoint or workspace setting
    ├── APIError                     something went wrong talking to the Platform API
    │   ├── APIStatusError           the API answered with an error status (.status_code, .body)
    │   │   ├── BadRequestError      400: the API rejected the request; its message is kept
    │   │   ├── AuthenticationError  401, or 403 from /user-info: the token is wrong or expired
    │   │   ├── PermissionDeniedError 403: no access to this workspace or run
    │   │   ├── NotFoundError        404: no such run, task or workspace
    │   │   ├── RateLimitError       429 after all retries (.retry_after seconds)
    │   │   └── ServerError          5xx after all retries
    │   ├── APIConnectionError       no response: refused, reset, DNS, TLS
    │   │   └── APITimeoutError      no response in time
    │   └── InvalidResponseError     a 200 whose body is not the JSON expected (truncated, HTML)
    ├── WorkspaceNotFoundError       an ``org/workspace`` name the token cannot see (.available)
    ├── DataFormatError              a run bundle / ``tw runs dump`` archive that cannot be read
    ├── ReportError                  bad report arguments or input frames (also a ValueError)
    └── CacheError                   the Parquet cache is unusable (locked, newer schema, corrupt)
        └── CacheLockedError         another sync holds the cache lock

No message, ``repr`` or attribute of these exceptions ever contains the access token: the
client builds messages from the request method and URL path only, never from headers.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BillingDataError",
    "CacheError",
    "CacheLockedError",
    "ConfigurationError",
    "DataFormatError",
    "InvalidResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReportError",
    "SeqeraError",
    "ServerError",
    "WorkspaceNotFoundError",
]


class SeqeraError(Exception):
    """Root of every error seqera-analytics raises on purpose."""


class ConfigurationError(SeqeraError):
    """A required setting (token, endpoint, workspace) is missing or malformed."""


class APIError(SeqeraError):
    """A request to the Seqera Platform API failed.

    Attributes
    ----------
    method, path : str
        The HTTP method and URL path (no query string, no headers) of the failed request.
    """

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path


class APIStatusError(APIError):
    """The API answered with an error status.

    Attributes
    ----------
    status_code : int
        HTTP status.
    body : str
        The response body, cut to 500 characters (the API's ``{"message": ...}`` or HTML).
    api_message : str or None
        The ``message`` of the API's JSON error body, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        api_message: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.status_code = status_code
        self.body = body
        self.api_message = api_message


class BadRequestError(APIStatusError):
    """400: the API rejected the request (e.g. ``max`` above 100); ``api_message`` says why."""


class AuthenticationError(APIStatusError):
    """The access token was refused (401, or 403 on ``/user-info``)."""


class PermissionDeniedError(APIStatusError):
    """403: the token has no access to this workspace or run (or the run is not there)."""


class NotFoundError(APIStatusError):
    """404: the run, task or workspace does not exist."""


class RateLimitError(APIStatusError):
    """429 after every retry was spent.

    Attributes
    ----------
    retry_after : float or None
        The last ``Retry-After`` the API sent [s].
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx after every retry was spent."""


class APIConnectionError(APIError):
    """No response: connection refused or reset, DNS failure, TLS error."""


class APITimeoutError(APIConnectionError):
    """No response within the timeout."""


class InvalidResponseError(APIError):
    """A successful status whose body is not the expected JSON (truncated, HTML, wrong shape).

    Attributes
    ----------
    retryable : bool
        True for a body cut off in transit (worth another attempt); False for a complete
        answer of the wrong kind (an HTML page, a different JSON shape).
    """

    def __init__(self, message: str, *, retryable: bool = True, method: str = "", path: str = "") -> None:
        super().__init__(message, method=method, path=path)
        self.retryable = retryable


class WorkspaceNotFoundError(SeqeraError):
    """An ``org/workspace`` reference that none of the token's workspaces match.

    Attributes
    ----------
    available : list[str]
        The ``org/workspace`` names the token can see.
    """

    def __init__(self, message: str, *, available: list[str] | None = None) -> None:
        super().__init__(message)
        self.available = list(available or [])


class DataFormatError(SeqeraError):
    """A run bundle or ``tw runs dump`` archive is missing files or is not valid JSON."""


class BillingDataError(SeqeraError):
    """A bill cannot be read as asked: a file that is not a Cost and Usage Report, an empty
    one, or no tag column matching the configured tag names (the message lists the tags
    found). Nothing is written to the cache."""


class ReportError(SeqeraError, ValueError):
    """A report cannot be computed as asked: an unknown group-by name or period, a malformed
    ``since``/``until``, or an input frame missing a column the report needs. The message
    lists the valid choices (or the missing columns)."""


class CacheError(SeqeraError):
    """The Parquet cache cannot be used as asked (newer schema, corrupt state, bad path)."""


class CacheLockedError(CacheError):
    """Another process is syncing into this cache; wait for it or use another cache directory."""
