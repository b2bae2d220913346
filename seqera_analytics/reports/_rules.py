"""The rules every report shares, as column expressions: attribution, periods, group keys.

Inside a report expression every instant is ``int64`` milliseconds since the epoch (UTC) and
every duration ``int64`` milliseconds (:mod:`._engine` normalises the inputs so), so the
arithmetic is the same integer arithmetic on every engine.

Attribution rule (used by every report)
---------------------------------------
A task belongs to the period of its ``complete`` time; when that is null, its ``start``,
then its ``submit``, then the ``submit`` of its run. A run belongs to the period of its own
``complete`` time, else ``start``, else ``submit``. Periods are UTC: days start at 00:00Z,
weeks on Monday (ISO 8601), months, quarters and years on their first day. ``since`` is
inclusive and ``until`` exclusive, both applied to the same attributed instant; rows with no
instant at all are outside any bounded window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .._exceptions import ReportError
from .._time import parse_instant
from ..frames.schema import TASK_STATUSES
from ._spec import PERIODS, RUN_KEYS, TASK_KEYS

__all__ = [
    "DAY_MS",
    "bounds",
    "day_of",
    "in_window",
    "normalize_by",
    "normalize_period",
    "period_start",
    "run_instant",
    "run_key",
    "run_key_columns",
    "task_instant",
    "task_key",
    "task_key_columns",
    "task_statuses",
]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000.0
MINUTE_MS = 60_000.0

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
    "annually": "year",
}
_TRUNCATE_UNIT = {"month": "M", "quarter": "Q", "year": "Y"}

#: AWS Batch queues created by Batch Forge: TowerForge-<compute env id>[-work|-head].
FORGE_QUEUE = r"^TowerForge-([A-Za-z0-9]+?)(?:-(?:work|head))?$"


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
    if isinstance(by, str):
        items = by.split(",")
    elif isinstance(by, (Sequence, set, frozenset, pd.Index, np.ndarray)):
        items = list(by)
    else:
        raise ReportError(f"by must be a key name, a comma-separated string or a list, got {by!r}")
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


def _bound(value: Any, name: str) -> int | None:
    if isinstance(value, (bool, int, float, np.integer, np.floating)):
        # A bare number is no date (pandas would read it as nanoseconds since 1970).
        raise ReportError(f"{name} must be a date or date-time (e.g. '2025-09-01'), got {value!r}")
    try:
        ts = parse_instant(value, name, error=ReportError)
        return None if ts is None else int(ts.as_unit("ms").asm8.view("i8"))  # ms since 1970
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise ReportError(
            f"{name}={value!r} is out of range: use a date from 1678 to 2261"
        ) from None


def bounds(since: Any, until: Any) -> tuple[int | None, int | None]:
    """``since``/``until`` as int ms since the epoch (UTC), checked so that ``since < until``.

    Accepts ``str`` (``"2025-09"``, ``"2025-09-01"``, ISO-8601 with offset), ``datetime``,
    ``date``, ``pandas.Timestamp`` and ``numpy.datetime64``; naive values are UTC.

    Raises
    ------
    ReportError
        A value that is not a date/time, or ``until`` not after ``since``.
    """
    lo, hi = _bound(since, "since"), _bound(until, "until")
    if lo is not None and hi is not None and hi <= lo:
        raise ReportError(
            f"until ({pd.Timestamp(hi, unit='ms', tz='UTC')}) must be after "
            f"since ({pd.Timestamp(lo, unit='ms', tz='UTC')})"
        )
    return lo, hi


# ------------------------------------------------------------------------ instants, periods
def task_instant(t: ir.Table) -> ir.IntegerValue:
    """The instant a task is attributed to, without the run fallback: complete, else start,
    else submit (int64 ms; null when all three are)."""
    return ibis.coalesce(t.complete, t.start, t.submit)


def run_instant(r: ir.Table) -> ir.IntegerValue:
    """The instant a run is attributed to: complete, else start, else submit."""
    return ibis.coalesce(r.complete, r.start, r.submit)


def in_window(ms: ir.IntegerValue, lo: int | None, hi: int | None) -> ir.BooleanValue | None:
    """``lo <= ms < hi`` (null instants are outside); ``None`` when no bound is set."""
    cond = None
    if lo is not None:
        cond = ms >= lo
    if hi is not None:
        cond = (ms < hi) if cond is None else (cond & (ms < hi))
    return cond


def floor_div(x: ir.IntegerValue, n: int) -> ir.IntegerValue:
    """``floor(x / n)`` for int64 ``x`` (engines differ on the sign of integer division)."""
    return (x // n).cast("int64")


def day_of(ms: ir.IntegerValue) -> ir.IntegerValue:
    """UTC day number (days since 1970-01-01) of an instant."""
    return floor_div(ms, DAY_MS)


def period_of_day(day: ir.IntegerValue, period: str | None) -> ir.IntegerValue:
    """Start (int64 ms, UTC) of the period a day number falls in; a constant 0 when
    ``period`` is None (one period spanning everything).

    Days and ISO weeks are integer arithmetic (1970-01-01 was a Thursday); months, quarters
    and years use the engine's calendar (``date_trunc``) at second precision.
    """
    if period is None:
        return ibis.literal(0, type="int64")
    if period == "day":
        return day * DAY_MS
    if period == "week":
        shifted = day + 3
        return (day - (shifted - floor_div(shifted, 7) * 7)) * DAY_MS
    ts = (day * 86_400).as_timestamp("s").truncate(_TRUNCATE_UNIT[period])
    return (ts.epoch_seconds().cast("int64") * 1000).cast("int64")


def period_start(ms: ir.IntegerValue, period: str | None) -> ir.IntegerValue:
    """Start (int64 ms, UTC) of the period an instant falls in (null stays null); 0 for
    every row, instant or not, when ``period`` is None (one period spanning everything)."""
    if period is None:
        return ibis.literal(0, type="int64")
    return period_of_day(day_of(ms), period)


def task_statuses(statuses: Any) -> list[str]:
    """Task statuses as upper-case names: one name or a list of them, each a task status.

    Raises
    ------
    ReportError
        Not names, or a name that is no task status.
    """
    if isinstance(statuses, str):
        statuses = [statuses]
    if not isinstance(statuses, (Sequence, set, frozenset)) or not all(
        isinstance(s, str) for s in statuses
    ):
        raise ReportError(f"statuses must be a task status or a list of them, got {statuses!r}")
    out = [s.strip().upper() for s in statuses]
    bad = [s for s in out if s not in TASK_STATUSES]
    if bad or not out:
        raise ReportError(f"statuses={statuses!r}: use task statuses, {', '.join(TASK_STATUSES)}")
    return out


# ---------------------------------------------------------------------------------- keys
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


def task_key_columns(keys: Sequence[str]) -> list[str]:
    """Task columns the task-level keys among ``keys`` read."""
    out: list[str] = []
    for k in keys:
        if k in TASK_KEYS:
            col = "queue" if k == "compute_env" else k
            if col not in out:
                out.append(col)
    return out


def run_key_columns(keys: Sequence[str]) -> list[str]:
    """Runs columns the run-level keys among ``keys`` read (``run_id`` always)."""
    cols = ["run_id"]
    for k in keys:
        cols += [c for c in _RUN_KEY_COLUMNS.get(k, []) if c not in cols]
    return cols


def task_key(t: ir.Table, key: str) -> ir.Value:
    """The value of a task-level group key (see :data:`TASK_KEYS`)."""
    if key == "compute_env":
        q = t.queue
        return ibis.ifelse(q.re_search(FORGE_QUEUE), q.re_extract(FORGE_QUEUE, 1), q)
    return t[key]


def run_key(r: ir.Table, key: str) -> ir.Value:
    """The value of a run-level group key other than ``label`` (see :data:`RUN_KEYS`)."""
    if key == "pipeline_revision":
        return ibis.coalesce(r.revision, r.manifest_version)
    if key == "run_id":
        return r.run_id
    return r[_RUN_KEY_COLUMNS[key][0]]


def run_keys_table(
    r: ir.Table, keys: Sequence[str], *, keep: bool = False, **extra: ir.Value
) -> ir.Table:
    """``run_id``, one column per run-level key (named after the key) and ``extra``
    columns (every runs column too with ``keep``); one row per run label when ``label`` is a
    key (``<NA>`` for runs without; empty labels are not labels)."""
    cols: dict[str, ir.Value] = {"run_id": r.run_id, **extra}
    for k in keys:
        if k in RUN_KEYS and k not in ("label", "run_id"):
            cols[k] = run_key(r, k)
    if "label" in keys:
        # each name once per run, empty names dropped: a run counts once in each label
        cols["label"] = r.labels.filter(lambda x: x.notnull() & (x.strip() != "")).unique()
    out = r.mutate(**cols) if keep else r.select(**cols)
    if "label" in keys:
        out = out.unnest("label", keep_empty=True)
    return out
