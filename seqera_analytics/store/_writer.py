"""Exclusive write access to a cache: buffered runs, committed atomically, files written once.

A run is **final** once it is finished (terminal status, or as the caller says) and
complete: it is then written into the table trees exactly once, one file per table and
partition per commit, and never rewritten. Putting it again updates its facts (see
``_facts``) and ignores its rows. A run that is not final lives in the active area
(``_active/``, one file per run and table, replaced freely) until it is.

A commit:

1. writes every new file into ``_staging/``, fsynced;
2. moves the new tree files into place, the per-run tables first and the ``runs`` files
   last (so a visible run row implies all its tasks are there), fsyncing the directories;
3. moves the active-area, facts and workspaces files into place;
4. replaces ``state.json`` with the new file lists: **the commit point** of the library;
5. deletes the active, facts and workspaces files the new state dropped (never a tree file).

A process killed before 4 leaves tree files no state names: the next writer adopts the
complete units and deletes the others (``_adopt``), so plain readers never see a run twice.

On an object store (``s3://bucket/prefix``) the steps are the same with uploads and
server-side copies instead of ``os.replace`` (an object appears whole when written), and
the lock is a lease object (``_lease``) checked again at each commit (``_state.write_state``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from .._exceptions import CacheError
from ..frames import SCHEMA_VERSION, TERMINAL_RUN_STATUSES, concat_tables
from ._adopt import adopt, clear_staging, final_index, repair
from ._facts import (
    FACTS_SCHEMA,
    Facts,
    fact_values,
    facts_table,
    overlay,
    read_facts,
    same,
    to_instant,
)
from ._files import publish, read_files, stage
from ._fs import ArrowLocation
from ._layout import (
    FACT_COLUMNS,
    FACTS_DIR,
    PERSONAL_WORKSPACE_ID,
    TABLE_SPECS,
    active_dir,
    file_partition,
    month_of,
    new_file_name,
    partition_dir,
)
from ._lease import writer_lock
from ._state import State, WorkspaceState, read_state, write_state
from ._upgrade import upgrade

if TYPE_CHECKING:
    from ._cache import Cache

__all__ = ["CacheWriter"]

_OWN_FILES = {".lock", ".lock.owner", "state.json.tmp", "_staging"}
_PER_RUN = ("tasks", "process_progress", "process_metrics")


@dataclass
class _Entry:
    """The latest put of one run in a commit: where its rows are in the buffered puts."""

    op: int  # index in CacheWriter._ops of the put holding its runs row
    row: int  # its row there
    part: tuple[int, str]  # (workspace_id, month) partition
    src: dict[str, int | None]  # per-run table -> put holding its rows (None: keep cached)
    final: bool = False


def _conform(table: str, rows: pa.Table) -> pa.Table:
    schema = TABLE_SPECS[table].arrow_schema
    return rows if rows.schema == schema else rows.select(schema.names).cast(schema)


def _split_by_run(table: pa.Table) -> dict[str, pa.Table]:
    if not table.num_rows:
        return {}
    ids = np.asarray(table["run_id"].to_numpy(zero_copy_only=False), dtype=object)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    taken = table.take(pa.array(order))
    return {sorted_ids[s]: taken.slice(s, e - s) for s, e in zip(starts, ends)}


def _rows_of(table: pa.Table, run_ids: Sequence[str]) -> pa.Table:
    return table.filter(pc.is_in(table["run_id"], value_set=pa.array(list(run_ids), pa.string())))


class CacheWriter:
    """Exclusive write access to a cache, for one sync.

    Opening takes the cache lock (raising :class:`CacheLockedError` if another process
    holds it), creates the cache if needed, upgrades a cache of an older schema version in
    place (``rebuilt`` then holds the message), repairs lost files (``repaired``), adopts
    what a killed sync left (``adopted``: runs) and clears the staging area. Use as a
    context manager; :meth:`commit` makes buffered rows visible atomically.

    On local disk the lock is a ``filelock`` (``<cache>/.lock``): it excludes writers on
    this machine, and on a shared filesystem only as far as its locks work.

    On an object store (``s3://bucket/prefix``) the lock is a lease, ``<prefix>/.lock``,
    naming its writer and an expiry, renewed at every commit; another writer refuses while
    a lease of someone else has not expired, and takes an expired one over. Plain S3 has no
    atomic create, so two writers starting in the same instant can both take the lease:
    every commit therefore first reads ``state.json`` back and checks it is the one this
    writer read or wrote last, and the second writer stops at its first commit with a
    ``CacheConflictError`` (nothing the other committed is lost; its own uncommitted
    files are removed).

    Raises
    ------
    CacheLockedError
        Another writer holds the lock (or a lease that has not expired), past ``wait_s``.
    CacheLocationError
        An object store that cannot be used: missing bucket, no credentials, access denied
        (checked here, before any Platform request).
    CacheError
        The directory holds other files, or the cache is of a newer schema version.
    """

    def __init__(self, cache: Cache, *, wait_s: float = 0.0) -> None:
        self.cache = cache
        self.root = cache.path
        self.loc = loc = cache.location
        self.rebuilt: str | None = None
        if isinstance(loc, ArrowLocation):
            loc.check_writable()  # one line now, not a traceback after the first fetches
        if loc.is_dir() and not loc.exists("state.json"):
            # Never adopt (and later clean up) a directory that holds someone else's files.
            foreign = sorted(n for n in loc.list_names() if n not in _OWN_FILES)
            if foreign:
                raise CacheError(
                    f"{loc.display} is not empty and is not a seqera-analytics cache (no state.json; "
                    f"it holds {', '.join(foreign[:3])}{'...' if len(foreign) > 3 else ''}). Choose a "
                    "new or empty directory for the cache.")
        loc.make_dirs("")
        self._lease = writer_lock(loc, wait_s=wait_s)
        self._lease.acquire()
        try:
            self.state = self._open_state()
            self.repaired = repair(loc, self.state)
            self._final = final_index(loc, self.state)
            self.adopted = adopt(loc, self.state, self._final)
            clear_staging(loc, self.state)
            self._facts: Facts = read_facts(loc, self.state.facts)
        except BaseException:
            self._release()
            raise
        self._ops: list[tuple[Any, ...]] = []
        self._workspaces: pa.Table | None = None

    # ------------------------------------------------------------------ lifecycle
    def _release(self) -> None:
        self._lease.release()

    def _open_state(self) -> State:
        state = read_state(self.loc)
        if state is None:
            state = State()
            write_state(self.loc, state)
            return state
        if state.schema_version > SCHEMA_VERSION:
            raise CacheError(
                f"The cache at {self.loc.display} was written by a newer seqera-analytics (schema "
                f"{state.schema_version} > {SCHEMA_VERSION}); upgrade, or use another cache directory.")
        if state.schema_version < SCHEMA_VERSION:
            # the data stays: a re-fetch of a large organisation takes hours
            state, self.rebuilt = upgrade(self.loc, state)
        return state

    def close(self) -> None:
        """Release the lock (buffered, uncommitted rows are dropped)."""
        self._ops, self._workspaces = [], None
        self._release()

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ buffering
    def put_runs(self, runs: pa.Table, tasks: pa.Table | None = None,
                 process_progress: pa.Table | None = None, process_metrics: pa.Table | None = None, *,
                 final: bool | Iterable[str] | None = None) -> None:
        """Buffer complete data of some runs for the next :meth:`commit`.

        Tables follow the frames schemas. Rows of ``tasks``/``process_*`` must belong to runs
        in ``runs``; a table passed as ``None`` keeps what is cached for those runs (in the
        active area). ``final``: ``None`` means final when the run's status is terminal;
        ``True``/``False`` for every run of the call; a set of run ids: those are final,
        the others are not. A final run is written into the trees once; a run not final
        goes to the active area, replacing what was there. A run already written final is
        never rewritten: its facts (``labels``, ``deleted``, ``last_updated``, ``status``)
        are updated from the given row and its other rows ignored.

        Raises
        ------
        ValueError
            Rows for runs that are not in ``runs``.
        CacheConflictError
            (Object stores) this writer's lease expired and another writer took it over.
        """
        self._lease.renew()  # a long fetch between commits keeps its lease (object stores)
        ids = runs["run_id"].to_pylist()
        given = {"tasks": tasks, "process_progress": process_progress, "process_metrics": process_metrics}
        for name, table in given.items():
            if table is not None and table.num_rows:
                stray = set(pc.unique(table["run_id"]).to_pylist()) - set(ids)
                if stray:
                    raise ValueError(f"{name} rows for runs not being written: {sorted(stray)[:5]}")
        # Conformed and partitioned once per call: a commit may carry 100,000 runs, so
        # nothing below works run by run on Arrow objects.
        runs = _conform("runs", runs)
        given = {n: (_conform(n, t) if t is not None else None) for n, t in given.items()}
        ws = [PERSONAL_WORKSPACE_ID if w is None else int(w) for w in runs["workspace_id"].to_pylist()]
        parts = list(zip(ws, month_of(runs["submit"]).to_pylist()))
        if final is None:
            flags = [s in TERMINAL_RUN_STATUSES for s in runs["status"].to_pylist()]
        elif isinstance(final, bool):
            flags = [final] * len(ids)
        else:
            chosen = set(final)
            flags = [r in chosen for r in ids]
        self._ops.append(("put", runs, given, flags, parts))

    def update_run_facts(self, runs: pa.Table) -> None:
        """Record, at the next commit, the fact columns (``labels``, ``deleted``,
        ``last_updated``, ``status``) of fresh :data:`~seqera_analytics.frames.RUNS` rows for
        runs already cached, without touching their files. Rows of runs not cached are
        ignored."""
        self._ops.append(("facts", runs))

    def mark_unlisted(self, workspace_id: int | None, run_ids: Iterable[str], since: Any) -> None:
        """Set ``unlisted_since`` (at the next commit) for cached runs of a workspace that a
        full listing no longer shows; a run already marked keeps its earlier time.

        Raises
        ------
        ValueError
            ``since`` is not a time.
        """
        self._ops.append(("unlisted", workspace_id, list(run_ids), to_instant(since)))

    def mark_listed(self, workspace_id: int | None, run_ids: Iterable[str]) -> None:
        """Clear ``unlisted_since`` (at the next commit) for runs listed again."""
        self._ops.append(("unlisted", workspace_id, list(run_ids), None))

    def put_workspaces(self, workspaces: pa.Table) -> None:
        """Replace the workspaces table at the next commit (unchanged rows write nothing)."""
        self._workspaces = workspaces

    def set_workspace_state(self, ws: WorkspaceState) -> None:
        """Record a workspace's sync state (committed with the next commit)."""
        self.state.workspaces[str(int(ws.workspace_id))] = ws

    @property
    def pending_runs(self) -> int:
        """Runs buffered since the last commit."""
        return len({r for op in self._ops if op[0] == "put" for r in op[1]["run_id"].to_pylist()})

    # ------------------------------------------------------------------ reading own state
    def _active_rows(self, rid: str, table: str) -> pa.Table | None:
        files = [f for f in self.state.active.get(rid, []) if f.split("/")[1] == table]
        return read_files(self.loc, table, files) if files else None

    def _base_facts(self, rids: set[str]) -> Facts:
        """The fact values in the runs files (trees and active area) of some runs."""
        if not rids:
            return {}
        files = [f for f in self.state.files.get("runs", []) if file_partition(f) in
                 {self._final[r] for r in rids if r in self._final}]
        files += [f for r in rids for f in self.state.active.get(r, []) if f.split("/")[1] == "runs"]
        if not files:
            return {}
        rows = read_files(self.loc, "runs", files, ["run_id", *FACT_COLUMNS])
        rows = rows.filter(pc.is_in(rows["run_id"], value_set=pa.array(sorted(rids), pa.string())))
        return fact_values(rows)

    def _workspace_of(self, rid: str, entries: dict[str, _Entry]) -> int | None:
        if rid in entries:
            return entries[rid].part[0]
        if rid in self._final:
            return self._final[rid][0]
        for f in self.state.active.get(rid, []):
            return (file_partition(f) or (None,))[0]
        return None

    # ------------------------------------------------------------------ commit
    def _resolve(self) -> tuple[dict[str, _Entry], Facts, bool]:
        """Apply the buffered operations in order: the latest put of each run, and the
        facts after them (run_id -> values; runs whose facts equal their files' have none)."""
        entries: dict[str, _Entry] = {}
        facts = {k: dict(v) for k, v in self._facts.items()}
        wanted = {r for op in self._ops if op[0] != "put" for r in
                  (op[1]["run_id"].to_pylist() if op[0] == "facts" else op[2])}
        wanted |= {r for op in self._ops if op[0] == "put" for r in op[1]["run_id"].to_pylist()
                   if r in self._final}
        base = self._base_facts(wanted)
        for k, op in enumerate(self._ops):
            if op[0] == "put":
                _, runs, given, flags, parts = op
                put_facts = fact_values(runs)  # once per put: per-row calls cost ms each
                for i, rid in enumerate(runs["run_id"].to_pylist()):
                    new = put_facts[rid]
                    if rid in self._final:  # written once: its facts change, nothing else
                        kept = facts.get(rid, base.get(rid, {})).get("unlisted_since")
                        facts[rid] = {**new, "unlisted_since": kept}
                        continue
                    prev = entries.get(rid)
                    src = dict(prev.src) if prev else dict.fromkeys(_PER_RUN)
                    src.update({n: k for n, t in given.items() if t is not None})
                    entries[rid] = _Entry(k, i, parts[i], src, flags[i])
                    base[rid] = new  # what its new files will say
                    if rid in facts:
                        facts[rid] = {**new, "unlisted_since": facts[rid].get("unlisted_since")}
            elif op[0] == "facts":
                for rid, new in fact_values(op[1]).items():
                    if rid in entries or rid in self._final or rid in self.state.active:
                        kept = facts.get(rid, base.get(rid, {})).get("unlisted_since")
                        facts[rid] = {**new, "unlisted_since": kept}
            else:
                _, ws, rids, since = op
                ws = PERSONAL_WORKSPACE_ID if ws is None else int(ws)
                for rid in rids:
                    if rid not in base or self._workspace_of(rid, entries) != ws:
                        continue  # not cached, or of another workspace: left alone
                    cur = facts.get(rid, base[rid])
                    if since is not None and cur.get("unlisted_since") is not None:
                        continue
                    facts[rid] = {**cur, "unlisted_since": since}
        facts = {r: v for r, v in facts.items() if r not in base or not same(v, base[r])}
        changed = facts.keys() != self._facts.keys() or any(
            not same(v, self._facts[r]) for r, v in facts.items())
        return entries, facts, changed

    def commit(self) -> int:
        """Make buffered rows, facts and workspace states visible atomically.

        Returns
        -------
        int
            Runs committed (written into the trees or the active area).

        Raises
        ------
        CacheConflictError
            (Object stores) another writer committed since this one read the cache, or took
            its lease over; this commit's files are removed, the other's state stands.
        """
        self._lease.renew(force=True)
        entries, facts, facts_changed = self._resolve()
        tree = self._gather_tree({r: e for r, e in entries.items() if e.final})
        active: dict[str, list[tuple[str, pa.Table]]] = {}
        splits: dict[tuple[int, str], dict[str, pa.Table]] = {}  # (put, table) -> per run
        for rid, e in entries.items():
            if e.final:
                continue
            w, m = e.part
            tables: dict[str, pa.Table | None] = {"runs": self._ops[e.op][1].slice(e.row, 1)}
            for n in _PER_RUN:
                k = e.src[n]
                if k is None:
                    tables[n] = self._active_rows(rid, n)
                else:
                    if (k, n) not in splits:
                        splits[k, n] = _split_by_run(self._ops[k][2][n])
                    tables[n] = splits[k, n].get(rid)
            active[rid] = [(active_dir(n, w, m), t) for n, t in tables.items()
                           if t is not None and t.num_rows]
        staged: list[tuple[Any, str]] = []
        late: list[tuple[Any, str]] = []  # the runs files: moved last
        rest: list[tuple[Any, str]] = []
        published: list[str] = []
        try:
            batch_files: list[tuple[str, str, pa.Table]] = []
            for (w, m), tables in sorted(tree.items()):
                for n in (*_PER_RUN, "runs"):
                    if n in tables:
                        batch_files.append((n, new_file_name(partition_dir(n, w, m)), tables[n]))
            batch = {"id": uuid.uuid4().hex, "kind": "commit", "files": [f for _, f, _ in batch_files]}
            for n, rel, rows in batch_files:
                (late if n == "runs" else staged).append((stage(self.loc, n, rows, batch), rel))
            new_active: dict[str, list[str]] = {}
            for rid, files in active.items():
                for d, rows in files:
                    rel = new_file_name(d, tag=rid)
                    rest.append((stage(self.loc, d.split("/")[1], rows), rel))
                    new_active.setdefault(rid, []).append(rel)
            facts_rel = self.state.facts
            if facts_changed:
                facts_rel = f"{FACTS_DIR}/facts-{uuid.uuid4().hex}.parquet" if facts else None
                if facts:
                    rest.append((stage(self.loc, None, facts_table(facts), schema=FACTS_SCHEMA), facts_rel))
            ws_files = self.state.files.get("workspaces", [])
            if self._workspaces is not None and not self._same_workspaces(self._workspaces):
                rel = new_file_name("workspaces")
                rest.append((stage(self.loc, "workspaces", self._workspaces), rel))
                ws_files = [rel]
            published += publish(self.loc, staged)
            published += publish(self.loc, late)
            published += publish(self.loc, rest)
            # the new state, as one object
            files = {t: list(v) for t, v in self.state.files.items()}
            for _, rel, _ in batch_files:
                files.setdefault(rel.split("/", 1)[0], []).append(rel)
            dropped = [f for f in self.state.files.get("workspaces", []) if f not in ws_files]
            files["workspaces"] = ws_files
            old_active = dict(self.state.active)
            state_active = {r: fs for r, fs in old_active.items() if r not in entries}
            state_active.update(new_active)
            dropped += [f for r, fs in old_active.items() if r in entries for f in fs]
            if facts_changed and self.state.facts:
                dropped.append(self.state.facts)
            new_state = State(schema_version=self.state.schema_version, files=files,
                              workspaces=self.state.workspaces, active=state_active,
                              facts=facts_rel, generation=self.state.generation + 1)
            write_state(self.loc, new_state)  # the commit point
        except BaseException:
            # Not committed: nothing of this batch may stay (this writer may put its runs
            # again, and adoption would make them appear twice).
            for tmp, _ in (*staged, *late, *rest):
                self.loc.delete(tmp)
            for rel in published:
                self.loc.delete(rel)
            raise
        self.state = new_state
        for rid, e in entries.items():
            if e.final:
                self._final[rid] = e.part
        self._facts = facts
        for f in dropped:
            self.loc.delete(f)
        self._ops, self._workspaces = [], None
        return len(entries)

    def _gather_tree(self, entries: dict[str, _Entry]) -> dict[tuple[int, str], dict[str, pa.Table]]:
        """The rows of final runs, per partition and table (tables without rows left out),
        taken from the buffered puts in one vectorized step per put and table."""
        groups: dict[tuple[int, str], list[str]] = {}
        for rid, e in entries.items():
            groups.setdefault(e.part, []).append(rid)
        tree: dict[tuple[int, str], dict[str, pa.Table]] = {}
        for part, rids in groups.items():
            out: dict[str, pa.Table] = {}
            by_op: dict[int, list[int]] = {}
            for rid in rids:
                by_op.setdefault(entries[rid].op, []).append(entries[rid].row)
            out["runs"] = concat_tables(TABLE_SPECS["runs"], [
                self._ops[k][1].take(pa.array(rows, pa.int64())) for k, rows in by_op.items()])
            for n in _PER_RUN:
                by_src: dict[int, list[str]] = {}
                pieces: list[pa.Table] = []
                for rid in rids:
                    k = entries[rid].src[n]
                    if k is None:
                        cached = self._active_rows(rid, n)
                        if cached is not None:
                            pieces.append(cached)
                    else:
                        by_src.setdefault(k, []).append(rid)
                pieces += [_rows_of(self._ops[k][2][n], ids) for k, ids in by_src.items()]
                rows = concat_tables(TABLE_SPECS[n], pieces)
                if rows.num_rows:
                    out[n] = rows
            tree[part] = out
        return tree

    def _same_workspaces(self, table: pa.Table) -> bool:
        files = self.state.files.get("workspaces", [])
        if not files:
            return False
        try:
            old = read_files(self.loc, "workspaces", files)
        except OSError:
            return False
        new = table.select(old.schema.names).cast(old.schema)
        key = [("workspace_id", "ascending")]
        return old.sort_by(key).equals(new.sort_by(key))

    # ------------------------------------------------------------------ what is cached
    def _workspace_files(self, table: str, workspace_id: int | None) -> list[str]:
        ws = PERSONAL_WORKSPACE_ID if workspace_id is None else int(workspace_id)
        return [f for f in (*self.state.files.get(table, []), *self.state.active_files(table))
                if (file_partition(f) or (None,))[0] == ws]

    def cached_runs(self, workspace_id: int | None, extra: Sequence[str] = ()) -> pa.Table:
        """``run_id``, ``status``, ``last_updated``, the ``extra`` runs columns and ``final``
        (bool: written into the trees, never rewritten) of the runs cached for a workspace,
        committed ones and active ones, with the latest facts applied."""
        columns = list(dict.fromkeys(["run_id", "status", "last_updated", *extra]))
        rows = overlay(read_files(self.loc, "runs", self._workspace_files("runs", workspace_id), columns),
                       self._facts)
        final = pc.is_in(rows["run_id"], value_set=pa.array(list(self._final), pa.string()))
        return rows.append_column("final", pc.fill_null(final, False))

    def cached_task_rows(self, workspace_id: int | None) -> dict[str, int]:
        """Task rows cached per run of a workspace [rows] (runs without tasks are absent).

        Reads only the ``run_id`` column of the workspace's task files.
        """
        files = self._workspace_files("tasks", workspace_id)
        if not files:
            return {}
        ids = ds.dataset([self.loc.path(f) for f in files], format="parquet",
                         filesystem=self.loc.filesystem).to_table(columns=["run_id"])
        counts = pc.value_counts(ids["run_id"])
        return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))
