"""The emulator's data: users and tokens, organizations, workspaces, and a run index.

Runs come in three kinds, all behind one small interface (:class:`RunView`):

* **real**: a captured run bundle or ``tw runs dump``, served exactly as captured;
* **synthetic**: run ``i`` of a :class:`~._synthetic.SyntheticWorkspace`, generated on
  first use and kept in a bounded LRU cache;
* **live**: runs added while the emulator runs (``add_runs``); these may be RUNNING and
  later finish.

Listing and search never touch a run's tasks: each workspace keeps a compact index entry
per run (:class:`RunEntry`: id, submit, status, user, project, run name, session, manifest
name, labels) sorted by (submit, id), so a page is a slice of that list.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..bundles import RunBundle
from ._search import SearchQuery
from ._synthetic import LiveRun, SyntheticWorkspace
from ._util import dumps, entity_id, make_token, parse_iso, stable_int

MAIN_USER = "analyst-1"
OTHER_USER = "collaborator-1"
OTHER_WORKSPACE = "other-org/private"
IMPORTED_WORKSPACE = "emulator/imported"

# GET /workflow list elements carry WorkflowDbDto. The emulator leaves out the two bulky
# fields (params, configText: ~100 KB per run) and the WorkflowMaxDbDto extras; describe
# the run to get them. With attributes=minimal only these keys are kept.
LIST_DROP = ("params", "configText")
MAX_ONLY = ("fusion", "wave", "logFile", "outFile", "operationId")
MINIMAL_KEYS = [
    "id",
    "ownerId",
    "submit",
    "start",
    "complete",
    "dateCreated",
    "lastUpdated",
    "runName",
    "sessionId",
    "userName",
    "projectName",
    "revision",
    "status",
    "duration",
    "exitStatus",
    "success",
    "resume",
]


class RunView(Protocol):
    """What the HTTP layer needs from a run, whatever its kind."""

    @property
    def workflow(self) -> dict[str, Any]: ...

    def progress(self) -> dict[str, Any]: ...

    def tasks(self) -> list[dict[str, Any]]: ...

    def metrics(self) -> list[dict[str, Any]]: ...


class _RealRun:
    def __init__(self, bundle: RunBundle) -> None:
        self.bundle = bundle
        self._tasks = sorted(
            bundle.tasks, key=lambda t: (t.get("taskId") is None, t.get("taskId") or 0)
        )

    @property
    def workflow(self) -> dict[str, Any]:
        return self.bundle.workflow

    def progress(self) -> dict[str, Any]:
        p = self.bundle.progress or {}
        return {
            "workflowProgress": p.get("workflowProgress"),
            "processesProgress": p.get("processesProgress") or [],
            "totalProcesses": p.get("totalProcesses", len(p.get("processesProgress") or [])),
        }

    def tasks(self) -> list[dict[str, Any]]:
        return self._tasks

    def metrics(self) -> list[dict[str, Any]]:
        return self.bundle.metrics


class _SyntheticRun:
    def __init__(self, ws: SyntheticWorkspace, index: int) -> None:
        self.ws = ws
        self.index = index

    @property
    def workflow(self) -> dict[str, Any]:
        return self.ws.workflow(self.index)

    def progress(self) -> dict[str, Any]:
        return self.ws.progress(self.index)

    def tasks(self) -> list[dict[str, Any]]:
        return self.ws.tasks(self.index)

    def metrics(self) -> list[dict[str, Any]]:
        return self.ws.metrics(self.index)


@dataclass
class User:
    id: int
    user_name: str
    email: str
    token: str


@dataclass
class Org:
    id: int
    name: str
    members: dict[int, str] = field(default_factory=dict)  # user id -> role


@dataclass
class Workspace:
    id: int
    name: str
    org: Org
    members: set[int] = field(default_factory=set)
    entries: dict[str, RunEntry] = field(default_factory=dict)
    order: list[tuple[int, str]] = field(default_factory=list)  # (submit, id), ascending
    generator: SyntheticWorkspace | None = None

    @property
    def full_name(self) -> str:
        return f"{self.org.name}/{self.name}"

    def add(self, entry: RunEntry) -> None:
        self.entries[entry.id] = entry
        bisect.insort(self.order, (entry.submit, entry.id))

    @property
    def latest_submit(self) -> int:
        return self.order[-1][0] if self.order else 0


class RunEntry:
    """The index record of one run (everything listing and search need)."""

    __slots__ = (
        "id",
        "kind",
        "label_records",
        "labels",
        "live",
        "manifest_name",
        "project_name",
        "run_name",
        "session_id",
        "status",
        "submit",
        "user_name",
        "version",
        "view",
        "ws",
    )

    def __init__(
        self,
        *,
        run_id: str,
        ws: Workspace,
        submit: int,
        status: str,
        user_name: str | None,
        project_name: str | None,
        run_name: str | None,
        session_id: str | None,
        manifest_name: str | None,
        labels: tuple[tuple[str, str | None], ...],
        label_records: list[dict[str, Any]],
        kind: str,
        view: RunView,
        live: LiveRun | None = None,
    ) -> None:
        self.id = run_id
        self.ws = ws
        self.submit = submit
        self.status = status
        self.user_name = user_name
        self.project_name = project_name
        self.run_name = run_name
        self.session_id = session_id
        self.manifest_name = manifest_name
        self.labels = labels
        self.label_records = label_records
        self.kind = kind
        self.view = view
        self.live = live
        self.version = 0  # bumped whenever the run changes (its cached list JSON is stale)

    @property
    def last_updated(self) -> str | None:
        """``workflow.lastUpdated`` (generates a synthetic run's records if not cached)."""
        return self.view.workflow.get("lastUpdated")

    def matches(self, q: SearchQuery) -> bool:
        return q.matches(
            run_id=self.id,
            submit=self.submit,
            status=self.status,
            user_name=self.user_name,
            project_name=self.project_name,
            run_name=self.run_name,
            session_id=self.session_id,
            manifest_name=self.manifest_name,
            labels=self.labels,
        )


def _label_records(
    ws_id: int, labels: Iterable[tuple[str, str | None, bool]]
) -> list[dict[str, Any]]:
    return [
        {
            "id": entity_id("label", ws_id, name, value),
            "name": name,
            "value": value,
            "resource": resource,
            "isDefault": False,
        }
        for name, value, resource in labels
    ]


class _Relabelled:
    """A run whose labels were edited after it finished: only ``lastUpdated`` moves."""

    def __init__(self, view: RunView, last_updated: str) -> None:
        self.inner = view
        self.last_updated = last_updated

    @property
    def workflow(self) -> dict[str, Any]:
        return {**self.inner.workflow, "lastUpdated": self.last_updated}

    def progress(self) -> dict[str, Any]:
        return self.inner.progress()

    def tasks(self) -> list[dict[str, Any]]:
        return self.inner.tasks()

    def metrics(self) -> list[dict[str, Any]]:
        return self.inner.metrics()


class Store:
    """All emulator state; every public method is thread-safe (one re-entrant lock).

    Parameters
    ----------
    bundles : sequence of RunBundle
        Real runs to serve (each into the workspace its source names).
    synthetic : SyntheticWorkspace or None
        Synthetic runs to serve in ``synthetic_workspace``.
    source : sequence of RunBundle
        Runs the generator of live runs resamples (``add_runs``).
    """

    def __init__(
        self,
        *,
        bundles: Sequence[RunBundle],
        synthetic: SyntheticWorkspace | None,
        synthetic_workspace: str,
        source: Sequence[RunBundle],
        seed: int,
        token: str | None,
        list_cache_size: int = 20_000,
    ) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.source = list(source)
        self.orgs: dict[int, Org] = {}
        self.workspaces: dict[int, Workspace] = {}
        self.by_name: dict[str, Workspace] = {}
        self.runs: dict[str, RunEntry] = {}
        self._list_cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._list_cache_size = list_cache_size
        # The organisation quota ``maxRunHistory`` (applied to every org; None: no limit): a
        # workspace lists only its newest runs, older ones answer 403 as deleted runs do.
        self.max_run_history: int | None = None
        # Workspaces the main user is listed in but whose runs answer 403 (access revoked).
        self.forbidden: set[int] = set()

        owner_ids = {b.workflow.get("userName"): b.workflow.get("ownerId") for b in bundles}
        main_id = owner_ids.get(MAIN_USER) or stable_int("user", MAIN_USER, lo=10_000, hi=99_999)
        other_id = stable_int("user", OTHER_USER, lo=100_000, hi=999_999)
        main_token = token or make_token(seed, MAIN_USER)
        other_token = make_token(seed, OTHER_USER)
        if other_token == main_token:  # only if someone passes the derived token explicitly
            other_token = make_token(seed + 1, OTHER_USER)
        self.main = User(int(main_id), MAIN_USER, f"{MAIN_USER}@example.org", main_token)
        self.other = User(other_id, OTHER_USER, f"{OTHER_USER}@example.org", other_token)
        self.users_by_token = {self.main.token: self.main, self.other.token: self.other}
        self.users_by_id = {self.main.id: self.main, self.other.id: self.other}

        for b in bundles:
            self._add_real(b)
        if synthetic is not None:
            ws = self.workspace(synthetic_workspace, create=True)
            ws.generator = synthetic
            for h in synthetic.headers:
                self._add_entry(
                    ws,
                    RunEntry(
                        run_id=h.run_id,
                        ws=ws,
                        submit=h.submit,
                        status=h.status,
                        user_name=h.user_name,
                        project_name=h.project_name,
                        run_name=h.run_name,
                        session_id=h.session_id,
                        manifest_name=h.manifest_name,
                        labels=h.labels,
                        label_records=_label_records(
                            ws.id, ((n, v, v is not None) for n, v in h.labels)
                        ),
                        kind="synthetic",
                        view=_SyntheticRun(synthetic, h.index),
                    ),
                )
        self.workspace(OTHER_WORKSPACE, create=True, member=self.other)

    # ------------------------------------------------------------------ setup
    def workspace(
        self,
        full_name: str,
        *,
        create: bool = False,
        member: User | None = None,
        org_id: int | None = None,
        workspace_id: int | None = None,
    ) -> Workspace:
        """The workspace named ``org/workspace`` (created, with ``member`` or the main user, if asked)."""
        with self.lock:
            ws = self.by_name.get(full_name)
            if ws is not None or not create:
                if ws is None:
                    raise KeyError(full_name)
                return ws
            org_name, sep, ws_name = full_name.partition("/")
            if not sep or not org_name or not ws_name or "/" in ws_name:
                raise ValueError(f"workspace must be 'org/workspace', got {full_name!r}")
            user = member or self.main
            org = next((o for o in self.orgs.values() if o.name == org_name), None)
            if org is None:
                oid = int(org_id) if org_id else entity_id("org", org_name)
                org = self.orgs[oid] = Org(oid, org_name)
            org.members.setdefault(user.id, "owner")
            wid = int(workspace_id) if workspace_id else entity_id("workspace", org_name, ws_name)
            ws = Workspace(wid, ws_name, org, {user.id})
            self.workspaces[wid] = ws
            self.by_name[full_name] = ws
            return ws

    def _add_entry(self, ws: Workspace, entry: RunEntry) -> None:
        ws.add(entry)
        self.runs[entry.id] = entry

    def _add_real(self, b: RunBundle) -> None:
        wf = b.workflow
        if b.run_id in self.runs:
            return  # the same run from two sources (a bundle and a tw dump): first one wins
        ws = self.workspace(
            b.workspace or IMPORTED_WORKSPACE,
            create=True,
            org_id=b.org_id,
            workspace_id=b.workspace_id,
        )
        labels = [(lab["name"], lab.get("value"), bool(lab.get("resource"))) for lab in b.labels]
        self._add_entry(
            ws,
            RunEntry(
                run_id=b.run_id,
                ws=ws,
                submit=int(parse_iso(wf["submit"])) if wf.get("submit") else 0,
                status=str(wf.get("status") or "UNKNOWN"),
                user_name=wf.get("userName"),
                project_name=wf.get("projectName"),
                run_name=wf.get("runName"),
                session_id=wf.get("sessionId"),
                manifest_name=(wf.get("manifest") or {}).get("name"),
                labels=tuple((n, v) for n, v, _ in labels),
                label_records=_label_records(ws.id, labels),
                kind="real",
                view=_RealRun(b),
            ),
        )

    # ------------------------------------------------------------------ queries
    def member_workspaces(self, user: User) -> list[Workspace]:
        """Workspaces the user belongs to, by org name then workspace name."""
        with self.lock:
            return sorted(
                (ws for ws in self.workspaces.values() if user.id in ws.members),
                key=lambda w: (w.org.name, w.name),
            )

    def history(self, ws: Workspace) -> list[tuple[int, str]]:
        """The ``(submit, id)`` keys a workspace still lists (its newest ``max_run_history``)."""
        limit = self.max_run_history
        return ws.order[-limit:] if limit else ws.order

    def in_history(self, entry: RunEntry) -> bool:
        """Whether the run is within its workspace's run history (else it is gone)."""
        with self.lock:
            order = self.history(entry.ws)
            return bool(order) and (entry.submit, entry.id) >= order[0]

    def list_runs(
        self, ws: Workspace, query: SearchQuery | None, offset: int, max_: int, *, count_all: bool
    ) -> tuple[list[RunEntry], int | None, bool]:
        """A page of runs, newest first (submit desc, then id desc).

        Returns the page, the number of matches (``None`` unless ``count_all``) and whether
        more matches follow the page.
        """
        with self.lock:
            order = self.history(ws)
            if query is None:
                n = len(order)
                hi = max(0, n - offset)
                lo = max(0, hi - max_)
                page = [ws.entries[rid] for _, rid in reversed(order[lo:hi])]
                return page, (n if count_all else None), lo > 0
            page = []
            seen = 0
            more = False
            for _, rid in reversed(order):
                e = ws.entries[rid]
                if not e.matches(query):
                    continue
                if offset <= seen < offset + max_:
                    page.append(e)
                elif seen >= offset + max_:
                    more = True
                    if not count_all:
                        break
                seen += 1
            return page, (seen if count_all else None), more

    def list_workflow_json(self, entry: RunEntry, *, minimal: bool, messages: bool) -> bytes:
        """The ``workflow`` object of a list element, JSON-encoded (LRU-cached per run version)."""
        with self.lock:
            # Keyed without touching the workflow, so a cached page never regenerates runs.
            key = (entry.id, entry.version, minimal, messages)
            raw = self._list_cache.get(key)
            if raw is not None:
                self._list_cache.move_to_end(key)
                return raw
            wf = entry.view.workflow
            if minimal:
                out = {k: wf.get(k) for k in MINIMAL_KEYS}
            else:
                out = {
                    k: (None if k in LIST_DROP else v) for k, v in wf.items() if k not in MAX_ONLY
                }
            if messages:
                out["messages"] = []
            raw = dumps(out)
            self._list_cache[key] = raw
            if len(self._list_cache) > self._list_cache_size:
                self._list_cache.popitem(last=False)
            return raw

    # ------------------------------------------------------------------ live changes
    def _generator(self, ws: Workspace) -> SyntheticWorkspace:
        if ws.generator is None:
            ws.generator = SyntheticWorkspace(
                0,
                seed=stable_int("live", self.seed, ws.full_name, lo=0, hi=2**31),
                source=self.source or None,
            )
        return ws.generator

    def add_runs(self, n: int, workspace: str, status: str) -> list[str]:
        """Add ``n`` new runs (newest in their workspace); see ``Emulator.add_runs``."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        with self.lock:
            ws = self.workspace(workspace, create=True)
            gen = self._generator(ws)
            ids = []
            for _ in range(n):
                live = LiveRun(
                    gen, status.upper(), now=time.time(), min_submit=ws.latest_submit + 1
                )
                h = live.header
                entry = RunEntry(
                    run_id=h.run_id,
                    ws=ws,
                    submit=h.submit,
                    status=h.status,
                    user_name=h.user_name,
                    project_name=h.project_name,
                    run_name=h.run_name,
                    session_id=h.session_id,
                    manifest_name=h.manifest_name,
                    labels=h.labels,
                    label_records=_label_records(
                        ws.id, ((k, v, v is not None) for k, v in h.labels)
                    ),
                    kind="live",
                    view=live,
                    live=live,
                )
                self._add_entry(ws, entry)
                ids.append(h.run_id)
            return ids

    def label_run(self, run_id: str, labels: Iterable[str], now: float) -> None:
        """Replace a run's labels; its ``lastUpdated`` becomes ``now`` (epoch seconds)."""
        with self.lock:
            entry = self.runs.get(run_id)
            if entry is None:
                raise KeyError(f"no run {run_id!r}")
            named = [(str(n), None, False) for n in labels]
            entry.labels = tuple((n, v) for n, v, _ in named)
            entry.label_records = _label_records(entry.ws.id, named)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
            inner = entry.view.inner if isinstance(entry.view, _Relabelled) else entry.view
            entry.view = _Relabelled(inner, stamp)
            entry.version += 1

    def finish_run(self, run_id: str, status: str) -> None:
        """Complete a live RUNNING/SUBMITTED run; see ``Emulator.finish_run``."""
        with self.lock:
            entry = self.runs.get(run_id)
            if entry is None:
                raise KeyError(f"no run {run_id!r}")
            if entry.live is None:
                raise ValueError(
                    f"run {run_id} was not added with add_runs(); only those can change"
                )
            entry.live.finish(status.upper(), now=time.time())
            entry.status = entry.live.status
            entry.version += 1
