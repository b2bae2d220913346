"""Data quality: impossible and implausible values found where records become tables.

Real Platforms send records no task could have produced: unset times as epoch 0, a
``complete`` before its ``start``, negative or infinite costs, numbers beyond int64, a
``pcpu`` reading a machine cannot reach. Left as they are, one such record moves a month's
total or turns into a right-sizing suggestion of hundreds of CPUs; dropped silently, the
totals no longer say what they cover. So every record is checked once, when it becomes a row
(and when an older cache is upgraded), and each finding is written into the row's
``quality`` column as ``"<class>:<column>"`` (null for a clean row). The classes, and what is
done with the value (:data:`QUALITY_CLASSES` holds the same table):

=======================  ===========================================================  =========
class                    found when                                                   value
=======================  ===========================================================  =========
``unreadable``           text or a structure where a number or time belongs           null
``out_of_range``         a number beyond int64, a time outside years 1-9999           null
``zoneless_time``        a time without a UTC offset                                   read as UTC
``impossible_time``      before 2013-01-01 (epoch 0 included), or more than a day
                         after the row was built                                      null
                                                                                      (kept for
                                                                                      last_updated)
``before_run``           a task submitted or started more than 10 minutes before its
                         run was submitted (CACHED tasks keep the times of their
                         original execution and are exempt)                           null
``negative_span``        ``complete`` before ``start``; a negative ``duration``,
                         ``realtime`` or ``time``                                     null (both
                                                                                      ends)
``negative_value``       a negative cost, byte count, counter, cpus or percentage     null
``non_finite``           an infinite or NaN cost or percentage                        null
``sentinel_exit``        exit status 2147483647 (Nextflow's "no exit code yet") on a
                         task that never started                                      null
``implausible_pcpu``     ``pcpu`` above 110 % x the vCPUs of the task's machine (AWS
                         names: ``large`` = 2, ``xlarge`` = 4, ``Nxlarge`` = 4N), or
                         where the machine is unknown above 800 % x requested cpus
                         (1 cpu when none is requested, Nextflow's default)           kept
``implausible_peak_rss`` ``peak_rss`` above 110 % of the machine's memory (AWS family
                         letter x vCPUs, c5n apart; hpc families unknown), or where
                         unknown above 8 x requested memory, or above 24 TiB (the
                         largest machine) with neither known                          kept
``implausible_realtime`` ``realtime`` more than a minute longer than its run's wall
                         time (CACHED tasks exempt)                                   kept
=======================  ===========================================================  =========

Values that are null are left out of every sum by SQL's rules, so the reports need no special
case for them; the implausible readings are kept (they may be real) but efficiency, waste and
right-sizing leave the flagged tasks out. ``reports.data_quality`` counts every class.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import RUNS, TASKS, TableSpec

__all__ = [
    "IMPLAUSIBLE",
    "QUALITY_CLASSES",
    "Marks",
    "check_runs",
    "check_tasks",
    "check_tasks_against_runs",
    "machine_capacity",
]

_KEPT = "kept; not in efficiency, right-sizing"
#: class -> (what it means, what is done with the value)
QUALITY_CLASSES: dict[str, tuple[str, str]] = {
    "unreadable": ("text or a structure where a number or time belongs", "null"),
    "out_of_range": ("a number beyond int64 or a time outside years 1-9999", "null"),
    "zoneless_time": ("a time without a UTC offset", "read as UTC"),
    "impossible_time": ("a time before 2013 (epoch 0 included) or in the future", "null"),
    "before_run": ("a task submitted or started before its run was submitted", "null"),
    "negative_span": ("complete before start, or a negative duration/realtime/time", "null"),
    "negative_value": ("a negative cost, byte count, counter, cpus or percentage", "null"),
    "non_finite": ("an infinite or NaN number", "null"),
    "sentinel_exit": ("exit status 2147483647 on a task that never started", "null"),
    "implausible_pcpu": ("pcpu above what the task's machine (or request) can give", _KEPT),
    "implausible_peak_rss": ("peak_rss above the machine's (or request's) memory", _KEPT),
    "implausible_realtime": ("realtime longer than its run's wall time", _KEPT),
}
#: Classes whose value is kept but must not feed usage statistics.
IMPLAUSIBLE = ("implausible_pcpu", "implausible_peak_rss", "implausible_realtime")

#: Nextflow (2013) predates every Platform record: anything earlier is an unset field.
EARLIEST_MS = 1_356_998_400_000  # 2013-01-01T00:00:00Z
#: Clocks of a head job, an executor and the Platform differ; a day covers any real skew.
FUTURE_SLACK_MS = 86_400_000
#: How far a task's times may precede its run's submission before they are impossible.
BEFORE_RUN_SLACK_MS = 600_000
#: A task's realtime may exceed its run's wall time by this much (second-precision times).
REALTIME_SLACK_MS = 60_000
#: Measurement slack on a machine's capacity (ps sampling, page accounting).
CAPACITY_SLACK = 1.10
#: Where the machine is unknown: a multiple of the request no task plausibly exceeds.
REQUEST_MULTIPLE = 8
#: Nextflow's TaskRun.exitStatus before the task reports one (Integer.MAX_VALUE).
SENTINEL_EXIT = 2_147_483_647

#: AWS instance family letter -> upper bound of GiB of memory per vCPU in that family.
#: (c 2, m 4, r 8, x up to 32 for x2iedn; i/d/z 8; t 4; g/p GPU families up to 16.)
_AWS_GIB_PER_VCPU = {"a": 2, "c": 2, "m": 4, "t": 4, "r": 8, "i": 8, "d": 8, "z": 8, "h": 4,
                     "g": 16, "p": 16, "x": 32}
#: Families whose memory breaks their letter's rule (c5n: 5.25 GiB per vCPU).
_AWS_FAMILY_GIB_PER_VCPU = {"c5n": 6}
#: Families whose sizes do not follow "Nxlarge = 4N vCPUs" (hpc6id.32xlarge has 64): unknown.
_AWS_IRREGULAR = ("hpc",)
#: No machine has more memory than this (AWS u-24tb1): the bound when nothing else is known.
MAX_MACHINE_MEMORY = 24 * 2**40
_AWS_NAME = re.compile(r"^([a-z]+)(\d+)([a-z-]*)\.(\d*)(x?large|medium|small|micro|nano)$")
#: Upper bounds: Graviton ``medium`` has 1 vCPU, burstable ``t3.nano`` already 2.
_SMALL_VCPUS = {"large": 2, "medium": 2, "small": 2, "micro": 2, "nano": 2}

_TASK_INSTANTS = ("submit", "start", "complete", "last_updated")
_RUN_INSTANTS = ("submit", "start", "complete", "date_created", "last_updated")
_TASK_NONNEGATIVE = ("attempt", "cpus", "memory", "disk", "pcpu", "pmem", "rss", "peak_rss",
                     "vmem", "peak_vmem", "rchar", "wchar", "syscr", "syscw", "read_bytes",
                     "write_bytes", "vol_ctxt", "inv_ctxt", "cost", "num_spot_interruptions")
_RUN_NONNEGATIVE = ("cpus", "cpu_time", "cpu_load", "memory_rss", "memory_req", "read_bytes",
                    "write_bytes", "vol_ctx_switch", "inv_ctx_switch", "peak_cpus", "peak_tasks",
                    "peak_memory", "cost", "net_cost", "cpu_efficiency", "memory_efficiency",
                    "num_spot_interruptions", "stats_succeed_duration", "stats_failed_duration",
                    "stats_cached_duration")
_TASK_SPANS = ("duration", "realtime", "time")
_RUN_SPANS = ("duration",)

#: Findings of the conversion (raw values lost or reinterpreted): column -> [(class, mask)].
Marks = Mapping[str, Sequence[tuple[str, np.ndarray]]]


def machine_capacity(machine_type: str | None) -> tuple[int | None, int | None]:
    """vCPUs and an upper bound of memory (bytes) of an AWS instance type, from its name.

    ``r6id.4xlarge`` -> (16, 16 x 8 GiB); ``None`` for what is not an AWS name (other clouds,
    ``metal`` sizes, null).
    """
    if not machine_type:
        return None, None
    m = _AWS_NAME.match(machine_type.strip().lower())
    if m is None:
        return None, None
    family, gen, suffix, mult, size = m.groups()
    if family.startswith(_AWS_IRREGULAR):
        return None, None
    if size == "xlarge":
        vcpus = 4 * int(mult) if mult else 4
    elif mult:
        return None, None  # "2large" is no size
    else:
        vcpus = _SMALL_VCPUS[size]
    gib = _AWS_FAMILY_GIB_PER_VCPU.get(f"{family}{gen}{suffix}", _AWS_GIB_PER_VCPU.get(family[0]))
    return vcpus, (None if gib is None else vcpus * gib * 2**30)


class _Findings:
    """Accumulates ``class:column`` findings per row and the values to null."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.n = table.num_rows
        self.codes: list[tuple[str, np.ndarray]] = []
        self.null: dict[str, np.ndarray] = {}

    def add(self, code: str, column: str, mask: np.ndarray, *, nullify: bool) -> None:
        if not mask.any():
            return
        self.codes.append((f"{code}:{column}", mask))
        if nullify:
            prev = self.null.get(column)
            self.null[column] = mask if prev is None else (prev | mask)

    def mask(self, cond: pa.Array | pa.ChunkedArray) -> np.ndarray:
        return np.asarray(pc.fill_null(cond, False).to_numpy(zero_copy_only=False), dtype=bool)

    def ints(self, name: str) -> pa.Array:
        col = self.table.column(name)
        return col.cast(pa.int64()) if not pa.types.is_integer(col.type) else col

    def result(self) -> pa.Table:
        t = self.table
        for name, mask in self.null.items():
            i = t.schema.get_field_index(name)
            col = t.column(i)
            t = t.set_column(i, t.schema.field(i), pc.if_else(pa.array(mask), pa.nulls(self.n, col.type), col))
        return _with_quality(t, self.codes, self.n)


def _with_quality(t: pa.Table, codes: Sequence[tuple[str, np.ndarray]], n: int) -> pa.Table:
    """``t`` with its ``quality`` column holding ``codes`` (merged with codes already there)."""
    i = t.schema.get_field_index("quality")
    old = t.column(i).to_pylist() if t.column(i).null_count < n else None
    if not codes and old is None:
        return t
    rows: list[list[str] | None] = [None] * n
    if old is not None:
        rows = [list(v) if v else None for v in old]
    for code, mask in codes:
        for j in np.flatnonzero(mask):
            cur = rows[j]
            if cur is None:
                rows[j] = [code]
            elif code not in cur:
                cur.append(code)
    return t.set_column(i, t.schema.field(i), pa.array(rows, t.schema.field(i).type))


def _apply_marks(f: _Findings, marks: Marks | None) -> None:
    for column, found in (marks or {}).items():
        for code, mask in found:
            # zone-less times are kept (read as UTC); lost values are null already
            f.add(code, column, mask, nullify=False)


def _instants(f: _Findings, names: Iterable[str], now_ms: int) -> None:
    for name in names:
        ms = f.ints(name)
        bad = f.mask(pc.or_(pc.less(ms, EARLIEST_MS), pc.greater(ms, now_ms + FUTURE_SLACK_MS)))
        # last_updated is the sync's change marker, compared with the next listing: nulling
        # it would make the run look changed (and fetched again) on every sync. No report
        # sums or attributes by it, so it is flagged and kept.
        f.add("impossible_time", name, bad, nullify=name != "last_updated")


def _values(f: _Findings, nonnegative: Iterable[str], spans: Iterable[str]) -> None:
    for name in nonnegative:
        col = f.table.column(name)
        if pa.types.is_floating(col.type):
            f.add("non_finite", name, f.mask(pc.invert(pc.is_finite(col))), nullify=True)
        if pa.types.is_duration(col.type):
            col = f.ints(name)
        f.add("negative_value", name, f.mask(pc.less(col, 0)), nullify=True)
    for name in spans:
        f.add("negative_span", name, f.mask(pc.less(f.ints(name), 0)), nullify=True)


def _reversed(f: _Findings, nulled: Mapping[str, np.ndarray]) -> None:
    """complete before start: both ends are suspect, so both become null."""
    start, complete = f.ints("start"), f.ints("complete")
    bad = f.mask(pc.less(complete, start))
    for name in ("start", "complete"):
        bad &= ~nulled.get(name, np.zeros(f.n, bool))
    f.add("negative_span", "complete", bad, nullify=True)
    if bad.any():
        f.null["start"] = f.null.get("start", np.zeros(f.n, bool)) | bad


def check_runs(runs: pa.Table, marks: Marks | None = None, *, now_ms: int | None = None) -> pa.Table:
    """A :data:`~.schema.RUNS` table with impossible values nulled and ``quality`` filled."""
    f = _Findings(runs)
    _apply_marks(f, marks)
    _instants(f, _RUN_INSTANTS, _now(now_ms))
    _values(f, _RUN_NONNEGATIVE, _RUN_SPANS)
    _reversed(f, dict(f.null))
    return f.result()


def check_tasks(tasks: pa.Table, marks: Marks | None = None, *, now_ms: int | None = None) -> pa.Table:
    """A :data:`~.schema.TASKS` table with impossible values nulled, implausible usage
    flagged and ``quality`` filled (the checks that need no run; see
    :func:`check_tasks_against_runs` for the others)."""
    f = _Findings(tasks)
    _apply_marks(f, marks)
    _instants(f, _TASK_INSTANTS, _now(now_ms))
    _values(f, _TASK_NONNEGATIVE, _TASK_SPANS)
    _reversed(f, dict(f.null))
    exit_status = f.ints("exit_status")
    # no start, or one found impossible: nothing says the task ever ran (the same answer
    # whether the start arrives as epoch 0 or, from an older cache, already null)
    never_started = f.mask(pc.is_null(tasks.column("start"))) | f.null.get("start", np.zeros(f.n, bool))
    f.add("sentinel_exit", "exit_status", f.mask(pc.equal(exit_status, SENTINEL_EXIT)) & never_started,
          nullify=True)
    _implausible_usage(f)
    return f.result()


def _implausible_usage(f: _Findings) -> None:
    t = f.table
    # one name lookup per machine type, not per task (an upgrade checks millions of tasks)
    machines = t.column("machine_type")
    kinds = pc.unique(machines).to_pylist()
    caps = [machine_capacity(m) for m in kinds]
    pos = pc.index_in(machines, value_set=pa.array(kinds, pa.string()))
    pos = np.asarray(pc.fill_null(pos, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    vcpus = np.array([np.nan if c[0] is None else c[0] for c in caps] or [np.nan], dtype=float)[pos]
    mem = np.array([np.nan if c[1] is None else c[1] for c in caps] or [np.nan], dtype=float)[pos]
    # Nextflow's default request is 1 cpu; with no memory request and no known machine, the
    # largest machine there is bounds any reading
    cpus = np.nan_to_num(_floats(t.column("cpus")), nan=1.0)
    req_mem = _floats(t.column("memory"))
    pcpu = _floats(t.column("pcpu"))
    peak = _floats(t.column("peak_rss"))
    nulled = f.null
    with np.errstate(invalid="ignore"):
        cpu_cap = np.where(np.isfinite(vcpus), vcpus * 100 * CAPACITY_SLACK, cpus * 100 * REQUEST_MULTIPLE)
        mem_cap = np.where(np.isfinite(mem), mem * CAPACITY_SLACK,
                           np.where(np.isfinite(req_mem), req_mem * REQUEST_MULTIPLE, MAX_MACHINE_MEMORY))
        bad_cpu = (pcpu > cpu_cap) & ~nulled.get("pcpu", np.zeros(f.n, bool))
        bad_mem = (peak > mem_cap) & ~nulled.get("peak_rss", np.zeros(f.n, bool))
    f.add("implausible_pcpu", "pcpu", bad_cpu, nullify=False)
    f.add("implausible_peak_rss", "peak_rss", bad_mem, nullify=False)


def _floats(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if pa.types.is_duration(col.type):
        col = col.cast(pa.int64())
    return np.asarray(pc.fill_null(col.cast(pa.float64(), safe=False), np.nan).to_numpy(zero_copy_only=False), dtype=float)


def check_tasks_against_runs(tasks: pa.Table, runs: pa.Table) -> pa.Table:
    """The checks of a task against its run (``runs`` holds the tasks' runs, by ``run_id``):
    ``before_run`` (times nulled) and ``implausible_realtime`` (flagged). CACHED tasks keep
    the times of their original execution, which may precede the resumed run: exempt."""
    if tasks.num_rows == 0 or runs.num_rows == 0:
        return tasks
    idx = pc.index_in(tasks.column("run_id"), value_set=runs.column("run_id"))
    run_submit = _floats(runs.column("submit").cast(pa.int64()).take(idx))
    run_start = _floats(runs.column("start").cast(pa.int64()).take(idx))
    run_complete = _floats(runs.column("complete").cast(pa.int64()).take(idx))
    run_duration = _floats(runs.column("duration").take(idx))
    f = _Findings(tasks)
    cached = f.mask(pc.equal(tasks.column("status"), "CACHED"))
    with np.errstate(invalid="ignore"):
        for name in ("submit", "start"):
            early = _floats(tasks.column(name).cast(pa.int64())) < run_submit - BEFORE_RUN_SLACK_MS
            f.add("before_run", name, early & ~cached, nullify=True)
        wall = np.where(np.isfinite(run_complete - run_start), run_complete - run_start, run_duration)
        long = _floats(tasks.column("realtime")) > wall + REALTIME_SLACK_MS
    f.add("implausible_realtime", "realtime", long & ~cached, nullify=False)
    return f.result()


def _now(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms


def check(spec: TableSpec, table: pa.Table, marks: Marks | None = None, *,
          now_ms: int | None = None) -> pa.Table:
    """The checks of ``spec``'s table (runs or tasks); other tables are returned unchanged."""
    if spec is TASKS:
        return check_tasks(table, marks, now_ms=now_ms)
    if spec is RUNS:
        return check_runs(table, marks, now_ms=now_ms)
    return table
