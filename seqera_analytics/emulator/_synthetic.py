"""Deterministic synthetic workspaces built by resampling real runs.

How a synthetic run is made
---------------------------
1. **Templates.** The source runs (by default the bundled real runs) are grouped by pipeline
   (``projectName`` + ``revision``). Each template keeps the timeline of its largest run
   (one *slot* per successful task: process, tag, offset from the run start, queue time) and
   a pool of every successful task of that pipeline, per process, as resampling material
   (resources, usage, run time, cost rate).
2. **Variants.** Each template is served under its own name and a few plausible variants
   (older revisions, a fork), so listings show several pipelines and revisions.
3. **Headers** (cheap, computed for every run at construction): id, submit time (spread
   evenly over ``months`` months ending at ``end``), status (mostly SUCCEEDED, some FAILED,
   a few CANCELLED), user (analyst-1..6), pipeline variant, labels (``project``, ``team``,
   ``env`` resource labels), session and run name. About one run in eight resumes an
   earlier failed (or sometimes succeeded) run of the same pipeline and session.
4. **Plans** (per original run): how many copies of each per-sample process (the
   "sample count" scales 0.5-2x), which pool task each slot resamples, task hashes.
5. **Runs** (lazily, from ``seed`` and the run index only): per-task durations jittered
   around the resampled task's, a run-wide speed factor, retries (a FAILED attempt with
   ``errorAction`` RETRY followed by attempt 2 with doubled cpus/memory/time and a new
   taskId and hash), cost = resampled cost rate x (complete - start) (x2.8 on standard
   instances), for FAILED runs a terminating task (``errorAction`` TERMINATE) with the
   tasks running at that moment ABORTED, for CANCELLED runs only the aborted ones; a resumed
   run serves the original's completed tasks as CACHED (same hash, timestamps and cost).
   ``workflow.stats``, ``/progress`` and ``/metrics`` are then computed from the tasks with
   :mod:`._aggregate`, so every sum a client can check holds.

Real-looking gaps: ``cost`` is null on a few tasks of some runs, ``errorAction`` is null
except on failures, ``disk`` is null, the ``net*`` progress fields are null on runs older
than seven months before ``end`` (like the real 2025-03 run), and about one run in twenty
sends ``exit`` as a string (``"0"``), as Platform versions before 26.x did.
"""

from __future__ import annotations

import functools
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from math import isnan
from typing import Any

import numpy as np

from .._exceptions import DataFormatError
from ..bundles import RunBundle, bundled_runs_dir, iter_run_bundles
from . import _aggregate as agg
from ._aggregate import (
    ABORTED,
    CACHED,
    COMPLETED,
    FAILED,
    RUNNING,
    STATUSES,
    SUBMITTED,
    TaskColumns,
)
from ._util import base62, iso, parse_iso, sha

__all__ = ["SyntheticWorkspace"]

UTC = timezone.utc
DEFAULT_END = datetime(2025, 10, 31, tzinfo=UTC)

USERS = ("analyst-1", "analyst-2", "analyst-3", "analyst-4", "analyst-5", "analyst-6")
_USER_WEIGHTS = (0.28, 0.2, 0.16, 0.14, 0.12, 0.1)
_TEAMS = {
    "analyst-1": "genomics",
    "analyst-2": "genomics",
    "analyst-3": "epigenetics",
    "analyst-4": "epigenetics",
    "analyst-5": "platform",
    "analyst-6": "clinical",
}
_PROJECTS = {
    "nf-core/sarek": ("cancer-wgs", "germline-cohort", "tumour-normal"),
    "nf-core/methylseq": ("methylome-atlas", "ageing-clock"),
}
_DEFAULT_PROJECTS = ("exploratory", "method-dev")
_ADJECTIVES = (  # noqa: SIM905 (a word list reads better as text)
    "admiring agitated amazing angry awesome backstabbing berserk big boring clever cocky "
    "compassionate condescending cranky desperate determined distracted dreamy drunk "
    "ecstatic elated elegant evil fervent focused furious gigantic gloomy goofy grave "
    "happy high hopeful hungry infallible jolly jovial kickass lonely loving mad modest "
    "naughty nauseous nostalgic peaceful pedantic pensive prickly reverent romantic sad "
    "serene sharp sick silly sleepy small stoic stupefied suspicious tender thirsty tiny "
    "trusting zen"
).split()
_SCIENTISTS = (  # noqa: SIM905 (a word list reads better as text)
    "albattani almeida archimedes ardinghelli babbage bardeen bartik bell blackwell bohr "
    "brattain brown carson colden cori curie darwin davinci einstein elion engelbart "
    "euclid fermat fermi feynman franklin galileo goldberg goodall hawking heisenberg "
    "hodgkin hoover hopper hypatia jang jones kalam kare keller khorana kilby kirch knuth "
    "kowalevski lalande lamarr leakey leavitt lovelace lumiere mayer mccarthy mcclintock "
    "mclean meitner mestorf morse newton nobel noether pare pasteur perlman pike poincare "
    "ptolemy raman ramanujan ride ritchie roentgen rosalind saha sammet shockley sinoussi "
    "stallman swanson swartz tesla thompson torvalds turing varahamihira visvesvaraya "
    "wilson wing wozniak wright yalow yonath"
).split()

_EXIT_FAIL = np.array([137, 143, 1, 2147483647])  # OOM kill, SIGTERM, error, "no exit code"
_STANDARD_FACTOR = 2.8  # on-demand vs spot price ratio
_SCALES = np.array([0.5, 0.75, 1.0, 1.0, 1.0, 1.25, 1.5, 2.0])

Rows = dict[str, np.ndarray]

_F = Any  # a method


def _locked(method: _F) -> _F:
    """Run a SyntheticWorkspace method under its lock (its caches are shared by threads)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _take(rows: Rows, idx: np.ndarray) -> Rows:
    return {k: v[idx] for k, v in rows.items()}


def _concat(a: Rows, b: Rows) -> Rows:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _f(x: Any) -> float:
    return np.nan if x is None else float(x)


@dataclass
class _Template:
    """Resampling material for one pipeline (see the module docstring)."""

    project: str
    revision: str | None
    workflow: dict[str, Any]
    processes: list[str]
    samples: list[dict[str, Any]]
    s: dict[str, np.ndarray]  # per-sample numeric arrays
    pool: np.ndarray  # sample ids, grouped by process
    pool_start: np.ndarray  # per process: offset into pool
    pool_len: np.ndarray  # per process: number of samples
    b_proc: np.ndarray
    b_tag: list[str | None]
    b_off: np.ndarray
    b_queue: np.ndarray
    per_sample: np.ndarray
    start_delay: float
    tail: float
    workdir_prefix: str
    nextflow_versions: list[dict[str, Any]]

    @property
    def manifest_name(self) -> str:
        return str((self.workflow.get("manifest") or {}).get("name") or self.project)


@dataclass
class _Variant:
    project: str
    revision: str | None
    template: _Template
    weight: float
    manifest: dict[str, Any]
    commit_id: str
    script_id: str


@dataclass
class RunHeader:
    """The cheap, always-present description of a synthetic run (the listing index).

    Attributes
    ----------
    index : int
        Position in the workspace (0 = oldest).
    run_id, run_name, session_id, user_name, status, project_name, revision : str
        As in the workflow record.
    submit : int
        Submit time [epoch s].
    variant : int
        Pipeline variant (index into the workspace's variant list).
    plan_seed : int
        Index of the run whose task plan this run uses (itself, or the resumed run).
    resume_of : int
        Index of the run this one resumes, or -1.
    labels : tuple of (name, value)
        Resource labels.
    """

    index: int
    run_id: str
    submit: int
    status: str
    user_name: str
    variant: int
    plan_seed: int
    resume_of: int
    session_id: str
    run_name: str
    labels: tuple[tuple[str, str | None], ...]
    project_name: str = ""
    revision: str | None = None
    manifest_name: str = ""


class _Plan:
    """Which slots a run (and the runs resuming it) executes; tags and hashes on demand."""

    def __init__(
        self,
        template: _Template,
        base: np.ndarray,
        copy: np.ndarray,
        proc: np.ndarray,
        sample: np.ndarray,
        off: np.ndarray,
        raw: np.ndarray,
    ) -> None:
        self.template = template
        self.base = base  # base slot per plan slot
        self.copy = copy  # copy number of the base slot (0 = the original sample)
        self.proc = proc
        self.sample = sample
        self.off = off  # offset from the run start [s]
        self._raw = raw
        self._tags: list[str | None] | None = None
        self._hashes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.base)

    @property
    def tags(self) -> list[str | None]:
        if self._tags is None:
            b_tag = self.template.b_tag
            self._tags = [
                b_tag[b] if c == 0 or b_tag[b] is None else f"{b_tag[b]}_{c + 1}"
                for b, c in zip(self.base.tolist(), self.copy.tolist())
            ]
        return self._tags

    @property
    def hashes(self) -> list[str]:
        """32 hex characters per slot (``hash`` is ``hh/hhhhhh`` of it, ``workdir`` ends with it)."""
        if self._hashes is None:
            self._hashes = [f"{a:016x}{b:016x}" for a, b in self._raw.tolist()]
        return self._hashes


@dataclass
class _Core:
    """A generated run: its rows plus everything derived from them."""

    header: RunHeader
    variant: _Variant
    rows: Rows
    wf_submit: int
    wf_start: int
    wf_complete: int | None
    last_updated: int
    price_model: str
    exit_str: bool
    with_net: bool
    launch_id: str | None
    params_file: str
    cols: TaskColumns
    workflow: dict[str, Any]
    plan: _Plan
    _progress: dict[str, Any] | None = field(default=None, repr=False)
    _tasks: list[dict[str, Any]] | None = field(default=None, repr=False)
    _metrics: list[dict[str, Any]] | None = field(default=None, repr=False)


def _uuid_from_hex(h: str) -> str:
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _build_template(bundles: Sequence[RunBundle]) -> _Template | None:
    """Pool the tasks of runs of one pipeline; the run with most successful tasks sets the timeline."""

    def successes(b: RunBundle) -> list[dict[str, Any]]:
        return [
            t
            for t in b.tasks
            if t.get("status") in ("COMPLETED", "CACHED")
            and t.get("pcpu") is not None
            and t.get("start")
            and t.get("complete")
        ]

    usable = [b for b in bundles if successes(b)]
    if not usable:
        return None
    base = max(usable, key=lambda b: (len(successes(b)), b.run_id))
    wf = base.workflow
    processes: list[str] = [p["process"] for p in (base.progress.get("processesProgress") or [])]
    for b in usable:
        for t in b.tasks:
            if t["process"] not in processes:
                processes.append(t["process"])
    pidx = {p: i for i, p in enumerate(processes)}

    samples = [t for b in usable for t in successes(b)]
    proc = np.array([pidx[t["process"]] for t in samples])
    start = np.array([parse_iso(t["start"]) for t in samples])
    complete = np.array([parse_iso(t["complete"]) for t in samples])
    runms = np.maximum(1000.0, (complete - start) * 1000.0)
    realtime = np.array([_f(t.get("realtime")) for t in samples])
    rtratio = np.clip(np.nan_to_num(realtime / runms, nan=0.9), 0.0, 1.0)
    cost = np.array([_f(t.get("cost")) for t in samples])
    spot = np.array([t.get("priceModel") != "standard" for t in samples])
    rate = cost / runms / np.where(spot, 1.0, _STANDARD_FACTOR)
    # Fill unknown cost rates with the process median, else the pipeline median.
    overall = float(np.nanmedian(rate)) if np.any(~np.isnan(rate)) else 1e-9
    for p in range(len(processes)):
        m = (proc == p) & np.isnan(rate)
        if m.any():
            known = rate[(proc == p) & ~np.isnan(rate)]
            rate[m] = float(np.median(known)) if len(known) else overall

    def col(key: str, default: float = 0.0) -> np.ndarray:
        return np.nan_to_num(np.array([_f(t.get(key)) for t in samples]), nan=default)

    peak_rss = col("peakRss")
    peak_vmem = col("peakVmem")
    s = {
        "cpus": np.maximum(1.0, col("cpus", 1.0)),
        "memory": col("memory", float(1 << 30)),
        "time": col("time", 14_400_000.0),
        "runms": runms,
        "rtratio": rtratio,
        "pcpu": col("pcpu"),
        "pmem": col("pmem"),
        "peak_rss": peak_rss,
        "rss_ratio": np.clip(
            np.divide(col("rss"), peak_rss, out=np.ones_like(peak_rss), where=peak_rss > 0), 0, 1
        ),
        "peak_vmem": peak_vmem,
        "vmem_ratio": np.clip(
            np.divide(col("vmem"), peak_vmem, out=np.ones_like(peak_vmem), where=peak_vmem > 0),
            0,
            1,
        ),
        "rchar": col("rchar"),
        "wchar": col("wchar"),
        "syscr": col("syscr"),
        "syscw": col("syscw"),
        "rb": col("readBytes"),
        "wb": col("writeBytes"),
        "vol": col("volCtxt"),
        "inv": col("invCtxt"),
        "rate": rate,
    }
    order = np.argsort(proc, kind="stable")
    pool_len = np.bincount(proc, minlength=len(processes))
    pool_start = np.r_[0, np.cumsum(pool_len)[:-1]]

    wf_submit = parse_iso(wf["submit"])
    wf_start = parse_iso(wf.get("start") or wf["submit"])
    wf_complete = parse_iso(wf.get("complete") or wf["submit"])
    slots = sorted(successes(base), key=lambda t: t.get("taskId") or 0)
    slots = [t for t in slots if pool_len[pidx[t["process"]]] > 0]
    b_proc = np.array([pidx[t["process"]] for t in slots])
    b_off = np.array([max(0.0, parse_iso(t["submit"]) - wf_start) for t in slots])
    b_queue = np.array([max(0.0, parse_iso(t["start"]) - parse_iso(t["submit"])) for t in slots])
    per_proc = np.bincount(b_proc, minlength=len(processes))
    last = max(parse_iso(t["complete"]) for t in slots)
    workdir = str(wf.get("workDir") or "s3://emulated-bucket/scratch/x")
    prefix = workdir.rsplit("/", 1)[0] if "/scratch" in workdir else workdir
    versions = {}
    for b in bundles:
        nf = b.workflow.get("nextflow")
        if isinstance(nf, dict) and nf.get("version"):
            versions[nf["version"]] = nf
    return _Template(
        project=str(wf.get("projectName") or "unknown/pipeline"),
        revision=wf.get("revision"),
        workflow=wf,
        processes=processes,
        samples=samples,
        s=s,
        pool=order,
        pool_start=pool_start,
        pool_len=pool_len,
        b_proc=b_proc,
        b_tag=[t.get("tag") for t in slots],
        b_off=b_off,
        b_queue=b_queue,
        per_sample=per_proc[b_proc] > 1,
        start_delay=float(np.clip(wf_start - wf_submit, 30, 900)),
        tail=float(np.clip(wf_complete - last, 5, 300)),
        workdir_prefix=prefix,
        nextflow_versions=[versions[v] for v in sorted(versions, key=_version_key)],
    )


def _version_key(v: str) -> tuple[int, ...]:
    out = []
    for part in v.replace("-", ".").split("."):
        out.append(int(part) if part.isdigit() else 0)
    return tuple(out)


def _older_revisions(rev: str | None) -> list[str]:
    """Two plausible earlier releases of a semantic version (``3.5.1`` -> ``3.5.0``, ``3.4.0``)."""
    if not rev:
        return []
    parts = rev.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return []
    major, minor, patch = (int(p) for p in parts)
    out = []
    if patch > 0:
        out.append(f"{major}.{minor}.{patch - 1}")
    if minor > 0:
        out.append(f"{major}.{minor - 1}.0")
    elif major > 0:
        out.append(f"{major - 1}.9.0")
    return out[:2]


def _variants(templates: list[_Template]) -> list[_Variant]:
    out = []
    for t in templates:
        base_manifest = dict(t.workflow.get("manifest") or {})

        def make(
            project: str,
            revision: str | None,
            weight: float,
            t: _Template = t,
            base_manifest: dict[str, Any] = base_manifest,
        ) -> _Variant:
            manifest = dict(base_manifest)
            if revision and revision[0].isdigit():
                manifest["version"] = revision
            return _Variant(
                project=project,
                revision=revision,
                template=t,
                weight=weight,
                manifest=manifest,
                commit_id=sha("commit", project, revision).hex()[:40],
                script_id=sha("script", project, revision).hex()[:32],
            )

        out.append(make(t.project, t.revision, 4.0))
        for rev in _older_revisions(t.revision):
            out.append(make(t.project, rev, 1.5))
        name = t.project.split("/", 1)[-1]
        fork = (
            f"acme-genomics/{name}"
            if not t.project.startswith("acme-genomics/")
            else f"example-lab/{name}"
        )
        out.append(make(fork, "main", 0.75))
    return out


class SyntheticWorkspace:
    """A deterministic workspace of ``n_runs`` synthetic runs resampled from real ones.

    Parameters
    ----------
    n_runs : int
        Number of runs (0 to 100,000 and more; only headers are built up front).
    seed : int
        Everything derives from it: same seed and sources, same bytes.
    source : sequence of RunBundle, optional
        Real runs to resample; default: the bundled real runs (``data/real-runs``).
    end : datetime
        Submit time of the newest run (timezone-aware; UTC if naive).
    months : float
        Runs are spread evenly over this many months before ``end`` [months of 30.44 days].

    Notes
    -----
    Construction builds only the run headers (id, submit, status, user, pipeline, labels,
    session, run name): about 10 µs per run. Tasks, progress and metrics of run ``i`` are
    generated on demand by :meth:`run_bundle` (or :meth:`tasks`, :meth:`progress`, ...) from
    ``seed`` and ``i`` alone, with a small LRU cache, so any run can be served without
    generating the others.

    Examples
    --------
    >>> ws = SyntheticWorkspace(1000, seed=1)
    >>> bundle = ws.run_bundle(0)
    >>> len(ws), bundle.workflow["status"]  # doctest: +SKIP
    (1000, 'SUCCEEDED')
    """

    def __init__(
        self,
        n_runs: int,
        seed: int = 0,
        source: Sequence[RunBundle] | None = None,
        end: datetime = DEFAULT_END,
        months: float = 18,
        *,
        cache_size: int = 256,
    ) -> None:
        if isinstance(n_runs, bool) or not isinstance(n_runs, int):
            raise TypeError(f"n_runs must be an integer, got {n_runs!r}")
        if n_runs < 0:
            raise ValueError(f"n_runs must be >= 0, got {n_runs}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        if not months or months <= 0:
            raise ValueError(f"months must be positive, got {months!r}")
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        self.n_runs = n_runs
        self.seed = seed
        self._np_seed = seed % 2**64  # numpy seed sequences take non-negative integers
        self.end = end
        self.months = months
        bundles = list(source) if source is not None else list(iter_run_bundles(bundled_runs_dir()))
        seen: set[str] = set()
        unique = []
        for b in bundles:
            if b.run_id not in seen:
                seen.add(b.run_id)
                unique.append(b)
        groups: dict[tuple[str, str | None], list[RunBundle]] = {}
        for b in unique:
            key = (str(b.workflow.get("projectName")), b.workflow.get("revision"))
            groups.setdefault(key, []).append(b)
        templates = [
            t for key in sorted(groups, key=str) if (t := _build_template(groups[key])) is not None
        ]
        if not templates:
            raise DataFormatError(
                "Cannot build synthetic runs: none of the source runs has a completed task to resample."
            )
        self._templates = templates
        self._variants = _variants(templates)
        self._cache_size = max(2, int(cache_size))
        # The emulator's server thread and the caller's thread (add_runs, run_bundle) may
        # both generate runs: one re-entrant lock guards the caches below.
        self._lock = threading.RLock()
        self._cores: OrderedDict[int, _Core] = OrderedDict()
        self._plans: OrderedDict[int, _Plan] = OrderedDict()
        self._extra: dict[int, RunHeader] = {}
        self.headers: list[RunHeader] = self._make_headers(n_runs)

    # ------------------------------------------------------------------ headers
    def _make_headers(self, n: int) -> list[RunHeader]:
        rng = random.Random(f"seqera-emulator:{self.seed}:headers")
        end_s = self.end.timestamp()
        span = self.months * 30.44 * 86400.0
        t0 = end_s - span
        weights = [v.weight for v in self._variants]
        vidx = list(range(len(self._variants)))
        recent: deque[int] = deque(maxlen=30)
        headers: list[RunHeader] = []
        ids: set[str] = set()
        for i in range(n):
            submit = int(t0 + (i + rng.random()) * span / max(n, 1))
            resume_of = -1
            if recent and rng.random() < 0.12:
                failed = [j for j in recent if headers[j].status != "SUCCEEDED"]
                pool = failed if failed and rng.random() < 0.8 else list(recent)
                resume_of = pool[rng.randrange(len(pool))]
            r = rng.random()
            if resume_of >= 0:
                status = "SUCCEEDED" if r < 0.9 else ("FAILED" if r < 0.97 else "CANCELLED")
            else:
                status = "SUCCEEDED" if r < 0.86 else ("FAILED" if r < 0.96 else "CANCELLED")
            name = self._run_name(rng, i)
            run_id = self._run_id(i, ids)
            if resume_of >= 0:
                o = headers[resume_of]
                h = RunHeader(
                    index=i,
                    run_id=run_id,
                    submit=submit,
                    status=status,
                    user_name=o.user_name,
                    variant=o.variant,
                    plan_seed=o.plan_seed,
                    resume_of=resume_of,
                    session_id=o.session_id,
                    run_name=name,
                    labels=o.labels,
                )
                recent.remove(resume_of)
            else:
                v = rng.choices(vidx, weights)[0]
                user = rng.choices(USERS, _USER_WEIGHTS)[0]
                h = RunHeader(
                    index=i,
                    run_id=run_id,
                    submit=submit,
                    status=status,
                    user_name=user,
                    variant=v,
                    plan_seed=i,
                    resume_of=-1,
                    session_id=str(_uuid4(rng)),
                    run_name=name,
                    labels=self._labels(rng, user, self._variants[v]),
                )
                recent.append(i)
            self._fill(h)
            headers.append(h)
        return headers

    def _fill(self, h: RunHeader) -> None:
        v = self._variants[h.variant]
        h.project_name = v.project
        h.revision = v.revision
        h.manifest_name = v.template.manifest_name

    def _run_id(self, i: int, taken: set[str]) -> str:
        salt = 0
        while True:
            rid = base62(sha("run", self.seed, i, salt), 14)
            if rid not in taken:
                taken.add(rid)
                return rid
            salt += 1

    @staticmethod
    def _run_name(rng: random.Random, i: int) -> str:
        if rng.random() < 0.8:
            return f"{rng.choice(_ADJECTIVES)}_{rng.choice(_SCIENTISTS)}"
        return f"batch-{rng.randrange(1, 400)}_{rng.choice(_SCIENTISTS)}"

    @staticmethod
    def _labels(rng: random.Random, user: str, v: _Variant) -> tuple[tuple[str, str | None], ...]:
        if rng.random() < 0.12:
            return ()
        projects = _PROJECTS.get(v.template.manifest_name, _DEFAULT_PROJECTS)
        env = "prod" if rng.random() < 0.85 else "dev"
        return (("project", rng.choice(projects)), ("team", _TEAMS[user]), ("env", env))

    # ------------------------------------------------------------------ public
    def __len__(self) -> int:
        return self.n_runs

    def __iter__(self) -> Iterator[RunBundle]:
        for i in range(self.n_runs):
            yield self.run_bundle(i)

    def header(self, i: int) -> RunHeader:
        """The header (index record) of run ``i`` (``0 <= i < n_runs``, or an added run)."""
        if 0 <= i < self.n_runs:
            return self.headers[i]
        if i in self._extra:
            return self._extra[i]
        raise IndexError(f"run index {i} out of range (0..{self.n_runs - 1})")

    @_locked
    def run_bundle(self, i: int) -> RunBundle:
        """Run ``i`` as a :class:`RunBundle` (workflow, unwrapped tasks, metrics, progress).

        Deterministic: the same seed, sources and index always give the same bundle.
        """
        core = self._core(i)
        h = core.header
        return RunBundle(
            workflow=core.workflow,
            tasks=self.tasks(i),
            metrics=self.metrics(i),
            progress=_progress(core),
            labels=[{"name": n, "value": v, "resource": v is not None} for n, v in h.labels],
            meta={"id": h.run_id, "synthetic": True, "index": i, "seed": self.seed},
            source=f"synthetic:{self.seed}:{i}",
        )

    @_locked
    def workflow(self, i: int) -> dict[str, Any]:
        """``GET /workflow/{id}`` ``.workflow`` of run ``i``."""
        return self._core(i).workflow

    @_locked
    def progress(self, i: int) -> dict[str, Any]:
        """``GET /workflow/{id}/progress`` ``.progress`` of run ``i``."""
        return _progress(self._core(i))

    @_locked
    def tasks(self, i: int) -> list[dict[str, Any]]:
        """Every task of run ``i`` (unwrapped ``Task`` records), in ascending ``taskId``."""
        core = self._core(i)
        if core._tasks is None:
            core._tasks = self._materialize(core)
        return core._tasks

    @_locked
    def metrics(self, i: int) -> list[dict[str, Any]]:
        """``GET /workflow/{id}/metrics`` ``.metrics`` of run ``i``."""
        return _metrics(self._core(i))

    # ------------------------------------------------------------------ plan
    @_locked
    def _plan(self, plan_seed: int, variant: int) -> _Plan:
        plan = self._plans.get(plan_seed)
        if plan is not None:
            self._plans.move_to_end(plan_seed)
            return plan
        t = self._variants[variant].template
        rng = np.random.default_rng([self._np_seed, 11, plan_seed])
        scale = float(rng.choice(_SCALES))
        nb = len(t.b_proc)
        frac = rng.random(nb)
        reps = np.where(t.per_sample, np.floor(scale) + (frac < scale - np.floor(scale)), 1).astype(
            int
        )
        if reps.sum() < 2:
            reps[:] = 1
        base = np.repeat(np.arange(nb), reps)
        first = np.r_[0, np.cumsum(reps)[:-1]]
        copy = np.arange(len(base)) - np.repeat(first, reps)
        proc = t.b_proc[base]
        pick = np.floor(rng.random(len(base)) * t.pool_len[proc]).astype(int)
        sample = t.pool[t.pool_start[proc] + pick]
        off = t.b_off[base] + np.where(copy > 0, rng.uniform(0, 120, len(base)), 0.0)
        raw = rng.integers(0, 2**63, size=(len(base), 2))
        order = np.argsort(off, kind="stable")
        plan = _Plan(
            t, base[order], copy[order], proc[order], sample[order], off[order], raw[order]
        )
        self._plans[plan_seed] = plan
        if len(self._plans) > self._cache_size:
            self._plans.popitem(last=False)
        return plan

    # ------------------------------------------------------------------ runs
    @_locked
    def _core(self, i: int) -> _Core:
        core = self._cores.get(i)
        if core is not None:
            self._cores.move_to_end(i)
            return core
        h = self.header(i)
        core = self._finalize(h, *self._rows(h))
        self._cores[i] = core
        if len(self._cores) > self._cache_size:
            self._cores.popitem(last=False)
        return core

    def _run_rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self._np_seed, 12, i])

    def _rows(self, h: RunHeader, *, force_full: bool = False) -> tuple[Rows, dict[str, Any]]:
        """Generate the task rows of a run, relative to ``h.submit``.

        ``force_full`` ignores a terminal FAILED/CANCELLED status (used for live runs, whose
        ending is decided later).
        """
        v = self._variants[h.variant]
        t = v.template
        plan = self._plan(h.plan_seed, h.variant)
        rng = self._run_rng(h.index)
        n = len(plan)
        s = t.s

        # Run-level properties, always drawn in this order (determinism).
        g = float(np.exp(rng.normal(0.0, 0.2)))
        start_delay = t.start_delay * float(rng.uniform(0.6, 1.4))
        tail = t.tail * float(rng.uniform(0.5, 1.5))
        fail_rate = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.005, 0.05))
        price_model = "spot" if rng.random() < 0.75 else "standard"
        cost_null = float(rng.uniform(0.01, 0.05)) if rng.random() < 0.12 else 0.0
        exit_str = bool(rng.random() < 0.05)
        launch = bool(rng.random() < 0.8)
        end_frac = float(rng.uniform(0.25, 0.85))
        wf_submit = float(h.submit)
        wf_start = wf_submit + round(start_delay)
        price = 1.0 if price_model == "spot" else _STANDARD_FACTOR

        # Which slots this run executes (a resumed run reuses the original's successes).
        cached_src = np.full(n, -1)
        orig: _Core | None = None
        if h.resume_of >= 0:
            orig = self._core(h.resume_of)
            o = orig.rows
            ok = np.flatnonzero(o["status"] == COMPLETED)
            src_of_slot = np.full(n, -1)
            src_of_slot[o["slot"][ok]] = ok
            has = src_of_slot >= 0
            if orig.header.status == "SUCCEEDED":
                cut = np.quantile(plan.off, float(rng.uniform(0.5, 0.95))) if n else 0.0
                has &= plan.off < cut
            cached_src = np.where(has, src_of_slot, -1)
            if not np.any(cached_src < 0):  # always re-run something
                cached_src[np.argsort(plan.off)[-min(3, n) :]] = -1
        own = np.flatnonzero(cached_src < 0)
        m = len(own)
        off = plan.off[own] - (plan.off[own].min() if orig is not None and m else 0.0)
        smp = plan.sample[own]

        f = g * np.exp(rng.normal(0.0, 0.15, m))
        queue = np.round(t.b_queue[plan.base[own]] * np.exp(rng.normal(0.0, 0.3, m)))
        run_s = np.maximum(1.0, np.round(s["runms"][smp] / 1000.0 * f))
        submit = wf_start + np.floor(off * g + rng.uniform(0, 3, m))
        start = submit + queue
        complete = start + run_s
        fail = rng.random(m) < fail_rate
        part = rng.uniform(0.05, 0.9, m)
        queue2 = np.round(queue * rng.uniform(0.5, 1.5, m))
        run2 = np.maximum(1.0, np.round(run_s * np.exp(rng.normal(0.0, 0.1, m))))
        exit_pick = _EXIT_FAIL[rng.integers(0, len(_EXIT_FAIL), m)]

        # Attempt 1 (COMPLETED, or FAILED + RETRY) for every executed slot.
        c1 = np.where(fail, start + np.maximum(1.0, np.round(run_s * part)), complete)
        one = np.ones(m)
        a1: Rows = {
            "status": np.where(fail, FAILED, COMPLETED).astype(np.int8),
            "retry": fail.copy(),
            "terminate": np.zeros(m, dtype=bool),
            "slot": own,
            "attempt": one.astype(int),
            "sample": smp,
            "cpus": s["cpus"][smp],
            "memory": s["memory"][smp],
            "time": s["time"][smp],
            "submit": submit,
            "start": start,
            "complete": c1,
            "exit_status": np.where(fail, exit_pick, 0).astype(float),
        }
        # Attempt 2 of the retried slots: twice the resources, a fresh queue and run time.
        r = np.flatnonzero(fail)
        s2 = c1[r] + 1
        st2 = s2 + queue2[r]
        a2: Rows = {
            "status": np.full(len(r), COMPLETED, dtype=np.int8),
            "retry": np.zeros(len(r), dtype=bool),
            "terminate": np.zeros(len(r), dtype=bool),
            "slot": own[r],
            "attempt": np.full(len(r), 2),
            "sample": smp[r],
            "cpus": s["cpus"][smp[r]] * 2,
            "memory": s["memory"][smp[r]] * 2,
            "time": s["time"][smp[r]] * 2,
            "submit": s2,
            "start": st2,
            "complete": st2 + run2[r],
            "exit_status": np.zeros(len(r)),
        }
        rows = _concat(a1, a2)
        k = len(rows["status"])

        # Usage, jittered around the resampled task's.
        sm = rows["sample"]
        jit = np.exp(rng.normal(0.0, 0.1, (6, k)))
        io = np.exp(rng.normal(0.0, 0.2, k))
        rows["pcpu"] = np.round(s["pcpu"][sm] * jit[0], 1)
        rows["peak_rss"] = np.round(s["peak_rss"][sm] * jit[1])
        rows["rss"] = np.round(rows["peak_rss"] * s["rss_ratio"][sm])
        rows["peak_vmem"] = np.round(s["peak_vmem"][sm] * jit[2])
        rows["vmem"] = np.round(rows["peak_vmem"] * s["vmem_ratio"][sm])
        rows["pmem"] = np.round(s["pmem"][sm] * jit[1], 1)
        for key in ("rchar", "wchar", "syscr", "syscw", "rb", "wb"):
            rows[key] = np.round(s[key][sm] * io)
        rows["vol"] = np.round(s["vol"][sm] * jit[3])
        rows["inv"] = np.round(s["inv"][sm] * jit[4])
        rows["rate"] = s["rate"][sm] * price * jit[5] * np.where(rows["attempt"] > 1, 2.0, 1.0)
        rows["rtratio"] = s["rtratio"][sm]
        rows["dur_jit"] = rng.uniform(0, 999, k)
        rows["null_draw"] = rng.random(k)
        rows["src_row"] = np.full(k, -1)

        extra = {
            "wf_submit": wf_submit,
            "wf_start": wf_start,
            "tail": tail,
            "price_model": price_model,
            "exit_str": exit_str,
            "launch": launch,
            "launch_id": base62(sha("launch", self.seed, h.index), 22),
            "params_file": base62(sha("params", self.seed, h.index), 22),
            "cost_null": cost_null,
            "end_frac": end_frac,
            "end_pick": float(rng.random()),
        }

        status = "SUCCEEDED" if force_full else h.status
        if status in ("FAILED", "CANCELLED") and k:
            last = float(np.nanmax(rows["complete"]))
            t_end = wf_start + end_frac * (last - wf_start)
            rows = _terminate(rows, t_end, status, extra["end_pick"])
        rows = _usage(rows, cost_null)

        if orig is not None:
            rows = _concat(
                rows,
                _cached_rows(
                    orig.rows,
                    cached_src[cached_src >= 0],
                    plan_slots=np.flatnonzero(cached_src >= 0),
                ),
            )
        rows = _number(rows, wf_start, plan.off)
        return rows, extra

    def _finalize(
        self,
        h: RunHeader,
        rows: Rows,
        extra: dict[str, Any],
        *,
        shift: float = 0.0,
        last_updated: int | None = None,
    ) -> _Core:
        """Build the workflow and progress records of generated rows (optionally time-shifted)."""
        v = self._variants[h.variant]
        if shift:
            rows = dict(rows)
            own = rows["src_row"] < 0
            for key in ("submit", "start", "complete"):
                rows[key] = np.where(own, rows[key] + shift, rows[key])
        wf_submit = int(extra["wf_submit"] + shift)
        wf_start = int(extra["wf_start"] + shift)
        status = h.status
        active = status in ("RUNNING", "SUBMITTED")
        wf_complete = None if active else _complete_of(rows, extra, shift)
        lu = (
            last_updated
            if last_updated is not None
            else (wf_complete + 3 if wf_complete else wf_start + 5)
        )
        plan = self._plan(h.plan_seed, h.variant)
        cols = _columns(rows, plan.proc[rows["slot"]], [])  # names filled when metrics need them
        # net* progress fields are null on older runs (the real 2025-03 run has them null).
        with_net = wf_submit >= self.end.timestamp() - 7 * 30.44 * 86400.0
        stats = None if active else agg.wf_stats(cols)
        workflow = self._workflow(
            h, v, extra, status, wf_submit, wf_start, wf_complete, lu, stats, rows
        )
        return _Core(
            header=h,
            variant=v,
            rows=rows,
            wf_submit=wf_submit,
            wf_start=wf_start,
            wf_complete=wf_complete,
            last_updated=lu,
            price_model=extra["price_model"],
            exit_str=extra["exit_str"],
            with_net=with_net,
            launch_id=extra["launch_id"] if extra["launch"] else None,
            params_file=extra["params_file"],
            cols=cols,
            workflow=workflow,
            plan=plan,
        )

    def _workflow(
        self,
        h: RunHeader,
        v: _Variant,
        extra: dict[str, Any],
        status: str,
        submit: int,
        start: int,
        complete: int | None,
        last_updated: int,
        stats: dict[str, Any] | None,
        rows: Rows,
    ) -> dict[str, Any]:
        t = v.template
        base = t.workflow
        versions = t.nextflow_versions
        nextflow = base.get("nextflow")
        if versions:
            newer = submit >= self.end.timestamp() - 5 * 30.44 * 86400.0
            nextflow = versions[-1] if newer else versions[0]
        work_dir = f"{t.workdir_prefix}/{h.run_id}"
        rev = v.revision or v.commit_id
        launch = extra["launch"]
        cmd = f"nextflow run 'https://github.com/{v.project}' -name {h.run_name}"
        if launch:
            cmd += f" -params-file 'https://api.cloud.seqera.io/ephemeral/{extra['params_file']}.json' -with-tower"
        else:
            cmd += " -with-tower"
        cmd += f" -r {rev}"
        if base.get("profile"):
            cmd += f" -profile {base['profile']}"
        if h.resume_of >= 0:
            cmd += f" -resume {h.session_id}"
        failed_row = np.flatnonzero(rows["terminate"])
        error_message = error_report = None
        exit_status: int | None = None
        success: bool | None = None
        duration: int | None = None
        if complete is not None:
            duration = int((complete - start) * 1000 + 5000 + (h.index * 7919) % 55000)
            if status == "SUCCEEDED":
                exit_status, success = 0, True
            elif status == "FAILED":
                exit_status, success = 1, False
                if len(failed_row):
                    r = int(failed_row[0])
                    plan = self._plan(h.plan_seed, h.variant)
                    name = _name(
                        t.processes[int(plan.proc[int(rows["slot"][r])])],
                        plan.tags[int(rows["slot"][r])],
                    )
                    code = int(rows["exit_status"][r])
                    error_message = (
                        f"Process `{name}` terminated with an error exit status ({code})"
                    )
                    error_report = (
                        f"Error executing process > '{name}'\n\nCaused by:\n  Process `{name}` "
                        f"terminated with an error exit status ({code})\n"
                    )
            else:
                success = False
        project = v.project
        return {
            "id": h.run_id,
            "ownerId": _user_id(h.user_name),
            "submit": iso(submit),
            "start": iso(start) if status != "SUBMITTED" else None,
            "complete": iso(complete),
            "dateCreated": iso(submit + 1),
            "lastUpdated": iso(last_updated),
            "runName": h.run_name,
            "sessionId": h.session_id,
            "profile": base.get("profile"),
            "workDir": work_dir,
            "commitId": v.commit_id,
            "userName": h.user_name,
            "scriptId": v.script_id,
            "revision": v.revision,
            "commandLine": cmd,
            "projectName": project,
            "scriptName": base.get("scriptName") or "main.nf",
            "launchId": extra["launch_id"] if launch else None,
            "status": status,
            "requiresAttention": False,
            "configFiles": base.get("configFiles"),
            "params": base.get("params"),
            "configText": base.get("configText"),
            "manifest": v.manifest,
            "nextflow": nextflow,
            "stats": stats,
            "errorMessage": error_message,
            "errorReport": error_report,
            "deleted": None,
            "peakLoadCpus": None,
            "peakLoadTasks": None,
            "peakLoadMemory": None,
            "projectDir": f"/.nextflow/assets/{project}",
            "homeDir": base.get("homeDir") or "/root",
            "container": None,
            "repository": f"https://github.com/{project}",
            "containerEngine": None,
            "scriptFile": f"/.nextflow/assets/{project}/main.nf",
            "launchDir": base.get("launchDir") or "/",
            "duration": duration,
            "exitStatus": exit_status,
            "resume": h.resume_of >= 0,
            "success": success,
            "fusion": base.get("fusion"),
            "wave": base.get("wave"),
            "logFile": None,
            "outFile": None,
            "operationId": None,
        }

    def _materialize(self, core: _Core) -> list[dict[str, Any]]:
        """Task dicts (the API's ``Task``) from a core's rows, in row (= taskId) order."""
        h = core.header
        t = core.variant.template
        plan = self._plan(h.plan_seed, h.variant)
        rows = core.rows
        work_dir = core.workflow["workDir"]
        orig_tasks = (
            self.tasks(h.resume_of) if h.resume_of >= 0 and np.any(rows["src_row"] >= 0) else None
        )
        lu_run = iso(core.last_updated)
        out = []
        cols = {k: v.tolist() for k, v in rows.items() if k not in ("retry", "terminate")}
        cost = core.cols.cost.tolist()
        for r in range(len(rows["status"])):
            code = cols["status"][r]
            slot = cols["slot"][r]
            tid = cols["task_id"][r]
            db_id = 400_000_000 + h.index * 4096 + tid
            if cols["src_row"][r] >= 0 and orig_tasks is not None:
                task = dict(orig_tasks[cols["src_row"][r]])
                task.update(
                    id=db_id,
                    taskId=tid,
                    status="CACHED",
                    dateCreated=iso(core.wf_start + 5),
                    lastUpdated=iso(core.wf_start + 5),
                    errorAction=None,
                )
                out.append(task)
                continue
            sample = t.samples[cols["sample"][r]]
            hx = plan.hashes[slot]
            if cols["attempt"][r] > 1:
                hx = hx[16:] + hx[:16]
            submit, start, complete = cols["submit"][r], cols["start"][r], cols["complete"][r]
            finished = code in (COMPLETED, FAILED, CACHED, ABORTED) and not isnan(complete)
            exit_status = cols["exit_status"][r]
            exit_val: Any = None
            if code in (COMPLETED, FAILED, CACHED) and not isnan(exit_status):
                exit_val = int(exit_status)
            exit_field: Any = (
                str(exit_val) if (core.exit_str and exit_val is not None) else exit_val
            )
            error_action = None
            if code == FAILED:
                error_action = "TERMINATE" if rows["terminate"][r] else "RETRY"

            def num(key: str, r: int = r) -> int | None:
                x = cols[key][r]
                return None if isnan(x) else int(x)

            pcpu = cols["pcpu"][r]
            pmem = cols["pmem"][r]
            c = cost[r]
            tag = plan.tags[slot]
            process = t.processes[plan.proc[slot]]
            task = {
                "id": db_id,
                "taskId": tid,
                "status": STATUSES[code],
                "dateCreated": iso(submit),
                "lastUpdated": iso(complete + 1) if finished else lu_run,
                "errorMessage": None,
                "hash": f"{hx[:2]}/{hx[2:8]}",
                "attempt": cols["attempt"][r],
                "scratch": sample.get("scratch"),
                "workdir": f"{work_dir}/{hx[:2]}/{hx[2:32]}",
                "env": sample.get("env"),
                "cloudZone": sample.get("cloudZone"),
                "priceModel": core.price_model,
                "cost": None if isnan(c) else c,
                "errorAction": error_action,
                "realtime": num("realtime"),
                "nativeId": _uuid_from_hex(hx),
                "pcpu": None if isnan(pcpu) else pcpu,
                "pmem": None if isnan(pmem) else pmem,
                "rss": num("rss"),
                "peakRss": num("peak_rss"),
                "peakVmem": num("peak_vmem"),
                "rchar": num("rchar"),
                "wchar": num("wchar"),
                "syscr": num("syscr"),
                "syscw": num("syscw"),
                "volCtxt": num("vol"),
                "invCtxt": num("inv"),
                "numSpotInterruptions": None,
                "container": sample.get("container"),
                "submit": iso(submit),
                "complete": None if isnan(complete) else iso(complete),
                "exitStatus": exit_val,
                "cpus": num("cpus"),
                "machineType": sample.get("machineType"),
                "disk": None,
                "vmem": num("vmem"),
                "exit": exit_field,
                "duration": num("duration"),
                "module": sample.get("module") if sample.get("module") is not None else [],
                "name": _name(process, tag),
                "queue": sample.get("queue"),
                "memory": num("memory"),
                "time": num("time"),
                "script": sample.get("script"),
                "executor": sample.get("executor"),
                "tag": tag,
                "start": None if isnan(start) else iso(start),
                "readBytes": num("rb"),
                "writeBytes": num("wb"),
                "process": process,
                "logStreamId": None,
                "resourceAllocation": None,
            }
            out.append(task)
        return out

    # ------------------------------------------------------------------ live runs
    @_locked
    def new_header(self, status: str, user_name: str | None = None) -> RunHeader:
        """A header for a run added after construction (index ``n_runs + k``)."""
        i = self.n_runs + len(self._extra)
        rng = random.Random(f"seqera-emulator:{self.seed}:extra:{i}")
        weights = [v.weight for v in self._variants]
        variant = rng.choices(range(len(self._variants)), weights)[0]
        user = user_name or rng.choices(USERS, _USER_WEIGHTS)[0]
        taken = {h.run_id for h in self.headers} | {h.run_id for h in self._extra.values()}
        h = RunHeader(
            index=i,
            run_id=self._run_id(i, taken),
            submit=0,
            status=status,
            user_name=user,
            variant=variant,
            plan_seed=i,
            resume_of=-1,
            session_id=str(_uuid4(rng)),
            run_name=self._run_name(rng, i),
            labels=self._labels(rng, user, self._variants[variant]),
        )
        self._fill(h)
        self._extra[i] = h
        return h


def _uuid4(rng: random.Random) -> Any:
    import uuid

    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _user_id(user_name: str) -> int:
    from ._util import stable_int

    return stable_int("user", user_name, lo=10_000, hi=99_999)


def _progress(core: _Core) -> dict[str, Any]:
    """``.progress`` of a generated run (computed on first use, then kept with the run)."""
    if core._progress is None:
        t = core.variant.template
        active = core.header.status in ("RUNNING", "SUBMITTED")
        lu = iso(core.last_updated)
        core._progress = {
            "workflowProgress": agg.workflow_load(
                core.cols,
                executors=["awsbatch"],
                date_created=iso(core.wf_start + 4),
                last_updated=lu if active else iso(core.wf_start + 4),
                with_net=core.with_net,
            ),
            "processesProgress": agg.processes_progress(core.cols, t.processes, timestamp=lu),
            "totalProcesses": len(t.processes),
        }
    return core._progress


def _metrics(core: _Core) -> list[dict[str, Any]]:
    if core._metrics is None:
        t = core.variant.template
        plan = core.plan
        slots = core.rows["slot"].tolist()
        core.cols.names = [_name(t.processes[plan.proc[s]], plan.tags[s]) for s in slots]
        core._metrics = agg.workflow_metrics(
            core.cols, t.processes, id_base=20_000_000 + core.header.index * 64
        )
    return core._metrics


def _complete_of(rows: Rows, extra: dict[str, Any], shift: float) -> int:
    """Workflow completion [epoch s]: last own task completion plus the run's tail."""
    done = rows["complete"][~np.isnan(rows["complete"]) & (rows["src_row"] < 0)]
    end = float(done.max()) if len(done) else float(extra["wf_start"] + shift)
    return int(end + round(extra["tail"]))


def _choose_cut(full: Rows) -> float:
    """A moment when some tasks have completed and others are running or queued."""
    comp = np.sort(full["complete"][~np.isnan(full["complete"])])
    n = len(comp)
    for q in (0.4, 0.3, 0.5, 0.25, 0.6, 0.15, 0.75, 0.1, 0.9):
        c = float(comp[min(n - 1, int(q * n))])
        done = bool((full["complete"] <= c).any())
        active = bool(((full["submit"] <= c) & (full["complete"] > c)).any())
        if done and active:
            return c
    return float(comp[0]) if n else 0.0


def _snapshot(full: Rows, cut: float, cost_null: float) -> Rows:
    """The rows of a run as seen at ``cut``: later submissions absent, unfinished tasks RUNNING/SUBMITTED."""
    rows = _take(full, np.flatnonzero(full["submit"] <= cut))
    running = (rows["start"] <= cut) & (rows["complete"] > cut)
    waiting = rows["start"] > cut
    active = running | waiting
    rows["status"] = rows["status"].copy()
    rows["status"][running] = RUNNING
    rows["status"][waiting] = SUBMITTED
    rows["complete"] = np.where(active, np.nan, rows["complete"])
    rows["start"] = np.where(waiting, np.nan, rows["start"])
    rows["retry"] = rows["retry"] & ~active
    rows["terminate"] = rows["terminate"] & ~active
    return _usage(rows, cost_null)


class LiveRun:
    """A run added to a live emulator (``Emulator.add_runs``): it may be RUNNING, then finish.

    Times are generated relative to 0 and shifted by ``shift`` seconds, chosen so that the
    run's "now" (its completion, or the snapshot moment of a running run) is the wall-clock
    time of the call, and its submit time is later than every other run's in its workspace.
    """

    def __init__(
        self,
        ws: SyntheticWorkspace,
        status: str,
        *,
        now: float,
        min_submit: float,
        user_name: str | None = None,
    ) -> None:
        if status not in ("SUBMITTED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"):
            raise ValueError(
                f"status must be one of SUBMITTED, RUNNING, SUCCEEDED, FAILED, CANCELLED; got {status!r}"
            )
        self.ws = ws
        h = ws.new_header(status, user_name)
        self.header = h
        active = status in ("RUNNING", "SUBMITTED")
        full, extra = ws._rows(h, force_full=active)
        self.full = full
        self.extra = extra
        if status == "SUBMITTED":
            self.cut: float | None = float(extra["wf_start"]) - 1
        elif status == "RUNNING":
            self.cut = _choose_cut(full)
        else:
            self.cut = None
        anchor = self.cut if self.cut is not None else float(_complete_of(full, extra, 0.0))
        self.shift = float(int(max(now - anchor, min_submit - extra["wf_submit"])))
        h.submit = int(extra["wf_submit"] + self.shift)
        if self.cut is not None:
            rows = _snapshot(full, self.cut, extra["cost_null"])
            lu = int(self.cut + self.shift) + 1
        else:
            rows = full
            lu = _complete_of(full, extra, self.shift) + 3
        self.core = ws._finalize(h, rows, extra, shift=self.shift, last_updated=lu)

    @property
    def run_id(self) -> str:
        return self.header.run_id

    @property
    def status(self) -> str:
        return self.header.status

    @property
    def last_updated(self) -> int:
        """``workflow.lastUpdated`` [epoch s]."""
        return self.core.last_updated

    @property
    def workflow(self) -> dict[str, Any]:
        return self.core.workflow

    def progress(self) -> dict[str, Any]:
        with self.ws._lock:
            return _progress(self.core)

    def tasks(self) -> list[dict[str, Any]]:
        with self.ws._lock:
            core = self.core
            if core._tasks is None:
                core._tasks = self.ws._materialize(core)
            return core._tasks

    def metrics(self) -> list[dict[str, Any]]:
        with self.ws._lock:
            return _metrics(self.core)

    def finish(self, status: str = "SUCCEEDED", *, now: float) -> None:
        """Complete an active run: its tasks finish (or fail/abort) and it gets stats and a completion time."""
        if self.status not in ("RUNNING", "SUBMITTED"):
            raise ValueError(f"run {self.run_id} is {self.status}, not RUNNING or SUBMITTED")
        if status not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            raise ValueError(f"a run can finish as SUCCEEDED, FAILED or CANCELLED, not {status!r}")
        with self.ws._lock:
            self._finish(status, now)

    def _finish(self, status: str, now: float) -> None:
        prev = self.core.last_updated
        if status == "SUCCEEDED":
            rows = self.full
        else:
            assert self.cut is not None
            rows = _usage(
                _terminate(self.full, self.cut + 1, status, self.extra["end_pick"]),
                self.extra["cost_null"],
            )
        self.header.status = status
        lu = max(prev + 1, _complete_of(rows, self.extra, self.shift) + 3, int(now))
        self.core = self.ws._finalize(
            self.header, rows, self.extra, shift=self.shift, last_updated=lu
        )


def _name(process: str, tag: str | None) -> str:
    return f"{process} ({tag})" if tag else process


def _terminate(rows: Rows, t_end: float, status: str, pick: float) -> Rows:
    """End a run at ``t_end``: finished rows stay, the rest are aborted or dropped.

    For a FAILED run one task running at ``t_end`` fails with ``errorAction`` TERMINATE
    (if none is running, the next task to finish is made to fail halfway); the other
    running tasks, and submitted ones not yet started, become ABORTED. Tasks not yet
    submitted are dropped. A CANCELLED run only aborts.
    """
    rows = dict(rows)
    start, complete, submit = rows["start"], rows["complete"], rows["submit"]
    running = (start <= t_end) & (complete > t_end)
    if status == "FAILED" and not running.any():
        later = np.flatnonzero(complete > t_end)
        if len(later):
            r = later[np.argmin(complete[later])]
            t_end = float(start[r] + (complete[r] - start[r]) // 2)
            running = (start <= t_end) & (complete > t_end)
    keep = submit <= t_end
    waiting = (submit <= t_end) & (start > t_end)
    status_arr = rows["status"].copy()
    terminate = rows["terminate"].copy()
    new_complete = complete.copy()
    new_start = start.copy()
    run_idx = np.flatnonzero(running)
    if status == "FAILED" and len(run_idx):
        f = run_idx[int(pick * len(run_idx)) % len(run_idx)]
        status_arr[f] = FAILED
        terminate[f] = True
        new_complete[f] = max(start[f] + 1, np.floor(t_end))
        rows["exit_status"] = rows["exit_status"].copy()
        if rows["exit_status"][f] == 0:
            rows["exit_status"][f] = float(_EXIT_FAIL[int(pick * 97) % len(_EXIT_FAIL)])
        run_idx = run_idx[run_idx != f]
    status_arr[run_idx] = ABORTED
    new_complete[run_idx] = np.floor(t_end) + 2
    status_arr[waiting] = ABORTED
    new_start[waiting] = np.nan
    new_complete[waiting] = np.nan
    rows["status"] = status_arr
    rows["terminate"] = terminate
    rows["complete"] = new_complete
    rows["start"] = new_start
    rows["retry"] = rows["retry"] & (status_arr == FAILED) & ~terminate
    return _take(rows, np.flatnonzero(keep))


def _usage(rows: Rows, cost_null: float = 0.0) -> Rows:
    """Fill realtime, duration and cost; blank the usage of failed/aborted/unfinished tasks.

    ``cost_null`` is the share of tasks whose cost the service does not know (null); each
    row's fixed ``null_draw`` decides, so re-deriving a run never changes which ones.
    """
    rows = dict(rows)
    st = rows["status"]
    ran = ~np.isnan(rows["start"]) & ~np.isnan(rows["complete"])
    run_ms = np.where(ran, (rows["complete"] - rows["start"]) * 1000.0, np.nan)
    realtime = np.round(run_ms * rows["rtratio"])
    realtime = np.where(st == FAILED, np.round(run_ms * 0.95), realtime)
    realtime = np.where(st == ABORTED, np.nan, realtime)
    rows["realtime"] = realtime
    rows["cost"] = np.where(
        rows["null_draw"] < cost_null, np.nan, np.round(rows["rate"] * run_ms, 10)
    )
    done = ~np.isnan(rows["complete"])
    rows["duration"] = np.where(
        done,
        np.maximum(0.0, (rows["complete"] - rows["submit"]) * 1000.0 - rows["dur_jit"]).round(),
        np.nan,
    )
    blank = (st == FAILED) | (st == ABORTED) | ~done
    for key in (
        "pcpu",
        "pmem",
        "rss",
        "peak_rss",
        "vmem",
        "peak_vmem",
        "rchar",
        "wchar",
        "syscr",
        "syscw",
        "rb",
        "wb",
        "vol",
        "inv",
    ):
        rows[key] = np.where(blank, np.nan, rows[key])
    rows["exit_status"] = np.where((st == ABORTED) | ~done, np.nan, rows["exit_status"])
    return rows


def _cached_rows(orig: Rows, src: np.ndarray, *, plan_slots: np.ndarray) -> Rows:
    rows = _take(orig, src)
    rows["status"] = np.full(len(src), CACHED, dtype=np.int8)
    rows["retry"] = np.zeros(len(src), dtype=bool)
    rows["terminate"] = np.zeros(len(src), dtype=bool)
    rows["src_row"] = src.copy()
    rows["slot"] = plan_slots
    return {k: rows[k] for k in orig if k in rows}


def _number(rows: Rows, wf_start: float, plan_off: np.ndarray) -> Rows:
    """Order rows by Nextflow taskId: cached tasks first (in plan order), then by submission."""
    cached = rows["src_row"] >= 0
    key = np.where(cached, wf_start - 1e6 + plan_off[rows["slot"]], rows["submit"])
    order = np.lexsort((rows["attempt"], rows["slot"], key))
    rows = _take(rows, order)
    rows["task_id"] = np.arange(1, len(order) + 1)
    return rows


def _columns(rows: Rows, proc: np.ndarray, names: list[str]) -> TaskColumns:
    return TaskColumns(
        status=rows["status"].astype(np.int8),
        retry=rows["retry"].astype(bool),
        proc=proc.astype(np.int32),
        cpus=rows["cpus"].astype(float),
        memory=rows["memory"].astype(float),
        time=rows["time"].astype(float),
        realtime=rows["realtime"].astype(float),
        pcpu=rows["pcpu"].astype(float),
        peak_rss=rows["peak_rss"].astype(float),
        peak_vmem=rows["peak_vmem"].astype(float),
        rchar=rows["rchar"].astype(float),
        wchar=rows["wchar"].astype(float),
        vol=rows["vol"].astype(float),
        inv=rows["inv"].astype(float),
        cost=rows["cost"].astype(float),
        submit=rows["submit"].astype(float),
        start=rows["start"].astype(float),
        complete=rows["complete"].astype(float),
        names=names,
    )
