"""Raw API records -> Arrow tables typed by :mod:`seqera_analytics.frames.schema`.

Columns are built whole: one pass per column over the records, then one ``pyarrow.array``
call with the target type (C speed). Only when that strict conversion fails (``exit`` sent
as ``"0"``, a ``"-"`` where a number belongs) does the column fall back to a per-value
lenient conversion, so the real API's quirks cost nothing on the fast path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from .schema import (
    METRIC_STATS,
    METRIC_UNITS,
    PROCESS_METRICS,
    PROCESS_PROGRESS,
    RUNS,
    TASKS,
    WORKSPACES,
    Column,
    TableSpec,
)

__all__ = [
    "concat_tables",
    "empty_table",
    "process_metrics_table",
    "process_progress_table",
    "runs_table",
    "tasks_table",
    "workspaces_table",
]

Record = Mapping[str, Any]

_NA_STRINGS = frozenset({"", "-", "null", "none", "nan", "n/a", "na"})


# ---------------------------------------------------------------------------- values
def _lenient_number(v: Any, *, integer: bool) -> int | float | None:
    if v is None or isinstance(v, bool):
        return None if v is None else int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return None
        return round(v) if integer else v
    if isinstance(v, str):
        s = v.strip()
        if s.lower() in _NA_STRINGS:
            return None
        try:
            return int(s) if integer else float(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                return None
            if math.isnan(f) or math.isinf(f):
                return None
            return round(f) if integer else f
    return None


def _lenient_str(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (list, dict)):
        return None  # a structure where a scalar belongs: unknown shape, not guessable
    return str(v)


def _lenient_bool(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "yes", "1"):
            return True
        if s in ("false", "no", "0"):
            return False
    return None


def _timestamps(values: list[Any]) -> pa.Array:
    ts = pa.timestamp("ms", tz="UTC")
    try:  # the API's ISO-8601 '...Z' strings cast in C
        return pa.array(values, pa.string()).cast(ts)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    import pandas as pd

    # Other offsets, other ISO forms, epoch milliseconds, junk (-> NA).
    def one(v: Any) -> Any:
        if isinstance(v, bool) or v is None:
            return None
        if isinstance(v, (int, float)):
            return pd.Timestamp(int(v), unit="ms", tz="UTC") if math.isfinite(v) else None
        return v if isinstance(v, str) else None

    parsed = pd.to_datetime(pd.Series([one(v) for v in values], dtype=object), utc=True,
                            errors="coerce", format="ISO8601")
    return pa.array(parsed.astype("datetime64[ms, UTC]"), type=ts, from_pandas=True)


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    """Convert one column of raw values to ``type_``: strict and fast, lenient on failure."""
    if pa.types.is_timestamp(type_):
        return _timestamps(values)
    try:
        if pa.types.is_duration(type_):
            return pa.array(values, pa.int64()).cast(type_)
        return pa.array(values, type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        pass
    if pa.types.is_integer(type_) or pa.types.is_duration(type_):
        arr = pa.array([_lenient_number(v, integer=True) for v in values], pa.int64())
        return arr.cast(type_) if pa.types.is_duration(type_) else arr
    if pa.types.is_floating(type_):
        return pa.array([_lenient_number(v, integer=False) for v in values], type_)
    if pa.types.is_string(type_):
        return pa.array([_lenient_str(v) for v in values], type_)
    if pa.types.is_boolean(type_):
        return pa.array([_lenient_bool(v) for v in values], type_)
    if pa.types.is_list(type_):
        return pa.array([[_lenient_str(x) for x in v if x is not None] if isinstance(v, list) else None
                         for v in values], type_)
    raise TypeError(f"no conversion to {type_}")  # pragma: no cover - schema uses the above only


def _getter(path: str) -> Callable[[Any], Any]:
    """A fast accessor for a dotted path in dict records or msgspec record structs."""
    parts = path.split(".")

    def get(r: Any) -> Any:
        cur = r
        for p in parts:
            if cur is None:
                return None
            cur = cur.get(p) if isinstance(cur, Mapping) else getattr(cur, p, None)
        return cur

    return get


def _values(records: Sequence[Any], source: str) -> list[Any]:
    if not records:
        return []
    if "." in source:
        return list(map(_getter(source), records))
    if isinstance(records[0], Mapping):
        return [r.get(source) for r in records]
    # msgspec structs from frames.records: every field exists; attrgetter runs in C.
    return list(map(attrgetter(source), records))


def _column(records: Sequence[Any], col: Column) -> pa.Array:
    return _array(_values(records, col.source), col.type)


def _constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    if value is None:
        return pa.nulls(n, type_)
    return pa.array([value], type_).take(pa.array([0] * n, pa.int32())) if n else pa.array([], type_)


def _per_row_or_constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    if isinstance(value, (list, tuple, pa.Array)) or (hasattr(value, "__len__") and not isinstance(value, str)):
        if len(value) != n:
            raise ValueError(f"got {len(value)} values for {n} rows")
        return value if isinstance(value, pa.Array) else _array(list(value), type_)
    return _constant(value, n, type_)


def _wire_type(t: pa.DataType) -> pa.DataType:
    """The type a JSON value converts to before the final cast (ISO strings, integer ms)."""
    if pa.types.is_timestamp(t):
        return pa.string()
    if pa.types.is_duration(t):
        return pa.int64()
    return t


def _struct_columns(spec: TableSpec, records: Sequence[Any]) -> dict[str, pa.Array] | None:
    """All flat columns of msgspec record structs in one C-level conversion.

    Tuples of the structs' fields convert to one Arrow struct array in a single
    ``pyarrow.array`` call, which beats one pass per column. Returns ``None`` when a value
    does not fit its type (a quirk): the caller then converts column by column, leniently.
    """
    fields = getattr(type(records[0]), "__struct_fields__", None)
    if not fields:
        return None
    by_source = {c.source: c for c in spec.columns if c.source}
    struct = pa.struct([pa.field(f, _wire_type(by_source[f].type) if f in by_source else pa.int64())
                        for f in fields])
    try:
        arr = pa.array(list(map(msgspec.structs.astuple, records)), type=struct)
        out = {}
        for i, f in enumerate(fields):
            col = arr.field(i)
            target = by_source[f].type if f in by_source else col.type
            out[f] = col.cast(target) if col.type != target else col
        return out
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, OverflowError):
        return None


def _table(spec: TableSpec, records: Sequence[Any], overrides: dict[str, pa.Array]) -> pa.Table:
    fast = _struct_columns(spec, records) if records and not isinstance(records[0], Mapping) else None
    arrays = []
    for col in spec.columns:
        if col.name in overrides:
            arr = overrides[col.name]
            if arr.type != col.type:
                arr = arr.cast(col.type)
        elif col.source and fast is not None and col.source in fast:
            arr = fast[col.source]
        elif col.source:
            arr = _column(records, col)
        else:
            arr = pa.nulls(len(records), col.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=spec.arrow_schema)


def empty_table(spec: TableSpec) -> pa.Table:
    """A table with ``spec``'s columns and no rows."""
    return spec.arrow_schema.empty_table()


def concat_tables(spec: TableSpec, tables: Iterable[pa.Table]) -> pa.Table:
    """Concatenate tables of one spec (an empty input gives an empty table)."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return empty_table(spec)
    return pa.concat_tables([t.cast(spec.arrow_schema) if t.schema != spec.arrow_schema else t
                             for t in tables]).combine_chunks()


# ---------------------------------------------------------------------------- tables
def _workspace_ref(org: Any, ws: Any) -> str | None:
    return f"{org}/{ws}" if org and ws else None


def workspaces_table(rows: Sequence[Record]) -> pa.Table:
    """Rows of ``GET /user/{userId}/workspaces`` ``.orgsAndWorkspaces`` -> :data:`WORKSPACES`.

    Org-only rows (``workspaceId`` null) are dropped.
    """
    rows = [r for r in rows if r.get("workspaceId") is not None]
    ref = pa.array([_workspace_ref(r.get("orgName"), r.get("workspaceName")) for r in rows], pa.string())
    return _table(WORKSPACES, rows, {"workspace": ref})


def _label_names(labels: Any) -> list[str] | None:
    if labels is None:
        return None
    out = []
    for lab in labels:
        if isinstance(lab, Mapping):
            name = lab.get("name")
            if not name:
                continue
            value = lab.get("value")
            out.append(f"{name}={value}" if value not in (None, "") else str(name))
        elif isinstance(lab, str) and lab:
            out.append(lab)
    return out


def runs_table(elements: Sequence[Record], *, workspace_id: int | None = None,
               workspace: str | None = None) -> pa.Table:
    """``/workflow`` list elements (or ``/workflow/{id}`` responses) -> :data:`RUNS`.

    Each element is ``{"workflow": {...}, "progress": {...} | None, "labels": [...] | None,
    "orgId", "orgName", "workspaceId", "workspaceName"}``, the shape both endpoints send.
    ``progress`` may be absent (then the load columns are null). ``workspace_id`` and
    ``workspace`` fill rows whose element does not say.
    """
    n = len(elements)
    ws_ref = [_workspace_ref(e.get("orgName"), e.get("workspaceName")) or workspace for e in elements]
    ws_ids = [e.get("workspaceId") if e.get("workspaceId") is not None else workspace_id for e in elements]
    labels = [_label_names(e.get("labels")) for e in elements]
    del n
    return _table(RUNS, elements, {
        "workspace": _array(ws_ref, pa.string()),
        "workspace_id": _array(ws_ids, pa.int64()),
        "labels": _array(labels, RUNS["labels"].type),
    })


def tasks_table(tasks: Sequence[Record], *, run_id: str | Sequence[str],
                workspace_id: int | None | Sequence[int | None] = None) -> pa.Table:
    """``Task`` records (unwrapped from ``{"task": ...}``) -> :data:`TASKS`.

    ``run_id`` and ``workspace_id`` are one value for all tasks or one per task.
    ``exit_status`` is ``exitStatus``, else ``exit`` read leniently (older servers send
    ``exit`` as a string).
    """
    n = len(tasks)
    table = _table(TASKS, tasks, {
        "run_id": _per_row_or_constant(run_id, n, pa.string()),
        "workspace_id": _per_row_or_constant(workspace_id, n, pa.int64()),
    })
    exit_status = table.column("exit_status")
    if exit_status.null_count:
        exit_status = pc.coalesce(exit_status, _array(_values(tasks, "exit"), pa.int64()))
        table = table.set_column(table.schema.get_field_index("exit_status"), TASKS["exit_status"].arrow_field(),
                                 exit_status)
    return table


def process_metrics_table(metrics: Sequence[Record], *, run_id: str,
                          workspace_id: int | None = None) -> pa.Table:
    """``GET /workflow/{id}/metrics`` ``.metrics`` -> :data:`PROCESS_METRICS` (long form).

    One row per process x metric x statistic present; a metric the API sent as null
    (``time``/``timeUsage`` often are) gives no rows.
    """
    process, metric, stat, value, unit = [], [], [], [], []
    for m in metrics:
        for api_name, (name, u) in METRIC_UNITS.items():
            data = m.get(api_name)
            if not isinstance(data, Mapping):
                continue
            for s in METRIC_STATS:
                process.append(m.get("process"))
                metric.append(name)
                stat.append(s)
                value.append(data.get(s))
                unit.append(u)
    n = len(process)
    return pa.Table.from_arrays([
        _constant(run_id, n, pa.string()),
        _constant(workspace_id, n, pa.int64()),
        _array(process, pa.string()),
        pa.array(metric, pa.string()),
        pa.array(stat, pa.string()),
        _array(value, pa.float64()),
        pa.array(unit, pa.string()),
    ], schema=PROCESS_METRICS.arrow_schema)


def process_progress_table(progress: Record | None, *, run_id: str,
                           workspace_id: int | None = None) -> pa.Table:
    """``GET /workflow/{id}/progress`` ``.progress`` -> :data:`PROCESS_PROGRESS`."""
    rows = list((progress or {}).get("processesProgress") or [])
    n = len(rows)
    return _table(PROCESS_PROGRESS, rows, {
        "run_id": _constant(run_id, n, pa.string()),
        "workspace_id": _constant(workspace_id, n, pa.int64()),
    })
