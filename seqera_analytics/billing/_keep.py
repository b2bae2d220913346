"""Keep the lines of an import that the cache does not hold yet, and refuse what would
count money twice or lose it.

On the temp table ``lines`` (``_import``), under the cache's writer lock:

1. lines whose identity the cache already holds (this period, its neighbours, or
   ``undated``) are counted and skipped; so is a line given twice (a file and its copy);
2. an identity that names two different lines (another resource, run or cost) is refused:
   keeping either would lose the other's money;
3. a line the cache holds under *another* identity (same resource, hours, type, product,
   usage type, operation and account: a later delivery of the month, whose line ids AWS
   does not keep, or the same bill in another format) is refused unless its period is being
   replaced; so is the same line in two files of one import under two identities;
4. the rest is aggregated per period into ``billing_tasks`` and its keys and split parents
   written, in one commit (``store._billing.commit_billing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow.dataset as ds

from .._exceptions import BillingDataError
from ..frames import BILLING_KEYS, BILLING_PARENTS, BILLING_TASKS
from ..store import Cache
from ..store._billing import BillingPart, billing_files, commit_billing
from ._duck import query_rows

__all__ = ["CurImport", "merge"]

_GROUP = ("usage_day", "billing_period", "line_item_type", "product_code", "line_class",
          "cost_basis", "run_id", "task_hash", "process", "instance_id", "instance_hour")


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


def _register_old(con: duckdb.DuckDBPyConnection, cache: Cache, files: list[str]) -> None:
    loc = cache.location
    if cache.is_remote:
        con.register("old_keys", ds.dataset([loc.path(f) for f in files], format="parquet",
                                            filesystem=loc.filesystem))
    else:
        con.register("old_keys", con.read_parquet([loc.path(f) for f in files]))


def merge(con: duckdb.DuckDBPyConnection, cache: Cache, writer: Any, counts: dict[str, Any],
          replace: list[str], n_files: int) -> CurImport:
    """Steps 1-4 of the module docs; returns what was imported.

    Raises
    ------
    BillingDataError
        Steps 2 and 3 (nothing is written then).
    """
    loc, state = writer.loc, writer.state
    look = sorted(_neighbours(counts["periods"]) - set(replace))
    old = billing_files(state, "billing_keys", look)
    if old:
        _register_old(con, cache, old)
        anti = "ANTI JOIN old_keys o ON l.key_hi = o.key_hi AND l.key_lo = o.key_lo"
    else:
        anti = ""
    cols = [r[0] for r in con.execute("DESCRIBE lines").fetchall() if r[0] not in ("key_hi", "key_lo")]
    con.execute(
        "CREATE TEMP TABLE fresh AS SELECT key_hi, key_lo, "
        + ", ".join(f"any_value({c}) AS {c}" for c in cols)
        + ", count(*) AS _n, (min(nat_lo) <> max(nat_lo) OR min(billed_cost) <> max(billed_cost) OR "
          "min(coalesce(run_id, '')) <> max(coalesce(run_id, ''))) AS _conflict "
        f"FROM lines l {anti} GROUP BY key_hi, key_lo")
    added, repeated, conflicts = con.execute(
        "SELECT count(*), coalesce(sum(_n - 1), 0), count(*) FILTER (WHERE _conflict) FROM fresh").fetchone()
    if conflicts:
        raise BillingDataError(
            f"{conflicts:,} line identit{'y names' if conflicts == 1 else 'ies name'} two different "
            "lines (identity_line_item_id and identity_time_interval the same, resource, run or cost "
            "not): a CUR names each line once; nothing was imported")
    in_old = counts["lines"] - added - repeated
    if old:
        (restated,) = con.execute("SELECT count(*) FROM fresh f SEMI JOIN old_keys o "
                                  "ON f.nat_hi = o.nat_hi AND f.nat_lo = o.nat_lo").fetchone()
        if restated:
            periods = [r[0] for r in con.execute(
                "SELECT DISTINCT period FROM fresh f SEMI JOIN old_keys o ON f.nat_hi = o.nat_hi "
                "AND f.nat_lo = o.nat_lo ORDER BY 1").fetchall()]
            raise BillingDataError(
                f"{restated:,} line(s) of {', '.join(periods)} restate lines the cache holds under "
                "other identities (same resource, hours and type): a later delivery of that month, "
                "or the same bill in another format. Replace the month with it "
                f"(--replace-period {periods[0]}), or leave it out; nothing was imported")
    if n_files > 1:
        (twice,) = con.execute("SELECT count(*) FROM (SELECT nat_hi, nat_lo FROM fresh GROUP BY ALL "
                               "HAVING count(DISTINCT _file) > 1)").fetchone()
        if twice:
            raise BillingDataError(
                f"{twice:,} line(s) appear in two of the files under different identities (the same "
                "resource, hours and type): two deliveries of one month, or one bill in two formats. "
                "Import one of them; nothing was imported")
    res = CurImport(cache=cache.location.display, files=[], lines_read=counts["lines"],
                    lines_added=added, lines_already_imported=in_old, lines_repeated=repeated,
                    split_columns=counts["split_columns"], replaced=replace)
    sums = con.execute(
        "SELECT period, count(*), sum(billed_cost), "
        "sum(billed_cost) FILTER (WHERE line_class = 'usage' AND run_id IS NOT NULL), "
        "sum(billed_cost) FILTER (WHERE line_class = 'usage' AND run_id IS NULL), "
        "sum(billed_cost) FILTER (WHERE line_class = 'account') "
        "FROM fresh GROUP BY period ORDER BY period").fetchall()
    parts: list[BillingPart] = []
    for period, n, billed, tagged, untagged, account in sums:
        res.periods.append(period)
        res.undated_lines += n if period == "undated" else 0
        res.billed_cost += billed or 0.0
        res.tagged_cost += tagged or 0.0
        res.untagged_cost += untagged or 0.0
        res.account_cost += account or 0.0
        p = period.replace("'", "''")
        agg = (f"SELECT {', '.join(_GROUP)}, sum(used_cost) AS used_cost, sum(idle_cost) AS idle_cost, "
               "sum(billed_cost) AS billed_cost, sum(unblended_cost) AS unblended_cost, "
               "count(*) AS lines, min(usage_start) AS usage_start, "
               f"max(usage_end) AS usage_end FROM fresh WHERE period = '{p}' GROUP BY ALL "
               "ORDER BY run_id, task_hash")
        keys = f"SELECT key_hi, key_lo, nat_hi, nat_lo FROM fresh WHERE period = '{p}'"
        parents = (f"SELECT DISTINCT parent_resource_id AS resource_id, usage_start FROM fresh "
                   f"WHERE period = '{p}' AND parent_resource_id IS NOT NULL")
        # each part runs its query when it is written (commit_billing writes them in turn)
        parts += [BillingPart("billing_tasks", period, query_rows(con, agg, BILLING_TASKS.arrow_schema)),
                  BillingPart("billing_keys", period, query_rows(con, keys, BILLING_KEYS.arrow_schema)),
                  BillingPart("billing_parents", period,
                              query_rows(con, parents, BILLING_PARENTS.arrow_schema))]
    writer.state, _ = commit_billing(loc, state, parts, replace)
    return res
