"""Run-level aggregates computed from a run's tasks, the way Nextflow and the Platform do.

The emulator serves captured real runs as they are. For every run it makes up (synthetic
runs, runs added while it is live) it derives ``workflow.stats``, ``/progress`` and
``/metrics`` from the task list with the relationships measured on real runs
(API-NOTES §5), so a client that checks its own sums against the server's finds them equal:

* ``WorkflowLoad.cost`` = Σ task ``cost`` (null costs skipped), cached and failed included.
* counters: ``succeeded`` = #COMPLETED, ``failed`` = #FAILED (every failed attempt),
  ``cached`` = #CACHED, ``aborted`` = #ABORTED, ``running``/``submitted`` likewise,
  ``retries`` = failed attempts whose ``errorAction`` is RETRY (Nextflow ``WorkflowStats``).
* ``cpus`` = Σ cpus; ``cpuTime`` = Σ cpus × (complete − start) [ms];
  ``cpuLoad`` = Σ pcpu/100 × (complete − start) [ms]; ``memoryRss`` = Σ peakRss;
  ``memoryReq`` = Σ memory; ``readBytes`` = Σ rchar; ``writeBytes`` = Σ wchar;
  ``cpuEfficiency`` = cpuLoad/cpuTime × 100; ``memoryEfficiency`` = memoryRss/memoryReq × 100.
* ``net*`` = the same sums over non-cached tasks; ``netMemoryConsumption`` = Σ memory [GiB] ×
  (complete − start) [h] (matches the real runs).
* ``stats.*Duration`` = Σ realtime × cpus per category [ms] (Nextflow ``getCpuTime``).
* ``/metrics``: per process (short name), mean/min/quartiles/max over all its tasks, numpy
  "linear" quantiles, rounded to 2 decimals and 6 significant digits (as the real service).

Tasks are held column-wise (:class:`TaskColumns`, numpy arrays with NaN for null) so that
the synthetic generator can produce and summarise hundreds of tasks per run in well under a
millisecond without building a ``dict`` per task.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

STATUSES = ("NEW", "SUBMITTED", "RUNNING", "CACHED", "COMPLETED", "FAILED", "ABORTED")
NEW, SUBMITTED, RUNNING, CACHED, COMPLETED, FAILED, ABORTED = range(7)
STATUS_CODE = {name: code for code, name in enumerate(STATUSES)}

_GIB = float(1 << 30)


@dataclass
class TaskColumns:
    """A run's task attempts as parallel numpy arrays (NaN = the API's null).

    Times are epoch seconds; ``realtime``/``time`` are ms; bytes are bytes; ``cost`` USD.
    """

    status: np.ndarray  # int8 codes, see STATUSES
    retry: np.ndarray  # bool: errorAction == "RETRY"
    proc: np.ndarray  # int32 index into the run's process list
    cpus: np.ndarray
    memory: np.ndarray
    time: np.ndarray
    realtime: np.ndarray
    pcpu: np.ndarray
    peak_rss: np.ndarray
    peak_vmem: np.ndarray
    rchar: np.ndarray
    wchar: np.ndarray
    vol: np.ndarray
    inv: np.ndarray
    cost: np.ndarray
    submit: np.ndarray
    start: np.ndarray
    complete: np.ndarray
    names: Sequence[str]

    def __len__(self) -> int:
        return len(self.status)

    @classmethod
    def from_tasks(cls, tasks: Sequence[dict[str, Any]], processes: Sequence[str]) -> TaskColumns:
        """Build columns from API task dicts (``processes`` gives the index of each process)."""
        from ._util import parse_iso

        pidx = {p: i for i, p in enumerate(processes)}

        def num(key: str) -> np.ndarray:
            return np.array(
                [np.nan if t.get(key) is None else float(t[key]) for t in tasks], dtype=float
            )

        def ts(key: str) -> np.ndarray:
            return np.array(
                [np.nan if not t.get(key) else parse_iso(t[key]) for t in tasks], dtype=float
            )

        return cls(
            status=np.array([STATUS_CODE.get(t.get("status"), NEW) for t in tasks], dtype=np.int8),
            retry=np.array([t.get("errorAction") == "RETRY" for t in tasks], dtype=bool),
            proc=np.array([pidx[t["process"]] for t in tasks], dtype=np.int32),
            cpus=num("cpus"),
            memory=num("memory"),
            time=num("time"),
            realtime=num("realtime"),
            pcpu=num("pcpu"),
            peak_rss=num("peakRss"),
            peak_vmem=num("peakVmem"),
            rchar=num("rchar"),
            wchar=num("wchar"),
            vol=num("volCtxt"),
            inv=num("invCtxt"),
            cost=num("cost"),
            submit=ts("submit"),
            start=ts("start"),
            complete=ts("complete"),
            names=[t.get("name") or t.get("process") or "" for t in tasks],
        )


def _nsum(a: np.ndarray) -> float:
    return float(np.nansum(a)) if len(a) else 0.0


def _int(x: float) -> int:
    return round(x)


def _peaks(
    start: np.ndarray,
    end: np.ndarray,
    cpus: np.ndarray,
    mem: np.ndarray,
    group: np.ndarray,
    n_groups: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum concurrent cpus, tasks and memory per group over ``[start, end)`` intervals."""
    peak_c = np.zeros(n_groups)
    peak_t = np.zeros(n_groups)
    peak_m = np.zeros(n_groups)
    if len(start) == 0:
        return peak_c, peak_t, peak_m
    t = np.concatenate([start, end])
    kind = np.concatenate([np.ones(len(start)), np.zeros(len(end))])  # ends (0) sort before starts
    sign = np.where(kind > 0, 1.0, -1.0)
    g = np.concatenate([group, group])
    order = np.lexsort((kind, t, g))
    g = g[order]
    first = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    for col, out in (
        (np.concatenate([cpus, cpus]), peak_c),
        (np.ones(2 * len(start)), peak_t),
        (np.concatenate([mem, mem]), peak_m),
    ):
        d = (sign * col)[order]
        cs = np.cumsum(d)
        # Restart the running sum at each group boundary.
        base = np.repeat(cs[first] - d[first], np.diff(np.r_[first, len(d)]))
        out[g[first]] = np.maximum.reduceat(cs - base, first)
    return peak_c, peak_t, peak_m


def _intervals(cols: TaskColumns) -> tuple[np.ndarray, np.ndarray]:
    """Rows that ran in this run (not cached, started) and their interval ends.

    Running tasks end at +inf. A task that started and completed within the same second
    still occupied its slot, so it gets a half-second interval (timestamps have second
    precision; the real service counts peaks from millisecond events).
    """
    live = ~np.isnan(cols.start) & (cols.status != CACHED)
    end = np.where(np.isnan(cols.complete), np.inf, cols.complete)
    end = np.where(end <= cols.start, cols.start + 0.5, end)
    return live, end


def workflow_load(
    cols: TaskColumns,
    *,
    executors: list[str] | None,
    date_created: str | None,
    last_updated: str | None,
    with_net: bool,
) -> dict[str, Any]:
    """``GET /workflow/{id}/progress`` ``.progress.workflowProgress`` for these tasks."""
    st = cols.status
    ran = ~np.isnan(cols.start) & ~np.isnan(cols.complete)
    dur_ms = np.where(ran, (cols.complete - cols.start) * 1000.0, 0.0)
    cpus = np.nan_to_num(cols.cpus)
    mem = np.nan_to_num(cols.memory)
    cpu_time = _nsum(cpus * dur_ms)
    cpu_load = _nsum(np.nan_to_num(cols.pcpu) / 100.0 * dur_ms)
    rss = _nsum(cols.peak_rss)
    req = _nsum(cols.memory)
    running = st == RUNNING
    costs = cols.cost[~np.isnan(cols.cost)]
    any_cost = len(costs) > 0
    cost = round(math.fsum(costs.tolist()), 10) if any_cost else None

    live, end = _intervals(cols)
    pc, pt, pm = _peaks(
        cols.start[live],
        end[live],
        cpus[live],
        mem[live],
        np.zeros(int(live.sum()), dtype=np.int32),
        1,
    )

    load: dict[str, Any] = {
        "dateCreated": date_created,
        "lastUpdated": last_updated,
        "version": 0,
        "executors": executors,
        "cpus": _int(_nsum(cols.cpus)),
        "cpuTime": _int(cpu_time),
        "cpuLoad": _int(cpu_load),
        "memoryRss": _int(rss),
        "memoryReq": _int(req),
        "readBytes": _int(_nsum(cols.rchar)),
        "writeBytes": _int(_nsum(cols.wchar)),
        "volCtxSwitch": _int(_nsum(cols.vol)),
        "invCtxSwitch": _int(_nsum(cols.inv)),
        "loadTasks": int(running.sum()),
        "loadCpus": _int(cpus[running].sum()),
        "loadMemory": _int(mem[running].sum()),
        "peakCpus": _int(pc[0]),
        "peakTasks": _int(pt[0]),
        "peakMemory": _int(pm[0]),
        "numSpotInterruptions": None,
        "cost": cost,
    }
    net_keys = [
        "netCpus",
        "netCpuTime",
        "netCpuLoad",
        "netMemoryRss",
        "netMemoryReq",
        "netMemoryConsumption",
        "netReadBytes",
        "netWriteBytes",
        "netVolCtxSwitch",
        "netInvCtxSwitch",
        "netCost",
    ]
    if with_net:
        nc = st != CACHED
        ncost = cols.cost[nc & ~np.isnan(cols.cost)]
        load.update(
            netCpus=_int(_nsum(cols.cpus[nc])),
            netCpuTime=_int(_nsum((cpus * dur_ms)[nc])),
            netCpuLoad=_int(_nsum((np.nan_to_num(cols.pcpu) / 100.0 * dur_ms)[nc])),
            netMemoryRss=_int(_nsum(cols.peak_rss[nc])),
            netMemoryReq=_int(_nsum(cols.memory[nc])),
            netMemoryConsumption=round(_nsum((mem / _GIB * dur_ms / 3_600_000.0)[nc]), 10),
            netReadBytes=_int(_nsum(cols.rchar[nc])),
            netWriteBytes=_int(_nsum(cols.wchar[nc])),
            netVolCtxSwitch=_int(_nsum(cols.vol[nc])),
            netInvCtxSwitch=_int(_nsum(cols.inv[nc])),
            netCost=round(math.fsum(ncost.tolist()), 10) if any_cost else None,
        )
    else:
        # Older runs carry the net* keys as null (real run 15dvxY1LnZYrYe).
        load.update(dict.fromkeys(net_keys))
    load.update(
        submitted=int((st == SUBMITTED).sum()),
        running=int(running.sum()),
        succeeded=int((st == COMPLETED).sum()),
        failed=int((st == FAILED).sum()),
        aborted=int((st == ABORTED).sum()),
        retries=int(((st == FAILED) & cols.retry).sum()),
        ignored=0,
        cached=int((st == CACHED).sum()),
        pending=0,
        cpuEfficiency=round(cpu_load / cpu_time * 100.0, 6) if cpu_time else 0.0,
        memoryEfficiency=round(rss / req * 100.0, 6) if req else 0.0,
    )
    return load


def processes_progress(
    cols: TaskColumns, processes: Sequence[str], *, timestamp: str | None
) -> list[dict[str, Any]]:
    """``processesProgress``: one ``ProcessLoad`` per process, in pipeline order.

    The per-process resource fields are deprecated in the spec and the real service sends 0
    for them; the counters and the per-process peaks are real.
    """
    n = len(processes)
    st = cols.status
    counts = {
        code: np.bincount(cols.proc[st == code], minlength=n)
        for code in (SUBMITTED, RUNNING, CACHED, COMPLETED, FAILED, ABORTED)
    }
    retries = np.bincount(cols.proc[(st == FAILED) & cols.retry], minlength=n)
    live, end = _intervals(cols)
    cpus = np.nan_to_num(cols.cpus)
    mem = np.nan_to_num(cols.memory)
    pc, pt, pm = _peaks(cols.start[live], end[live], cpus[live], mem[live], cols.proc[live], n)
    running = st == RUNNING
    load_c = np.bincount(cols.proc[running], weights=cpus[running], minlength=n)
    load_m = np.bincount(cols.proc[running], weights=mem[running], minlength=n)

    def ints(a: np.ndarray) -> list[int]:
        return [int(x) for x in np.rint(a).astype(np.int64).tolist()]

    columns = zip(
        processes,
        ints(counts[RUNNING]),
        ints(load_c),
        ints(load_m),
        ints(pc),
        ints(pt),
        ints(pm),
        ints(counts[SUBMITTED]),
        ints(counts[COMPLETED]),
        ints(counts[FAILED]),
        ints(counts[ABORTED]),
        ints(retries),
        ints(counts[CACHED]),
    )
    return [
        {
            "dateCreated": timestamp,
            "lastUpdated": timestamp,
            "version": 0,
            "process": name,
            "cpus": 0,
            "cpuTime": 0,
            "cpuLoad": 0,
            "memoryRss": 0,
            "memoryReq": 0,
            "readBytes": 0,
            "writeBytes": 0,
            "volCtxSwitch": 0,
            "invCtxSwitch": 0,
            "loadTasks": n_run,
            "loadCpus": lc,
            "loadMemory": lm,
            "peakCpus": p_c,
            "peakTasks": p_t,
            "peakMemory": p_m,
            "submitted": n_sub,
            "running": n_run,
            "succeeded": n_ok,
            "failed": n_fail,
            "aborted": n_ab,
            "retries": n_retry,
            "ignored": 0,
            "cached": n_cached,
            "pending": 0,
            "cpuEfficiency": 0.0,
            "memoryEfficiency": 0.0,
        }
        for name, n_run, lc, lm, p_c, p_t, p_m, n_sub, n_ok, n_fail, n_ab, n_retry, n_cached in columns
    ]


def _fmt_int(n: int) -> str:
    # Nextflow formats counts with "#,##0" and an apostrophe as grouping separator.
    return f"{n:,}".replace(",", "'")


def _fmt_pct(x: float) -> str:
    # Java DecimalFormat("0.#"): one decimal at most, no trailing ".0".
    s = f"{x:.1f}"
    return s.removesuffix(".0")


def wf_stats(cols: TaskColumns) -> dict[str, Any]:
    """``workflow.stats`` (``WfStats``) as Nextflow's ``WorkflowStats`` computes it."""
    st = cols.status
    cpu_ms = np.nan_to_num(cols.realtime) * np.where(np.isnan(cols.cpus), 1.0, cols.cpus)
    succeed = int((st == COMPLETED).sum())
    failed = int((st == FAILED).sum())
    cached = int((st == CACHED).sum())
    ignored = 0
    succ_ms = _int(cpu_ms[st == COMPLETED].sum())
    fail_ms = _int(cpu_ms[st == FAILED].sum())
    cach_ms = _int(cpu_ms[st == CACHED].sum())
    total = succeed + failed + cached + ignored

    def pct(x: int) -> float:
        return round(x / total * 100.0, 2) if total else 0.0

    total_s = (succ_ms + cach_ms + fail_ms) / 1000.0
    if total_s < 180:
        fmt = "(a few seconds)"
    else:
        fmt = f"{total_s / 3600.0:,.1f}".replace(",", "'")
        items = []
        if cach_ms:
            items.append(f"{_fmt_pct(cach_ms / 10.0 / total_s)}% cached")
        if fail_ms:
            items.append(f"{_fmt_pct(fail_ms / 10.0 / total_s)}% failed")
        if items:
            fmt += " (" + ", ".join(items) + ")"
    return {
        "computeTimeFmt": fmt,
        "cachedCount": cached,
        "failedCount": failed,
        "ignoredCount": ignored,
        "succeedCount": succeed,
        "cachedCountFmt": _fmt_int(cached),
        "succeedCountFmt": _fmt_int(succeed),
        "failedCountFmt": _fmt_int(failed),
        "ignoredCountFmt": _fmt_int(ignored),
        "cachedPct": pct(cached),
        "failedPct": pct(failed),
        "succeedPct": pct(succeed),
        "ignoredPct": pct(ignored),
        "cachedDuration": cach_ms,
        "failedDuration": fail_ms,
        "succeedDuration": succ_ms,
    }


def _round_metric(x: float) -> float:
    # The real service rounds to 2 decimals and keeps ~6 significant digits (float32-ish).
    r = round(float(x), 2)
    return float(f"{r:.6g}") if r else 0.0


def _quantile(ordered: list[float], q: float) -> float:
    # numpy's default ("linear") method, on an already sorted list.
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _resource(pairs: list[tuple[float, str]]) -> dict[str, Any] | None:
    """``ResourceData`` of (value, task name) pairs; None when there is no value."""
    if not pairs:
        return None
    pairs = sorted(pairs, key=lambda p: p[0])
    ordered = [v for v, _ in pairs]
    n = len(ordered)
    q1, q2, q3 = _quantile(ordered, 0.25), _quantile(ordered, 0.5), _quantile(ordered, 0.75)

    def label(target: float) -> str:
        # The task whose value is nearest to the statistic.
        i = bisect.bisect_left(ordered, target)
        if i >= n or (i > 0 and target - ordered[i - 1] <= ordered[i] - target):
            i -= 1
        return pairs[i][1]

    r = _round_metric
    return {
        "mean": r(math.fsum(ordered) / n),
        "min": r(ordered[0]),
        "q1": r(q1),
        "q2": r(q2),
        "q3": r(q3),
        "max": r(ordered[-1]),
        "minLabel": pairs[0][1],
        "maxLabel": pairs[-1][1],
        "q1Label": label(q1),
        "q2Label": label(q2),
        "q3Label": label(q3),
        "warnings": [],
    }


def workflow_metrics(
    cols: TaskColumns, processes: Sequence[str], *, id_base: int
) -> list[dict[str, Any]]:
    """``GET /workflow/{id}/metrics`` ``.metrics``: one row per process short name.

    Rows come in order of each process's first completed task (as in the real runs);
    ``time``/``timeUsage`` are null when every task of the process has a zero or null
    ``realtime`` (as for cached-only processes in the real runs). Null values are skipped.
    """
    short = [p.rsplit(":", 1)[-1] for p in processes]
    done = np.where(np.isnan(cols.complete), np.inf, cols.complete)
    order: list[str] = []
    rows_of: dict[str, list[int]] = {}
    proc = cols.proc.tolist()
    for row in np.lexsort((np.arange(len(done)), done)).tolist():
        s = short[proc[row]]
        if s not in rows_of:
            rows_of[s] = []
            order.append(s)
        rows_of[s].append(row)
    with np.errstate(divide="ignore", invalid="ignore"):
        derived = {
            "cpuUsage": cols.pcpu / cols.cpus,
            "memUsage": cols.peak_rss / cols.memory * 100.0,
            "timeUsage": cols.realtime / cols.time * 100.0,
        }
    series = {
        "cpu": cols.pcpu.tolist(),
        "mem": cols.peak_rss.tolist(),
        "vmem": cols.peak_vmem.tolist(),
        "time": cols.realtime.tolist(),
        "reads": cols.rchar.tolist(),
        "writes": cols.wchar.tolist(),
        **{k: np.where(np.isfinite(v), v, np.nan).tolist() for k, v in derived.items()},
    }
    names = cols.names
    out = []
    for k, s in enumerate(order):
        idx = sorted(rows_of[s])
        row: dict[str, Any] = {"id": id_base + k, "process": s}
        no_time = not any(series["time"][i] > 0 for i in idx)  # NaN > 0 is False
        for key, vals in series.items():
            if no_time and key in ("time", "timeUsage"):
                row[key] = None
                continue
            row[key] = _resource([(vals[i], names[i]) for i in idx if vals[i] == vals[i]])
        out.append(row)
    return out
