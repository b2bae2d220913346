"""Facts that change after a run finished, kept apart from the run's (write-once) files.

A finished run's files are never rewritten, yet its labels, ``deleted`` mark,
``last_updated`` (and, in principle, ``status``) can change on the Platform, and a run the
Platform stops listing gets ``unlisted_since``. Those values live in one small file,
``_facts/facts-<uuid>.parquet`` (one row per run whose facts differ from its files), that
the library overlays on the runs rows it reads. Plain readers of ``runs/`` see the values
as of when each run finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..frames import RUNS
from ._fs import Location
from ._layout import FACT_COLUMNS

__all__ = ["FACTS_SCHEMA", "facts_table", "overlay", "read_facts", "to_instant"]

#: Columns of the facts file: ``run_id`` and :data:`FACT_COLUMNS`, typed as in RUNS.
FACTS_SCHEMA = pa.schema([RUNS["run_id"].arrow_field(), *(RUNS[c].arrow_field() for c in FACT_COLUMNS)])

Facts = dict[str, dict[str, Any]]


def read_facts(loc: Location, rel: str | None) -> Facts:
    """run_id -> fact values, from the committed facts file (empty when there is none)."""
    if rel is None:
        return {}
    table = pq.read_table(loc.path(rel), filesystem=loc.filesystem)
    table = table.select([n for n in FACTS_SCHEMA.names if n in table.column_names])
    return {row.pop("run_id"): row for row in table.to_pylist()}


def facts_table(facts: Mapping[str, Mapping[str, Any]]) -> pa.Table:
    ids = sorted(facts)
    cols = {"run_id": pa.array(ids, pa.string())}
    for c in FACT_COLUMNS:
        cols[c] = pa.array([facts[r].get(c) for r in ids], FACTS_SCHEMA.field(c).type)
    return pa.table(cols, schema=FACTS_SCHEMA)


def overlay(runs: pa.Table, facts: pa.Table | Facts | None) -> pa.Table:
    """``runs`` with the fact columns it has replaced by the facts of its runs (rows of
    runs without facts are unchanged)."""
    if facts is None or "run_id" not in runs.column_names or not runs.num_rows:
        return runs
    if not isinstance(facts, pa.Table):
        facts = facts_table(facts)
    if not facts.num_rows:
        return runs
    idx = pc.index_in(runs["run_id"], value_set=facts["run_id"].combine_chunks())
    hit = pc.is_valid(idx)
    if not pc.any(hit).as_py():
        return runs
    for c in FACT_COLUMNS:
        if c not in runs.column_names:
            continue
        i = runs.schema.get_field_index(c)
        typ = runs.schema.field(c).type
        new = facts[c].combine_chunks().take(idx).cast(typ)
        runs = runs.set_column(i, runs.schema.field(c), pc.if_else(hit, new, runs[c]))
    return runs


def fact_values(rows: pa.Table) -> Facts:
    """run_id -> fact values of some runs rows (the columns it lacks are None)."""
    cols = [c for c in FACT_COLUMNS if c in rows.column_names]
    out: Facts = {}
    for row in rows.select(["run_id", *cols]).to_pylist():
        rid = row.pop("run_id")
        out[rid] = {c: row.get(c) for c in FACT_COLUMNS}
    return out


def to_instant(value: Any) -> datetime:
    """A time given as datetime, pandas Timestamp or ISO text, as an aware UTC datetime.

    Raises
    ------
    ValueError
        Not a time.
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a time: {value!r}") from exc
    if pd.isna(ts):
        raise ValueError(f"not a time: {value!r}")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor("ms").to_pydatetime()


def same(a: Mapping[str, Any], b: Mapping[str, Any], columns: Iterable[str] = FACT_COLUMNS) -> bool:
    return all(a.get(c) == b.get(c) for c in columns)
