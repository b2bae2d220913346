"""Parsing of date/time arguments, shared by every layer (a leaf module: pandas only)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd

__all__ = ["parse_instant"]

_ISO = re.compile(r"\d{4}-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?")


def parse_instant(value: Any, name: str = "date", *, error: type[Exception] = ValueError) -> pd.Timestamp | None:
    """A date/time argument as a UTC ``Timestamp``; naive values are taken as UTC.

    Accepts ``None``, ``"2025-09"`` (the first of the month), ``"2025-09-01"``, ISO-8601
    date-times with or without offset, ``datetime``/``date``, ``numpy.datetime64`` and
    ``pandas.Timestamp``.

    Raises
    ------
    error (default ValueError)
        The value is not a recognisable date; the message shows the accepted forms.
    """
    if value is None:
        return None
    if isinstance(value, str) and not _ISO.fullmatch(value.strip()):
        # pandas would read "1/2/2025" US-style and accept "now": ambiguous in a report.
        raise error(f"{name}={value!r} is not an ISO date; use YYYY-MM, YYYY-MM-DD or an ISO-8601 "
                    "date-time such as 2025-09-01T00:00:00Z")
    try:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            ts = pd.Timestamp(value.year, value.month, value.day)
        else:
            ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise error(f"{name}={value!r} is not a date; use YYYY-MM, YYYY-MM-DD or an ISO-8601 "
                    "date-time such as 2025-09-01T00:00:00Z") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise error(f"{name}={value!r} is not a date")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
