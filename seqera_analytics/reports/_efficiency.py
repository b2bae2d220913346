"""Efficiency: requested vs used CPU, memory and time per process, the money spent on unused
requests, and right-sizing suggestions emitted as a Nextflow config snippet.

Which tasks
-----------
COMPLETED tasks only: a CACHED task repeats the numbers of an earlier execution, and a
FAILED attempt usually has no usage metrics (and its use says little about what the task
needs). The cost of failed attempts is in :func:`~seqera_analytics.reports.failure_report`.

Usage ratios (per task)
-----------------------
* CPU: ``pcpu / (100 x cpus)`` (``pcpu`` is % of one core, so 1.0 = every requested core
  busy; it can exceed 1 when a tool uses more threads than requested).
* Memory: ``peak_rss / memory``.
* Time: ``realtime / time`` (``time`` is the requested limit).

Money spent on unused requests (the "waste" model)
--------------------------------------------------
Seqera prices a task as VM rate x max(cpu share, memory share) x runtime: the task pays for
the larger of its CPU and memory slices of the VM. Shrinking the request to what was used
would have shrunk that slice by the better-used of the two resources, so per task::

    wasted_cost = cost x (1 - max(cpu_usage, memory_usage)), clipped to [0, cost]

Tasks lacking ``cost``, ``pcpu`` or ``peak_rss`` are left out of ``wasted_cost`` and counted
(``tasks_without_usage``). The time limit costs nothing by itself (you pay for the runtime),
so it does not enter the model. This is a lower bound of what right-sizing saves when
smaller requests let more tasks share a VM, and ignores VM packing.

Right-sizing suggestions
------------------------
Per resource, from the successful (COMPLETED) tasks of the group across all runs::

    suggestion = max(quantile(use, q) x (1 + headroom), max(use))   then rounded up

with ``q = 0.95`` and ``headroom = 0.2`` by default. It is never below the largest use of a
successful task. The use measured is: CPU cores ``pcpu / 100``; memory ``peak_rss``; time
``max(realtime, complete - start)``, the wall time the executor saw (a time limit covers
staging, which ``realtime`` excludes). Rounding (up): CPUs to whole cores (at least 1);
memory to 128 MB steps up to 1 GB, then whole GB up to 16 GB, 2 GB steps to 64 GB, 8 GB steps
to 256 GB and 32 GB steps above (Nextflow's ``GB`` is 1024^3 bytes); time to 10
minutes up to 1 h, half hours up to 6 h, whole hours up to 72 h, whole days above. Fewer than
``min_tasks`` successful observations of a resource give no suggestion for it, with a note.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ReportError
from ._common import (
    MS_PER_HOUR,
    RUN_KEYS,
    TASK_KEYS,
    ReportSpec,
    _id,
    _m,
    attributed_task_ms,
    bounds,
    distinct_per_group,
    document,
    finalize,
    grouped_stats,
    is_value,
    normalize_by,
    num,
    ratio,
    require,
    span_ms,
    task_groups,
    task_key_columns,
    td_ms,
    ts_ms,
    window_mask,
)

__all__ = ["efficiency_report", "nextflow_config", "right_size"]

GIB = 1024**3
MIB = 1024**2
_KEYS = tuple(k for k in (*TASK_KEYS, *RUN_KEYS) if k != "label")
_TASK_COLUMNS = (
    "run_id",
    "status",
    "cpus",
    "memory",
    "time",
    "pcpu",
    "peak_rss",
    "realtime",
    "cost",
    "submit",
    "start",
    "complete",
)


# ------------------------------------------------------------------------------- rounding
def nextflow_memory(nbytes: float) -> tuple[int, str]:
    """Round bytes up to a friendly Nextflow memory value: (bytes, ``"12.GB"``)."""
    if nbytes <= GIB:
        mb = max(128, math.ceil(nbytes / MIB / 128.0) * 128)
        if mb >= 1024:
            return GIB, "1.GB"
        return mb * MIB, f"{mb}.MB"
    gb = nbytes / GIB
    for limit, step in ((16, 1), (64, 2), (256, 8)):
        if gb <= limit:
            g = math.ceil(gb / step) * step
            return g * GIB, f"{g}.GB"
    g = math.ceil(gb / 32) * 32
    return g * GIB, f"{g}.GB"


def nextflow_time(ms: float) -> tuple[float, str]:
    """Round ms up to a friendly Nextflow duration: (hours, ``"2.h"``/``"30.m"``/``"3.d"``)."""
    minutes = ms / 60_000.0
    if minutes <= 60:
        m = max(10, math.ceil(minutes / 10.0) * 10)
        return (1.0, "1.h") if m >= 60 else (m / 60.0, f"{m}.m")
    hours = minutes / 60.0
    if hours <= 6:
        half = math.ceil(hours * 2) / 2.0
        return (half, f"{int(half)}.h") if half.is_integer() else (half, f"{int(half * 60)}.m")
    if hours <= 72:
        h = math.ceil(hours)
        return float(h), f"{h}.h"
    d = math.ceil(hours / 24.0)
    return d * 24.0, f"{d}.d"


def nextflow_cpus(cores: float) -> int:
    """Round cores up to a whole number of CPUs, at least 1."""
    return max(1, math.ceil(cores))


# ----------------------------------------------------------------------------- usage data
def _usage(
    tasks: pd.DataFrame,
    runs: pd.DataFrame | None,
    keys: Sequence[str],
    lo: int | None,
    hi: int | None,
) -> tuple[np.ndarray, pd.DataFrame, dict[str, np.ndarray]]:
    need = [*_TASK_COLUMNS, *(c for k in keys if k in TASK_KEYS for c in task_key_columns(k))]
    require(tasks, need, "tasks")
    ms = attributed_task_ms(tasks, runs)
    win = window_mask(ms, lo, hi)
    mask = is_value(tasks["status"], "COMPLETED")
    if win is not None:
        mask &= win
    gi, groups = task_groups(tasks, runs, keys, mask=mask)
    cpus, memory = num(tasks["cpus"])[mask], num(tasks["memory"])[mask]
    time_req = td_ms(tasks["time"])[mask]
    pcpu, rss = num(tasks["pcpu"])[mask], num(tasks["peak_rss"])[mask]
    real = td_ms(tasks["realtime"])[mask]
    wall = span_ms(ts_ms(tasks["complete"]), ts_ms(tasks["start"]))[mask]
    cost = num(tasks["cost"])[mask]
    with np.errstate(divide="ignore", invalid="ignore"):
        cpu_use = pcpu / (100.0 * cpus)
        mem_use = rss / memory
        time_use = real / time_req
    for a in (cpu_use, mem_use, time_use):
        a[~np.isfinite(a)] = np.nan
    run_codes = pd.factorize(tasks["run_id"])[0][mask]
    arrays = {
        "cpus": cpus,
        "memory": memory,
        "time": time_req,
        "cost": cost,
        "cpu_usage": cpu_use,
        "memory_usage": mem_use,
        "time_usage": time_use,
        "cpu_used": pcpu / 100.0,
        "memory_used": rss,
        "time_used": np.fmax(real, wall),  # NaN only when both are null
        "run": run_codes.astype(np.int64),
    }
    return gi, groups, arrays


def _runs_per_group(gi: np.ndarray, run_codes: np.ndarray, ng: int) -> np.ndarray:
    return distinct_per_group(gi, ng, run_codes, int(run_codes.max()) + 1 if len(run_codes) else 0)


def _suggest(
    gi: np.ndarray,
    ng: int,
    a: dict[str, np.ndarray],
    quantile: float,
    headroom: float,
    min_tasks: int,
) -> pd.DataFrame:
    uses = {"cpu": a["cpu_used"], "memory": a["memory_used"], "time": a["time_used"]}
    st = grouped_stats(gi, ng, uses, {"q": quantile, "max": "max", "n": "count"})
    req = grouped_stats(
        gi, ng, {"cpus": a["cpus"], "memory": a["memory"], "time": a["time"]}, {"max": "max"}
    )
    out = pd.DataFrame(index=pd.RangeIndex(ng))
    out["tasks_completed"] = np.bincount(gi, minlength=ng)
    out["cpus_requested"] = req["cpus_max"]
    out["memory_requested_gib"] = req["memory_max"] / GIB
    out["time_requested_hours"] = req["time_max"] / MS_PER_HOUR
    out["cpu_used_q"] = st["cpu_q"]
    out["cpu_used_max"] = st["cpu_max"]
    out["memory_used_q_gib"] = st["memory_q"] / GIB
    out["memory_used_max_gib"] = st["memory_max"] / GIB
    out["time_used_q_hours"] = st["time_q"] / MS_PER_HOUR
    out["time_used_max_hours"] = st["time_max"] / MS_PER_HOUR

    cpus_s: list[int | None] = []
    mem_b: list[int | None] = []
    mem_s: list[str | None] = []
    time_h: list[float | None] = []
    time_s: list[str | None] = []
    notes: list[str | None] = []
    # One iteration per group (process), never per task.
    for i in range(ng):
        missing = []
        note_parts = []
        vals: dict[str, float | None] = {}
        for res in ("cpu", "memory", "time"):
            n = int(st[f"{res}_n"].iat[i])
            if n < min_tasks:
                missing.append(f"{res} ({n})")
                vals[res] = None
            else:
                vals[res] = max(st[f"{res}_q"].iat[i] * (1.0 + headroom), st[f"{res}_max"].iat[i])
        cpus_s.append(nextflow_cpus(vals["cpu"]) if vals["cpu"] is not None else None)
        if vals["memory"] is not None:
            b, s = nextflow_memory(vals["memory"])
            mem_b.append(b)
            mem_s.append(s)
        else:
            mem_b.append(None)
            mem_s.append(None)
        if vals["time"] is not None:
            h, s = nextflow_time(vals["time"])
            time_h.append(h)
            time_s.append(s)
        else:
            time_h.append(None)
            time_s.append(None)
        if missing:
            note_parts.append(
                f"not enough successful tasks with usage data for "
                f"{', '.join(missing)}; need {min_tasks} (min_tasks)"
            )
        if (
            vals["cpu"] is not None
            and cpus_s[-1] is not None
            and not np.isnan(out["cpus_requested"].iat[i])
            and cpus_s[-1] > out["cpus_requested"].iat[i]
        ):
            note_parts.append("uses more CPU than requested")
        if (
            vals["memory"] is not None
            and mem_b[-1] is not None
            and not np.isnan(out["memory_requested_gib"].iat[i])
            and mem_b[-1] > out["memory_requested_gib"].iat[i] * GIB
        ):
            note_parts.append("suggests more memory than requested")
        notes.append("; ".join(note_parts) or None)
    out["suggested_cpus"] = pd.array(cpus_s, dtype="Int64")
    out["suggested_memory"] = pd.array(mem_s, dtype="string")
    out["suggested_memory_bytes"] = pd.array(mem_b, dtype="Int64")
    out["suggested_time"] = pd.array(time_s, dtype="string")
    out["suggested_time_hours"] = pd.array(time_h, dtype="Float64")
    out["note"] = pd.array(notes, dtype="string")
    out["quantile"] = quantile
    out["headroom"] = headroom
    return out


def _check_params(quantile: float, headroom: float, min_tasks: int) -> None:
    if not 0.0 < quantile <= 1.0:
        raise ReportError(f"quantile must be in (0, 1], got {quantile!r}")
    if headroom < 0:
        raise ReportError(f"headroom must be >= 0, got {headroom!r}")
    if int(min_tasks) < 1:
        raise ReportError(f"min_tasks must be >= 1, got {min_tasks!r}")


RIGHT_SIZE = ReportSpec(
    "right_size",
    (
        _m("tasks_completed", "Int64", "count", "successful (COMPLETED) tasks in the group"),
        _m("cpus_requested", "Int64", "count", "largest cpus request seen"),
        _m("memory_requested_gib", "Float64", "GiB", "largest memory request seen"),
        _m("time_requested_hours", "Float64", "h", "largest time limit seen"),
        _m("cpu_used_q", "Float64", "cores", "quantile of pcpu / 100"),
        _m("cpu_used_max", "Float64", "cores", "largest pcpu / 100 of a successful task"),
        _m("memory_used_q_gib", "Float64", "GiB", "quantile of peak_rss"),
        _m("memory_used_max_gib", "Float64", "GiB", "largest peak_rss of a successful task"),
        _m("time_used_q_hours", "Float64", "h", "quantile of max(realtime, complete - start)"),
        _m("time_used_max_hours", "Float64", "h", "largest such time of a successful task"),
        _m("suggested_cpus", "Int64", "count", "suggested cpus (<NA>: too few observations)"),
        _id("suggested_memory", "string", "suggested memory in Nextflow units, e.g. 12.GB"),
        _m("suggested_memory_bytes", "Int64", "bytes", "the same in bytes (GB = 1024^3 bytes)"),
        _id("suggested_time", "string", "suggested time limit in Nextflow units, e.g. 2.h or 30.m"),
        _m("suggested_time_hours", "Float64", "h", "the same in hours"),
        _id("note", "string", "why a suggestion is missing, or a warning"),
        _m("quantile", "Float64", "fraction", "the quantile used"),
        _m("headroom", "Float64", "fraction", "the headroom added to the quantile"),
    ),
    "Right-sizing suggestions per process.",
)


@document(RIGHT_SIZE, grouped=True, periodic=False, keys=_KEYS)
def right_size(
    tasks: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    by: str | Sequence[str] | None = ("process",),
    since: Any = None,
    until: Any = None,
    quantile: float = 0.95,
    headroom: float = 0.2,
    min_tasks: int = 3,
) -> pd.DataFrame:
    """Right-sizing suggestions (cpus, memory, time) per process from observed use.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cpus``, ``memory``, ``time``, ``pcpu``, ``peak_rss``,
        ``realtime``, ``cost``, ``submit``, ``start``, ``complete`` (and ``process``).
    runs : pandas.DataFrame, optional
        Needed for run-level keys in ``by`` (e.g. ``pipeline``).
    by : sequence of str or comma-separated str, default ("process",)
        Group keys (see Notes). Keep ``process`` in it to feed :func:`nextflow_config`.
    since, until : str, datetime or Timestamp, optional
        Keep tasks attributed to ``[since, until)``.
    quantile : float, default 0.95
        Quantile of observed use the suggestion starts from.
    headroom : float, default 0.2
        Fraction added to the quantile (0.2 = 20 %).
    min_tasks : int, default 3
        Fewest successful observations of a resource to suggest a value for it.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by keys:

            {columns}

    Raises
    ------
    ReportError
        Unknown ``by`` name, bad ``quantile``/``headroom``/``min_tasks``, malformed
        ``since``/``until``, or a frame lacking a needed column.

    See Also
    --------
    nextflow_config : the suggestions as a Nextflow config snippet.

    Notes
    -----
    Group keys:

    {keys}

    Suggestion = max(quantile x (1 + headroom), observed max), rounded up to friendly units
    (see the module documentation); never below the largest use of a successful task.
    """
    _check_params(quantile, headroom, min_tasks)
    keys = normalize_by(by, _KEYS, report="right-sizing")
    lo, hi = bounds(since, until)
    gi, groups, a = _usage(tasks, runs, keys, lo, hi)
    ng = len(groups)
    df = pd.concat(
        [groups.reset_index(drop=True), _suggest(gi, ng, a, quantile, headroom, int(min_tasks))],
        axis=1,
    )
    return finalize(df, RIGHT_SIZE, by=keys)


EFFICIENCY = ReportSpec(
    "efficiency",
    (
        _m("tasks", "Int64", "count", "successful (COMPLETED) tasks"),
        _m("runs", "Int64", "count", "distinct runs"),
        _m("cpus_median", "Float64", "count", "median cpus requested"),
        _m("cpu_usage_median", "Float64", "fraction", "median of pcpu / (100 x cpus)"),
        _m("cpu_usage_p90", "Float64", "fraction", "90th percentile of pcpu / (100 x cpus)"),
        _m("cpu_usage_max", "Float64", "fraction", "largest pcpu / (100 x cpus)"),
        _m("memory_gib_median", "Float64", "GiB", "median memory requested"),
        _m("memory_usage_median", "Float64", "fraction", "median of peak_rss / memory"),
        _m("memory_usage_p90", "Float64", "fraction", "90th percentile of peak_rss / memory"),
        _m("memory_usage_max", "Float64", "fraction", "largest peak_rss / memory"),
        _m("time_hours_median", "Float64", "h", "median time limit requested"),
        _m("time_usage_median", "Float64", "fraction", "median of realtime / time"),
        _m("time_usage_p90", "Float64", "fraction", "90th percentile of realtime / time"),
        _m("time_usage_max", "Float64", "fraction", "largest realtime / time"),
        _m("cost", "Float64", "USD", "cost of the successful tasks"),
        _m(
            "wasted_cost",
            "Float64",
            "USD",
            "sum of cost x (1 - max(cpu_usage, memory_usage)), "
            "clipped to [0, cost], over tasks with cost and usage",
        ),
        _m("wasted_share", "Float64", "fraction", "wasted_cost / cost of the same tasks"),
        _m(
            "tasks_without_usage",
            "Int64",
            "count",
            "tasks left out of wasted_cost (no cost, pcpu or peak_rss)",
        ),
        *(c for c in RIGHT_SIZE.columns if c.name not in ("tasks_completed",)),
    ),
    "Requested vs used resources per process, waste and right-sizing.",
)


@document(EFFICIENCY, grouped=True, periodic=False, keys=_KEYS)
def efficiency_report(
    tasks: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    by: str | Sequence[str] | None = ("process",),
    since: Any = None,
    until: Any = None,
    quantile: float = 0.95,
    headroom: float = 0.2,
    min_tasks: int = 3,
) -> pd.DataFrame:
    """Requested vs used CPU, memory and time per process across runs, the money spent on
    unused requests, and right-sizing suggestions.

    Parameters
    ----------
    tasks : pandas.DataFrame
        Needs ``run_id``, ``status``, ``cpus``, ``memory``, ``time``, ``pcpu``, ``peak_rss``,
        ``realtime``, ``cost``, ``submit``, ``start``, ``complete`` and ``process``.
    runs : pandas.DataFrame, optional
        Needed for run-level keys in ``by`` (e.g. ``pipeline``).
    by : sequence of str or comma-separated str, default ("process",)
        Group keys (see Notes).
    since, until : str, datetime or Timestamp, optional
        Keep tasks attributed to ``[since, until)``.
    quantile, headroom, min_tasks
        Right-sizing parameters, as in :func:`right_size`.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``wasted_cost`` (largest first):

            {columns}

    Raises
    ------
    ReportError
        Unknown ``by`` name, bad right-sizing parameters, malformed ``since``/``until``, or a
        frame lacking a needed column.

    See Also
    --------
    right_size, nextflow_config

    Notes
    -----
    Group keys:

    {keys}

    ``wasted_cost`` model: Seqera prices a task by the larger of its CPU and memory shares of
    the VM, so the share that was not needed is ``1 - max(cpu_usage, memory_usage)``.

    Source: ``GET /workflow/{id}/tasks`` (``cpus``, ``memory``, ``time``, ``pcpu``,
    ``peakRss``, ``realtime``, ``cost``).
    """
    _check_params(quantile, headroom, min_tasks)
    keys = normalize_by(by, _KEYS, report="efficiency")
    lo, hi = bounds(since, until)
    gi, groups, a = _usage(tasks, runs, keys, lo, hi)
    ng = len(groups)
    dist = grouped_stats(
        gi,
        ng,
        {
            "cpu_usage": a["cpu_usage"],
            "memory_usage": a["memory_usage"],
            "time_usage": a["time_usage"],
        },
        {"median": 0.5, "p90": 0.9, "max": "max"},
    )
    req = grouped_stats(
        gi,
        ng,
        {"cpus": a["cpus"], "memory_gib": a["memory"] / GIB, "time_hours": a["time"] / MS_PER_HOUR},
        {"median": 0.5},
    )
    cost = a["cost"]
    best = np.fmax(a["cpu_usage"], a["memory_usage"])
    measured = ~np.isnan(cost) & ~np.isnan(a["cpu_usage"]) & ~np.isnan(a["memory_usage"])
    waste = np.where(measured, cost * np.clip(1.0 - np.nan_to_num(best), 0.0, 1.0), 0.0)
    df = pd.concat([groups.reset_index(drop=True), dist, req], axis=1)
    df["tasks"] = np.bincount(gi, minlength=ng)
    df["runs"] = _runs_per_group(gi, a["run"], ng)
    priced = ~np.isnan(cost)
    n_priced = np.bincount(gi, priced, ng)
    n_measured = np.bincount(gi, measured, ng)
    df["cost"] = pd.array(np.bincount(gi, np.nan_to_num(cost), ng), dtype="Float64")
    df.loc[(df["tasks"] > 0) & (n_priced == 0), "cost"] = pd.NA
    wasted = pd.array(np.bincount(gi, waste, ng), dtype="Float64")
    wasted[n_measured == 0] = pd.NA
    df["wasted_cost"] = wasted
    df["wasted_share"] = ratio(wasted, np.bincount(gi, np.where(measured, cost, 0.0), ng))
    df["tasks_without_usage"] = df["tasks"] - n_measured
    sug = _suggest(gi, ng, a, quantile, headroom, int(min_tasks)).drop(columns=["tasks_completed"])
    df = pd.concat([df, sug], axis=1)
    out = finalize(df, EFFICIENCY, by=keys, sort=[])
    if len(out):
        out = out.sort_values(
            ["wasted_cost", *keys],
            ascending=[False, *([True] * len(keys))],
            na_position="last",
            kind="stable",
        ).reset_index(drop=True)
    return out


# -------------------------------------------------------------------------- config snippet
_NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z_][A-Za-z0-9_]*)*$")


def nextflow_config(suggestions: pd.DataFrame, *, comment: bool = True) -> str:
    """A Nextflow config snippet setting ``cpus``, ``memory`` and ``time`` per process.

    Parameters
    ----------
    suggestions : pandas.DataFrame
        The output of :func:`right_size` or :func:`efficiency_report` with ``process`` among
        the keys, one row per process (filter to one pipeline first when grouped by more).
    comment : bool, default True
        Start with a comment saying how the values were derived, and list the processes
        left out (too few observations) as comments.

    Returns
    -------
    str
        A ``process { withName: '...' { ... } }`` block. Selectors use the simple process
        name (after the last ``:``), or the fully qualified name when two processes of the
        frame share a simple name. Resources without a suggestion are left out.

    Raises
    ------
    ReportError
        The frame lacks ``process`` or the ``suggested_*`` columns, or lists a process twice.

    Examples
    --------
    >>> print(nextflow_config(right_size(tasks)))  # doctest: +SKIP
    process {
        withName: 'FASTQC' {
            cpus = 2
            memory = 4.GB
            time = 1.h
        }
    }
    """
    require(
        suggestions,
        ["process", "suggested_cpus", "suggested_memory", "suggested_time"],
        "suggestions",
    )
    procs = suggestions["process"].astype("string")
    if procs.isna().any():
        raise ReportError("the suggestions have rows without a process name")
    dup = procs[procs.duplicated()].unique()
    if len(dup):
        raise ReportError(
            f"process {dup[0]!r} appears in several rows (grouped by more than process?); "
            f"filter the suggestions to one row per process, e.g. one pipeline, first"
        )
    simple = procs.str.rsplit(":", n=1).str[-1]
    collide = simple.duplicated(keep=False).to_numpy(dtype=bool)
    lines: list[str] = []
    if comment:
        q = (
            suggestions["quantile"].iat[0]
            if "quantile" in suggestions and len(suggestions)
            else 0.95
        )
        h = (
            suggestions["headroom"].iat[0]
            if "headroom" in suggestions and len(suggestions)
            else 0.2
        )
        lines += [
            (
                f"// Right-sizing suggestions from seqera-analytics: the p{round(float(q) * 100):g} "
                f"of the use of successful tasks + {float(h) * 100:g}% headroom,"
            ),
            "// never below the largest use observed. Review before use.",
        ]
    lines.append("process {")
    skipped: list[str] = []
    order = np.argsort(procs.to_numpy(dtype=object).astype(str), kind="stable")
    for i in order:
        full, short = str(procs.iat[i]), str(simple.iat[i])
        if not _NAME_OK.match(full):
            raise ReportError(f"{full!r} is not a Nextflow process name")
        selector = full if collide[i] else short
        body = []
        cpus = suggestions["suggested_cpus"].iat[i]
        mem = suggestions["suggested_memory"].iat[i]
        tim = suggestions["suggested_time"].iat[i]
        if not pd.isna(cpus):
            body.append(f"        cpus = {int(cpus)}")
        if not pd.isna(mem):
            body.append(f"        memory = {mem}")
        if not pd.isna(tim):
            body.append(f"        time = {tim}")
        if not body:
            note = suggestions["note"].iat[i] if "note" in suggestions else None
            skipped.append(
                f"    // '{selector}': no suggestion"
                + (f" ({note})" if not pd.isna(note) and note else "")
            )
            continue
        note = suggestions["note"].iat[i] if "note" in suggestions else None
        if comment and not pd.isna(note) and note:
            lines.append(f"    // {selector}: {note}")  # why a request goes up, e.g. CPU over-use
        lines.append(f"    withName: '{selector}' {{")
        lines += body
        lines.append("    }")
    if comment:
        lines += skipped
    lines.append("}")
    return "\n".join(lines) + "\n"
