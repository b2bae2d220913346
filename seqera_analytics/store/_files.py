"""Writing and reading single Parquet files of the cache: staged outside the trees, moved
into place whole, tagged with their batch.

A file is written into ``<cache>/_staging/`` and fsynced, then ``os.replace``-d to its
place, and the directories it entered fsynced: a plain reader globbing ``*.parquet`` in a
tree never sees a half-written file, and a file that is in place is complete.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ._layout import BATCH_KEY, PARTITIONED, STAGING_DIR, TABLE_SPECS
from ._state import fsync_dir

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


def staging_path(root: Path) -> Path:
    d = root / STAGING_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{uuid.uuid4().hex}.parquet"


def stage(root: Path, table: str | None, rows: pa.Table, batch: dict[str, Any] | None = None,
          schema: pa.Schema | None = None) -> Path:
    """Write ``rows`` (conformed to ``table``'s file schema, sorted) to a new staging file,
    fsynced; ``batch`` goes into the footer's key-value metadata under ``BATCH_KEY``."""
    if schema is None:
        assert table is not None
        schema = file_schema(table)
    rows = rows.select(schema.names).cast(schema)
    if rows.num_rows and table in SORT_KEYS:
        rows = rows.sort_by(SORT_KEYS[table])
    if batch is not None:
        rows = rows.replace_schema_metadata({**(rows.schema.metadata or {}),
                                             BATCH_KEY: json.dumps(batch).encode()})
    path = staging_path(root)
    pq.write_table(rows, path, **PARQUET_OPTIONS)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return path


def publish(root: Path, staged: Iterable[tuple[Path, str]]) -> list[str]:
    """Move staged files to their places (relative paths), then make the moves durable.

    Returns the relative paths moved, in order (so a caller can undo them on failure)."""
    done: list[str] = []
    dirs: set[Path] = set()
    for tmp, rel in staged:
        final = root / rel
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            dirs.update(p for p in final.parent.parents if root in p.parents or p == root)
        os.replace(tmp, final)
        done.append(rel)
        dirs.add(final.parent)
    for d in sorted(dirs, key=lambda p: -len(p.parts)):
        fsync_dir(d)
    return done


def batch_of(path: Path) -> dict[str, Any] | None:
    """The batch a tree file belongs to (from its footer), or ``None`` (a file of an older
    release, or not readable)."""
    try:
        meta = pq.read_schema(path).metadata or {}
        body = json.loads(meta[BATCH_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        return None
    files = body.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return body


def read_files(root: Path, table: str, files: Sequence[str], columns: Sequence[str] | None = None) -> pa.Table:
    """Rows of some files of a table, in its file schema (columns missing in an older file
    are null)."""
    schema = file_schema(table)
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    if not files:
        return schema.empty_table()
    parts = []
    for f in files:
        t = pq.read_table(root / f, columns=[c for c in schema.names
                                              if c in pq.read_schema(root / f).names])
        cols = [t.column(n).cast(fld.type) if n in t.column_names else pa.nulls(t.num_rows, fld.type)
                for n, fld in zip(schema.names, schema)]
        parts.append(pa.Table.from_arrays(cols, schema=schema))
    return pa.concat_tables(parts)
