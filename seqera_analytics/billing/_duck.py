"""The DuckDB connection a bill is read with, and Arrow in and out of it."""

from __future__ import annotations

import os
import re
from typing import Any

import duckdb
import pyarrow as pa

from .._exceptions import BillingDataError, ConfigurationError
from ..store._billing import arrow_writer_rows

__all__ = ["conform", "connect", "first_line", "query_rows", "run", "to_table"]

_MEMORY = re.compile(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", re.IGNORECASE)


def memory_limit() -> str:
    """DuckDB's memory for reading a bill (``SEQERA_ANALYTICS_CUR_MEMORY``, default 512MB):
    beyond it DuckDB spills to the temp directory, so peak RSS stays near 1 GiB.

    Raises
    ------
    ConfigurationError
        A value that is not an amount of memory (``512MB``, ``2GB``).
    """
    value = os.environ.get("SEQERA_ANALYTICS_CUR_MEMORY", "512MB")
    if not _MEMORY.fullmatch(value):
        raise ConfigurationError(f"SEQERA_ANALYTICS_CUR_MEMORY must be an amount of memory such as "
                                 f"512MB or 2GB, got {value!r}")
    return value.strip()


def connect(tmp: str) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(config={"memory_limit": memory_limit(), "temp_directory": tmp,
                                  "preserve_insertion_order": False})


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def run(con: duckdb.DuckDBPyConnection, sql: str, where: str) -> None:
    """Execute ``sql``; a DuckDB error reading the files is one line naming ``where``."""
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        text = first_line(exc)
        if "not found in FROM clause" in text or "CSV Error" in text:
            text = "its rows do not match its header (a ragged or truncated CSV): " + text
        raise BillingDataError(f"{where} could not be read as a Cost and Usage Report: {text}") from None


def _reader(result: Any) -> Any:
    """A streaming Arrow reader of a DuckDB result (``to_arrow_reader`` since DuckDB 1.4,
    ``fetch_record_batch`` before, deprecated since)."""
    if hasattr(result, "to_arrow_reader"):
        return result.to_arrow_reader(1 << 20)
    return result.fetch_record_batch(1 << 20)  # pragma: no cover - DuckDB < 1.4


def to_table(result: Any) -> pa.Table:
    if hasattr(result, "to_arrow_table"):
        return result.to_arrow_table()
    return result.fetch_arrow_table()  # pragma: no cover - DuckDB < 1.4


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table``'s columns of ``schema``, cast to it (naive times are UTC)."""
    cols = []
    for f in schema:
        col = table[f.name]
        if pa.types.is_timestamp(f.type) and not pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us"))
        if pa.types.is_timestamp(col.type) and col.type.tz not in (None, "UTC"):
            col = col.cast(pa.timestamp(col.type.unit, "UTC"))
        cols.append(col.cast(f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def query_rows(con: duckdb.DuckDBPyConnection, sql: str, schema: pa.Schema) -> Any:
    """A ``BillingPart.write`` that streams the rows of ``sql`` (run when it is written)."""
    def write(w: Any) -> int:
        reader = _reader(con.execute(sql))
        batches = (conform(pa.Table.from_batches([b]), schema).to_batches()[0] for b in reader
                   if b.num_rows)
        return arrow_writer_rows(batches, schema)(w)
    return write
