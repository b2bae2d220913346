"""In-place upgrade of a cache written with an older schema version, from the data it holds.

A re-sync of a large organisation takes hours at the API's rate limit, so a new schema never
throws a cache away: every committed file is read, given the columns the new schema adds,
and (for runs and tasks) put through the record checks of :mod:`seqera_analytics.frames`
(impossible values nulled and flagged in ``quality``, implausible usage flagged), then
written as a new file. Runs that are not finished (non-terminal status) move out of the
trees into the active area, one file per run and table (the trees then hold only finished
runs, written once). The upgrade commits like a sync (new files written in the staging
area, fsynced and moved into place, ``state.json`` replaced last, old files deleted after),
so a kill leaves the old cache or the new one for the library; the next writer deletes the
files of an interrupted upgrade and upgrades again. A plain reader globbing a table during
the upgrade (it runs once, for seconds) may see old and new files side by side. What a
check can only see in the raw record (unreadable text, numbers beyond int64, zone-less
times) was already null or read as UTC in the old files and is not flagged.

Version history: 1 -> 2 adds ``quality`` to runs and tasks; 2 -> 3 adds ``unlisted_since``
to runs (null) and moves active runs out of the trees.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..frames import SCHEMA_VERSION, TERMINAL_RUN_STATUSES, check_tasks_against_runs
from ..frames._quality import check_runs, check_tasks
from ._files import file_schema as _file_schema
from ._files import publish, staging_path
from ._fs import Location
from ._layout import (
    BATCH_KEY,
    PARTITIONED,
    TABLE_SPECS,
    active_dir,
    file_partition,
    month_of,
    new_file_name,
    partition_dir,
)
from ._state import State, write_state

__all__ = ["upgrade"]

_PARQUET_OPTIONS = {"compression": "zstd"}


def _conform(table: str, rows: pa.Table) -> pa.Table:
    """``rows`` with the current schema's columns (new ones null), in its order and types.
    A ``quality`` column of another type (a file not written by this package) is rebuilt
    by the checks rather than trusted."""
    schema = _file_schema(table)
    cols = []
    for f in schema:
        if f.name in rows.column_names and not (f.name == "quality" and rows.schema.field(f.name).type != f.type):
            cols.append(rows.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(rows.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


#: Rows checked at a time: an upgrade's memory does not grow with a partition's size.
BATCH_ROWS = 262_144


def _batches(loc: Location, rel: str) -> Iterator[pa.Table]:
    """A Parquet file's rows, a bounded batch at a time (one empty table for an empty file)."""
    f = pq.ParquetFile(loc.path(rel), filesystem=loc.filesystem)
    empty = True
    for batch in f.iter_batches(batch_size=BATCH_ROWS):
        empty = False
        yield pa.Table.from_batches([batch])
    if empty:
        yield f.schema_arrow.empty_table()


def _checked(table: str, rows: pa.Table, runs: pa.Table | None) -> pa.Table:
    """The record checks, on a file's rows (``workspace_id`` is in the path, not the file)."""
    if table not in ("runs", "tasks"):
        return rows
    full = rows.append_column("workspace_id", pa.nulls(rows.num_rows, pa.int64()))
    full = full.select(TABLE_SPECS[table].names)
    if table == "runs":
        out = check_runs(full)
    else:
        out = check_tasks(full)
        if runs is not None:
            out = check_tasks_against_runs(out, runs)
    return out.drop_columns(["workspace_id"])


def _not_final(loc: Location, state: State) -> set[str]:
    """Runs of an older cache that must not stay in the trees: not finished (non-terminal
    status), or finished with fewer task rows than their counts promise
    (``tasks_succeeded + tasks_failed + tasks_cached``, when all three are known), so that
    a later sync can still complete them (finished files are never rewritten)."""
    rows: dict[str, int] = defaultdict(int)
    for rel in dict.fromkeys(state.files.get("tasks", [])):
        ids = pq.read_table(loc.path(rel), columns=["run_id"], filesystem=loc.filesystem)["run_id"]
        counts = pc.value_counts(ids)
        for rid, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
            rows[rid] += n
    out: set[str] = set()
    count_cols = ("tasks_succeeded", "tasks_failed", "tasks_cached")
    for rel in dict.fromkeys(state.files.get("runs", [])):
        names = pq.read_schema(loc.path(rel), filesystem=loc.filesystem).names
        cols = ["run_id", "status", *(c for c in count_cols if c in names)]
        for r in pq.read_table(loc.path(rel), columns=cols, filesystem=loc.filesystem).to_pylist():
            counts = [r.get(c) for c in count_cols]
            short = all(c is not None for c in counts) and rows.get(r["run_id"], 0) < sum(counts)
            if r["status"] not in TERMINAL_RUN_STATUSES or short:
                out.add(r["run_id"])
    return out


def upgrade(loc: Location, state: State) -> tuple[State, str]:
    """Rewrite every file ``state`` lists in the current schema and commit the new state.

    Returns
    -------
    (State, str)
        The committed state and a one-line message for the user.
    """
    # The billing datasets (``_billing``) have their own schema, not the frames': carried over.
    files: dict[str, list[str]] = {t: ([] if t in TABLE_SPECS else list(fs)) for t, fs in state.files.items()}
    staged: list[tuple[str, str]] = []
    old_files = [f for t, fs in state.files.items() if t in TABLE_SPECS for f in fs]
    old_active = [f for fs in state.active.values() for f in fs]
    runs_of: dict[tuple[int, str], pa.Table] = {}
    moved: dict[str, dict[tuple[int, str], list[pa.Table]]] = defaultdict(lambda: defaultdict(list))
    new_key: dict[str, tuple[int, str]] = {}
    counts = {"runs": 0, "tasks": 0}
    flagged = {"runs": 0, "tasks": 0}
    running = _not_final(loc, state)  # they go to the active area
    to_active: dict[tuple[str, str, tuple[int, str]], list[pa.Table]] = defaultdict(list)
    active: dict[str, list[str]] = defaultdict(list)
    # Tagged as an upgrade's: if the upgrade is killed, the next writer deletes these
    # files (the old ones are still the cache) instead of adopting them.
    meta = {BATCH_KEY: json.dumps({"id": uuid.uuid4().hex, "kind": "upgrade", "files": []}).encode()}

    def write(table: str, directory: str, parts: Iterable[pa.Table], *, keep_empty: bool,
              tag: str = "", into: list[str] | None = None) -> None:
        rel = new_file_name(directory, tag)
        tmp = staging_path(loc)
        staged.append((tmp, rel))
        n = 0
        with pq.ParquetWriter(loc.path(tmp), _file_schema(table).with_metadata(meta), filesystem=loc.filesystem,
                              **_PARQUET_OPTIONS) as out:
            for rows in parts:
                out.write_table(rows)
                n += rows.num_rows
        if not n and not keep_empty:  # every run of the partition moved elsewhere
            staged.pop()
            loc.delete(tmp)
            return
        loc.sync_file(tmp)
        (files.setdefault(table, []) if into is None else into).append(rel)

    def checked(table: str, rel: str, part: tuple[int, str] | None) -> Iterator[pa.Table]:
        """The file's rows, batch by batch, checked; rows of runs that move stay behind in
        ``moved``."""
        for raw in _batches(loc, rel):
            rows = _conform(table, raw)
            if table == "runs":
                rows = _checked(table, rows, None)
                if part is not None:
                    runs_of[part] = pa.concat_tables([runs_of[part], rows]) if part in runs_of else rows
                    # a submit time found impossible moves its run to month=unknown
                    months = month_of(rows.column("submit")).to_pylist()
                    for rid, m in zip(rows.column("run_id").to_pylist(), months):
                        if m != part[1]:
                            new_key[rid] = (part[0], m)
            elif table == "tasks":
                rows = _checked(table, rows, runs_of.get(part) if part else None)
            if table in counts:
                counts[table] += rows.num_rows
                flagged[table] += rows.num_rows - rows.column("quality").null_count
            if part is not None and table in PARTITIONED and new_key:
                go = pc.is_in(rows.column("run_id"), value_set=pa.array(list(new_key), pa.string()))
                if pc.any(go).as_py():
                    for rid in set(rows.filter(go).column("run_id").to_pylist()):
                        moved[table][new_key[rid]].append(rows.filter(pc.equal(rows.column("run_id"), rid)))
                    rows = rows.filter(pc.invert(go))
            if part is not None and table in PARTITIONED and running:
                go = pc.is_in(rows.column("run_id"), value_set=pa.array(sorted(running), pa.string()))
                if pc.any(go).as_py():
                    for rid in set(rows.filter(go).column("run_id").to_pylist()):
                        to_active[(table, rid, part)].append(rows.filter(pc.equal(rows.column("run_id"), rid)))
                    rows = rows.filter(pc.invert(go))
            yield rows

    try:
        # runs first: the task checks compare each task with its (checked) run
        for table in sorted((t for t in state.files if t in TABLE_SPECS), key=lambda t: (t != "runs", t)):
            for rel in dict.fromkeys(state.files[table]):
                part = file_partition(rel)
                directory = partition_dir(table, *part) if part is not None else table
                write(table, directory, checked(table, rel, part), keep_empty=part is None)
        for table, parts in moved.items():
            for (w, m), pieces in parts.items():
                rest = []
                for piece in pieces:
                    go = pc.is_in(piece.column("run_id"), value_set=pa.array(sorted(running), pa.string()))
                    for rid in set(piece.filter(go).column("run_id").to_pylist()):
                        to_active[(table, rid, (w, m))].append(piece.filter(pc.equal(piece.column("run_id"), rid)))
                    rest.append(piece.filter(pc.invert(go)))
                write(table, partition_dir(table, w, m), rest, keep_empty=False)
        for (table, rid, (w, m)), pieces in sorted(to_active.items(), key=lambda kv: kv[0][:2]):
            write(table, active_dir(table, w, m), pieces, keep_empty=False, tag=rid, into=active[rid])
        publish(loc, staged)
        old_version = state.schema_version
        state.files = files
        state.active = dict(active)
        state.schema_version = SCHEMA_VERSION
        state.generation += 1
        write_state(loc, state)  # the commit point
    except BaseException:
        for tmp, _ in staged:
            loc.delete(tmp)
        raise
    for f in old_files:
        loc.delete(f)
    for f in old_active:
        loc.delete(f)
    msg = (f"The cache at {loc.display} had schema version {old_version}; upgraded in place to version "
           f"{SCHEMA_VERSION} from the data it holds (no run fetched again): checked "
           f"{counts['runs']:,} runs and {counts['tasks']:,} tasks, {flagged['runs'] + flagged['tasks']:,} "
           "with data-quality findings (`seqera-analytics report quality`). What the old release "
           "had already read leniently (text where a number belongs, numbers beyond int64, "
           "times without a zone) cannot be found again; a sync into a new cache would.")
    return state, msg
