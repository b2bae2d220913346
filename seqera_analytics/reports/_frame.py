"""Engine results (Arrow) to the documented pandas report frames, in one place.

Every report ends in :func:`finish`: the period columns from the engine's ``period_ms``, the
group keys, then the spec's columns, each converted to its documented dtype (``Float64``,
``Int64``, ``string``, ``boolean``, ``datetime64[ms, UTC]`` from int64 ms, or ``object``
for lists), sorted, with ``attrs`` naming the report for the export. Nothing here groups or
sums: by the time a table arrives it has one row per report row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._spec import COVERAGE_KEY, KEY_DTYPES, NOTES_KEY, ReportSpec

__all__ = ["finish", "partial_periods", "period_label"]


def _values(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    col = table.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _float(arr: pa.Array) -> np.ndarray:
    if pa.types.is_boolean(arr.type):
        arr = arr.cast(pa.int64())
    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        arr = arr.cast(pa.float64())
    return arr.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _typed(arr: pa.Array | None, dtype: str, n: int) -> Any:
    """One column as ``dtype`` (an array to assign into a frame)."""
    if arr is None:
        arr = pa.nulls(n)
    if dtype.startswith("datetime64"):
        if pa.types.is_timestamp(arr.type):
            ms = arr.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        else:
            ms = arr.cast(pa.int64())
        vals = (
            ms.to_numpy(zero_copy_only=False)
            if ms.null_count == 0
            else (pc.fill_null(ms, np.iinfo(np.int64).min).to_numpy(zero_copy_only=False))
        )
        idx = pd.DatetimeIndex(vals.astype("datetime64[ms]")).tz_localize("UTC")
        return pd.array(idx, dtype="datetime64[ms, UTC]")
    if dtype == "string":
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = (
                arr.cast(pa.string())
                if not pa.types.is_null(arr.type)
                else pa.nulls(n, pa.string())
            )
        return pd.array(arr.to_pandas(types_mapper=None).to_numpy(dtype=object), dtype="string")
    if dtype in ("Int64", "Float64"):
        f = _float(arr) if not pa.types.is_null(arr.type) else np.full(n, np.nan)
        f = np.where(np.isfinite(f), f, np.nan) + 0.0  # + 0.0: no -0.0 in reports
        if dtype == "Int64":
            return pd.array(np.round(f), dtype="Float64").astype("Int64")
        return pd.array(f, dtype="Float64")
    if dtype == "boolean":
        return pd.array(
            arr.to_pylist() if not pa.types.is_null(arr.type) else [None] * n, dtype="boolean"
        )
    if dtype == "object":
        out = np.empty(n, dtype=object)
        out[:] = [None if v is None else list(v) for v in arr.to_pylist()]
        return out
    return pd.array(arr.to_pandas().to_numpy(), dtype=dtype)  # pragma: no cover - unused dtypes


def period_label(starts: pd.Series, period: str | None) -> pd.Series:
    """Readable labels for period starts (``datetime64[ms, UTC]``): ``2025-09-30`` (day),
    ``2025-W40`` (ISO week), ``2025-09`` (month), ``2025-Q3``, ``2025``."""
    if period is None or len(starts) == 0:
        return pd.Series(pd.array([None] * len(starts), dtype="string"), index=starts.index)
    uniq = pd.DatetimeIndex(starts.dropna().unique())
    if period == "day":
        text = list(uniq.strftime("%Y-%m-%d"))
    elif period == "week":
        iso = uniq.isocalendar()
        text = [f"{y:04d}-W{w:02d}" for y, w in zip(iso["year"], iso["week"])]
    elif period == "month":
        text = list(uniq.strftime("%Y-%m"))
    elif period == "quarter":
        text = [f"{y:04d}-Q{(m - 1) // 3 + 1}" for y, m in zip(uniq.year, uniq.month)]
    else:
        text = list(uniq.strftime("%Y"))
    mapping = pd.Series(text, index=uniq, dtype="string")
    return pd.Series(
        mapping.reindex(pd.DatetimeIndex(starts)).array, index=starts.index, dtype="string"
    )


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


_PERIOD_STEP = {
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(weeks=1),
    "month": pd.DateOffset(months=1),
    "quarter": pd.DateOffset(months=3),
    "year": pd.DateOffset(years=1),
}


def partial_periods(starts: pd.Series, period: str, lo: int | None, hi: int | None) -> Any:
    """Whether each period (given by its start) reaches outside ``[lo, hi)`` (int ms; null
    bounds are open): such a row holds only part of its period."""
    if len(starts) == 0:
        return pd.array([], dtype="boolean")
    s = pd.Series(starts.array)
    ends = s + _PERIOD_STEP[period]
    cut = pd.Series(False, index=s.index)
    if lo is not None:
        cut |= s < pd.Timestamp(lo, unit="ms", tz="UTC")
    if hi is not None:
        cut |= ends > pd.Timestamp(hi, unit="ms", tz="UTC")
    return pd.array(cut.where(s.notna()).to_numpy(dtype=object), dtype="boolean")


def finish(
    table: pa.Table,
    spec: ReportSpec,
    *,
    by: Sequence[str] = (),
    period: str | None = None,
    grouped: bool = False,
    sort: Sequence[str] | None = None,
    ascending: Sequence[bool] | None = None,
) -> pd.DataFrame:
    """Order, type and label a report.

    ``period``/``period_label`` come from ``period_ms`` (when ``grouped`` and a period is
    set), then the ``by`` keys, then the spec's columns with their documented dtypes (a
    column the table lacks is all null), then ``partial`` (from the table's coverage metadata,
    with the period columns). Rows are sorted by ``sort`` (default: period, then
    keys; nulls last); ``attrs`` say which report it is, its notes (what it left out) and
    its coverage (``[since, until)`` as ISO-8601 UTC, None: open), for the export and the CLI.
    """
    n = table.num_rows
    out = pd.DataFrame(index=pd.RangeIndex(n))
    meta = table.schema.metadata or {}
    if grouped and period is not None:
        out["period"] = _typed(_values(table, "period_ms"), "datetime64[ms, UTC]", n)
        out["period_label"] = period_label(out["period"], period).array
        coverage = json.loads(meta[COVERAGE_KEY]) if COVERAGE_KEY in meta else [None, None]
        partial = partial_periods(out["period"], period, *coverage)
    for k in by:
        out[k] = _typed(_values(table, k), KEY_DTYPES.get(k, "string"), n)
    for c in spec.columns:
        if c.name not in out.columns:
            out[c.name] = _typed(_values(table, c.name), c.dtype, n)
    if grouped and period is not None:
        out["partial"] = partial  # last: the key and metric columns keep their places
    if sort is None:
        sort = [*(["period"] if "period" in out else []), *by]
    order = [c for c in sort if c in out]
    if order and n:
        asc = list(ascending) if ascending is not None else True
        out = out.sort_values(order, ascending=asc, kind="stable", na_position="last")
        out = out.reset_index(drop=True)
    notes = json.loads(meta[NOTES_KEY]) if NOTES_KEY in meta else []
    span = json.loads(meta[COVERAGE_KEY]) if COVERAGE_KEY in meta else [None, None]
    out.attrs = {"report": spec.name, "by": list(by), "period": period, "notes": notes,
                 "coverage": [None if m is None else _iso(m) for m in span]}
    return out
