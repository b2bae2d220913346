"""Raw API records -> Arrow tables typed by :mod:`seqera_analytics.frames.schema`.

Columns are built whole: one pass per column over the records, then one ``pyarrow.array``
call with the target type (C speed). Only when that strict conversion fails (``exit`` sent
as ``"0"``, a ``"-"`` where a number belongs) does the column fall back to a per-value
lenient conversion, so the real API's quirks cost nothing on the fast path.

The builders never raise on what a server (or a file) sends: any JSON value in any field
gives a table typed by the schema. A value of the wrong type becomes null, or is converted
when that is unambiguous (``"123"`` -> 123, 5 -> ``"5"``); a structure where a scalar belongs,
an integer beyond int64 and a time outside years 1-9999 become null; elements of a record
list that are not objects (``null``, numbers, strings) are skipped. Runs and tasks are then
checked (:mod:`._quality`): what was lost or reinterpreted, and values no record can hold
(epoch-0 times, negative spans and costs...), are nulled and named in the row's ``quality``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from ._quality import check
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
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
# Epoch milliseconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the instants an
# ISO-8601 string can name (and a Python datetime can hold). A number outside is not a time.
_EPOCH_MS_MIN, _EPOCH_MS_MAX = -62_135_596_800_000, 253_402_300_799_999


def _lenient_number(v: Any, *, integer: bool) -> int | float | None:
    """A JSON value as a number, or ``None`` when it is not one (or does not fit int64/double)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        if integer:
            return v if _I64_MIN <= v <= _I64_MAX else None
        try:
            return float(v)
        except OverflowError:
            return None
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return None
        return _lenient_number(round(v), integer=True) if integer else v
    if isinstance(v, str):
        s = v.strip()
        if s.lower() in _NA_STRINGS:
            return None
        try:
            return _lenient_number(int(s), integer=integer)
        except ValueError:
            try:
                return _lenient_number(float(s), integer=integer)
            except ValueError:
                return None
    return None  # a structure where a number belongs


def _lenient_str(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (list, tuple, set, Mapping, msgspec.Struct)):
        return None  # a structure where a scalar belongs: unknown shape, not guessable
    if isinstance(v, float) and not math.isfinite(v):
        return None
    try:
        return str(v)
    except ValueError:  # an int beyond Python's int-to-str digit limit
        return None


def _lenient_bool(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v) if math.isfinite(v) else None
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "yes", "1"):
            return True
        if s in ("false", "no", "0"):
            return False
    return None


def _lenient_str_list(v: Any) -> list[str] | None:
    """A list of names; ``None`` for anything but a list; entries that are not scalars dropped."""
    if not isinstance(v, (list, tuple)):
        return None
    return [s for s in map(_lenient_str, v) if s is not None]


def _epoch_ms(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return int(v) if _EPOCH_MS_MIN <= v <= _EPOCH_MS_MAX else None


def _timestamps(values: list[Any]) -> pa.Array:
    ts = pa.timestamp("ms", tz="UTC")
    try:  # the API's ISO-8601 '...Z' strings cast in C
        return pa.array(values, pa.string()).cast(ts)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    # Other offsets, other ISO forms, epoch milliseconds, junk and out-of-range values (-> NA).
    out = pa.array([_epoch_ms(v) for v in values], pa.int64()).cast(ts)
    strings = [v if isinstance(v, str) else None for v in values]
    if any(s is not None for s in strings):
        import pandas as pd

        parsed = pd.to_datetime(pd.Series(strings, dtype=object), utc=True, errors="coerce", format="ISO8601")
        parsed = pa.array(parsed.astype("datetime64[ms, UTC]"), type=ts, from_pandas=True)
        out = pc.coalesce(out, parsed)  # a value is a number or a string, never both
    return out


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    """Convert one column of raw values to ``type_``: strict and fast, lenient on failure.

    Never raises for any JSON value: what does not fit the type (a structure where a scalar
    belongs, an int beyond int64, a time beyond year 9999, a word where a number belongs)
    becomes null; numbers in strings (``"123"``) and numbers for strings are converted.
    """
    if pa.types.is_timestamp(type_):
        return _timestamps(values)
    strict = True
    if pa.types.is_list(type_):
        # Arrow would split a string into a list of its characters.
        strict = not any(isinstance(v, str) for v in values)
    if strict:
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
        return pa.array([_lenient_str_list(v) for v in values], type_)
    raise TypeError(f"no conversion to {type_}")  # pragma: no cover - schema uses the above only


# A zone after a time of day ("2025-09-26" alone ends in "-26", which is no offset);
# RE2-compatible, for Arrow's regex kernel.
_ZONED = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$", re.IGNORECASE)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip().lower() in _NA_STRINGS)


def _marks(values: list[Any], arr: pa.Array, type_: pa.DataType) -> list[tuple[str, Any]]:
    """What the conversion of one column lost or reinterpreted, as ``(class, row mask)``
    pairs (see :mod:`._quality`): values sent but not representable (``unreadable``,
    ``out_of_range``) and times read as UTC for want of an offset (``zoneless_time``).

    Free on the fast path: only a column with more nulls than ``None`` values, or text
    times, is looked at value by value.
    """
    import numpy as np

    out: list[tuple[str, Any]] = []
    if arr.null_count > values.count(None):
        nulls = arr.is_null().to_numpy(zero_copy_only=False)
        lost = np.zeros(len(values), bool)
        far = np.zeros(len(values), bool)
        for i in np.flatnonzero(nulls):
            v = values[i]
            if _missing(v):
                continue
            if isinstance(v, float) and not math.isfinite(v):
                continue  # non_finite: counted by the value checks
            numeric = (isinstance(v, (int, float)) and not isinstance(v, bool)) or (
                isinstance(v, str) and _NUMBER.match(v.strip()) is not None)
            (far if numeric else lost)[i] = True
        out += [("unreadable", lost), ("out_of_range", far)]
    if pa.types.is_timestamp(type_):
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        try:  # all text (or null): one C-level regex over the column
            text = pc.utf8_trim_whitespace(pa.array(values, pa.string()))
            zoned = pc.fill_null(pc.match_substring_regex(text, _ZONED.pattern, ignore_case=True), True)
            zoneless = ~np.asarray(zoned.to_numpy(zero_copy_only=False), dtype=bool) & valid
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers mixed in (epoch ms): no zone to miss
            zoneless = np.array([isinstance(v, str) and bool(valid[i]) and not _ZONED.search(v.strip())
                                 for i, v in enumerate(values)], dtype=bool)
        out.append(("zoneless_time", zoneless))
    return [(c, m) for c, m in out if m.any()]


def _get(r: Any, key: str) -> Any:
    """``r[key]`` of a dict record or a msgspec record struct; ``None`` for anything else."""
    if isinstance(r, Mapping):
        return r.get(key)
    if isinstance(r, msgspec.Struct):
        return getattr(r, key, None)
    return None


def _getter(path: str) -> Callable[[Any], Any]:
    """A fast accessor for a dotted path in dict records or msgspec record structs.

    A step into anything but an object (a string, a list, a number) gives ``None``.
    """
    parts = path.split(".")

    def get(r: Any) -> Any:
        cur = r
        for p in parts:
            if isinstance(cur, Mapping):
                cur = cur.get(p)
            elif isinstance(cur, msgspec.Struct):
                cur = getattr(cur, p, None)
            else:
                return None
        return cur

    return get


def _values(records: Sequence[Any], source: str) -> list[Any]:
    if not records:
        return []
    if "." in source:
        return list(map(_getter(source), records))
    try:
        if isinstance(records[0], Mapping):
            return [r.get(source) for r in records]
        # msgspec structs from frames.records: every field exists; attrgetter runs in C.
        return list(map(attrgetter(source), records))
    except AttributeError:  # dicts and structs mixed, or structs of another type
        return list(map(_getter(source), records))


def _is_record(r: Any) -> bool:
    return isinstance(r, (Mapping, msgspec.Struct))


def _record_list(records: Any) -> list[Any]:
    """``records`` as a list; anything that is not a list of records (a dict, a string, a
    number, ``None``) has no records."""
    if records is None or isinstance(records, (str, bytes, Mapping, msgspec.Struct)):
        return []
    if isinstance(records, list):
        return records
    try:
        return list(records)
    except TypeError:
        return []


def _rows(records: list[Any]) -> tuple[list[Any], list[int] | None]:
    """The records that are objects, and their indexes when some were not (else ``None``).

    Elements that are not objects (``null``, numbers, strings, lists in a list of records)
    carry no fields: they are skipped rather than turned into rows of nulls.
    """
    types = set(map(type, records))
    if all(issubclass(t, (Mapping, msgspec.Struct)) for t in types):
        return records, None
    kept = [i for i, r in enumerate(records) if _is_record(r)]
    return [records[i] for i in kept], kept


def _column(records: Sequence[Any], col: Column, marks: dict[str, list[tuple[str, Any]]]) -> pa.Array:
    values = _values(records, col.source)
    arr = _array(values, col.type)
    found = _marks(values, arr, col.type)
    if found:
        marks[col.name] = found
    return arr


def _constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    if value is None:
        return pa.nulls(n, type_)
    one = _array([value], type_)  # leniently: "123" -> 123, junk -> null
    return one.take(pa.array([0] * n, pa.int32())) if n else pa.array([], type_)


def _is_per_row(value: Any) -> bool:
    return not isinstance(value, (str, bytes, Mapping)) and hasattr(value, "__len__")


def _per_row_or_constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    if _is_per_row(value):
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
    does not fit its type (a quirk) or a record is not such a struct: the caller then
    converts column by column, leniently.
    """
    if not records or not isinstance(records[0], msgspec.Struct):
        return None
    fields = getattr(type(records[0]), "__struct_fields__", None)
    if not fields:
        return None
    by_source = {c.source: c for c in spec.columns if c.source}
    if any(f in by_source and pa.types.is_list(by_source[f].type) for f in fields):
        return None  # a string would convert to a list of its characters
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


def _prepare(spec: TableSpec, records: Any) -> tuple[list[Any], list[int] | None, dict[str, pa.Array] | None]:
    """Records ready for :func:`_table`: ``(records, kept, fast)``.

    ``fast`` holds the columns of the one-call struct conversion when it succeeded (then all
    records are structs and none is dropped). Otherwise records that are not objects are
    dropped and ``kept`` lists the indexes of those kept (``None`` when all were).
    """
    records = _record_list(records)
    fast = _struct_columns(spec, records)
    if fast is not None:
        return records, None, fast
    records, kept = _rows(records)
    return records, kept, None


def _table(spec: TableSpec, records: Sequence[Any], overrides: dict[str, pa.Array],
           fast: dict[str, pa.Array] | None = None,
           marks: dict[str, list[tuple[str, Any]]] | None = None) -> pa.Table:
    """The table of ``spec`` from records; what the conversion lost goes into ``marks``
    (column -> findings) for :func:`._quality.check`."""
    arrays = []
    marks = {} if marks is None else marks
    for col in spec.columns:
        if col.name in overrides:
            arr = overrides[col.name]
            if arr.type != col.type:
                arr = arr.cast(col.type)
        elif col.source and fast is not None and col.source in fast:
            arr = fast[col.source]
        elif col.source:
            arr = _column(records, col, marks)
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
    org, ws = _lenient_str(org), _lenient_str(ws)
    return f"{org}/{ws}" if org and ws else None


def workspaces_table(rows: Sequence[Record]) -> pa.Table:
    """Rows of ``GET /user/{userId}/workspaces`` ``.orgsAndWorkspaces`` -> :data:`WORKSPACES`.

    Org-only rows (``workspaceId`` null, or not a number) and elements that are not objects
    are dropped.
    """
    rows, _, _ = _prepare(WORKSPACES, rows)
    ids = _array([_get(r, "workspaceId") for r in rows], pa.int64())
    if ids.null_count:
        valid = ids.is_valid()
        rows = [r for r, ok in zip(rows, valid.to_pylist()) if ok]
        ids = ids.filter(valid)
    ref = pa.array([_workspace_ref(_get(r, "orgName"), _get(r, "workspaceName")) for r in rows], pa.string())
    return _table(WORKSPACES, rows, {"workspace": ref, "workspace_id": ids})


def _label_names(labels: Any) -> list[str] | None:
    if not isinstance(labels, (list, tuple)):
        return None  # null, or not a list: unknown
    out = []
    for lab in labels:
        if isinstance(lab, Mapping):
            name = _lenient_str(lab.get("name"))
            if not name:
                continue
            value = _lenient_str(lab.get("value"))
            out.append(f"{name}={value}" if value else name)
        elif isinstance(lab, str) and lab:
            out.append(lab)
    return out


def runs_table(elements: Sequence[Record], *, workspace_id: int | None = None,
               workspace: str | None = None) -> pa.Table:
    """``/workflow`` list elements (or ``/workflow/{id}`` responses) -> :data:`RUNS`.

    Each element is ``{"workflow": {...}, "progress": {...} | None, "labels": [...] | None,
    "orgId", "orgName", "workspaceId", "workspaceName"}``, the shape both endpoints send.
    ``progress`` may be absent (then the load columns are null). ``workspace_id`` and
    ``workspace`` fill rows whose element does not say (or says something that is not an
    id). Elements that are not objects are skipped; a ``workflow`` that is not an object
    gives a row of nulls for its columns.
    """
    elements, _, fast = _prepare(RUNS, elements)
    n = len(elements)
    ws_ref = [_workspace_ref(_get(e, "orgName"), _get(e, "workspaceName")) or workspace for e in elements]
    ws_ids = _array([_get(e, "workspaceId") for e in elements], pa.int64())
    if workspace_id is not None and ws_ids.null_count:
        ws_ids = pc.coalesce(ws_ids, _constant(workspace_id, n, pa.int64()))
    labels = [_label_names(_get(e, "labels")) for e in elements]
    marks: dict[str, list[tuple[str, Any]]] = {}
    table = _table(RUNS, elements, {
        "workspace": _array(ws_ref, pa.string()),
        "workspace_id": ws_ids,
        "labels": _array(labels, RUNS["labels"].type),
    }, fast, marks)
    return check(RUNS, table, marks)


def tasks_table(tasks: Sequence[Record], *, run_id: str | Sequence[str],
                workspace_id: int | None | Sequence[int | None] = None) -> pa.Table:
    """``Task`` records (unwrapped from ``{"task": ...}``) -> :data:`TASKS`.

    ``run_id`` and ``workspace_id`` are one value for all tasks or one per task.
    ``exit_status`` is ``exitStatus``, else ``exit`` read leniently (older servers send
    ``exit`` as a string). Elements that are not objects are skipped.
    """
    tasks = _record_list(tasks)
    n = len(tasks)
    run_ids = _per_row_or_constant(run_id, n, pa.string())
    ws_ids = _per_row_or_constant(workspace_id, n, pa.int64())
    tasks, kept, fast = _prepare(TASKS, tasks)
    if kept is not None:
        take = pa.array(kept, pa.int64())
        run_ids, ws_ids = run_ids.take(take), ws_ids.take(take)
    marks: dict[str, list[tuple[str, Any]]] = {}
    table = _table(TASKS, tasks, {"run_id": run_ids, "workspace_id": ws_ids}, fast, marks)
    exit_status = table.column("exit_status")
    if exit_status.null_count:
        exit_status = pc.coalesce(exit_status, _array(_values(tasks, "exit"), pa.int64()))
        table = table.set_column(table.schema.get_field_index("exit_status"), TASKS["exit_status"].arrow_field(),
                                 exit_status)
    return check(TASKS, table, marks)


def process_metrics_table(metrics: Sequence[Record], *, run_id: str,
                          workspace_id: int | None = None) -> pa.Table:
    """``GET /workflow/{id}/metrics`` ``.metrics`` -> :data:`PROCESS_METRICS` (long form).

    One row per process x metric x statistic present; a metric the API sent as null
    (``time``/``timeUsage`` often are) gives no rows, and so does an element that is not an
    object.
    """
    process, metric, stat, value, unit = [], [], [], [], []
    for m in _rows(_record_list(metrics))[0]:
        for api_name, (name, u) in METRIC_UNITS.items():
            data = _get(m, api_name)
            if not isinstance(data, Mapping):
                continue
            proc = _get(m, "process")
            for s in METRIC_STATS:
                process.append(proc)
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
    """``GET /workflow/{id}/progress`` ``.progress`` -> :data:`PROCESS_PROGRESS`.

    A ``progress`` or ``processesProgress`` that is not what the API sends gives no rows;
    elements of ``processesProgress`` that are not objects are skipped.
    """
    rows, _, fast = _prepare(PROCESS_PROGRESS, _get(progress, "processesProgress"))
    n = len(rows)
    return _table(PROCESS_PROGRESS, rows, {
        "run_id": _constant(run_id, n, pa.string()),
        "workspace_id": _constant(workspace_id, n, pa.int64()),
    }, fast)
