"""Read a bill (``load_cur``) and keep it in the cache (``import_cur``).

DuckDB reads the files (``_formats`` tells the format, ``_sql`` reads it, ``_lines``
classifies): it streams the Parquet or CSV files with only the needed columns, on every
core, within a memory limit (spilling to the temp directory), so a month of tens of GB is
never loaded whole. ``import_cur`` (``_keep``: two streaming scans) then keeps, per period, the billed cost per task (and per run,
unattributed and account-line group) and a 128-bit key per line, both committed to the
cache in one atomic step under the cache's writer lock.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from typing import Any

import duckdb
import pandas as pd

from .._exceptions import BillingDataError
from ..frames import BILLING_LINES, to_pandas
from ..store import Cache
from ..store._billing import clear_orphans
from ._duck import conform, connect, run, to_table
from ._formats import BillingTags, CurFile, expand, inspect_files, tag_keys_found
from ._keep import CurImport, import_into, scan_keys
from ._lines import classified_select

__all__ = ["CurImport", "import_cur", "load_cur"]


def _read_lines(con: duckdb.DuckDBPyConnection, files: list[CurFile], tags: BillingTags,
                tmp: str) -> None:
    """``load_cur``: temp table ``lines`` (classified, allocated within the files, with the
    hex ``line_key``); the same refusals as an import."""
    counts = scan_keys(con, files, tags, tmp)
    run(con, f"CREATE TEMP TABLE lines AS SELECT *, printf('%016x%016x', key_hi, key_lo) AS line_key FROM "
             f"({classified_select(counts['raw'])})", files[0].path)
    if not con.execute("SELECT count(run_id) FROM lines").fetchone()[0]:
        found = tag_keys_found(con, files)
        raise BillingDataError(
            f"{', '.join(os.path.basename(f.path) for f in files[:3])}: no line carries the run tag "
            f"({' or '.join(tags.run)}); tag keys found: {', '.join(found) or 'none'}. Name the tags "
            "your runs carry (--run-tag, BillingTags).")


def load_cur(paths: Any, *, tags: BillingTags | None = None) -> pd.DataFrame:
    """Read CUR files into one normalised DataFrame of line items (nothing is cached).

    For exploring a bill in a notebook; a month of a large account does not fit in memory
    as a DataFrame: import it with :func:`import_cur` and report from the cache.

    Parameters
    ----------
    paths : str, path or list of them
        Files (``.parquet``, ``.csv``, ``.csv.gz``), globs or directories (read recursively):
        CUR 2.0 Parquet (tags as a map or as key/value pairs), legacy CUR Parquet or CSV.
    tags : BillingTags, optional
        The run, task-hash and process tag names (default: Seqera's).

    Returns
    -------
    pandas.DataFrame
        One row per line item, the columns of ``frames.BILLING_LINES``: ``usage_start``,
        ``usage_end`` (datetime64[ms, UTC]), ``billing_period``, ``line_item_type``,
        ``product_code``, ``line_class``, ``cost_basis``, ``run_id``, ``task_hash``,
        ``process``, ``resource_id``, ``line_key`` (string), ``used_cost``, ``idle_cost``,
        ``billed_cost``, ``unblended_cost`` (Float64, USD). See ``seqera_analytics.billing``
        for the rules.

    Raises
    ------
    BillingDataError
        A file that is missing, empty, not a CUR, or no line with the run tag (the message
        lists the tag keys found).
    """
    files = inspect_files(expand(paths))
    tags = tags or BillingTags()
    with tempfile.TemporaryDirectory(prefix="seqera-cur-") as tmp:
        con = connect(tmp)
        try:
            _read_lines(con, files, tags, tmp)
            table = to_table(con.execute("SELECT * FROM lines"))
        finally:
            con.close()
    return to_pandas(conform(table, BILLING_LINES.arrow_schema))


_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])|undated")


def import_cur(paths: Any, *, cache: Any = None, tags: BillingTags | None = None,
               replace_period: str | Iterable[str] | None = None) -> CurImport:
    """Import AWS Cost and Usage Report files into the cache's billing datasets.

    Idempotent: a line is identified by the CUR's identity columns
    (``identity_line_item_id``, ``identity_time_interval``) where present, else by its own
    values and its place in its file; lines already in the cache, or repeated across the
    files given, are counted once. A period's earlier lines are kept unless ``replace_period``
    names it (then exactly that period's earlier lines are dropped, in the same commit that
    adds the new ones). A file that restates lines the cache holds under other identities (a
    later delivery of a month: AWS does not keep line ids across deliveries) is refused
    unless its period is replaced. See ``_keep`` for every rule.

    Parameters
    ----------
    paths : str, path or list of them
        CUR files, globs or directories (see :func:`load_cur`).
    cache : str, Path or Cache, optional
        The cache (default: ``SEQERA_ANALYTICS_CACHE`` or ``~/.cache/seqera-analytics``).
    tags : BillingTags, optional
        Tag names of the run id, task hash and process.
    replace_period : str or list of str, optional
        ``YYYY-MM`` (or ``undated``) periods to replace with what the files hold of them.

    Returns
    -------
    CurImport
        Lines read and added, periods, and the added billed cost by kind (USD).

    Raises
    ------
    BillingDataError
        A file that is missing, empty or not a CUR; a cost or a date that cannot be read; no
        line with the run tag (the message lists the tag keys found); a ``replace_period``
        the files hold no lines of; lines already imported under other identities, or one
        identity naming two lines. Nothing is written then.
    CacheLockedError
        A sync or another import is writing the cache.
    """
    files = inspect_files(expand(paths))
    tags = tags or BillingTags()
    replace = _periods(replace_period)
    c = cache if isinstance(cache, Cache) else Cache(cache)
    with tempfile.TemporaryDirectory(prefix="seqera-cur-") as tmp:
        con = connect(tmp)
        try:
            counts = scan_keys(con, files, tags, tmp)
            missing = [p for p in replace if p not in counts["periods"]]
            if missing:
                raise BillingDataError(
                    f"--replace-period {', '.join(missing)}: the files hold no lines of that period "
                    f"(they hold {', '.join(counts['periods'])}); nothing was replaced")
            with c.writer() as writer:
                clear_orphans(writer.loc, writer.state)
                result = import_into(con, files, tags, counts, c, writer, replace)
                result.cache_has_runs = bool(writer.state.files.get("runs") or writer.state.active)
        finally:
            con.close()
    result.files = [f.path for f in files]
    return result


def _periods(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out = []
    for v in items:
        if not isinstance(v, str) or not _PERIOD.fullmatch(v.strip()):
            raise BillingDataError(f"replace_period must be YYYY-MM (e.g. 2025-09) or 'undated', got {v!r}")
        out.append(v.strip())
    return sorted(set(out))


