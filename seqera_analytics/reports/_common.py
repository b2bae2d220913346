"""Shared machinery of the reports: argument checks, period attribution, grouping, column docs.

Nothing here reads files or the network: every function takes and returns DataFrames (or
numpy arrays), so a report works the same on frames built offline, fetched, or read from
the cache.

Attribution rule (used by every report)
---------------------------------------
A task belongs to the period of its ``complete`` time; when that is null, its ``start``,
then its ``submit``, then the ``submit`` of its run. A run belongs to the period of its own
``complete`` time, else ``start``, else ``submit``. Periods are UTC: days start at 00:00Z,
weeks on Monday (ISO 8601), months, quarters and years on their first day. ``since`` is
inclusive and ``until`` exclusive, both applied to the same attributed instant.

Speed
-----
Task-level sums go through :func:`group_sums`: the group keys are factorized to integer
codes (string keys are hashed once; derived keys such as ``compute_env`` are computed on the
few distinct values only), combined into one int64 key, and summed with ``numpy.bincount``.
Run attributes (pipeline, user, labels...) are joined after the task rows are reduced to one
row per run, period and task-level key, so a 5-million-task frame is never merged with the
runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ReportError
from .._time import parse_instant

__all__ = [
    "PERIODS",
    "REPORT_SCHEMA_VERSION",
    "RUN_KEYS",
    "TASK_KEYS",
    "ColumnDoc",
    "ReportSpec",
]

#: Bumped whenever a report column is added, removed, renamed or changes meaning or unit.
#: Written into every export (Parquet metadata, CSV sidecar).
REPORT_SCHEMA_VERSION = 1

NAT = np.iinfo(np.int64).min
MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000.0
MS_PER_MINUTE = 60_000.0

#: Accepted ``period`` values (``None`` means one period spanning everything).
PERIODS = ("day", "week", "month", "quarter", "year")
_PERIOD_ALIASES = {
    "d": "day",
    "daily": "day",
    "w": "week",
    "weekly": "week",
    "m": "month",
    "monthly": "month",
    "q": "quarter",
    "quarterly": "quarter",
    "y": "year",
    "yearly": "year",
    "annual": "year",
}

#: Group-by names taken from the run a task belongs to -> what they mean.
RUN_KEYS: dict[str, str] = {
    "pipeline": "runs.project_name, e.g. nf-core/rnaseq",
    "pipeline_revision": "runs.revision; runs.manifest_version when the revision is null",
    "user": "runs.user_name",
    "workspace": "runs.workspace ('org/workspace')",
    "label": "one row per run label ('name' or 'name=value'); runs with several labels "
    "count in each, so label totals overlap; <NA> for runs without labels",
    "run_id": "runs.run_id",
    "run_name": "runs.run_name",
    "run_status": "runs.status (SUCCEEDED, FAILED, CANCELLED...)",
    "session_id": "runs.session_id (resumed runs share it)",
}
#: Group-by names taken from the task itself -> what they mean.
TASK_KEYS: dict[str, str] = {
    "process": "tasks.process, the fully qualified process name",
    "compute_env": "compute environment id parsed from tasks.queue (AWS Batch Forge queues "
    "TowerForge-<id>[-work|-head]); other queue names as they are",
    "price_model": "tasks.price_model (spot or standard)",
    "machine_type": "tasks.machine_type (cloud instance type)",
    "status": "tasks.status (COMPLETED, FAILED, CACHED...)",
    "executor": "tasks.executor",
    "exit_status": "tasks.exit_status (Int64 in the output)",
    "error_action": "tasks.error_action (RETRY, TERMINATE, IGNORE, FINISH)",
}
#: Output dtype of group keys that are not strings.
KEY_DTYPES: dict[str, str] = {"exit_status": "Int64"}

_FORGE_QUEUE = re.compile(r"^TowerForge-(?P<ce>[A-Za-z0-9]+?)(?:-(?:work|head))?$")


# ---------------------------------------------------------------------- column documentation
@dataclass(frozen=True)
class ColumnDoc:
    """One report column: dtype, unit, meaning and whether it identifies or measures.

    ``role`` is ``"id"`` for columns that say *what* a row is about (period, group keys,
    names, flags, timestamps) and ``"metric"`` for numbers measured about it; the tidy long
    export keeps id columns and turns every metric column into ``metric, value, unit`` rows.
    """

    name: str
    dtype: str
    unit: str
    description: str
    role: str = "metric"


def _id(name: str, dtype: str, description: str, unit: str = "") -> ColumnDoc:
    return ColumnDoc(name, dtype, unit, description, "id")


def _m(name: str, dtype: str, unit: str, description: str) -> ColumnDoc:
    return ColumnDoc(name, dtype, unit, description, "metric")


#: Documentation of the group-by columns, shared by every report.
GROUP_COLUMNS: dict[str, ColumnDoc] = {
    "period": _id(
        "period", "datetime64[ms, UTC]", "start of the UTC period (absent when period=None)", "UTC"
    ),
    "period_label": _id(
        "period_label",
        "string",
        "the period as text: 2025-09-30 (day), 2025-W40 (ISO week), 2025-09 (month), 2025-Q3, 2025",
    ),
    **{
        k: _id(k, KEY_DTYPES.get(k, "string"), f"group key: {v}")
        for k, v in {**RUN_KEYS, **TASK_KEYS}.items()
    },
}


#: Every report's output spec by report name (filled as the report modules are imported);
#: the export reads units and descriptions from here.
REPORTS: dict[str, ReportSpec] = {}


@dataclass(frozen=True)
class ReportSpec:
    """The documented output of one report function."""

    name: str
    columns: tuple[ColumnDoc, ...]
    description: str = ""

    def __post_init__(self) -> None:
        REPORTS[self.name] = self

    def column(self, name: str) -> ColumnDoc | None:
        for c in self.columns:
            if c.name == name:
                return c
        return GROUP_COLUMNS.get(name)

    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def table(self, *, grouped: bool = False, periodic: bool = True) -> str:
        """The columns as an RST table for a numpydoc ``Returns`` section.

        ``grouped`` adds the group-key columns (and, with ``periodic``, the period columns).
        """
        cols = list(self.columns)
        if grouped:
            by = _id(
                "<by>",
                "string",
                "one column per ``by`` name, in order (see Notes); exit_status is Int64",
            )
            period_cols = [GROUP_COLUMNS["period"], GROUP_COLUMNS["period_label"]]
            cols = [*(period_cols if periodic else []), by, *cols]
        w1 = max(len("column"), *(len(c.name) for c in cols))
        w2 = max(len("dtype"), *(len(c.dtype) for c in cols))
        texts = [f"{c.description} [{c.unit}]" if c.unit else c.description for c in cols]
        w3 = max(len("meaning [unit]"), *(len(t) for t in texts))
        rule = f"{'=' * w1}  {'=' * w2}  {'=' * w3}"
        lines = [rule, f"{'column':<{w1}}  {'dtype':<{w2}}  meaning [unit]", rule]
        lines += [f"{c.name:<{w1}}  {c.dtype:<{w2}}  {t}" for c, t in zip(cols, texts)]
        lines.append(rule)
        return "\n".join(lines)


def group_keys_doc(keys: Iterable[str]) -> str:
    """An RST bullet list of group-by names and their meaning."""
    every = {**RUN_KEYS, **TASK_KEYS}
    return "\n".join(f"* ``{k}``: {every[k]}" for k in keys)


def document(
    spec: ReportSpec,
    *,
    grouped: bool = False,
    periodic: bool = True,
    keys: Iterable[str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Fill ``{columns}`` (and ``{keys}``) in a report function's docstring from ``spec``.

    The column table is generated from the same spec that types the output, so the docstring
    cannot drift from what the function returns.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = fn.__doc__ or ""
        indent = " " * 12
        table = spec.table(grouped=grouped, periodic=periodic).replace("\n", "\n" + indent)
        key_list = group_keys_doc(keys or ()).replace("\n", "\n" + " " * 4)
        fn.__doc__ = doc.replace("{columns}", table).replace("{keys}", key_list)
        return fn

    return deco


# ---------------------------------------------------------------------------- argument checks
def normalize_period(period: str | None) -> str | None:
    """``"month"`` etc. in canonical form; ``None``/``"none"``/``"all"`` mean no period.

    Raises
    ------
    ReportError
        An unknown period; the message lists the valid ones.
    """
    if period is None:
        return None
    if not isinstance(period, str):
        raise ReportError(f"period must be a string or None, got {type(period).__name__}")
    p = period.strip().lower()
    if p in ("", "none", "all", "total"):
        return None
    p = _PERIOD_ALIASES.get(p, p)
    if p not in PERIODS:
        raise ReportError(f"unknown period {period!r}; valid periods: {', '.join(PERIODS)} or None")
    return p


def normalize_by(
    by: str | Sequence[str] | None, valid: Sequence[str], *, report: str, hint: str = ""
) -> tuple[str, ...]:
    """Group-by names as a tuple, validated against ``valid``.

    ``by`` may be a sequence or one comma-separated string (``"pipeline,user"``). Names are
    case-insensitive; duplicates are dropped.

    Raises
    ------
    ReportError
        An unknown name; the message lists every valid name.
    """
    if by is None:
        return ()
    items = by.split(",") if isinstance(by, str) else list(by)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ReportError(f"group-by names must be strings, got {item!r}")
        name = item.strip().lower().replace("-", "_")
        if not name:
            continue
        if name not in valid:
            msg = (
                f"unknown group-by {item.strip()!r} for the {report} report; "
                f"valid names: {', '.join(sorted(valid))}"
            )
            raise ReportError(msg + (f". {hint}" if hint else ""))
        if name not in out:
            out.append(name)
    return tuple(out)


def parse_bound(value: Any, name: str) -> int | None:
    """``since``/``until`` as ms since the epoch (UTC). Naive values are taken as UTC.

    Accepts ``str`` (``"2025-09"``, ``"2025-09-01"``, ISO-8601 with offset), ``datetime``,
    ``date``, ``pandas.Timestamp`` and ``numpy.datetime64``.

    Raises
    ------
    ReportError
        A value that is not a date/time.
    """
    ts = parse_instant(value, name, error=ReportError)
    return None if ts is None else int(ts.value) // 1_000_000  # ns -> ms


def bounds(since: Any, until: Any) -> tuple[int | None, int | None]:
    """Both bounds, checked so that ``since < until``."""
    lo, hi = parse_bound(since, "since"), parse_bound(until, "until")
    if lo is not None and hi is not None and hi <= lo:
        raise ReportError(
            f"until ({pd.Timestamp(hi, unit='ms', tz='UTC')}) must be after "
            f"since ({pd.Timestamp(lo, unit='ms', tz='UTC')})"
        )
    return lo, hi


def require(df: pd.DataFrame | None, columns: Iterable[str], table: str) -> None:
    """Raise a :class:`ReportError` naming every column of ``columns`` missing from ``df``."""
    if df is None:
        raise ReportError(f"this report needs the {table} frame")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ReportError(
            f"the {table} frame lacks column(s) {', '.join(missing)} that this "
            f"report needs (see seqera_analytics.frames.describe({table!r}))"
        )


# --------------------------------------------------------------------------- typed arrays
def ts_ms(s: pd.Series) -> np.ndarray:
    """A timestamp column as int64 ms since the epoch (UTC), nulls as :data:`NAT`."""
    dtype = s.dtype
    if isinstance(dtype, pd.ArrowDtype) or not (
        isinstance(dtype, pd.DatetimeTZDtype) or np.issubdtype(dtype, np.datetime64)
    ):
        s = pd.to_datetime(s, utc=True)
    arr = s.to_numpy(dtype="datetime64[ms]")  # tz-aware -> UTC wall time
    return arr.view(np.int64)


def td_ms(s: pd.Series) -> np.ndarray:
    """A duration column (timedelta64 or numeric ms) as float64 ms, nulls as NaN."""
    dtype = s.dtype
    if isinstance(dtype, pd.ArrowDtype) or not np.issubdtype(dtype, np.timedelta64):
        if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.ArrowDtype):
            return s.to_numpy(dtype="float64", na_value=np.nan)
        s = pd.to_timedelta(s)
    ints = s.to_numpy(dtype="timedelta64[ms]").view(np.int64)
    out = ints.astype(np.float64)
    out[ints == NAT] = np.nan
    return out


def num(s: pd.Series) -> np.ndarray:
    """A numeric column as float64, nulls as NaN."""
    return s.to_numpy(dtype="float64", na_value=np.nan)


def is_value(s: pd.Series, value: str) -> np.ndarray:
    """Boolean numpy mask of ``s == value`` (nulls are False)."""
    return (s == value).to_numpy(dtype=bool, na_value=False)


def span_ms(end: np.ndarray, begin: np.ndarray) -> np.ndarray:
    """``end - begin`` in ms as float64, NaN when either is null."""
    out = (end - begin).astype(np.float64)
    out[(end == NAT) | (begin == NAT)] = np.nan
    return out


def first_valid(*arrays: np.ndarray) -> np.ndarray:
    """Element-wise the first non-null (not :data:`NAT`) of several int64 ms arrays."""
    out = arrays[0]
    for nxt in arrays[1:]:
        missing = out == NAT
        if not missing.any():
            break
        out = np.where(missing, nxt, out)
    return out


def attributed_task_ms(tasks: pd.DataFrame, runs: pd.DataFrame | None) -> np.ndarray:
    """The instant each task is attributed to: complete, else start, else submit, else the
    run's submit (see the module docstring). int64 ms, :data:`NAT` when all are null."""
    cols = [ts_ms(tasks[c]) for c in ("complete", "start", "submit") if c in tasks.columns]
    if not cols:
        out = np.full(len(tasks), NAT, dtype=np.int64)
    else:
        out = first_valid(*cols)
    missing = out == NAT
    if missing.any() and runs is not None and {"run_id", "submit"} <= set(runs.columns):
        sub = runs.drop_duplicates("run_id", keep="last").set_index("run_id")["submit"]
        ids = tasks["run_id"].to_numpy(dtype=object)[missing] if "run_id" in tasks else None
        if ids is not None:
            fill = ts_ms(sub.reindex(pd.Index(ids, dtype=object)).reset_index(drop=True))
            out = out.copy()
            out[missing] = fill
    return out


def attributed_run_ms(runs: pd.DataFrame) -> np.ndarray:
    """The instant each run is attributed to: complete, else start, else submit."""
    cols = [ts_ms(runs[c]) for c in ("complete", "start", "submit") if c in runs.columns]
    return first_valid(*cols) if cols else np.full(len(runs), NAT, dtype=np.int64)


def window_mask(ms: np.ndarray, lo: int | None, hi: int | None) -> np.ndarray | None:
    """Rows whose attributed instant is in [lo, hi); ``None`` when no bound is set.

    Rows with no instant at all are outside any bounded window.
    """
    if lo is None and hi is None:
        return None
    mask = ms != NAT
    if lo is not None:
        mask &= ms >= lo
    if hi is not None:
        mask &= ms < hi
    return mask


# --------------------------------------------------------------------------------- periods
def _period_start_days(days: np.ndarray, period: str) -> np.ndarray:
    """Day numbers (days since 1970-01-01) -> day number of their period's first day."""
    if period == "day":
        return days
    if period == "week":  # 1970-01-01 was a Thursday; ISO weeks start on Monday
        return days - (days + 3) % 7
    d = days.astype("datetime64[D]")
    if period == "month":
        return d.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    if period == "quarter":
        months = d.astype("datetime64[M]").astype(np.int64)
        return (
            (months - months % 3).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        )
    if period == "year":
        return d.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    raise AssertionError(period)  # pragma: no cover - normalize_period guards this


def period_codes(ms: np.ndarray, period: str | None) -> tuple[np.ndarray, pd.Index]:
    """Codes (-1 for no instant) and distinct period starts (int64 ms) of each instant.

    Same result as ``factorize(period_start_ms(ms, period))`` without hashing every row:
    the codes come from the per-day lookup table.
    """
    if period is None:
        return np.zeros(len(ms), dtype=np.int64), pd.Index(
            np.zeros(1 if len(ms) else 0, dtype=np.int64)
        )
    valid = ms != NAT
    every = bool(valid.all())
    if not valid.any():
        return np.full(len(ms), -1, dtype=np.int64), pd.Index(np.zeros(0, dtype=np.int64))
    days = np.floor_divide(ms if every else ms[valid], MS_PER_DAY)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo > 2_000_000:  # pragma: no cover - absurd date ranges
        return factorize(period_start_ms(ms, period))
    starts = _period_start_days(np.arange(lo, hi + 1, dtype=np.int64), period) * MS_PER_DAY
    table_codes, uniq = pd.factorize(starts)
    days -= lo
    table = np.asarray(table_codes, dtype=np.int64)
    if every:
        codes = table[days]
    else:
        codes = np.full(len(ms), -1, dtype=np.int64)
        codes[valid] = table[days]
    return codes, pd.Index(np.asarray(uniq, dtype=np.int64))


def period_start_ms(ms: np.ndarray, period: str | None) -> np.ndarray:
    """Start (int64 ms, UTC) of the period each instant falls in; :data:`NAT` stays NAT.

    With ``period=None`` every row gets 0 (one period spanning everything). The calendar
    maths runs on the distinct days only (a lookup table), not on every row.
    """
    if period is None:
        return np.zeros(len(ms), dtype=np.int64)
    out = np.full(len(ms), NAT, dtype=np.int64)
    valid = ms != NAT
    if not valid.any():
        return out
    days = np.floor_divide(ms[valid], MS_PER_DAY)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo <= 2_000_000:
        table = _period_start_days(np.arange(lo, hi + 1, dtype=np.int64), period) * MS_PER_DAY
        out[valid] = table[days - lo]
    else:  # pragma: no cover - absurd date ranges (years 1..9999)
        out[valid] = _period_start_days(days, period) * MS_PER_DAY
    return out


def period_label(starts: pd.Series, period: str | None) -> pd.Series:
    """Readable labels for period starts (``datetime64[ms, UTC]``)."""
    if period is None or len(starts) == 0:
        return pd.Series(pd.array([None] * len(starts), dtype="string"), index=starts.index)
    uniq = pd.DatetimeIndex(starts.dropna().unique())
    if period == "day":
        text = uniq.strftime("%Y-%m-%d")
    elif period == "week":
        iso = uniq.isocalendar()
        text = [f"{y}-W{w:02d}" for y, w in zip(iso["year"], iso["week"])]
    elif period == "month":
        text = uniq.strftime("%Y-%m")
    elif period == "quarter":
        text = [f"{y}-Q{(m - 1) // 3 + 1}" for y, m in zip(uniq.year, uniq.month)]
    else:
        text = uniq.strftime("%Y")
    mapping = pd.Series(list(text), index=uniq, dtype="string")
    return pd.Series(
        mapping.reindex(pd.DatetimeIndex(starts)).array, index=starts.index, dtype="string"
    )


def ms_to_ts(ms: np.ndarray) -> pd.Series:
    """int64 ms (NAT for null) -> ``datetime64[ms, UTC]`` Series."""
    return pd.Series(np.asarray(ms, dtype=np.int64).view("datetime64[ms]")).dt.tz_localize("UTC")


# -------------------------------------------------------------------------- keys and codes
def compute_env_of(queue: pd.Series) -> pd.Series:
    """Compute environment id of queue names (``TowerForge-<id>[-work|-head]`` -> ``<id>``)."""
    q = queue.astype("string")
    ce = q.str.extract(_FORGE_QUEUE)["ce"].astype("string")
    return ce.fillna(q)


def factorize(values: pd.Series | np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 for null) and the distinct values."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


def task_key_codes(tasks: pd.DataFrame, key: str) -> tuple[np.ndarray, pd.Index]:
    """Codes of a task-level group key; derived keys are computed on distinct values only."""
    if key == "compute_env":
        codes, uniq = factorize(tasks["queue"])
        derived = compute_env_of(pd.Series(uniq, dtype="string"))
        remap, duniq = factorize(derived)
        return np.where(codes >= 0, remap[np.maximum(codes, 0)], -1), duniq
    return factorize(tasks[key])


def task_key_columns(key: str) -> list[str]:
    """Task columns a task-level key reads."""
    return ["queue"] if key == "compute_env" else [key]


_RUN_KEY_COLUMNS = {
    "pipeline": ["project_name"],
    "pipeline_revision": ["revision", "manifest_version"],
    "user": ["user_name"],
    "workspace": ["workspace"],
    "label": ["labels"],
    "run_id": [],
    "run_name": ["run_name"],
    "run_status": ["status"],
    "session_id": ["session_id"],
}


def run_key_columns(keys: Iterable[str]) -> list[str]:
    """Runs columns the run-level keys read (``run_id`` always)."""
    cols = ["run_id"]
    for k in keys:
        cols += [c for c in _RUN_KEY_COLUMNS[k] if c not in cols]
    return cols


def _labels_text(v: Any) -> list[str]:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    if isinstance(v, str):
        return [v]
    return [str(x) for x in list(v) if x is not None and str(x) != ""]


def run_attributes(runs: pd.DataFrame | None, keys: Sequence[str]) -> pd.DataFrame:
    """One row per run (per label when ``"label"`` is a key): ``run_id`` plus one string
    column per run-level key, named after the key."""
    keys = [k for k in keys if k in RUN_KEYS and k != "run_id"]
    if runs is None:
        raise ReportError(f"grouping by {', '.join(keys)} needs the runs frame (pass runs=...)")
    require(runs, run_key_columns(keys), "runs")
    r = runs.drop_duplicates("run_id", keep="last")
    out = pd.DataFrame({"run_id": r["run_id"].astype("string").to_numpy()})
    for k in keys:
        if k == "label":
            continue
        if k == "pipeline_revision":
            val = r["revision"].astype("string").fillna(r["manifest_version"].astype("string"))
        else:
            val = r[_RUN_KEY_COLUMNS[k][0]].astype("string")
        out[k] = pd.array(val.to_numpy(), dtype="string")
    if "label" in keys:
        out["label"] = [_labels_text(v) for v in r["labels"].to_numpy()]
        out = out.explode("label", ignore_index=True)
        out["label"] = out["label"].astype("string")
    return out


# --------------------------------------------------------------------------- grouped sums
def _combine(components: list[tuple[np.ndarray, int]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Group index per row and, per group, the component codes (each shifted: 0 = null).

    The codes are combined into one mixed-radix int64 key. When the key space is small (the
    usual case: runs x periods x a few task keys) the dense group ids come from a
    ``bincount`` over it; otherwise from hashing the keys.
    """
    key = np.zeros(n, dtype=np.int64)
    radices: list[int] = []
    card = 1
    compressed = False
    for codes, size in components:
        m = size + 1
        if card * m >= 2**62:  # keep the mixed-radix key inside int64
            key, uniq = pd.factorize(key)
            key = np.asarray(key, dtype=np.int64)
            card = len(uniq)
            compressed = True
        key = key * m + (codes + 1)
        card *= m
        radices.append(m)
    if not compressed and card <= 2 * n + 4_000_000:
        present = np.bincount(key, minlength=card) > 0
        gkeys = np.flatnonzero(present)
        dense = np.cumsum(present) - 1
        gi = dense[key]
    else:
        gi, gkeys = pd.factorize(key)
        gi = np.asarray(gi, dtype=np.int64)
    ng = len(gkeys)
    if not compressed:
        rest = np.asarray(gkeys, dtype=np.int64)
        parts = []
        for m in reversed(radices):
            parts.append(rest % m)
            rest = rest // m
        comp = np.column_stack(parts[::-1]) if parts else np.zeros((ng, 0), dtype=np.int64)
    else:  # decode from the first row of each group
        order = np.argsort(gi, kind="stable")
        first = order[np.r_[0, np.flatnonzero(np.diff(gi[order])) + 1]] if n else order
        comp = np.column_stack([codes[first] + 1 for codes, _ in components])
    return gi, comp


def _decode(codes: np.ndarray, uniques: pd.Index, dtype: str) -> Any:
    """Values of ``uniques`` at ``codes`` (-1 -> null) as a typed array."""
    out = np.empty(len(codes), dtype=object)
    ok = codes >= 0
    if len(uniques):
        out[ok] = np.asarray(uniques, dtype=object)[codes[ok]]
    out[~ok] = None
    return pd.array(out, dtype=dtype)


class _RunKeys:
    """Run-level key codes of the distinct runs of a tasks frame (``run_uniq``).

    ``codes(key)`` gives per-run codes and their distinct values; labels are kept as
    (run position, label code) pairs for the expansion of grouped rows.
    """

    def __init__(self, runs: pd.DataFrame | None, keys: Sequence[str], run_uniq: pd.Index):
        self.keys = [k for k in keys if k in RUN_KEYS and k != "run_id"]
        self.nr = len(run_uniq)
        self.per_run: dict[str, tuple[np.ndarray, pd.Index]] = {}
        self.label: tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index] | None = None
        if not self.keys:
            return
        attrs = run_attributes(runs, self.keys)
        ids = pd.Index(np.asarray(run_uniq, dtype=object))
        plain = [k for k in self.keys if k != "label"]
        if plain:
            first = attrs.drop_duplicates("run_id").set_index("run_id")
            first = first.set_axis(first.index.astype(object)).reindex(ids)
            for k in plain:
                self.per_run[k] = factorize(first[k])
        if "label" in self.keys:
            pos = ids.get_indexer(attrs["run_id"].astype(object))
            keep = pos >= 0
            pos = pos[keep]
            lcodes, luniq = factorize(attrs["label"].to_numpy(dtype=object)[keep])
            order = np.argsort(pos, kind="stable")
            pos, lcodes = pos[order], lcodes[order]
            count = np.bincount(pos, minlength=self.nr)
            self.label = (lcodes, count, np.cumsum(count) - count, luniq)

    def expand(
        self, run_of_row: np.ndarray
    ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, pd.Index]]]:
        """Row index (rows repeated once per label of their run) and, per run-level key,
        the codes of the expanded rows with their distinct values."""
        rows = np.arange(len(run_of_row))
        lab, luniq = np.zeros(0, dtype=np.int64), pd.Index([])
        if self.label is not None:
            lcodes, count, starts, luniq = self.label
            known = run_of_row >= 0
            per = np.ones(len(run_of_row), dtype=np.int64)
            per[known] = np.maximum(count[run_of_row[known]], 1)
            rows = np.repeat(rows, per)
            within = np.arange(len(rows)) - np.repeat(np.cumsum(per) - per, per)
            r = run_of_row[rows]
            has = r >= 0
            has[has] = count[r[has]] > 0
            lab = np.full(len(rows), -1, dtype=np.int64)
            lab[has] = lcodes[starts[r[has]] + within[has]]
        run = run_of_row[rows]
        out: dict[str, tuple[np.ndarray, pd.Index]] = {}
        for k in self.keys:
            if k == "label":
                out[k] = (lab, luniq)
            else:
                c, u = self.per_run[k]
                out[k] = (
                    np.where(run >= 0, c[np.maximum(run, 0)], -1)
                    if len(c)
                    else np.full(len(run), -1, dtype=np.int64),
                    u,
                )
        return rows, out


#: A per-task metric for :func:`group_sums`: float weights (summed), a boolean mask (rows
#: counted), ``(weights, mask)`` (weights summed over the masked rows; sparse masks make it
#: cheap), or ``None`` (rows counted).
Metric = Any


def _masked(v: Metric, mask: np.ndarray) -> Metric:
    if v is None:
        return None
    if isinstance(v, tuple):
        return tuple(None if x is None else np.asarray(x)[mask] for x in v)
    return np.asarray(v)[mask]


def _sum(gi: np.ndarray, v: Metric, ng: int) -> np.ndarray:
    """Sum of one metric per group (see :data:`Metric`)."""
    if v is None:
        return np.bincount(gi, minlength=ng).astype(np.float64)
    if isinstance(v, tuple):
        weights, where = v
        if where is None:
            return _sum(gi, weights, ng)
        idx = np.flatnonzero(where)
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[idx]
        return np.bincount(gi[idx], weights=w, minlength=ng).astype(np.float64)
    a = np.asarray(v)
    if a.dtype == np.bool_:
        return np.bincount(gi[a], minlength=ng).astype(np.float64)
    return np.bincount(gi, weights=a.astype(np.float64, copy=False), minlength=ng)


def group_sums(
    tasks: pd.DataFrame,
    runs: pd.DataFrame | None,
    *,
    by: Sequence[str],
    period: str | None,
    lo: int | None,
    hi: int | None,
    metrics: Callable[[pd.DataFrame], Mapping[str, np.ndarray]],
) -> pd.DataFrame:
    """Sum per-task metrics by period and group keys, runs counted distinct.

    Two stages, integer codes throughout: tasks are summed per (run, period, task-level
    keys) with ``bincount``; those rows get their run's key codes (repeated once per label
    when ``label`` is a key) and are summed again per (period, keys).

    Parameters
    ----------
    tasks, runs : DataFrame
        Tasks (needs ``run_id``, the time columns and the task-level keys) and runs (needs
        the run-level keys' columns, when there are any).
    by : sequence of str
        Validated keys from :data:`RUN_KEYS` and :data:`TASK_KEYS`.
    metrics : callable
        Called with ``tasks``; returns one :data:`Metric` per output column (float weights,
        a boolean mask, ``(weights, mask)`` or ``None``), summed per group. Null weights must
        be 0 (count nulls in a separate metric).

    Returns
    -------
    DataFrame
        ``period_ms`` (int64, NAT for unknown), one column per ``by`` key, one float64
        column per metric, and ``runs`` (int64, distinct runs with at least one task).
    """
    task_keys = [k for k in by if k in TASK_KEYS]
    ms = attributed_task_ms(tasks, runs)
    mask = window_mask(ms, lo, hi)
    values = dict(metrics(tasks))

    run_codes, run_uniq = factorize(tasks["run_id"])
    p_codes, p_uniq = period_codes(ms, period)
    comps: list[tuple[np.ndarray, int]] = [(run_codes, len(run_uniq)), (p_codes, len(p_uniq))]
    tuniq: dict[str, pd.Index] = {}
    for k in task_keys:
        c, u = task_key_codes(tasks, k)
        comps.append((c, len(u)))
        tuniq[k] = u
    n = len(tasks)
    if mask is not None:
        comps = [(c[mask], size) for c, size in comps]
        values = {k: _masked(v, mask) for k, v in values.items()}
        n = int(mask.sum())
    gi, comp = _combine(comps, n)
    ng = comp.shape[0]
    sums = {name: _sum(gi, v, ng) for name, v in values.items()}

    # Stage 2: one row per (run, period, task keys) -> per (period, keys).
    stage_run = comp[:, 0] - 1
    rows, run_key_codes = _RunKeys(runs, by, run_uniq).expand(stage_run)
    run = stage_run[rows]
    keyed: list[tuple[np.ndarray, pd.Index]] = [(comp[rows, 1] - 1, p_uniq)]
    for k in by:
        if k in TASK_KEYS:
            keyed.append((comp[rows, 2 + task_keys.index(k)] - 1, tuniq[k]))
        elif k == "run_id":
            keyed.append((run, run_uniq))
        else:
            keyed.append(run_key_codes[k])
    fgi, fcomp = _combine([(c, len(u)) for c, u in keyed], len(rows))
    nf = fcomp.shape[0]
    out = pd.DataFrame(index=pd.RangeIndex(nf))
    pcode = fcomp[:, 0] - 1
    out["period_ms"] = np.where(
        pcode >= 0,
        np.asarray(p_uniq, dtype=np.int64)[np.maximum(pcode, 0)] if len(p_uniq) else NAT,
        NAT,
    ).astype(np.int64)
    for j, k in enumerate(by, start=1):
        out[k] = _decode(fcomp[:, j] - 1, keyed[j][1], KEY_DTYPES.get(k, "string"))
    for name, v in sums.items():
        out[name] = np.bincount(fgi, weights=v[rows], minlength=nf)
    out["runs"] = distinct_per_group(fgi, nf, run, len(run_uniq))
    return out


def task_groups(
    tasks: pd.DataFrame,
    runs: pd.DataFrame | None,
    by: Sequence[str],
    *,
    period: str | None = None,
    ms: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Group index of every (masked) task row and the key values of each group.

    Run-level keys are mapped onto tasks through integer codes (no string merge); ``label``
    is not supported here (a task would need one row per label).

    Returns
    -------
    gi : numpy.ndarray
        int64 group index per task row kept by ``mask``.
    groups : DataFrame
        One row per group: ``period_ms`` (when ``period`` is set) and one column per key.
    """
    if "label" in by:  # pragma: no cover - callers validate against their own key lists
        raise ReportError("label cannot be a key of a per-task distribution")
    comps: list[tuple[np.ndarray, int]] = []
    uniqs: list[tuple[str, pd.Index]] = []
    if period is not None:
        assert ms is not None
        c, u = period_codes(ms, period)
        comps.append((c, len(u)))
        uniqs.append(("period_ms", u))
    need_runs = any(k in RUN_KEYS for k in by)
    run_codes, run_uniq = (
        factorize(tasks["run_id"]) if need_runs else (np.zeros(0, dtype=np.int64), pd.Index([]))
    )
    run_key_codes: dict[str, tuple[np.ndarray, pd.Index]] = {}
    if need_runs:
        _, run_key_codes = _RunKeys(runs, by, run_uniq).expand(run_codes)
    for k in by:
        if k in TASK_KEYS:
            c, u = task_key_codes(tasks, k)
        elif k == "run_id":
            c, u = run_codes, run_uniq
        else:
            c, u = run_key_codes[k]
        comps.append((c, len(u)))
        uniqs.append((k, u))
    n = len(tasks)
    if mask is not None:
        comps = [(c[mask], size) for c, size in comps]
        n = int(mask.sum())
    if not comps:
        return np.zeros(n, dtype=np.int64), pd.DataFrame(index=pd.RangeIndex(1 if n else 0))
    gi, comp = _combine(comps, n)
    groups = pd.DataFrame(index=pd.RangeIndex(comp.shape[0]))
    for j, (name, u) in enumerate(uniqs):
        codes = comp[:, j] - 1
        if name == "period_ms":
            vals = (
                np.asarray(u, dtype=np.int64)[np.maximum(codes, 0)]
                if len(u)
                else np.zeros(len(codes), dtype=np.int64)
            )
            groups[name] = np.where(codes >= 0, vals, NAT).astype(np.int64)
        else:
            groups[name] = _decode(codes, u, KEY_DTYPES.get(name, "string"))
    return gi, groups


def _sort_within_groups(g: np.ndarray, v: np.ndarray, ngroups: int) -> np.ndarray:
    """``v`` sorted by (group, value): a value sort, then a stable sort by group (a radix
    sort when the group ids fit in 16 bits)."""
    by_value = np.argsort(v, kind="quicksort")
    gs = g[by_value]
    if ngroups <= np.iinfo(np.uint16).max:
        gs = gs.astype(np.uint16)
    elif ngroups <= np.iinfo(np.uint32).max:  # pragma: no cover - millions of groups
        gs = gs.astype(np.uint32)
    return v[by_value[np.argsort(gs, kind="stable")]]


def grouped_stats(
    gi: np.ndarray, ngroups: int, values: Mapping[str, np.ndarray], stats: Mapping[str, float | str]
) -> pd.DataFrame:
    """Per-group statistics of float arrays (NaN ignored), vectorised.

    ``stats`` maps an output suffix to a quantile (``{"median": 0.5, "p90": 0.9}``, linear
    interpolation as :func:`numpy.quantile`) or to ``"max"``, ``"min"``, ``"mean"``,
    ``"sum"``, ``"count"``; columns are named ``<value>_<suffix>``. Quantiles of every group
    come from one sort per value array; the other statistics need no sort.
    """
    out = pd.DataFrame(index=pd.RangeIndex(ngroups))
    quantiles = any(not isinstance(h, str) for h in stats.values())
    for name, raw in values.items():
        v = np.asarray(raw, dtype=np.float64)
        ok = ~np.isnan(v)
        g, v = gi[ok], v[ok]
        count = np.bincount(g, minlength=ngroups)
        has = count > 0
        sv = _sort_within_groups(g, v, ngroups) if quantiles and len(v) else v
        starts = np.cumsum(count) - count
        for suffix, how in stats.items():
            res = np.full(ngroups, np.nan)
            if how == "count":
                res = count.astype(np.float64)
            elif how == "sum":
                res = np.bincount(g, weights=v, minlength=ngroups)
            elif how == "mean":
                res[has] = np.bincount(g, weights=v, minlength=ngroups)[has] / count[has]
            elif how in ("max", "min"):
                if quantiles:
                    res[has] = sv[starts[has] + (count[has] - 1 if how == "max" else 0)]
                else:
                    acc = np.full(ngroups, -np.inf if how == "max" else np.inf)
                    (np.maximum if how == "max" else np.minimum).at(acc, g, v)
                    res[has] = acc[has]
            else:
                q = float(how)
                pos = q * (count[has] - 1)
                lo_i = np.floor(pos).astype(np.int64)
                hi_i = np.minimum(lo_i + 1, count[has] - 1)
                a, b = sv[starts[has] + lo_i], sv[starts[has] + hi_i]
                res[has] = a + (b - a) * (pos - lo_i)
            out[f"{name}_{suffix}"] = res
    return out


def distinct_per_group(gi: np.ndarray, ngroups: int, codes: np.ndarray, ncodes: int) -> np.ndarray:
    """Number of distinct non-null ``codes`` in each group."""
    known = codes >= 0
    _, pair = _combine([(gi[known], ngroups), (codes[known], ncodes)], int(known.sum()))
    if not len(pair):
        return np.zeros(ngroups, dtype=np.int64)
    return np.bincount(pair[:, 0] - 1, minlength=ngroups)


def run_frame(
    runs: pd.DataFrame,
    *,
    by: Sequence[str],
    period: str | None,
    lo: int | None,
    hi: int | None,
    columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Runs in the window with ``run_id``, ``period_ms`` (their attributed period), one string
    column per run-level key, and the raw runs ``columns`` asked for; one row per label when
    ``label`` is a key."""
    keys = [k for k in by if k in RUN_KEYS and k != "run_id"]
    require(runs, ["run_id", *columns], "runs")
    r = runs.drop_duplicates("run_id", keep="last").reset_index(drop=True)
    ms = attributed_run_ms(r)
    mask = window_mask(ms, lo, hi)
    base = pd.DataFrame(
        {
            "run_id": pd.array(r["run_id"].to_numpy(dtype=object), dtype="string"),
            "period_ms": period_start_ms(ms, period),
        }
    )
    for c in columns:
        if c != "run_id":
            base[c] = (
                r[c].to_numpy()
                if not isinstance(r[c].dtype, pd.api.extensions.ExtensionDtype)
                else r[c].array
            )
    if mask is not None:
        base = base[mask].reset_index(drop=True)
    if keys:
        base = base.merge(run_attributes(r, keys), on="run_id", how="left")
    return base


def finalize(
    df: pd.DataFrame,
    spec: ReportSpec,
    *,
    by: Sequence[str] = (),
    period: str | None = None,
    grouped: bool = False,
    sort: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Order, type and label a report: ``period``/``period_label`` from ``period_ms`` (when
    ``grouped`` and a period is set), the group keys, then the spec's columns with their
    documented dtypes; sorted; ``attrs`` say which report it is (the export reads them)."""
    n = len(df)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    if grouped and period is not None:
        ms = df["period_ms"].to_numpy(dtype=np.int64) if n else np.array([], dtype=np.int64)
        out["period"] = ms_to_ts(ms).array
        out["period_label"] = period_label(out["period"], period).array
    for k in by:
        out[k] = cast(
            df[k] if k in df else pd.Series([None] * n, dtype=object), KEY_DTYPES.get(k, "string")
        )
    for c in spec.columns:
        if c.name not in out.columns:
            src = df[c.name] if c.name in df.columns else pd.Series([None] * n, dtype=object)
            out[c.name] = cast(src.reset_index(drop=True), c.dtype)
    if sort is None:
        sort = [*(["period"] if "period" in out else []), *by]
    sort = [c for c in sort if c in out]
    if sort and n:
        out = out.sort_values(sort, kind="stable", na_position="last").reset_index(drop=True)
    out.attrs = {"report": spec.name, "by": list(by), "period": period}
    return out


def cast(col: pd.Series, dtype: str) -> Any:
    """A column as the documented dtype (an array to assign into a frame)."""
    if dtype == "object":
        return col.to_numpy(dtype=object)
    if dtype.startswith("datetime64"):
        return pd.to_datetime(col, utc=True).astype(dtype).array
    if dtype == "string":
        if isinstance(col.dtype, pd.StringDtype) and col.dtype.na_value is pd.NA:
            return col.astype(pd.StringDtype()).array  # the default storage, as Parquet rereads
        vals = col.to_numpy(dtype=object)
        vals = np.where(pd.isna(vals), None, vals) if len(vals) else vals
        return pd.array(vals, dtype="string")
    if dtype in ("Int64", "Float64"):
        if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
            f = col.to_numpy(dtype="float64", na_value=np.nan)
        else:
            f = pd.to_numeric(pd.Series(col.to_numpy(dtype=object)), errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
        arr = pd.array(f, dtype="Float64")
        if dtype == "Int64":
            arr = pd.array(np.round(f), dtype="Float64").astype("Int64")
        return arr
    if dtype == "boolean":
        return pd.array(col.to_numpy(dtype=object), dtype="boolean")
    return col.astype(dtype).array


# ----------------------------------------------------------------------------- statistics
def with_na(
    total: np.ndarray | pd.Series, covered: np.ndarray | pd.Series, priced: np.ndarray | pd.Series
) -> pd.array:
    """A cost sum that is ``<NA>`` when the tasks it covers exist but none has a cost.

    ``0.0`` means there was nothing to count; ``<NA>`` means unknown, never a silent zero.
    """
    t = np.asarray(total, dtype=np.float64).copy()
    unknown = (np.asarray(covered) > 0) & (np.asarray(priced) == 0)
    arr = pd.array(t, dtype="Float64")
    arr[unknown] = pd.NA
    return arr


def ratio(num_: Any, den: Any) -> pd.array:
    """``num / den`` as Float64, ``<NA>`` where the denominator is 0 or null."""
    n = np.asarray(pd.array(num_, dtype="Float64").to_numpy(dtype="float64", na_value=np.nan))
    d = np.asarray(pd.array(den, dtype="Float64").to_numpy(dtype="float64", na_value=np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = n / d
    r[~np.isfinite(r)] = np.nan
    out = pd.array(r, dtype="Float64")
    out[np.isnan(r)] = pd.NA
    return out
