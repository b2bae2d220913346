"""Keep tokens out of logs.

The client never logs headers, but a user's DEBUG logging of httpx/httpcore, or a message
that quotes a header, could. Every log record of the ``seqera_analytics``, ``httpx`` and
``httpcore`` logger trees (children included, which a logger filter would miss) has
``Bearer <anything>`` and ``Authorization`` values rewritten to ``<redacted>`` when it is
created. Logging is opt-in: ``SEQERA_ANALYTICS_LOG=debug|info`` adds a stderr handler.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

__all__ = ["install_redaction", "redact"]

_PATTERN = re.compile(r"(?i)(bearer\s+|authorization['\"]?\s*[:=]\s*['\"]?(?:bearer\s+)?)[^\s'\",)}\]]+")
_TREES = ("seqera_analytics", "httpx", "httpcore")


def redact(text: str) -> str:
    """``text`` with bearer tokens and Authorization values replaced by ``<redacted>``."""
    return _PATTERN.sub(r"\1<redacted>", text)


_INSTALLED = False


def install_redaction() -> None:
    """Install the redacting record factory (once) and honour ``SEQERA_ANALYTICS_LOG``."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.name.startswith(_TREES):
            try:
                message = record.getMessage()
            except Exception:  # a broken %-format is not ours to fix; logging reports it
                return record
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
    level = os.environ.get("SEQERA_ANALYTICS_LOG", "").strip().upper()
    if level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root = logging.getLogger("seqera_analytics")
        root.addHandler(handler)
        root.setLevel(level)
