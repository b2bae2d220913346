"""Export of any report to Parquet or CSV, in a tidy long layout with a schema version.

Layout
------
``layout="long"`` (the default) is tidy: one row per report row and metric. The report's
*id* columns (period, period label, group keys, names, timestamps, flags, notes) are kept as
they are, and every *metric* column becomes three columns:

=========  =======  ===============================================================
column     dtype    meaning
=========  =======  ===============================================================
metric     string   the report column's name, e.g. ``cost``, ``tasks_failed``
value      Float64  its value (counts are whole numbers); empty/null when unknown
unit       string   ``USD``, ``count``, ``h``, ``min``, ``fraction``, ``bytes``...
=========  =======  ===============================================================

Rows follow the report's order, metrics in the report's column order. ``layout="wide"``
writes the report as it is (one column per metric). Which columns are ids and which are
metrics, and their units and meaning, come from the report's spec (the docstring tables);
a column no spec knows is a metric when numeric and an id otherwise.

Files
-----
* Parquet: the Arrow schema carries ``unit`` and ``description`` per field, and the file's
  key-value metadata holds ``seqera_analytics.report``, ``.report_schema_version``,
  ``.layout`` and ``.report_meta`` (JSON: everything of the CSV sidecar below).
* CSV: UTF-8 (no BOM unless ``bom=True``, which helps old Excel versions), comma separated,
  a header row, no index column, timestamps as ISO-8601 UTC (``2025-09-01T00:00:00Z``),
  booleans ``True``/``False``, nulls as empty cells, list values joined with ``;``, numbers
  with full precision (whole numbers without ``.0``). Next to it, ``<file>.schema.json``
  holds the report name, ``report_schema_version``, layout, the frames schema version, the
  generator version and time, the grouping, and one entry per column (name, dtype, unit,
  description, role) plus, in long layout, the metrics' docs.

:func:`read_report` reads both back with the documented dtypes.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from .._exceptions import ReportError
from ..frames.schema import SCHEMA_VERSION
from ._spec import GROUP_COLUMNS, REPORT_SCHEMA_VERSION, REPORTS, ColumnDoc

__all__ = ["column_unit", "export", "read_report", "to_csv", "to_long", "to_parquet"]

_META_KEY = "seqera_analytics.report_meta"
_LAYOUTS = ("long", "wide")
_LONG_COLUMNS = (
    ColumnDoc("metric", "string", "", "name of the report column this value comes from", "id"),
    ColumnDoc("value", "Float64", "see unit", "the value; null when unknown", "metric"),
    ColumnDoc("unit", "string", "", "unit of value", "id"),
)


def _doc(df: pd.DataFrame, name: str) -> ColumnDoc:
    spec = REPORTS.get(str(df.attrs.get("report", "")))
    doc = spec.column(name) if spec is not None else GROUP_COLUMNS.get(name)
    if doc is not None:
        return doc
    for other in REPORTS.values():  # a column renamed into another report's vocabulary
        found = other.column(name)
        if found is not None and name not in GROUP_COLUMNS:
            return found
    dtype = df[name].dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    return ColumnDoc(name, str(dtype), "", "", "metric" if numeric else "id")


def column_unit(column: str, report: pd.DataFrame | None = None) -> str:
    """The unit a report documents for ``column`` (``USD``, ``h``, ``min``, ``GiB``,
    ``count``, ``fraction``, ``bytes``, ``cores``, ``UTC``; ``""`` when it has none).

    Parameters
    ----------
    column : str
        A report column name, e.g. ``"net_cost"``.
    report : pandas.DataFrame, optional
        The report it comes from (its ``attrs`` say which report); without it, the first
        report that documents a column of that name answers.

    Plots and widgets label axes and headers with this, so units are declared once, in the
    report specs.
    """
    if report is not None and column in report.columns:
        return _doc(report, column).unit
    doc = GROUP_COLUMNS.get(column)
    if doc is None:
        doc = next((d for spec in REPORTS.values() if (d := spec.column(column)) is not None), None)
    return doc.unit if doc is not None else ""


def _docs(df: pd.DataFrame) -> list[ColumnDoc]:
    return [_doc(df, str(c)) for c in df.columns]


def to_long(report: pd.DataFrame) -> pd.DataFrame:
    """A report in the tidy long layout: id columns, then ``metric``, ``value``, ``unit``.

    Parameters
    ----------
    report : pandas.DataFrame
        Any frame returned by a report function (or a filtered copy of one).

    Returns
    -------
    pandas.DataFrame
        The report's id columns (same dtypes), then:

        =======  =======  =====================================
        column   dtype    meaning [unit]
        =======  =======  =====================================
        metric   string   name of the report column
        value    Float64  its value [see unit]; <NA> if unknown
        unit     string   unit of value
        =======  =======  =====================================

        ``n_rows x n_metrics`` rows, in report order. ``attrs`` are kept.

    Raises
    ------
    ReportError
        ``report`` is not a DataFrame.
    """
    if not isinstance(report, pd.DataFrame):
        raise ReportError(f"expected a report DataFrame, got {type(report).__name__}")
    docs = _docs(report)
    ids = [d.name for d in docs if d.role == "id"]
    metrics = [d for d in docs if d.role != "id"]
    n, m = len(report), len(metrics)
    base = report[ids].take(np.repeat(np.arange(n), m)).reset_index(drop=True)
    if m:
        block = np.column_stack([_as_float(report[d.name]) for d in metrics])
        values = block.reshape(-1)
    else:
        values = np.zeros(0)
    base["metric"] = pd.array(
        np.tile(np.array([d.name for d in metrics], dtype=object), n), dtype="string"
    )
    base["value"] = pd.array(values, dtype="Float64")
    base["unit"] = pd.array(
        np.tile(np.array([d.unit for d in metrics], dtype=object), n), dtype="string"
    )
    base.attrs = {**report.attrs, "layout": "long"}
    return base


def _as_float(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_timedelta64_dtype(s.dtype):
        return s.dt.total_seconds().to_numpy(dtype="float64", na_value=np.nan)
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(pd.Series(s.to_numpy(dtype=object)), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )


def _layout(report: pd.DataFrame, layout: str) -> pd.DataFrame:
    if layout not in _LAYOUTS:
        raise ReportError(f"unknown layout {layout!r}; valid layouts: {', '.join(_LAYOUTS)}")
    out = to_long(report) if layout == "long" else report.copy()
    out.attrs = {**report.attrs, "layout": layout}
    for c in out.columns:
        if (
            out[c].dtype == object
            and out[c]
            .map(lambda v: isinstance(v, (list, tuple, np.ndarray)), na_action="ignore")
            .any()
        ):
            out[c] = pd.array(
                [
                    None
                    if v is None or (np.ndim(v) == 0 and pd.isna(v))
                    else ";".join(str(x) for x in v)
                    for v in out[c]
                ],
                dtype="string",
            )
        elif pd.api.types.is_timedelta64_dtype(out[c].dtype):
            out[c] = pd.array(out[c].dt.total_seconds(), dtype="Float64")
    return out


def _meta(original: pd.DataFrame, written: pd.DataFrame, layout: str) -> dict[str, Any]:
    docs = _docs(original)
    columns = []
    for c in written.columns:
        d = next((x for x in _LONG_COLUMNS if x.name == c), None) if layout == "long" else None
        if d is None:
            d = _doc(original, str(c)) if c in original.columns else _doc(written, str(c))
        columns.append(
            {
                "name": str(c),
                "dtype": str(written[c].dtype),
                "unit": d.unit,
                "description": d.description,
                "role": d.role,
            }
        )
    meta: dict[str, Any] = {
        "report": str(original.attrs.get("report", "")),
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "data_schema_version": SCHEMA_VERSION,
        "layout": layout,
        "generator": f"seqera-analytics {__version__}",
        "generated_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "by": list(original.attrs.get("by") or []),
        "period": original.attrs.get("period"),
        # every cost says its basis: Seqera's estimate, the AWS bill, or both (null: no money)
        "cost_basis": original.attrs.get("basis"),
        # what the figures cover and what the report left out travel with the file
        "coverage": original.attrs.get("coverage"),
        "notes": list(original.attrs.get("notes") or []),
        "columns": columns,
    }
    if layout == "long":
        meta["metrics"] = [
            {"name": d.name, "unit": d.unit, "description": d.description}
            for d in docs
            if d.role != "id"
        ]
    return meta


def _path(path: str | Path) -> Path:
    p = Path(path)
    if p.parent and not p.parent.exists():
        raise ReportError(f"cannot write {p}: directory {p.parent} does not exist")
    return p


def to_parquet(report: pd.DataFrame, path: str | Path, *, layout: str = "long") -> Path:
    """Write a report to a Parquet file (tidy long layout by default).

    Parameters
    ----------
    report : pandas.DataFrame
        A report frame.
    path : str or Path
        The file to write (replaced if it exists).
    layout : {"long", "wide"}, default "long"
        See the module documentation.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ReportError
        Unknown layout or missing directory.
    """
    p = _path(path)
    out = _layout(report, layout)
    meta = _meta(report, out, layout)
    table = pa.Table.from_pandas(out, preserve_index=False)
    fields = []
    for f, c in zip(table.schema, meta["columns"]):
        fields.append(
            f.with_metadata({"unit": c["unit"], "description": c["description"], "role": c["role"]})
        )
    kv = dict(table.schema.metadata or {})
    kv.update(
        {
            b"seqera_analytics.report": meta["report"].encode(),
            b"seqera_analytics.report_schema_version": str(REPORT_SCHEMA_VERSION).encode(),
            b"seqera_analytics.layout": layout.encode(),
            _META_KEY.encode(): json.dumps(meta).encode(),
        }
    )
    table = table.cast(pa.schema(fields, metadata=kv))
    pq.write_table(table, p)
    return p


def _iso(s: pd.Series) -> pd.Series:
    utc = s.dt.tz_convert("UTC") if s.dt.tz is not None else s
    text = utc.dt.strftime("%Y-%m-%dT%H:%M:%S")
    ms = (utc.dt.microsecond // 1000).fillna(0).astype("int64")
    frac = np.where(ms.to_numpy() > 0, "." + ms.astype(str).str.zfill(3), "")
    out = text.astype(object) + frac + "Z"
    return out.where(s.notna(), None)


def _num_text(s: pd.Series) -> pd.Series:
    f = s.to_numpy(dtype="float64", na_value=np.nan)
    out = np.empty(len(f), dtype=object)
    nan = np.isnan(f)
    whole = ~nan & (np.abs(f) < 2**53) & (np.floor(f) == f)
    out[whole] = f[whole].astype(np.int64).astype(str)
    rest = ~nan & ~whole
    out[rest] = [repr(float(v)) for v in f[rest]]  # shortest round-trip text
    out[nan] = None
    return pd.Series(out, index=s.index, dtype=object)


def to_csv(
    report: pd.DataFrame, path: str | Path, *, layout: str = "long", bom: bool = False
) -> Path:
    """Write a report to CSV (tidy long layout by default) plus ``<file>.schema.json``.

    Parameters
    ----------
    report : pandas.DataFrame
        A report frame.
    path : str or Path
        The CSV file to write (replaced if it exists).
    layout : {"long", "wide"}, default "long"
        See the module documentation.
    bom : bool, default False
        Start the file with a UTF-8 byte order mark (old Excel versions need it to read
        non-ASCII text as UTF-8).

    Returns
    -------
    Path
        The CSV file written (the sidecar is ``Path(str(path) + ".schema.json")``).

    Raises
    ------
    ReportError
        Unknown layout or missing directory.
    """
    p = _path(path)
    out = _layout(report, layout)
    meta = _meta(report, out, layout)
    text = pd.DataFrame(index=out.index)
    for c in out.columns:
        s = out[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
            text[c] = _iso(s)
        elif pd.api.types.is_bool_dtype(s.dtype):
            text[c] = s.astype(object).where(s.notna(), None)
        elif pd.api.types.is_numeric_dtype(s.dtype):
            text[c] = _num_text(s)
        else:
            text[c] = s.astype(object).where(s.notna(), None)
    text.to_csv(p, index=False, encoding="utf-8-sig" if bom else "utf-8", lineterminator="\n")
    sidecar = Path(str(p) + ".schema.json")
    sidecar.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return p


def export(report: pd.DataFrame, path: str | Path, *, layout: str = "long") -> Path:
    """Write a report as Parquet (``.parquet``/``.pq``) or CSV (``.csv``), by suffix.

    Raises
    ------
    ReportError
        Another suffix, an unknown layout, or a missing directory.
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return to_parquet(report, path, layout=layout)
    if suffix == ".csv":
        return to_csv(report, path, layout=layout)
    raise ReportError(f"cannot tell the format of {str(path)!r}: use a .csv or .parquet file name")


def read_report(path: str | Path) -> pd.DataFrame:
    """Read a report written by :func:`to_parquet` or :func:`to_csv` back, typed.

    Returns
    -------
    pandas.DataFrame
        The frame as written (long or wide), dtypes restored (for CSV, from the sidecar:
        timestamps ``datetime64[ms, UTC]``, ``string``, ``Float64``, ``Int64``, ``boolean``),
        ``attrs`` holding ``report``, ``report_schema_version``, ``layout``, ``by``,
        ``period``, ``cost_basis`` (``estimate``, ``billed``, ``both``; absent in files of
        older releases and of reports without money) and ``columns``.

    Raises
    ------
    ReportError
        The file does not exist or has another suffix.
    """
    p = Path(path)
    if not p.exists():
        raise ReportError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        table = pq.read_table(p)
        raw = (table.schema.metadata or {}).get(_META_KEY.encode())
        meta = json.loads(raw) if raw else {}
        df = table.to_pandas()
    elif suffix == ".csv":
        sidecar = Path(str(p) + ".schema.json")
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
        dtypes = {c["name"]: c["dtype"] for c in meta.get("columns", [])}
        df = pd.read_csv(
            p, encoding="utf-8-sig", dtype=object, keep_default_na=False, na_values=[""]
        )
        for c in df.columns:
            df[c] = _typed(df[c], dtypes.get(c))
    else:
        raise ReportError(f"{p}: not a .csv or .parquet report")
    df.attrs = {
        k: meta[k]
        for k in ("report", "report_schema_version", "layout", "by", "period", "cost_basis",
                  "columns")
        if k in meta and (meta[k] is not None or k != "cost_basis")
    }
    return df


def _typed(s: pd.Series, dtype: str | None) -> Any:
    if dtype is None:  # no sidecar: numbers where every value is one, else text
        nums = pd.to_numeric(s, errors="coerce")
        return (
            nums.astype("Float64") if nums.notna().sum() == s.notna().sum() else s.astype("string")
        )
    if dtype.startswith("datetime64"):
        return pd.to_datetime(s, utc=True, format="ISO8601").astype(dtype)
    if dtype in ("Float64", "float64"):
        return pd.to_numeric(s).astype("Float64")
    if dtype in ("Int64", "int64"):
        return pd.to_numeric(s).astype("Int64")
    if dtype in ("boolean", "bool"):
        return s.map({"True": True, "False": False}, na_action="ignore").astype("boolean")
    return s.astype("string")
