"""A user's DataFrame columns to the canonical Arrow columns the engine reads.

The canonical form (:data:`._engine.CANONICAL`): instants and durations as ``int64`` ms, the
frames schema's types elsewhere. Frames built by :mod:`seqera_analytics.frames` convert
without surprises (numeric columns without a copy); hand-made ones are read the way the
frames schema documents its columns:

* instants: datetime values (tz-aware converted to UTC, naive taken as UTC), ISO-8601
  strings, or numbers meaning ms since the epoch;
* durations: timedeltas, or numbers (and numeric strings) meaning ms;
* numbers: numeric values or numeric strings; ``NaN`` and infinities are unknown (null);
* statuses: upper-cased, as the API sends them;
* labels: a list (or array) of names per run, a single name, or null; empty and missing
  names are dropped and repeated ones kept once.

A column that cannot be read so is a :class:`ReportError` naming the column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._exceptions import ReportError
from ._engine import CANONICAL, SPECS

__all__ = ["to_arrow"]


def _numbers(s: pd.Series) -> pd.Series:
    """A column as float64 numbers, NaN for unknown (raises on non-numeric text)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        raise TypeError("booleans are not numbers here")
    if pd.api.types.is_numeric_dtype(s.dtype):
        return pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index)
    values = pd.Series(s.to_numpy(dtype=object), index=s.index)
    if values.map(lambda v: isinstance(v, (bool, np.bool_))).any():
        raise TypeError("booleans are not numbers here")
    blank = values.map(lambda v: v is None or v is pd.NA or (isinstance(v, str) and not v.strip()))
    out = pd.to_numeric(values.mask(blank), errors="raise")
    return out.astype("float64")


def _finite(f: pd.Series) -> pa.Array:
    arr = f.to_numpy(dtype="float64", na_value=np.nan)
    return pa.array(arr, mask=~np.isfinite(arr))


def _instants(s: pd.Series) -> pa.Array:
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        ts = s
    elif pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return _finite(_numbers(s).round()).cast(pa.int64())  # ms since the epoch
    else:
        values = pd.Series(s.to_numpy(dtype=object), index=s.index)
        numeric = values.map(
            lambda v: (
                isinstance(v, (int, float, np.integer, np.floating))
                and not isinstance(v, (bool, np.bool_))
            )
        )
        if numeric.all():
            return _instants(values.astype("float64"))
        ts = pd.to_datetime(values, utc=True, format="ISO8601")
    if ts.dt.tz is None:
        ts = ts.dt.tz_localize("UTC")
    return pa.array(ts.dt.tz_convert("UTC").astype("datetime64[ms, UTC]")).cast(pa.int64())


def _durations(s: pd.Series) -> pa.Array:
    if pd.api.types.is_timedelta64_dtype(s.dtype):
        return pa.array(s.astype("timedelta64[ms]")).cast(pa.int64())
    try:
        return _finite(_numbers(s).round()).cast(pa.int64())  # ms
    except (TypeError, ValueError):
        values = pd.Series(s.to_numpy(dtype=object), index=s.index)
        return pa.array(pd.to_timedelta(values).astype("timedelta64[ms]")).cast(pa.int64())


def _labels(v: Any) -> list[str] | None:
    """One run's labels: names as text, none empty, each once (order kept)."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, str):
        items: list[Any] = [v]
    elif isinstance(v, Mapping):
        items = [f"{k}={x}" for k, x in v.items()]
    else:
        items = list(v)
    names = [
        str(x)
        for x in items
        if not (x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x)))
    ]
    return list(dict.fromkeys(n for n in names if n.strip()))


def _column(s: pd.Series, kind: pa.DataType, target: pa.DataType, name: str) -> pa.Array:
    if pa.types.is_timestamp(kind):
        return _instants(s)
    if pa.types.is_duration(kind):
        return _durations(s)
    if pa.types.is_list(target):
        return pa.array([_labels(v) for v in s.to_numpy(dtype=object)], target)
    if pa.types.is_string(target):
        arr = pa.array(s.astype("string").to_numpy(dtype=object, na_value=None), pa.string())
        return pc.utf8_upper(arr) if name == "status" else arr
    if pa.types.is_boolean(target):
        if pd.api.types.is_bool_dtype(s.dtype):
            return pa.Array.from_pandas(s.astype("boolean"))
        values = s.to_numpy(dtype=object)
        if not all(
            v is None
            or v is pd.NA
            or isinstance(v, (bool, np.bool_))
            or (isinstance(v, float) and np.isnan(v))
            for v in values
        ):
            raise TypeError("expected true/false values")
        return pa.array(
            [None if v is None or v is pd.NA or isinstance(v, float) else bool(v) for v in values],
            pa.bool_(),
        )
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        arr = pa.Array.from_pandas(s)  # no copy of a numpy column; NaN becomes null
    else:
        arr = _finite(_numbers(s))
    if pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.is_inf(arr), pa.scalar(None, arr.type), arr)  # not a number: unknown
        if pa.types.is_integer(target):
            valid = pc.drop_null(arr)
            whole = len(valid) == 0 or (
                pc.all(pc.equal(valid, pc.floor(valid))).as_py()
                and pc.max(pc.abs(valid)).as_py() < 2**63
            )
            return arr.cast(pa.int64()) if whole else arr.cast(pa.float64())  # fractional cpus
        return arr.cast(pa.float64())
    return arr.cast(target)


def to_arrow(df: pd.DataFrame, columns: Sequence[str], table: str) -> pa.Table:
    """The named columns of a user's frame as a canonical Arrow table.

    Raises
    ------
    ReportError
        A column cannot be read as its frames-schema type (the message names it).
    """
    schema, spec = CANONICAL[table], SPECS[table]
    arrays = []
    for name in columns:
        try:
            arr = _column(df[name], spec[name].type, schema.field(name).type, name)
        except (TypeError, ValueError, OverflowError, pa.ArrowException) as exc:
            what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ReportError(
                f"column {name!r} of the {table} frame cannot be read as "
                f"{spec[name].type} ({what}); see seqera_analytics.frames.describe({table!r})"
            ) from None
        arrays.append(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
    return pa.Table.from_arrays(arrays, names=list(columns)) if columns else pa.table({})
