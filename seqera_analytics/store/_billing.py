"""The cache's billing datasets: billed cost per task from the AWS bill, and the identities
of the imported line items.

::

    <cache>/billing_tasks/period=<YYYY-MM|undated>/part-<uuid>.parquet
    <cache>/billing_keys/period=<YYYY-MM|undated>/part-<uuid>.parquet
    <cache>/billing_parents/period=<YYYY-MM|undated>/part-<uuid>.parquet

``period`` is the billing period the CUR states (``bill_billing_period_start_date``), else
the UTC month of the line's usage start, else ``undated``. An import adds one file per
table and period it brings new lines to, listed in ``state.json`` like every other
committed file (the same lock, the same atomic commit): a reader never sees half an
import. ``billing_keys`` holds a 128-bit key per imported line (and one of what the line is
about, to recognise a re-delivered bill), so importing a file again (or a copy of it) adds
nothing; ``billing_parents`` the instance-hours that split lines restate. Replacing a period
drops that period's files of every billing table in the same commit that adds the new ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .._exceptions import CacheError
from ..frames import BILLING_KEYS, BILLING_PARENTS, BILLING_TASKS, TableSpec
from ._files import PARQUET_OPTIONS, publish, staging_path
from ._fs import Location
from ._state import State, write_state

__all__ = [
    "BILLING_SPECS",
    "BILLING_TABLES",
    "BillingPart",
    "billing_files",
    "commit_billing",
    "period_of_file",
]

BILLING_SPECS: dict[str, TableSpec] = {"billing_tasks": BILLING_TASKS, "billing_keys": BILLING_KEYS,
                                       "billing_parents": BILLING_PARENTS}
BILLING_TABLES = tuple(BILLING_SPECS)


def period_of_file(rel: str) -> str | None:
    """``billing_tasks/period=2025-09/part-x.parquet`` -> ``2025-09``."""
    for part in rel.split("/"):
        if part.startswith("period="):
            return part[len("period="):]
    return None


def billing_files(state: State, table: str, periods: Iterable[str] | None = None) -> list[str]:
    """Committed files of a billing table, optionally only of ``periods``."""
    files = state.files.get(table, [])
    if periods is None:
        return list(files)
    wanted = set(periods)
    return [f for f in files if period_of_file(f) in wanted]


class BillingPart:
    """One new file of a billing table and period, written by ``write`` into the staging
    area (``write(path, filesystem, schema)`` streams its rows with a ``ParquetWriter``)."""

    def __init__(self, table: str, period: str, write: Callable[[pq.ParquetWriter], int],
                 metadata: dict[str, str] | None = None,
                 write_file: Callable[[str], int] | None = None) -> None:
        self.table, self.period, self.write = table, period, write
        self.metadata = metadata or {}
        #: on local disk: writes the whole file at a path itself (a query engine's own
        #: writer, without the rows passing through Python); returns the rows written
        self.write_file = write_file


def commit_billing(loc: Location, state: State, parts: Sequence[BillingPart],
                   replace_periods: Iterable[str] = ()) -> tuple[State, int]:
    """Write ``parts`` and commit them, dropping the files of ``replace_periods`` in the
    same commit. Call with the cache's writer lock held (``CacheWriter``).

    Returns the new state and the rows written. On any failure nothing of this commit stays.
    """
    replace = set(replace_periods)
    staged: list[tuple[str, str]] = []
    published: list[str] = []
    rows = 0
    try:
        for p in parts:
            schema = BILLING_SPECS[p.table].arrow_schema
            if p.metadata:
                schema = schema.with_metadata({**(schema.metadata or {}), **p.metadata})
            tmp = staging_path(loc)
            if p.write_file is not None and loc.local:
                n = p.write_file(loc.path(tmp))
            else:
                with pq.ParquetWriter(loc.path(tmp), schema, filesystem=loc.filesystem,
                                      **PARQUET_OPTIONS) as w:
                    n = p.write(w)
            if not n:
                loc.delete(tmp)
                continue
            rows += n
            loc.sync_file(tmp)
            staged.append((tmp, f"{p.table}/period={p.period}/part-{uuid.uuid4().hex}.parquet"))
        if not staged and not replace:
            return state, 0
        published = publish(loc, staged)
        files = {t: list(v) for t, v in state.files.items()}
        dropped: list[str] = []
        for table in BILLING_TABLES:
            keep = [f for f in files.get(table, []) if period_of_file(f) not in replace]
            dropped += [f for f in files.get(table, []) if period_of_file(f) in replace]
            files[table] = keep + [rel for _, rel in staged if rel.startswith(f"{table}/")]
        new_state = State(schema_version=state.schema_version, files=files,
                          workspaces=state.workspaces, active=state.active, facts=state.facts,
                          generation=state.generation + 1)
        write_state(loc, new_state)  # the commit point
    except BaseException:
        for tmp, _ in staged:
            loc.delete(tmp)
        for rel in published:
            loc.delete(rel)
        raise
    for f in dropped:
        loc.delete(f)
    return new_state, rows


def arrow_writer_rows(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Callable[[Any], int]:
    """A ``BillingPart.write`` that writes ``batches`` cast to ``schema``."""
    def write(w: pq.ParquetWriter) -> int:
        n = 0
        for b in batches:
            if b.num_rows:
                w.write_table(pa.Table.from_batches([b]).select(schema.names).cast(schema))
                n += b.num_rows
        return n
    return write


def file_metadata(loc: Location, rel: str) -> dict[bytes, bytes]:
    """The key-value metadata of a committed billing file's footer."""
    return dict(pq.read_schema(loc.path(rel), filesystem=loc.filesystem).metadata or {})


def read_billing_table(loc: Location, state: State, table: str) -> pa.Table:
    """The committed rows of a billing table, typed by its spec (a column a later release
    added is null); ``billing_tasks`` with ``period`` from each file's partition path.

    Raises
    ------
    CacheError
        A listed file is gone or damaged.
    """
    spec = BILLING_SPECS[table]
    files = state.files.get(table, [])
    schema = spec.arrow_schema
    if table == "billing_tasks":
        schema = schema.append(pa.field("period", pa.string()))
    if not files:
        return schema.empty_table()
    out = []
    for f in files:
        try:
            t = pq.read_table(loc.path(f), filesystem=loc.filesystem)
        except (OSError, pa.ArrowException) as exc:
            raise CacheError(f"The cache at {loc.display} has a billing file that is gone or damaged "
                             f"({str(exc).splitlines()[0][:200]}). Import that period again with "
                             "`seqera-analytics cur import FILES --replace-period YYYY-MM`.") from None
        for field in spec.arrow_schema:
            if field.name not in t.column_names:
                t = t.append_column(field.name, pa.nulls(t.num_rows, field.type))
        t = t.select(spec.names).cast(spec.arrow_schema)
        if table == "billing_tasks":
            t = t.append_column("period", pa.array([period_of_file(f)] * t.num_rows, pa.string()))
        out.append(t)
    return pa.concat_tables(out).cast(schema)


def clear_orphans(loc: Location, state: State) -> int:
    """Remove billing files no state lists (left by a killed import); returns how many."""
    listed = {f for t in BILLING_TABLES for f in state.files.get(t, [])}
    n = 0
    for table in BILLING_TABLES:
        if not loc.is_dir(table):
            continue
        for rel in loc.list_files(table, "*.parquet"):
            if rel not in listed:
                loc.delete(rel)
                n += 1
    return n
