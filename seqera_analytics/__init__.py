"""seqera-analytics: Seqera Platform (Nextflow Tower) runs, tasks and metrics as typed
pandas DataFrames, cached as Parquet, with cost, runtime, failure and efficiency reports."""

from __future__ import annotations

from ._exceptions import *  # noqa: F401,F403
from ._exceptions import __all__ as _exc_all

__version__ = "0.1.0"

__all__ = sorted([*_exc_all, "__version__"])
