"""A run's load derived from its tasks, shaped like ``GET /workflow/{id}/progress``.

The Platform's ``workflowProgress`` of a finished run is a set of sums over its task rows
(API-NOTES §5, measured on the 5 bundled real runs), so a sync that has the tasks does not
need the ``/progress`` request for them. :func:`progress_from_tasks` computes them:

========================  =====================================================  ==========
field                     from the tasks                                         agreement
========================  =====================================================  ==========
``cpus``                  Σ ``cpus``                                             exact
``cpuTime`` [ms]          Σ ``cpus`` × (``complete`` − ``start``)                see below
``cpuLoad`` [ms]          Σ ``pcpu``/100 × (``complete`` − ``start``)            see below
``memoryRss`` [bytes]     Σ ``peak_rss``                                         exact
``memoryReq`` [bytes]     Σ ``memory``                                           exact
``readBytes`` [bytes]     Σ ``rchar``                                            exact
``writeBytes`` [bytes]    Σ ``wchar``                                            exact
``vol/invCtxSwitch``      Σ ``vol_ctxt`` / ``inv_ctxt``                          exact
``cost`` [USD]            Σ ``cost``, cached tasks included                      exact
counters                  ``workflow.stats`` counts when given, else rows by     exact
                          ``status``; ``retries``/``ignored``: failed rows
                          whose ``error_action`` is ``RETRY``/``IGNORE``
``cpu/memoryEfficiency``  ``cpuLoad``/``cpuTime`` and ``memoryRss``/``memoryReq``  as above
``executors``             the distinct ``executor`` values                       exact
``peakCpus/Tasks/Memory`` most ``cpus``/tasks/``memory`` running at once,        approximate
                          by a sweep over [``start``, ``complete``)
``numSpotInterruptions``  Σ ``num_spot_interruptions`` (null when no task has    as sent
                          one)
``net*``, ``load*``       not derived: null (``net*`` is undocumented; ``load*``
                          are current values, 0 once a run is finished)
========================  =====================================================  ==========

**CPU time bound.** Task times come with second precision, so each task's
``complete − start`` can be off by up to 1 s from what the Platform summed: ``cpuTime`` is
within Σ ``cpus`` × 1000 ms of the Platform's (and ``cpuLoad`` within Σ ``pcpu``/100 × 1000
ms). On the bundled runs the difference is 0.001-0.02% of the total.

**Peaks are approximations.** The Platform updates them as trace records arrive; the sweep
uses the tasks' recorded start and complete times, which is what they describe but not how
they were measured. On the bundled runs they come within 10% (or one task) of the
Platform's, mostly below it. ``sync --progress`` fetches the Platform's values instead.

``processesProgress`` gets the same counters per process (processes that never ran a task
have no row, unlike the Platform's list), with ``lastUpdated`` the latest task
``last_updated`` of the process. Its deprecated resource fields are not derived.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DERIVED_LOAD_FIELDS", "PROGRESS_ONLY_FIELDS", "progress_from_tasks"]

#: ``workflowProgress`` fields :func:`progress_from_tasks` derives from the task rows.
DERIVED_LOAD_FIELDS = (
    "cpus", "cpuTime", "cpuLoad", "memoryRss", "memoryReq", "readBytes", "writeBytes",
    "volCtxSwitch", "invCtxSwitch", "cost", "cpuEfficiency", "memoryEfficiency", "executors",
    "peakCpus", "peakTasks", "peakMemory", "numSpotInterruptions",
    "pending", "submitted", "running", "succeeded", "failed", "cached", "aborted", "retries",
    "ignored",
)
#: Run columns only ``GET /workflow/{id}/progress`` gives (null without ``--progress``):
#: ``net_cost`` (``netCost``, undocumented).
PROGRESS_ONLY_FIELDS = ("netCost",)

#: Task ``status`` -> the ``WorkflowLoad`` counter of its row.
_COUNTER_OF_STATUS = {"NEW": "pending", "SUBMITTED": "submitted", "RUNNING": "running",
                      "COMPLETED": "succeeded", "FAILED": "failed", "CACHED": "cached",
                      "ABORTED": "aborted"}
_COUNTERS = ("pending", "submitted", "running", "succeeded", "failed", "cached", "aborted",
             "retries", "ignored")


def _ms(col: pa.ChunkedArray) -> np.ndarray:
    """Timestamps as float ms since the epoch (NaN for null)."""
    return pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False).astype("float64")


def _num(tasks: pa.Table, name: str) -> np.ndarray:
    return pc.cast(tasks[name], pa.float64()).to_numpy(zero_copy_only=False)


def _sum_int(values: np.ndarray) -> int:
    return int(np.nansum(values)) if values.size else 0


def _counters(status: np.ndarray, action: np.ndarray) -> dict[str, int]:
    out = {c: 0 for c in _COUNTERS}
    for st, counter in _COUNTER_OF_STATUS.items():
        out[counter] = int(np.count_nonzero(status == st))
    failed = status == "FAILED"
    out["retries"] = int(np.count_nonzero(failed & (action == "RETRY")))
    out["ignored"] = int(np.count_nonzero(failed & (action == "IGNORE")))
    return out


def _peaks(start: np.ndarray, end: np.ndarray, cpus: np.ndarray, memory: np.ndarray) -> tuple[int, int, int]:
    """Most tasks, cpus and memory at once over the [start, end) intervals (sweep)."""
    ok = ~np.isnan(start) & ~np.isnan(end) & (end >= start)
    if not ok.any():
        return 0, 0, 0
    s, e = start[ok], end[ok]
    c, m = np.nan_to_num(cpus[ok]), np.nan_to_num(memory[ok])
    times = np.concatenate([s, e])
    # An interval ending at t frees its share before one starting at t takes it.
    kind = np.concatenate([np.ones(len(s)), -np.ones(len(e))])
    order = np.lexsort((kind, times))
    peaks = []
    for weight in (np.ones(len(s)), c, m):
        delta = np.concatenate([weight, -weight])[order]
        peaks.append(int(round(max(0.0, np.cumsum(delta).max()))))
    return peaks[0], peaks[1], peaks[2]


_STATS_COUNTERS = {"succeeded": "succeedCount", "failed": "failedCount", "cached": "cachedCount",
                   "ignored": "ignoredCount"}


def progress_from_tasks(tasks: pa.Table, stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``GetProgressResponse.progress`` of a run, derived from its task rows.

    Parameters
    ----------
    tasks : pyarrow.Table
        The run's :data:`~seqera_analytics.frames.TASKS` rows (every attempt, cached ones
        included), as :func:`~seqera_analytics.frames.tasks_table` builds them (impossible
        values already null, so they add nothing).
    stats : mapping, optional
        The run's ``workflow.stats``: its ``succeedCount``, ``failedCount``, ``cachedCount``
        and ``ignoredCount`` (equal to ``/progress``'s counters on every bundled run) are the
        run's ``succeeded``, ``failed``, ``cached`` and ``ignored``, so a listing that lost
        rows still shows against the run's own counts (reports name such runs).

    Returns
    -------
    dict
        ``{"workflowProgress": {...}, "processesProgress": [...]}`` in the API's field names
        and units (ms, bytes, USD, %), the fields of :data:`DERIVED_LOAD_FIELDS`; see the
        module docstring for each field's rule and how close it comes to the Platform's.
    """
    status = np.asarray(tasks["status"].to_pylist(), dtype=object)
    action = np.asarray(tasks["error_action"].to_pylist(), dtype=object)
    start, end = _ms(tasks["start"]), _ms(tasks["complete"])
    span = end - start
    span = np.where(np.isnan(span) | (span < 0), 0.0, span)
    cpus, memory = _num(tasks, "cpus"), _num(tasks, "memory")
    cpu_time = _sum_int(np.nan_to_num(cpus) * span)
    cpu_load = _sum_int(np.nan_to_num(_num(tasks, "pcpu")) / 100.0 * span)
    rss, req = _sum_int(_num(tasks, "peak_rss")), _sum_int(memory)
    spot = pc.sum(tasks["num_spot_interruptions"]).as_py()
    cost = pc.sum(tasks["cost"]).as_py()
    ran = status != "CACHED"  # cached tasks ran in an earlier run: no load now
    peak_tasks, peak_cpus, peak_memory = _peaks(np.where(ran, start, np.nan), end, cpus, memory)
    executors = sorted({e for e in tasks["executor"].to_pylist() if e})
    load: dict[str, Any] = {
        "executors": executors,
        "cpus": _sum_int(cpus),
        "cpuTime": cpu_time,
        "cpuLoad": cpu_load,
        "memoryRss": rss,
        "memoryReq": req,
        "readBytes": _sum_int(_num(tasks, "rchar")),
        "writeBytes": _sum_int(_num(tasks, "wchar")),
        "volCtxSwitch": _sum_int(_num(tasks, "vol_ctxt")),
        "invCtxSwitch": _sum_int(_num(tasks, "inv_ctxt")),
        "peakCpus": peak_cpus,
        "peakTasks": peak_tasks,
        "peakMemory": peak_memory,
        "cost": float(cost) if cost is not None else 0.0,
        "cpuEfficiency": cpu_load / cpu_time * 100.0 if cpu_time else 0.0,
        "memoryEfficiency": rss / req * 100.0 if req else 0.0,
        "numSpotInterruptions": int(spot) if spot is not None else None,
        **_counters(status, action),
    }
    for counter, name in _STATS_COUNTERS.items():
        value = stats.get(name) if isinstance(stats, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            load[counter] = value
    processes = np.asarray(tasks["process"].to_pylist(), dtype=object)
    updated = _ms(tasks["last_updated"])
    per_process = []
    for name in sorted({p for p in processes if p is not None}):
        mine = processes == name
        last = np.nanmax(updated[mine]) if (~np.isnan(updated[mine])).any() else None
        per_process.append({
            "process": name,
            **_counters(status[mine], action[mine]),
            "lastUpdated": (np.datetime64(int(last), "ms").astype(str) + "Z") if last is not None else None,
        })
    return {"workflowProgress": load, "processesProgress": per_process}
