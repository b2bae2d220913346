"""Writing and reading single Parquet files of the cache: staged outside the trees, moved
into place whole, tagged with their batch.

A file is written into ``<cache>/_staging/`` and fsynced, then ``os.replace``-d to its
place, and the directories it entered fsynced: a plain reader globbing ``*.parquet`` in a
tree never sees a half-written file, and a file that is in place is complete. On an object
store the file is uploaded to ``_staging/`` and copied into place server-side (an object
appears whole when its upload or copy completes).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ._fs import Location
from ._layout import BATCH_KEY, PARTITIONED, STAGING_DIR, TABLE_SPECS

__all__ = ["batch_of", "file_schema", "publish", "read_files", "stage"]

PARQUET_OPTIONS = {"compression": "zstd"}
SORT_KEYS: dict[str, list[tuple[str, str]]] = {
    "runs": [("submit", "descending"), ("run_id", "ascending")],
    "tasks": [("run_id", "ascending"), ("task_id", "ascending")],
    "process_metrics": [("run_id", "ascending"), ("process", "ascending"), ("metric", "ascending"),
                        ("stat", "ascending")],
    "process_progress": [("run_id", "ascending"), ("process", "ascending")],
    "workspaces": [("workspace_id", "ascending")],
}


def file_schema(table: str) -> pa.Schema:
    """The schema of a table's files: partition columns (``workspace_id``) are in the path."""
    schema = TABLE_SPECS[table].arrow_schema
    if table in PARTITIONED:
        schema = schema.remove(schema.get_field_index("workspace_id"))
    return schema


def staging_path(loc: Location) -> str:
    """A new file name in the staging area (its folder created): relative to the cache."""
    rel = f"{STAGING_DIR}/{uuid.uuid4().hex}.parquet"
    loc.staging_file(rel)
    return rel


def stage(loc: Location, table: str | None, rows: pa.Table, batch: dict[str, Any] | None = None,
          schema: pa.Schema | None = None) -> str:
    """Write ``rows`` (conformed to ``table``'s file schema, sorted) to a new staging file,
    fsynced (on local disk); ``batch`` goes into the footer's key-value metadata under
    ``BATCH_KEY``. Returns the staging file (relative to the cache)."""
    if schema is None:
        assert table is not None
        schema = file_schema(table)
    rows = rows.select(schema.names).cast(schema)
    if rows.num_rows and table in SORT_KEYS:
        rows = rows.sort_by(SORT_KEYS[table])
    if batch is not None:
        rows = rows.replace_schema_metadata({**(rows.schema.metadata or {}),
                                             BATCH_KEY: json.dumps(batch).encode()})
    rel = staging_path(loc)
    pq.write_table(rows, loc.path(rel), filesystem=loc.filesystem, **PARQUET_OPTIONS)
    loc.sync_file(rel)
    return rel


def _parent(rel: str) -> str:
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def _depth(rel: str) -> int:
    return rel.count("/") + 1 if rel else 0


def publish(loc: Location, staged: Iterable[tuple[str, str]]) -> list[str]:
    """Move staged files to their places (relative paths), then make the moves durable.

    Returns the relative paths moved, in order (so a caller can undo them on failure)."""
    done: list[str] = []
    dirs: set[str] = set()
    for tmp, rel in staged:
        parent = _parent(rel)
        if loc.local and not loc.is_dir(parent):
            loc.make_dirs(parent)
            d = parent
            while d:  # the new folders and the one they entered
                d = _parent(d)
                dirs.add(d)
        loc.move(tmp, rel)
        done.append(rel)
        dirs.add(parent)
    loc.sync_dirs(sorted(dirs, key=lambda d: -_depth(d)))
    return done


def batch_of(loc: Location, rel: str) -> dict[str, Any] | None:
    """The batch a tree file belongs to (from its footer), or ``None`` (a file of an older
    release, or not readable)."""
    try:
        meta = pq.read_schema(loc.path(rel), filesystem=loc.filesystem).metadata or {}
        body = json.loads(meta[BATCH_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        return None
    files = body.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return body


def read_files(loc: Location, table: str, files: Sequence[str], columns: Sequence[str] | None = None) -> pa.Table:
    """Rows of some files of a table, in its file schema (columns missing in an older file
    are null)."""
    schema = file_schema(table)
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    if not files:
        return schema.empty_table()
    parts = []
    for f in files:
        # the footer once per file (each read is a request on an object store)
        present = set(pq.read_schema(loc.path(f), filesystem=loc.filesystem).names)
        t = pq.read_table(loc.path(f), columns=[c for c in schema.names if c in present],
                          filesystem=loc.filesystem)
        cols = [t.column(n).cast(fld.type) if n in t.column_names else pa.nulls(t.num_rows, fld.type)
                for n, fld in zip(schema.names, schema)]
        parts.append(pa.Table.from_arrays(cols, schema=schema))
    return pa.concat_tables(parts)
