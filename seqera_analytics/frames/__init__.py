"""Typed tables from raw API records: the data model and its builders.

Builders return :class:`pyarrow.Table` objects typed exactly by the schemas in
:mod:`seqera_analytics.frames.schema` (the cache writes those); :func:`to_pandas` turns any
of them into a pandas DataFrame with nullable dtypes (``Int64``, ``Float64``, ``string``,
``boolean``, ``datetime64[ms, UTC]``, ``timedelta64[ms]``). No I/O happens here.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from ._billing import BILLING_KEYS, BILLING_LINES, BILLING_PARENTS, BILLING_TASKS, LINE_CLASSES
from ._build import (
    concat_tables,
    empty_table,
    process_metrics_table,
    process_progress_table,
    runs_table,
    tasks_table,
    workspaces_table,
)
from ._load import DERIVED_LOAD_FIELDS, PROGRESS_ONLY_FIELDS, progress_from_tasks
from ._quality import IMPLAUSIBLE, QUALITY_CLASSES, check_tasks_against_runs, machine_capacity
from .records import TaskRecord, record_type
from .schema import (
    PROCESS_METRICS,
    PROCESS_PROGRESS,
    RUN_STATUSES,
    RUNS,
    SCHEMA_VERSION,
    TABLES,
    TASK_STATUSES,
    TASKS,
    TERMINAL_RUN_STATUSES,
    WORKSPACES,
    Column,
    TableSpec,
)

__all__ = [
    "BILLING_KEYS",
    "BILLING_LINES",
    "BILLING_PARENTS",
    "BILLING_TASKS",
    "DERIVED_LOAD_FIELDS",
    "IMPLAUSIBLE",
    "LINE_CLASSES",
    "PROCESS_METRICS",
    "PROCESS_PROGRESS",
    "PROGRESS_ONLY_FIELDS",
    "QUALITY_CLASSES",
    "RUNS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "TABLES",
    "TASKS",
    "TASK_STATUSES",
    "TERMINAL_RUN_STATUSES",
    "WORKSPACES",
    "Column",
    "TableSpec",
    "TaskRecord",
    "check_tasks_against_runs",
    "concat_tables",
    "describe",
    "empty_frame",
    "empty_table",
    "from_pandas",
    "machine_capacity",
    "process_metrics_table",
    "process_progress_table",
    "progress_from_tasks",
    "record_type",
    "runs_table",
    "tasks_table",
    "to_pandas",
    "workspaces_table",
]

_PANDAS_TYPES = {
    pa.int64(): pd.Int64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.string(): pd.StringDtype("pyarrow"),
    pa.large_string(): pd.StringDtype("pyarrow"),
    pa.bool_(): pd.BooleanDtype(),
}


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow table of the data model as a pandas DataFrame with nullable dtypes.

    ``int64`` -> ``Int64``, ``double`` -> ``Float64``, ``string`` -> ``string``,
    ``bool`` -> ``boolean``, ``timestamp[ms, UTC]`` -> ``datetime64[ms, UTC]``,
    ``duration[ms]`` -> ``timedelta64[ms]``, lists -> object column of arrays.
    """
    df = table.to_pandas(types_mapper=_PANDAS_TYPES.get, coerce_temporal_nanoseconds=False)
    return df


def from_pandas(df: pd.DataFrame, spec: TableSpec) -> pa.Table:
    """A DataFrame with ``spec``'s columns back to an Arrow table typed by ``spec``.

    Columns missing from ``df`` become null; extra columns are dropped.
    """
    n = len(df)
    arrays = []
    for col in spec.columns:
        if col.name in df.columns:
            arr = pa.array(df[col.name], from_pandas=True)
            if arr.type != col.type:
                arr = arr.cast(col.type)
        else:
            arr = pa.nulls(n, col.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=spec.arrow_schema)


def empty_frame(spec: TableSpec) -> pd.DataFrame:
    """An empty DataFrame with ``spec``'s columns and dtypes."""
    return to_pandas(empty_table(spec))


def describe(spec: TableSpec | str) -> pd.DataFrame:
    """The documentation of a table: one row per column.

    Returns
    -------
    pandas.DataFrame
        Columns ``column`` (string), ``dtype`` (string, the pandas dtype), ``unit``
        (string), ``description`` (string) and ``source`` (string, the API field).
    """
    if isinstance(spec, str):
        spec = TABLES[spec]
    dtypes = to_pandas(empty_table(spec)).dtypes
    return pd.DataFrame({
        "column": [c.name for c in spec.columns],
        "dtype": [str(dtypes[c.name]) for c in spec.columns],
        "unit": [c.unit for c in spec.columns],
        "description": [c.description for c in spec.columns],
        "source": [c.source or "(derived)" for c in spec.columns],
    }).astype("string")
