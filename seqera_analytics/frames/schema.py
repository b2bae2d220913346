"""The data model: one place that declares every table, column, dtype, unit and API source.

Every other module takes its column names from here: the frame builders cast to these Arrow
schemas, the Parquet cache writes them (so a reload round-trips exactly), and the docs
(:func:`describe`) are generated from them. Column names follow Nextflow's trace fields in
snake_case (``realtime``, ``peak_rss``, ``pcpu``, ``rchar``, ``exit_status``...).

Types, as pandas sees them after :func:`seqera_analytics.frames.to_pandas`:

=====================  =========================  ==========================================
Arrow type             pandas dtype               used for
=====================  =========================  ==========================================
``timestamp[ms, UTC]`` ``datetime64[ms, UTC]``    every instant (the API sends ISO-8601 UTC)
``duration[ms]``       ``timedelta64[ms]``        every span (the API sends integer ms)
``int64``              ``Int64``                  bytes, counts, ids (never float)
``double``             ``Float64``                cost [USD], percentages
``string``             ``string``                 names, ids, enums
``bool``               ``boolean``                flags
``list<string>``       ``object`` (arrays)        labels, executors
=====================  =========================  ==========================================

Everything is nullable: the API leaves many fields null or absent (API-NOTES §6-7).
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field

import pyarrow as pa

__all__ = [
    "PROCESS_METRICS",
    "PROCESS_PROGRESS",
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
]

#: Bumped whenever a column is added, removed, renamed or retyped. The cache stores it and
#: upgrades older versions in place from the data it holds (see ``store``).
#: 2: ``quality`` on runs and tasks (findings of :mod:`seqera_analytics.frames._quality`).
#: 3: ``unlisted_since`` on runs; the cache keeps active runs and later facts out of the
#: table trees (see :mod:`seqera_analytics.store._layout`).
SCHEMA_VERSION = 3

#: ``WorkflowStatus`` enum of the API.
RUN_STATUSES = ("SUBMITTED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "UNKNOWN")
#: Run statuses after which a run never changes again.
TERMINAL_RUN_STATUSES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "UNKNOWN"})
#: ``TaskStatus`` enum of the API.
TASK_STATUSES = ("NEW", "SUBMITTED", "RUNNING", "CACHED", "COMPLETED", "FAILED", "ABORTED")

TS = pa.timestamp("ms", tz="UTC")
DUR = pa.duration("ms")
I64 = pa.int64()
F64 = pa.float64()
STR = pa.string()
BOOL = pa.bool_()
STR_LIST = pa.list_(pa.string())


@dataclass(frozen=True)
class Column:
    """One column: its name, Arrow type, unit, meaning and where the API sends it.

    ``source`` is a dotted path into the record the builder reads (e.g. ``peakRss`` in a
    ``Task``, ``workflow.submit`` in a ``/workflow`` list element); empty when the builder
    derives the value (documented in ``description``).
    """

    name: str
    type: pa.DataType
    source: str
    unit: str
    description: str

    def arrow_field(self) -> pa.Field:
        meta = {"unit": self.unit, "description": self.description, "source": self.source}
        return pa.field(self.name, self.type, nullable=True, metadata=meta)


@dataclass(frozen=True)
class TableSpec:
    """A table of the data model: its columns, key and the endpoint its rows come from."""

    name: str
    endpoint: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    doc: str = ""
    _by_name: dict[str, Column] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):  # pragma: no cover - guards edits of this file
            raise ValueError(f"duplicate column in {self.name}")
        self._by_name.update({c.name: c for c in self.columns})

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @functools.cached_property
    def arrow_schema(self) -> pa.Schema:
        # cached: writers conform thousands of per-run slices to it in one commit
        return pa.schema(
            [c.arrow_field() for c in self.columns],
            metadata={"seqera_analytics.table": self.name,
                      "seqera_analytics.schema_version": str(SCHEMA_VERSION)},
        )

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def _c(name: str, type_: pa.DataType, source: str, unit: str, description: str) -> Column:
    return Column(name, type_, source, unit, description)


_COUNTERS = (
    ("pending", "tasks waiting to be submitted"),
    ("submitted", "tasks submitted, not yet running"),
    ("running", "tasks running"),
    ("succeeded", "tasks completed successfully"),
    ("failed", "task attempts that failed"),
    ("cached", "tasks reused from the cache (resume)"),
    ("aborted", "tasks aborted"),
    ("retries", "task attempts that were retries"),
    ("ignored", "failed tasks ignored by the error strategy"),
)


def _counter_columns(prefix: str) -> tuple[Column, ...]:
    return tuple(
        _c(f"tasks_{k}", I64, f"{prefix}{k}", "count", f"{doc} (missing on older servers)")
        for k, doc in _COUNTERS
    )


WORKSPACES = TableSpec(
    name="workspaces",
    endpoint="GET /user/{userId}/workspaces .orgsAndWorkspaces[] (rows with a workspaceId)",
    key=("workspace_id",),
    doc="One row per workspace the token can see.",
    columns=(
        _c("workspace_id", I64, "workspaceId", "", "workspace id"),
        _c("workspace", STR, "", "", "'org/workspace' reference (orgName/workspaceName)"),
        _c("org_id", I64, "orgId", "", "organization id"),
        _c("org_name", STR, "orgName", "", "organization name"),
        _c("workspace_name", STR, "workspaceName", "", "workspace name"),
        _c("workspace_full_name", STR, "workspaceFullName", "", "workspace display name"),
        _c("visibility", STR, "visibility", "", "PRIVATE or SHARED"),
        _c("roles", STR_LIST, "roles", "", "the token owner's roles in the workspace"),
    ),
)

RUNS = TableSpec(
    name="runs",
    endpoint="GET /workflow list elements (or GET /workflow/{id}) plus .progress.workflowProgress "
    "of GET /workflow/{id}/progress",
    key=("run_id",),
    doc="One row per workflow run, with its run-level load (totals over its tasks). A sync "
    "derives a finished run's load from its tasks (frames._load: exact for cost, memory, bytes "
    "and counters, CPU time within 1 s per task and cpu, peaks approximate, net_cost null) "
    "instead of requesting /progress, unless asked (sync --progress); active runs get /progress.",
    columns=(
        _c("run_id", STR, "workflow.id", "", "workflow run id (short base62 string)"),
        _c("workspace_id", I64, "workspaceId", "", "workspace id"),
        _c("workspace", STR, "", "", "'org/workspace' reference (orgName/workspaceName)"),
        _c("org_id", I64, "orgId", "", "organization id"),
        _c("session_id", STR, "workflow.sessionId", "", "Nextflow session id; resumed runs share it"),
        _c("run_name", STR, "workflow.runName", "", "run name"),
        _c("project_name", STR, "workflow.projectName", "", "pipeline, e.g. nf-core/rnaseq"),
        _c("revision", STR, "workflow.revision", "", "pipeline revision (branch/tag) asked for"),
        _c("commit_id", STR, "workflow.commitId", "", "pipeline commit run"),
        _c("repository", STR, "workflow.repository", "", "pipeline repository URL"),
        _c("manifest_version", STR, "workflow.manifest.version", "", "pipeline version from its manifest"),
        _c("user_name", STR, "workflow.userName", "", "user who launched the run"),
        _c("owner_id", I64, "workflow.ownerId", "", "user id of the launcher"),
        _c("status", STR, "workflow.status", "", "SUBMITTED, RUNNING, SUCCEEDED, FAILED, CANCELLED or UNKNOWN"),
        _c("labels", STR_LIST, "labels", "", "run labels, 'name' or 'name=value' for resource labels"),
        _c("submit", TS, "workflow.submit", "UTC", "submission time"),
        _c("start", TS, "workflow.start", "UTC", "start time (null until started)"),
        _c("complete", TS, "workflow.complete", "UTC", "completion time (null while active)"),
        _c("date_created", TS, "workflow.dateCreated", "UTC", "record creation time"),
        _c("last_updated", TS, "workflow.lastUpdated", "UTC", "last change of the run record"),
        _c("duration", DUR, "workflow.duration", "ms", "wall time of the run"),
        _c("exit_status", I64, "workflow.exitStatus", "", "Nextflow exit status"),
        _c("success", BOOL, "workflow.success", "", "run succeeded"),
        _c("resume", BOOL, "workflow.resume", "", "launched with -resume"),
        _c("error_message", STR, "workflow.errorMessage", "", "error message of a failed run"),
        _c("requires_attention", BOOL, "workflow.requiresAttention", "", "Platform flag"),
        _c("deleted", BOOL, "workflow.deleted", "", "run deleted"),
        _c("unlisted_since", TS, "", "UTC", "when a full listing of its workspace first no longer "
           "showed the run (the Platform keeps a limited history: /orgs/{orgId}/quotas "
           "maxRunHistory); null while the Platform lists it. Set by the sync, not by the API"),
        _c("nextflow_version", STR, "workflow.nextflow.version", "", "Nextflow version"),
        _c("profile", STR, "workflow.profile", "", "config profile(s)"),
        _c("launch_id", STR, "workflow.launchId", "", "launch id (null for runs started from the Nextflow CLI)"),
        _c("work_dir", STR, "workflow.workDir", "", "work directory"),
        # No fusion/wave flags: list elements (WorkflowDbDto) do not carry them, only
        # GET /workflow/{id} does, so a cache filled from listings could not hold them reliably.
        _c("executors", STR_LIST, "progress.workflowProgress.executors", "", "executors used"),
        _c("cpus", I64, "progress.workflowProgress.cpus", "count", "sum of requested cpus over tasks"),
        _c("cpu_time", DUR, "progress.workflowProgress.cpuTime", "ms",
           "requested CPU time: sum of cpus x (complete - start) over tasks"),
        _c("cpu_load", DUR, "progress.workflowProgress.cpuLoad", "ms",
           "used CPU time: sum of pcpu/100 x (complete - start) over tasks"),
        _c("memory_rss", I64, "progress.workflowProgress.memoryRss", "bytes", "sum of task peak_rss"),
        _c("memory_req", I64, "progress.workflowProgress.memoryReq", "bytes", "sum of task memory requests"),
        _c("read_bytes", I64, "progress.workflowProgress.readBytes", "bytes", "sum of task rchar"),
        _c("write_bytes", I64, "progress.workflowProgress.writeBytes", "bytes", "sum of task wchar"),
        _c("vol_ctx_switch", I64, "progress.workflowProgress.volCtxSwitch", "count", "voluntary context switches"),
        _c("inv_ctx_switch", I64, "progress.workflowProgress.invCtxSwitch", "count", "involuntary context switches"),
        _c("peak_cpus", I64, "progress.workflowProgress.peakCpus", "count", "most cpus in use at once"),
        _c("peak_tasks", I64, "progress.workflowProgress.peakTasks", "count", "most tasks running at once"),
        _c("peak_memory", I64, "progress.workflowProgress.peakMemory", "bytes", "most memory requested at once"),
        _c("cost", F64, "progress.workflowProgress.cost", "USD",
           "Seqera's estimated cost: sum of task cost, cached tasks included"),
        _c("net_cost", F64, "progress.workflowProgress.netCost", "USD",
           "undocumented; likely cost without cached tasks (null on older runs)"),
        _c("cpu_efficiency", F64, "progress.workflowProgress.cpuEfficiency", "%", "cpu_load / cpu_time x 100"),
        _c("memory_efficiency", F64, "progress.workflowProgress.memoryEfficiency", "%", "memory_rss / memory_req x 100"),
        _c("num_spot_interruptions", I64, "progress.workflowProgress.numSpotInterruptions", "count", "spot reclaims"),
        *_counter_columns("progress.workflowProgress."),
        _c("stats_succeed_duration", DUR, "workflow.stats.succeedDuration", "ms",
           "CPU time of succeeded tasks: sum of realtime x cpus (Nextflow's WorkflowStats)"),
        _c("stats_failed_duration", DUR, "workflow.stats.failedDuration", "ms", "CPU time of failed tasks"),
        _c("stats_cached_duration", DUR, "workflow.stats.cachedDuration", "ms", "CPU time of cached tasks"),
        _c("quality", STR_LIST, "", "", "data-quality findings of the record, 'class:column' "
           "(e.g. 'impossible_time:start'); null when clean. Impossible values are null in "
           "their column; implausible ones are kept and left out of usage statistics "
           "(frames._quality)"),
    ),
)

TASKS = TableSpec(
    name="tasks",
    endpoint="GET /workflow/{id}/tasks .tasks[].task",
    key=("run_id", "task_id"),
    doc="One row per task attempt (a retried task has one row per attempt, each its own task_id).",
    columns=(
        _c("run_id", STR, "", "", "workflow run id the task belongs to"),
        _c("workspace_id", I64, "", "", "workspace id of the run"),
        _c("task_id", I64, "taskId", "", "Nextflow's task id within the run"),
        _c("hash", STR, "hash", "", "work directory hash, e.g. 59/4f3195"),
        _c("name", STR, "name", "", "task name: process (tag)"),
        _c("process", STR, "process", "", "fully qualified process name"),
        _c("tag", STR, "tag", "", "task tag"),
        _c("status", STR, "status", "", "NEW, SUBMITTED, RUNNING, CACHED, COMPLETED, FAILED or ABORTED"),
        _c("attempt", I64, "attempt", "count", "attempt number, from 1"),
        _c("exit_status", I64, "exitStatus", "",
           "exit code; exitStatus, else the 'exit' field (a string on Platform < 26)"),
        _c("error_action", STR, "errorAction", "", "error strategy applied (RETRY, TERMINATE, IGNORE, ...)"),
        _c("error_message", STR, "errorMessage", "", "error message"),
        _c("submit", TS, "submit", "UTC", "submission time"),
        _c("start", TS, "start", "UTC", "start time"),
        _c("complete", TS, "complete", "UTC", "completion time"),
        _c("last_updated", TS, "lastUpdated", "UTC", "last change of the task record"),
        _c("duration", DUR, "duration", "ms", "submission to completion, queueing included"),
        _c("realtime", DUR, "realtime", "ms", "execution wall time (excludes staging)"),
        _c("cpus", I64, "cpus", "count", "cpus requested"),
        _c("memory", I64, "memory", "bytes", "memory requested"),
        _c("time", DUR, "time", "ms", "time limit requested"),
        _c("disk", I64, "disk", "bytes", "disk requested"),
        _c("pcpu", F64, "pcpu", "% of one core", "CPU use; above 100 for multi-threaded tasks"),
        _c("pmem", F64, "pmem", "% of host memory", "memory use"),
        _c("rss", I64, "rss", "bytes", "resident set size at the end"),
        _c("peak_rss", I64, "peakRss", "bytes", "peak resident set size"),
        _c("vmem", I64, "vmem", "bytes", "virtual memory at the end"),
        _c("peak_vmem", I64, "peakVmem", "bytes", "peak virtual memory"),
        _c("rchar", I64, "rchar", "bytes", "bytes read by read syscalls (pipes and tty included)"),
        _c("wchar", I64, "wchar", "bytes", "bytes written by write syscalls"),
        _c("syscr", I64, "syscr", "count", "read syscalls"),
        _c("syscw", I64, "syscw", "count", "write syscalls"),
        _c("read_bytes", I64, "readBytes", "bytes", "bytes read from storage"),
        _c("write_bytes", I64, "writeBytes", "bytes", "bytes written to storage"),
        _c("vol_ctxt", I64, "volCtxt", "count", "voluntary context switches"),
        _c("inv_ctxt", I64, "invCtxt", "count", "involuntary context switches"),
        _c("executor", STR, "executor", "", "executor, e.g. awsbatch"),
        _c("queue", STR, "queue", "", "queue; for AWS Batch Forge, TowerForge-<compute env id>[-work]"),
        _c("machine_type", STR, "machineType", "", "cloud instance type"),
        _c("cloud_zone", STR, "cloudZone", "", "cloud zone"),
        _c("price_model", STR, "priceModel", "", "spot or standard (on-demand)"),
        _c("cost", F64, "cost", "USD", "Seqera's estimated task cost (null when unknown)"),
        _c("num_spot_interruptions", I64, "numSpotInterruptions", "count", "spot reclaims of this task"),
        _c("native_id", STR, "nativeId", "", "executor job id"),
        _c("container", STR, "container", "", "container image"),
        _c("workdir", STR, "workdir", "", "task work directory"),
        _c("quality", STR_LIST, "", "", "data-quality findings of the record, 'class:column' "
           "(e.g. 'impossible_time:start'); null when clean. Impossible values are null in "
           "their column; implausible ones are kept and left out of usage statistics "
           "(frames._quality)"),
    ),
)

PROCESS_METRICS = TableSpec(
    name="process_metrics",
    endpoint="GET /workflow/{id}/metrics .metrics[] (ResourceData per metric)",
    key=("run_id", "process", "metric", "stat"),
    doc="Per-process distribution summaries computed by the Platform, in long form.",
    columns=(
        _c("run_id", STR, "", "", "workflow run id"),
        _c("workspace_id", I64, "", "", "workspace id of the run"),
        _c("process", STR, "process", "", "process name (simple)"),
        _c("metric", STR, "", "",
           "cpu [% of one core], mem [bytes, peak_rss], vmem [bytes], time [ms, realtime], "
           "reads [bytes, rchar], writes [bytes, wchar], cpu_usage [% of requested cpus], "
           "mem_usage [% of requested memory], time_usage [% of requested time]"),
        _c("stat", STR, "", "", "mean, min, q1, q2, q3 or max"),
        _c("value", F64, "", "see metric", "the statistic's value, in the metric's unit"),
        _c("unit", STR, "", "", "unit of value"),
    ),
)

PROCESS_PROGRESS = TableSpec(
    name="process_progress",
    endpoint="GET /workflow/{id}/progress .progress.processesProgress[]",
    key=("run_id", "process"),
    doc="Per-process task counters of a run (the per-process resource fields are deprecated in "
    "the API; derive them from tasks).",
    columns=(
        _c("run_id", STR, "", "", "workflow run id"),
        _c("workspace_id", I64, "", "", "workspace id of the run"),
        _c("process", STR, "process", "", "fully qualified process name"),
        *_counter_columns(""),
        _c("last_updated", TS, "lastUpdated", "UTC", "last change of the counters"),
    ),
)

#: Every table of the data model by name.
TABLES: dict[str, TableSpec] = {
    t.name: t for t in (WORKSPACES, RUNS, TASKS, PROCESS_METRICS, PROCESS_PROGRESS)
}

#: Units of the /metrics ResourceData fields, API name -> (column value, unit).
METRIC_UNITS: dict[str, tuple[str, str]] = {
    "cpu": ("cpu", "%"),
    "mem": ("mem", "bytes"),
    "vmem": ("vmem", "bytes"),
    "time": ("time", "ms"),
    "reads": ("reads", "bytes"),
    "writes": ("writes", "bytes"),
    "cpuUsage": ("cpu_usage", "%"),
    "memUsage": ("mem_usage", "%"),
    "timeUsage": ("time_usage", "%"),
}
METRIC_STATS = ("mean", "min", "q1", "q2", "q3", "max")
