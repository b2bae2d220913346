"""Read a bill (``load_cur``) and keep it in the cache (``import_cur``).

Both run one DuckDB query over the files (``_formats`` reads, ``_lines`` classifies):
DuckDB streams the Parquet or CSV files with only the needed columns, on every core, within
a memory limit (spilling to the temp directory), so a month of tens of GB is never loaded
whole. ``import_cur`` then keeps, per period, the billed cost per task (and per run,
unattributed and account-line group) and one md5 key per line, both committed to the
cache in one atomic step under the cache's writer lock.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from .._exceptions import BillingDataError
from ..frames import BILLING_KEYS, BILLING_LINES, BILLING_TASKS, to_pandas
from ..store import Cache
from ..store._billing import (
    BillingPart,
    arrow_writer_rows,
    billing_files,
    clear_orphans,
    commit_billing,
)
from ._formats import BillingTags, CurFile, expand, inspect_files, raw_select, tag_keys_found
from ._lines import classified_select

__all__ = ["CurImport", "import_cur", "load_cur"]

#: DuckDB's memory for an import: it spills beyond this (peak RSS stays near 1 GiB).
MEMORY_LIMIT = os.environ.get("SEQERA_ANALYTICS_CUR_MEMORY", "512MB")
_GROUP = ("usage_day", "billing_period", "line_item_type", "product_code", "line_class",
          "cost_basis", "run_id", "task_hash", "process")


def _connect(tmp: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": tmp,
                                 "preserve_insertion_order": False})
    return con


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _run(con: duckdb.DuckDBPyConnection, sql: str, files: list[CurFile]) -> None:
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        where = files[0].path if len(files) == 1 else f"one of {len(files)} CUR files"
        raise BillingDataError(f"{where} could not be read as a Cost and Usage Report: "
                               f"{_first(exc)}") from None


def _read_lines(con: duckdb.DuckDBPyConnection, files: list[CurFile], tags: BillingTags,
                *, hex_key: bool = False) -> dict[str, Any]:
    """Create temp table ``lines`` (classified lines with their keys); return its counts.

    Raises BillingDataError for files without lines or without any configured tag."""
    key = ("md5(line_text) AS line_key" if hex_key else
           "md5_number_upper(line_text) AS key_hi, md5_number_lower(line_text) AS key_lo")
    _run(con, f"CREATE TEMP TABLE lines AS SELECT * EXCLUDE (line_text), {key} "
              f"FROM ({classified_select(raw_select(files, tags))})", files)
    n, tagged, split_cols, undated, periods = con.execute(
        "SELECT count(*), count(run_id), bool_or(has_split_columns), count(*) FILTER "
        "(WHERE usage_start IS NULL), list(DISTINCT period ORDER BY period) FROM lines").fetchone()
    names = ", ".join(os.path.basename(f.path) for f in files[:3]) + (", ..." if len(files) > 3 else "")
    if not n:
        raise BillingDataError(f"{names}: no line items (an empty Cost and Usage Report)")
    if not tagged:
        found = tag_keys_found(con, files)
        raise BillingDataError(
            f"{names}: no line carries the run tag ({' or '.join(tags.run)}); tag keys found: "
            f"{', '.join(found) or 'none'}. Name the tags your runs carry (--run-tag, BillingTags).")
    return {"lines": n, "tagged": tagged, "split_columns": bool(split_cols), "undated": undated,
            "periods": list(periods)}


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
        con = _connect(tmp)
        try:
            _read_lines(con, files, tags, hex_key=True)
            table = _table(con.execute("SELECT * FROM lines"))
        finally:
            con.close()
    return to_pandas(_conform(table, BILLING_LINES.arrow_schema))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = []
    for f in schema:
        col = table[f.name]
        if pa.types.is_timestamp(f.type) and not pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us"))
        if pa.types.is_timestamp(col.type) and col.type.tz not in (None, "UTC"):
            col = col.cast(pa.timestamp(col.type.unit, "UTC"))
        cols.append(col.cast(f.type))
    return pa.Table.from_arrays(cols, schema=schema)


# ------------------------------------------------------------------------------ import
@dataclass
class CurImport:
    """What ``import_cur`` did.

    Money is USD on the billed basis (see ``seqera_analytics.billing``), over the lines this
    import added (lines already in the cache are not counted again).
    """

    cache: str
    files: list[str]
    lines_read: int = 0
    lines_added: int = 0
    lines_already_imported: int = 0
    lines_repeated: int = 0  # the same line twice in this import's files
    periods: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    billed_cost: float = 0.0
    tagged_cost: float = 0.0
    untagged_cost: float = 0.0
    account_cost: float = 0.0
    undated_lines: int = 0
    split_columns: bool = True

    def notes(self) -> list[str]:
        out = []
        if not self.split_columns:
            out.append("These files have no split cost allocation columns: task cost is each line's "
                       "unblended (or Savings Plan / reservation effective) cost, with no used/idle split.")
        if self.lines_already_imported or self.lines_repeated:
            out.append(f"{self.lines_already_imported + self.lines_repeated:,} line(s) were already "
                       "imported (same identity): counted once.")
        if self.undated_lines:
            out.append(f"{self.undated_lines:,} line(s) have no usage dates: period 'undated', in no "
                       "month's figures (see `report reconcile`).")
        return out

    def __str__(self) -> str:
        head = (f"Imported {self.lines_added:,} of {self.lines_read:,} CUR line(s) from "
                f"{len(self.files)} file(s) into {self.cache}")
        if self.periods:
            head += f" (periods {', '.join(self.periods)})"
        if self.replaced:
            head += f"; replaced {', '.join(self.replaced)}"
        money = (f"billed ${self.billed_cost:,.2f}: ${self.tagged_cost:,.2f} on lines with a run "
                 f"tag, ${self.untagged_cost:,.2f} without, ${self.account_cost:,.2f} account lines")
        return "\n".join([head + ".", money, *self.notes()])


def _query_rows(con: duckdb.DuckDBPyConnection, sql: str, schema: pa.Schema) -> Any:
    def write(w: Any) -> int:
        reader = _reader(con.execute(sql))
        batches = (_conform(pa.Table.from_batches([b]), schema).to_batches()[0] for b in reader
                   if b.num_rows)
        return arrow_writer_rows(batches, schema)(w)
    return write


def _reader(result: Any) -> Any:
    """A streaming Arrow reader of a DuckDB result (``to_arrow_reader`` since DuckDB 1.4,
    ``fetch_record_batch`` before, deprecated since)."""
    if hasattr(result, "to_arrow_reader"):
        return result.to_arrow_reader(1 << 20)
    return result.fetch_record_batch(1 << 20)  # pragma: no cover - DuckDB < 1.4


def _table(result: Any) -> pa.Table:
    if hasattr(result, "to_arrow_table"):
        return result.to_arrow_table()
    return result.fetch_arrow_table()  # pragma: no cover - DuckDB < 1.4


_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])|undated")


def import_cur(paths: Any, *, cache: Any = None, tags: BillingTags | None = None,
               replace_period: str | Iterable[str] | None = None) -> CurImport:
    """Import AWS Cost and Usage Report files into the cache's billing datasets.

    Idempotent: a line is identified by the CUR's identity columns
    (``identity_line_item_id``, ``identity_time_interval``) where present, else by its own
    values; lines already in the cache, or repeated across the files given, are counted once.
    A period's earlier lines are kept unless ``replace_period`` names it (then exactly that
    period's earlier lines are dropped, in the same commit that adds the new ones).

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
        A file that is missing, empty or not a CUR; no line with the run tag (the message
        lists the tag keys found); a ``replace_period`` the files hold no lines of. Nothing is
        written then.
    CacheLockedError
        A sync or another import is writing the cache.
    """
    files = inspect_files(expand(paths))
    tags = tags or BillingTags()
    replace = _periods(replace_period)
    c = cache if isinstance(cache, Cache) else Cache(cache)
    with tempfile.TemporaryDirectory(prefix="seqera-cur-") as tmp:
        con = _connect(tmp)
        try:
            counts = _read_lines(con, files, tags)
            missing = [p for p in replace if p not in counts["periods"]]
            if missing:
                raise BillingDataError(
                    f"--replace-period {', '.join(missing)}: the files hold no lines of that period "
                    f"(they hold {', '.join(counts['periods'])}); nothing was replaced")
            with c.writer() as writer:
                clear_orphans(writer.loc, writer.state)
                result = _merge(con, c, writer, counts, replace)
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


def _merge(con: duckdb.DuckDBPyConnection, cache: Cache, writer: Any, counts: dict[str, Any],
           replace: list[str]) -> CurImport:
    loc, state = writer.loc, writer.state
    keep_periods = [p for p in counts["periods"] if p not in replace]
    old = [loc.uri(f) if cache.is_remote else loc.path(f)
           for f in billing_files(state, "billing_keys", keep_periods)]
    if old:
        if cache.is_remote:
            con.register("old_keys", ds.dataset([loc.path(f) for f in billing_files(
                state, "billing_keys", keep_periods)], format="parquet", filesystem=loc.filesystem))
        else:
            con.register("old_keys", con.read_parquet(old))
        anti = "ANTI JOIN old_keys o ON l.key_hi = o.key_hi AND l.key_lo = o.key_lo"
    else:
        anti = ""
    con.execute(f"CREATE TEMP TABLE fresh AS SELECT DISTINCT ON (l.key_hi, l.key_lo) l.* "
                f"FROM lines l {anti}")
    (added,) = con.execute("SELECT count(*) FROM fresh").fetchone()
    (distinct_new,) = (added,)
    if old:
        (in_old,) = con.execute("SELECT count(*) FROM lines l SEMI JOIN old_keys o "
                                "ON l.key_hi = o.key_hi AND l.key_lo = o.key_lo").fetchone()
    else:
        in_old = 0
    res = CurImport(cache=cache.location.display, files=[], lines_read=counts["lines"],
                    lines_added=added, lines_already_imported=in_old,
                    lines_repeated=counts["lines"] - in_old - distinct_new,
                    split_columns=counts["split_columns"], undated_lines=0, replaced=replace)
    sums = con.execute(
        "SELECT period, count(*), sum(billed_cost), "
        "sum(billed_cost) FILTER (WHERE line_class = 'usage' AND run_id IS NOT NULL), "
        "sum(billed_cost) FILTER (WHERE line_class = 'usage' AND run_id IS NULL), "
        "sum(billed_cost) FILTER (WHERE line_class = 'account'), "
        "count(*) FILTER (WHERE usage_start IS NULL) FROM fresh GROUP BY period ORDER BY period"
    ).fetchall()
    parts: list[BillingPart] = []
    tasks_schema, keys_schema = BILLING_TASKS.arrow_schema, BILLING_KEYS.arrow_schema
    for period, _n, billed, tagged, untagged, account, undated in sums:
        res.periods.append(period)
        res.billed_cost += billed or 0.0
        res.tagged_cost += tagged or 0.0
        res.untagged_cost += untagged or 0.0
        res.account_cost += account or 0.0
        res.undated_lines += undated
        p = period.replace("'", "''")
        agg_sql = (
            f"SELECT {', '.join(_GROUP)}, sum(used_cost) AS used_cost, sum(idle_cost) AS idle_cost, "
            "sum(billed_cost) AS billed_cost, sum(unblended_cost) AS unblended_cost, "
            "count(*) AS lines, min(usage_start) AS usage_start, max(usage_end) AS usage_end "
            f"FROM fresh WHERE period = '{p}' GROUP BY ALL ORDER BY run_id, task_hash")
        keys_sql = f"SELECT key_hi, key_lo FROM fresh WHERE period = '{p}'"
        # Each part runs its query when it is written (commit_billing writes them in turn).
        parts.append(BillingPart("billing_tasks", period, _query_rows(con, agg_sql, tasks_schema)))
        parts.append(BillingPart("billing_keys", period, _query_rows(con, keys_sql, keys_schema)))
    writer.state, _ = commit_billing(loc, state, parts, replace)
    return res
