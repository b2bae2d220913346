"""Keep the lines of an import that the cache does not hold yet, and refuse what would
count money twice or lose it.

Two streaming scans of the files, nothing of them held in memory:

* scan A writes every line's keys to a temporary Parquet file (``key_hi``/``key_lo``: the
  128-bit hash of its identity; ``nat``: what it is about, see ``_sql``), its period and flags;
* scan B aggregates the money per period, task, run, unattributed and account group (what
  ``billing_tasks`` keeps), with the hours of the split lines' parent instances.

On the keys, under the cache's writer lock:

1. lines whose identity the cache already holds (this period, its neighbours, or
   ``undated``) are counted and skipped; so is a line given twice (a file and its copy);
   then scan B reads the lines deduplicated instead of the files (the only case that
   materialises lines);
2. an identity that names two different lines is refused: keeping either would lose the
   other's money;
3. a line the cache holds under *another* identity (a later delivery of the month, whose
   line ids AWS does not keep, or the same bill in another format) is refused unless its
   period is being replaced; so is the same line in two files of one import under two
   identities;
4. the aggregate, the keys and the split parents are written per period in one commit
   (``store._billing.commit_billing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow.dataset as ds

from .._exceptions import BillingDataError
from ..frames import BILLING_KEYS, BILLING_PARENTS, BILLING_TASKS
from ..store import Cache
from ..store._billing import BillingPart, billing_files, commit_billing, file_metadata
from ._duck import query_rows, run
from ._formats import BillingTags, CurFile, tag_keys_found
from ._lines import classified_select
from ._sql import raw_select

__all__ = ["CurImport", "import_into"]

_GROUP = ("period", "usage_day", "billing_period", "line_item_type", "product_code", "line_class",
          "cost_basis", "run_id", "task_hash", "process", "instance_id", "instance_hour")
_PERIOD = "coalesce(strftime(period_start, '%Y-%m'), strftime(usage_start, '%Y-%m'), 'undated')"


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
    cache_has_runs: bool = True

    def notes(self) -> list[str]:
        out = []
        if not self.split_columns:
            out.append("These files have no split cost allocation columns: task cost is each line's "
                       "unblended (or Savings Plan / reservation effective) cost, with no used/idle split.")
        if self.lines_already_imported or self.lines_repeated:
            out.append(f"{self.lines_already_imported + self.lines_repeated:,} line(s) were already "
                       "imported (same identity): counted once.")
        if self.undated_lines:
            out.append(f"{self.undated_lines:,} line(s) have no usage dates and no billing period: "
                       "period 'undated', in no month's figures (see `report reconcile`).")
        if not self.cache_has_runs:
            out.append("The cache holds no runs yet: the lines match runs when they are synced "
                       "(`seqera-analytics sync`).")
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


def _neighbours(periods: list[str]) -> set[str]:
    """The periods an identity of ``periods`` may already sit in (a restated billing period,
    a line that was undated): each period, the months either side, and ``undated``."""
    out = {"undated"}
    for p in periods:
        out.add(p)
        if p != "undated":
            y, m = int(p[:4]), int(p[5:7])
            out.add(f"{y - (m == 1)}-{12 if m == 1 else m - 1:02d}")
            out.add(f"{y + (m == 12)}-{1 if m == 12 else m + 1:02d}")
    return out


#: The footer key recording which hash function made a keys file.
HASHER_KEY = b"seqera_analytics.line_key_hasher"


def hasher(con: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of DuckDB's ``hash`` (the line keys are made with it): if a later DuckDB
    hashed differently, keys of earlier imports would never match again, and a re-import
    would count twice. Imports compare it and refuse rather than guess."""
    probe = con.execute("SELECT hash('seqera-analytics', 'id', 'L1', 1.5::DOUBLE, "
                        "TIMESTAMP '2025-09-01 00:00:00')").fetchone()[0]
    return f"duckdb-hash:{probe}"


def _copy(con: duckdb.DuckDBPyConnection, sql: str, metadata: dict[str, str]) -> Any:
    """A ``BillingPart.write_file``: DuckDB writes the rows of ``sql`` itself (10M keys of a
    month never pass through Python), with ``metadata`` in the footer."""
    kv = ", ".join(f"'{k}': '{v}'" for k, v in metadata.items())

    def write_file(path: str) -> int:
        target = path.replace("'", "''")
        return int(con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet, COMPRESSION zstd, "
                               f"KV_METADATA {{{kv}}})").fetchone()[0])
    return write_file


def _register(con: duckdb.DuckDBPyConnection, name: str, cache: Cache, files: list[str]) -> None:
    loc = cache.location
    if cache.is_remote:
        con.register(name, ds.dataset([loc.path(f) for f in files], format="parquet",
                                      filesystem=loc.filesystem))
    else:
        con.register(name, con.read_parquet([loc.path(f) for f in files]))


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return con.execute(sql).fetchone()[0]


def _names(files: list[CurFile]) -> str:
    import os

    return ", ".join(os.path.basename(f.path) for f in files[:3]) + (", ..." if len(files) > 3 else "")


def scan_keys(con: duckdb.DuckDBPyConnection, files: list[CurFile], tags: BillingTags,
              tmp: str) -> dict[str, Any]:
    """Scan A: the keys of every line to ``tmp/keys.parquet`` (view ``k``); the counts.

    Raises
    ------
    BillingDataError
        No lines; a cost that is not a finite number or a time that is not a time."""
    raw = raw_select(files, tags)
    where = files[0].path if len(files) == 1 else f"one of {len(files)} CUR files ({_names(files)})"
    path = f"{tmp}/keys.parquet".replace("'", "''")
    run(con, f"COPY (SELECT {_PERIOD} AS period, key_hi, key_lo, nat, "
             "hash(_file) AS fileh, bad_money, bad_time, has_split_columns "
             f"FROM ({raw})) TO '{path}' (FORMAT parquet)", where)
    con.execute(f"CREATE VIEW k AS SELECT * FROM read_parquet('{path}')")
    n, undated, periods, bad_money, bad_time, split = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE period = 'undated'), list(DISTINCT period ORDER BY "
        "period), count(*) FILTER (WHERE bad_money), count(*) FILTER (WHERE bad_time), "
        "bool_or(has_split_columns) FROM k").fetchone()
    if not n:
        raise BillingDataError(f"{_names(files)}: no line items (an empty Cost and Usage Report)")
    if bad_money or bad_time:
        bad_file = _one(con, f"SELECT min(_file) FROM ({raw}) WHERE bad_money OR bad_time")
        what = " and ".join(x for x in (
            f"{bad_money:,} line(s) with a cost that is not a finite number of dollars below a "
            "billion (N/A, 1,234.5, NaN, inf...)" if bad_money else "",
            f"{bad_time:,} line(s) with a usage or billing date that is not a time" if bad_time else "")
            if x)
        raise BillingDataError(f"{bad_file} has {what}: AWS writes plain numbers and ISO-8601 times; "
                               "nothing was imported (such a line would count as 0 or be lost)")
    return {"lines": n, "undated": undated, "periods": list(periods), "split_columns": bool(split),
            "raw": raw}


def import_into(con: duckdb.DuckDBPyConnection, files: list[CurFile], tags: BillingTags,
                counts: dict[str, Any], cache: Cache, writer: Any, replace: list[str]) -> CurImport:
    """Steps 1-4 of the module docs, after :func:`scan_keys`; returns what was imported.

    Raises
    ------
    BillingDataError
        Steps 2 and 3, or no line with the run tag (nothing is written then).
    """
    loc, state = writer.loc, writer.state
    repeated = _one(con, "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM k "
                         "GROUP BY key_hi, key_lo HAVING count(*) > 1)")
    if repeated and _one(con, "SELECT count(*) FROM (SELECT key_hi, key_lo FROM k GROUP BY ALL "
                              "HAVING min(nat) <> max(nat))"):
        raise BillingDataError(
            "line identities (identity_line_item_id and identity_time_interval) name two different "
            "lines (other resource, hours or cost): a CUR names each line once; nothing was imported")
    look = sorted(_neighbours(counts["periods"]) - set(replace))
    old = billing_files(state, "billing_keys", look)
    in_old = 0
    on = "k.key_hi = o.key_hi AND k.key_lo = o.key_lo"
    if old:
        mine = hasher(con).encode()
        made = {file_metadata(loc, f).get(HASHER_KEY, b"") for f in old}
        if made != {mine}:
            raise BillingDataError(
                "the cache's line keys were made by another DuckDB version (its hash function "
                f"differs), so lines imported before cannot be recognised: re-import the months "
                f"{', '.join(sorted({p for p in look if billing_files(state, 'billing_keys', [p])}))} "
                "with --replace-period; nothing was imported")
        _register(con, "old_keys", cache, old)
        in_old = _one(con, f"SELECT count(*) FROM k SEMI JOIN old_keys o ON {on}")
        restated = con.execute(
            f"SELECT count(*), min(period) FROM (SELECT * FROM k ANTI JOIN old_keys o ON {on}) f "
            "SEMI JOIN old_keys o ON f.nat = o.nat").fetchone()
        if restated[0]:
            raise BillingDataError(
                f"{restated[0]:,} line(s) of {restated[1]} restate lines the cache holds under other "
                "identities (same resource, hours, type and amounts): a later delivery of that "
                "month, or the same bill in another format. Replace the month with it "
                f"(--replace-period {restated[1]}), or leave it out; nothing was imported")
    if len(files) > 1:
        twice = _one(con, "SELECT count(*) FROM (SELECT nat FROM (SELECT key_hi, key_lo, nat, "
                          "min(fileh) AS fh FROM k GROUP BY ALL) GROUP BY nat "
                          "HAVING count(*) > 1 AND min(fh) <> max(fh))")
        if twice:
            raise BillingDataError(
                f"{twice:,} line(s) appear in two of the files under different identities (the same "
                "resource, hours, type and amounts): two deliveries of one month, or one bill in two "
                "formats. Import one of them; nothing was imported")
    # scan B
    lines = classified_select(counts["raw"], allocate=False)
    keys_of = f"{'ANTI JOIN old_keys o ON ' + on if in_old else ''}"
    if repeated or in_old:
        keyed = f"SELECT * FROM ({lines})"
        anti = ("ANTI JOIN old_keys o ON l.key_hi = o.key_hi AND l.key_lo = o.key_lo" if in_old else "")
        con.execute(f"CREATE TEMP TABLE dl AS SELECT DISTINCT ON (l.key_hi, l.key_lo) l.* "
                    f"FROM ({keyed}) l {anti}")
        lines = "SELECT * FROM dl"
    # A task's process is the same on all its lines: carried, not grouped by (a long text
    # key in 2M groups is what makes the aggregation spill).
    con.execute(
        f"CREATE TEMP TABLE agg AS SELECT {', '.join(g for g in _GROUP if g != 'process')}, "
        "parent_resource_id, any_value(process) AS process, "
        "sum(used_cost) AS used_cost, sum(idle_cost) AS idle_cost, sum(billed_cost) AS billed_cost, "
        "sum(unblended_cost) AS unblended_cost, count(*) AS lines, min(usage_start) AS usage_start, "
        f"max(usage_end) AS usage_end FROM ({lines}) GROUP BY ALL")
    added = counts["lines"] - in_old - repeated
    if added and not _one(con, "SELECT count(*) FROM agg WHERE run_id IS NOT NULL"):
        found = tag_keys_found(con, files)
        raise BillingDataError(
            f"{_names(files)}: no line carries the run tag ({' or '.join(tags.run)}); tag keys found: "
            f"{', '.join(found) or 'none'}. Name the tags your runs carry (--run-tag, BillingTags), "
            "or import this file together with the other parts of its month.")
    res = CurImport(cache=cache.location.display, files=[], lines_read=counts["lines"],
                    lines_added=added, lines_already_imported=in_old, lines_repeated=repeated,
                    split_columns=counts["split_columns"], replaced=replace)
    sums = con.execute(
        "SELECT period, sum(lines), sum(billed_cost), "
        "sum(billed_cost) FILTER (WHERE line_class = 'usage' AND run_id IS NOT NULL), "
        "sum(billed_cost) FILTER (WHERE line_class = 'usage' AND run_id IS NULL), "
        "sum(billed_cost) FILTER (WHERE line_class = 'account') "
        "FROM agg GROUP BY period ORDER BY period").fetchall()
    cols = [c for c in BILLING_TASKS.names if c not in ("used_cost", "idle_cost", "billed_cost",
                                                        "unblended_cost", "lines", "usage_start",
                                                        "usage_end")]
    parts: list[BillingPart] = []
    made_by = {HASHER_KEY.decode(): hasher(con)}
    for period, n, billed, tagged, untagged, account in sums:
        res.periods.append(period)
        res.undated_lines += int(n) if period == "undated" else 0
        res.billed_cost += billed or 0.0
        res.tagged_cost += tagged or 0.0
        res.untagged_cost += untagged or 0.0
        res.account_cost += account or 0.0
        p = period.replace("'", "''")
        # an instance's rows stay one per hour (instance_hour): reports match them to the
        # split parents hour by hour
        tasks = (f"SELECT {', '.join(cols)}, sum(used_cost) AS used_cost, sum(idle_cost) AS idle_cost, "
                 "sum(billed_cost) AS billed_cost, sum(unblended_cost) AS unblended_cost, "
                 "sum(lines) AS lines, min(usage_start) AS usage_start, max(usage_end) AS usage_end "
                 f"FROM agg WHERE period = '{p}' GROUP BY {', '.join(cols)}, instance_hour "
                 "ORDER BY run_id, task_hash")
        keys = (f"SELECT key_hi, key_lo, min(nat) AS nat FROM k {keys_of} WHERE period = '{p}' "
                "GROUP BY key_hi, key_lo" if repeated or in_old else
                f"SELECT key_hi, key_lo, nat FROM k WHERE period = '{p}'")
        # a task's split lines are consecutive hours on its instance: the span of each
        # aggregate row is exactly the hours it restates (no second scan of the files)
        parents = (f"SELECT parent_resource_id AS resource_id, usage_start, usage_end FROM agg "
                   f"WHERE period = '{p}' AND parent_resource_id IS NOT NULL")
        # each part runs its query when it is written (commit_billing writes them in turn)
        parts += [BillingPart("billing_tasks", period, query_rows(con, tasks, BILLING_TASKS.arrow_schema)),
                  BillingPart("billing_keys", period, query_rows(con, keys, BILLING_KEYS.arrow_schema),
                              metadata=made_by, write_file=_copy(con, keys, made_by)),
                  BillingPart("billing_parents", period,
                              query_rows(con, parents, BILLING_PARENTS.arrow_schema))]
    writer.state, _ = commit_billing(loc, state, parts, replace)
    return res
