"""The Parquet cache: crash-safe writes under a lock, filtered reads without one.

Writes (:class:`CacheWriter`) rewrite whole partitions: for every ``(workspace_id, month)``
partition a commit touches, the rows of the runs being written replace their old rows and
the partition becomes one new file. A commit:

1. writes every new file as ``part-<uuid>.parquet.tmp`` (invisible to ``*.parquet`` globs),
   fsynced;
2. renames them to ``.parquet``;
3. replaces ``state.json`` with the new file list: **the commit point**;
4. deletes the files the new list dropped.

A process killed anywhere leaves ``state.json`` naming a complete, consistent set of files
(old or new). Files it does not name are debris, ignored by the library's reads and deleted
by the next writer (plain-glob readers such as DuckDB can see that debris until then). A
run's tasks, progress, metrics and its run row are committed together.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import filelock
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .._exceptions import CacheError, CacheLockedError
from ..frames import RUN_STATUSES, SCHEMA_VERSION, concat_tables
from ._layout import (
    PARTITION_SCHEMA,
    PARTITIONED,
    PERSONAL_WORKSPACE_ID,
    TABLE_SPECS,
    default_cache_dir,
    file_partition,
    month_of,
    new_file_name,
    partition_dir,
)
from ._state import State, WorkspaceState, atomic_write_bytes, fsync_dir, read_state, write_state
from ._upgrade import upgrade

__all__ = ["Cache", "CacheInfo", "CacheWriter", "TimeRange"]

_SORT_KEYS: dict[str, list[tuple[str, str]]] = {
    "runs": [("submit", "descending"), ("run_id", "ascending")],
    "tasks": [("run_id", "ascending"), ("task_id", "ascending")],
    "process_metrics": [("run_id", "ascending"), ("process", "ascending"), ("metric", "ascending"),
                        ("stat", "ascending")],
    "process_progress": [("run_id", "ascending"), ("process", "ascending")],
    "workspaces": [("workspace_id", "ascending")],
}
_PARQUET_OPTIONS = {"compression": "zstd"}
_OWN_FILES = {".lock", ".lock.owner", "state.json.tmp"}
#: How long a reader that finds an older cache waits for a running sync to upgrade it [s].
_UPGRADE_WAIT_S = 120.0
log = logging.getLogger("seqera_analytics")


def _file_schema(table: str) -> pa.Schema:
    schema = TABLE_SPECS[table].arrow_schema
    if table in PARTITIONED:
        schema = schema.remove(schema.get_field_index("workspace_id"))
    return schema


@dataclass
class CacheInfo:
    """What a cache holds (``seqera-analytics cache info``).

    Attributes
    ----------
    path : Path
    schema_version : int or None
    size_bytes : int
        Bytes of the live Parquet files [bytes].
    workspaces : pandas.DataFrame
        One row per cached workspace: ``workspace_id`` (Int64), ``workspace`` (string),
        ``endpoint`` (string), ``runs``, ``tasks`` (Int64 counts), ``first_submit``,
        ``last_submit`` (datetime64[ms, UTC]), ``synced_at`` (datetime64[ms, UTC]).
    """

    path: Path
    schema_version: int | None
    size_bytes: int
    workspaces: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __str__(self) -> str:
        if self.schema_version is None:
            return (f"cache: {self.path}\nempty: nothing synced yet (run `seqera-analytics sync "
                    "--workspace ORG/WS`, or `seqera-analytics demo` to try the bundled runs)")
        lines = [f"cache: {self.path}",
                 f"schema version: {self.schema_version}",
                 f"size: {self.size_bytes / 2**20:.1f} MiB"]
        if self.workspaces.empty:
            lines.append("no workspaces cached yet (run `seqera-analytics sync --workspace org/ws`)")
        else:
            from .._text import text_table  # padded by terminal cells, any script aligned

            lines.append(text_table(self.workspaces))
        return "\n".join(lines)


class Cache:
    """A cache directory of Parquet datasets (see :mod:`seqera_analytics.store`).

    Parameters
    ----------
    path : str or Path, optional
        Cache directory; default ``$SEQERA_ANALYTICS_CACHE`` or the user cache dir.

    Reading never touches the network and takes no lock (except once, to upgrade a cache
    of an older schema version in place).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None and not str(path).strip():
            # Path("") is the working directory: never let an unset variable point there.
            raise CacheError("The cache path is empty; give a directory (--cache DIR) or leave it "
                             "out for the default (SEQERA_ANALYTICS_CACHE or ~/.cache/seqera-analytics).")
        self.path = Path(path).expanduser() if path is not None else default_cache_dir()
        if self.path.exists() and not self.path.is_dir():
            raise CacheError(f"{self.path} is a file, not a cache directory")

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r})"

    # ------------------------------------------------------------------ state
    def state(self) -> State:
        """The committed state (an empty state for a new cache).

        A cache of an older schema version is upgraded in place first (from its own data,
        without network; see :mod:`._upgrade`), under the write lock.

        Raises
        ------
        CacheError
            The cache was written by a newer version, could not be upgraded (read-only), or
            its state file is damaged.
        """
        state = read_state(self.path)
        if state is None:
            return State()
        if state.schema_version > SCHEMA_VERSION:
            raise CacheError(
                f"The cache at {self.path} has schema version {state.schema_version}, this "
                f"seqera-analytics uses {SCHEMA_VERSION}. Upgrade seqera-analytics or use "
                "another cache directory.")
        if state.schema_version < SCHEMA_VERSION:
            return self._upgraded()
        return state

    def _upgraded(self) -> State:
        """Upgrade an older cache in place on first read (a writer does it when it opens)."""
        try:
            with CacheWriter(self, wait_s=_UPGRADE_WAIT_S) as w:
                if w.rebuilt:
                    log.warning(w.rebuilt)
                return w.state
        except CacheLockedError:
            raise
        except OSError as exc:
            raise CacheError(
                f"The cache at {self.path} has an older schema and could not be upgraded in "
                f"place ({exc.strerror or exc}); open it once with write access (any report or "
                "`seqera-analytics cache info` upgrades it, without fetching anything).") from None

    def writer(self, *, wait_s: float = 0.0) -> CacheWriter:
        """Open the cache for writing (takes the lock; see :class:`CacheWriter`)."""
        return CacheWriter(self, wait_s=wait_s)

    # ------------------------------------------------------------------ reading
    def is_cache(self) -> bool:
        """Whether the directory holds a cache (a ``state.json``; it may still be empty)."""
        return (self.path / "state.json").is_file()

    def committed_files(self, table: str, workspace_ids: Sequence[int | None] | None = None, *,
                        state: State | None = None) -> list[Path]:
        """Absolute paths of the Parquet files of ``table`` that the committed state lists:
        what every reader should read, and nothing else (files of an interrupted sync are
        not listed), each once. ``workspace_ids`` keeps only those workspaces' partitions
        (``None`` in it: the personal workspace); ``state``: a state already read (so that
        several tables come from one commit).

        Raises
        ------
        CacheError
            As :meth:`state`.
        """
        if table not in TABLE_SPECS:
            raise ValueError(f"no table {table!r}; tables: {', '.join(TABLE_SPECS)}")
        files = list(dict.fromkeys((state or self.state()).files.get(table, [])))
        if workspace_ids is not None and table in PARTITIONED:
            keep = {PERSONAL_WORKSPACE_ID if w is None else int(w) for w in workspace_ids}
            files = [f for f in files if (file_partition(f) or (None,))[0] in keep]
        return [self.path / f for f in files]

    def partition_of(self, file: Path) -> tuple[int | None, str] | None:
        """``(workspace_id, month)`` of a partitioned file (``None`` for the personal
        workspace; month ``YYYY-MM`` of its runs' submission, or ``unknown``)."""
        part = file_partition(str(Path(file).relative_to(self.path)))
        if part is None:
            return None
        return (None if part[0] == PERSONAL_WORKSPACE_ID else part[0]), part[1]

    def time_ranges(self, files: Sequence[Path], columns: Sequence[str]) -> list[dict[str, TimeRange]]:
        """Per file, the range of each timestamp column from the Parquet footer's statistics
        (no data is read; files are written once, so answers are remembered).

        Returns
        -------
        list of dict
            One dict per file: column -> :class:`TimeRange`.
        """
        return [dict(zip(columns, _footer_ranges(str(f), f.stat().st_size, tuple(columns))))
                for f in files]

    def with_quality_findings(self, files: Sequence[Path]) -> list[Path]:
        """The files whose rows may carry a data-quality finding (a ``quality`` value), by
        the Parquet footer's statistics (no data is read; remembered): a clean file is
        skipped by whatever counts findings. Files without statistics are kept."""
        return [f for f in files if _footer_has_values(str(f), f.stat().st_size, "quality")]

    def _dataset(self, table: str, files: Sequence[str]) -> ds.Dataset:
        paths = [str(self.path / f) for f in files]
        if table in PARTITIONED:
            part = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
            return ds.dataset(paths, schema=_file_schema(table).append(PARTITION_SCHEMA.field("workspace_id"))
                              .append(PARTITION_SCHEMA.field("month")),
                              format="parquet", partitioning=part,
                              partition_base_dir=str(self.path / table))
        return ds.dataset(paths, schema=_file_schema(table), format="parquet")

    def read_table(self, table: str, filter: ds.Expression | None = None,
                   columns: Sequence[str] | None = None) -> pa.Table:
        """Rows of one table as Arrow, typed by its schema (``workspace_id`` restored from
        the partition path, ``0`` back to null for the personal workspace).

        Only ``columns`` (default: all) are read from disk.
        """
        spec = TABLE_SPECS[table]
        names = list(columns) if columns else spec.names
        unknown = [c for c in names if c not in spec]
        if unknown:
            raise ValueError(f"no column {', '.join(unknown)} in {table}; columns: {', '.join(spec.names)}")
        schema = pa.schema([spec[c].arrow_field() for c in names])
        for attempt in range(3):
            files = self.state().files.get(table, [])
            if not files:
                return schema.empty_table()
            try:
                scanned = self._dataset(table, files).to_table(columns=names, filter=filter)
                break
            except FileNotFoundError as exc:
                # A concurrent commit replaced files after we read state.json: read again.
                if attempt == 2:
                    raise CacheError(
                        f"The cache at {self.path} lists a {table} file that is gone ({exc.filename or exc}). "
                        "Run `seqera-analytics sync` for the workspace: it drops the damaged part and "
                        "fetches those runs again.") from None
                time.sleep(0.05)
        if "workspace_id" in names and table in PARTITIONED:
            ws = scanned.column("workspace_id")
            ws = pc.if_else(pc.equal(ws, PERSONAL_WORKSPACE_ID), pa.scalar(None, pa.int64()), ws)
            scanned = scanned.set_column(scanned.schema.get_field_index("workspace_id"), "workspace_id", ws)
        return scanned.cast(schema)

    def workspace_id(self, workspace: str | int) -> int:
        """The id of a cached workspace given as id or ``org/workspace``.

        Raises
        ------
        CacheError
            The workspace is not in the cache; the message lists those that are and says
            how to sync.
        """
        state = self.state()
        text = str(workspace).strip()
        known = {int(k): v for k, v in state.workspaces.items()}
        if text.isdigit() and int(text) in known:
            return int(text)
        for wid, ws in known.items():
            if ws.workspace and ws.workspace.lower() == text.lower():
                return wid
        cached = ", ".join(sorted(w.workspace or str(i) for i, w in known.items())) or "none"
        raise CacheError(
            f"Workspace {text!r} is not in the cache {self.path} (cached: {cached}). "
            f"Run `seqera-analytics sync --workspace {text}` first.")

    def info(self) -> CacheInfo:
        """Summary of what is cached (workspaces, runs, tasks, date range, size)."""
        if not (self.path / "state.json").exists():
            return CacheInfo(self.path, None, 0)
        state = self.state()
        size = sum((self.path / f).stat().st_size for files in state.files.values() for f in files
                   if (self.path / f).exists())
        runs = self.read_table("runs", columns=["workspace_id", "run_id", "submit"])
        tasks = self.read_table("tasks", columns=["workspace_id"])
        rows = []
        for key, ws in sorted(state.workspaces.items()):
            wid = int(key)
            ws_val = None if wid == PERSONAL_WORKSPACE_ID else wid
            mask = pc.is_null(runs["workspace_id"]) if ws_val is None else pc.equal(runs["workspace_id"], wid)
            r = runs.filter(mask)
            tmask = pc.is_null(tasks["workspace_id"]) if ws_val is None else pc.equal(tasks["workspace_id"], wid)
            rows.append({
                "workspace_id": wid, "workspace": ws.workspace, "endpoint": ws.endpoint,
                "runs": r.num_rows, "tasks": int(pc.sum(tmask.cast(pa.int64())).as_py() or 0),
                "first_submit": pc.min(r["submit"]).as_py(), "last_submit": pc.max(r["submit"]).as_py(),
                "synced_at": ws.synced_at,
            })
        frame = pd.DataFrame(rows, columns=["workspace_id", "workspace", "endpoint", "runs", "tasks",
                                            "first_submit", "last_submit", "synced_at"])
        frame = frame.astype({"workspace_id": "Int64", "workspace": "string", "endpoint": "string",
                              "runs": "Int64", "tasks": "Int64"})
        for col in ("first_submit", "last_submit", "synced_at"):
            frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[ms, UTC]")
        return CacheInfo(self.path, state.schema_version, size, frame)


@dataclass(frozen=True)
class TimeRange:
    """What a Parquet footer says about one timestamp column of a file.

    ``lo``/``hi``: smallest and largest value [ms since the epoch, UTC] (``None`` when the
    column holds no value); ``nulls``: null count; ``known``: every row group had statistics
    (when false, ``lo``/``hi`` say nothing).
    """

    lo: int | None
    hi: int | None
    nulls: int
    known: bool


@functools.lru_cache(maxsize=65_536)
def _footer_has_values(path: str, size: int, column: str) -> bool:
    """Whether a (list) column of a file holds any value: its leaf's statistics show a
    min/max in some row group, or are missing (then: maybe)."""
    meta = pq.ParquetFile(path).metadata
    leaves = [i for i in range(meta.num_columns)
              if meta.schema.column(i).path.split(".")[0] == column]
    if not leaves:
        return False  # a file of an older schema: no findings written
    for g in range(meta.num_row_groups):
        for i in leaves:
            st = meta.row_group(g).column(i).statistics
            if st is None or not st.has_null_count or st.has_min_max:
                return True
    return False


@functools.lru_cache(maxsize=65_536)
def _footer_ranges(path: str, size: int, columns: tuple[str, ...]) -> tuple[TimeRange, ...]:
    meta = pq.ParquetFile(path).metadata
    index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
    out = []
    for name in columns:
        lo = hi = None
        nulls, known = 0, name in index
        for g in range(meta.num_row_groups) if known else ():
            st = meta.row_group(g).column(index[name]).statistics
            if st is None or not st.has_null_count:
                known = False
                break
            nulls += st.null_count
            if st.has_min_max:
                a, b = (int(pd.Timestamp(v).value // 1_000_000) for v in (st.min, st.max))
                lo, hi = (a if lo is None else min(lo, a)), (b if hi is None else max(hi, b))
            elif st.null_count < meta.row_group(g).num_rows:
                known = False
                break
        out.append(TimeRange(lo, hi, nulls, known))
    return tuple(out)


def _partition_keys(runs: pa.Table) -> dict[str, tuple[int, str]]:
    """run_id -> (workspace_id partition value, month) for the given run rows."""
    ws = pc.fill_null(runs["workspace_id"], PERSONAL_WORKSPACE_ID).to_pylist()
    months = month_of(runs["submit"]).to_pylist()
    return {rid: (w, m) for rid, w, m in zip(runs["run_id"].to_pylist(), ws, months)}


class CacheWriter:
    """Exclusive write access to a cache, for one sync.

    Opening takes the cache lock (raising :class:`CacheLockedError` if another process
    holds it), creates the cache if needed, upgrades a cache of an older schema version in
    place (``rebuilt`` then holds the message) and removes debris of interrupted syncs.
    Use as a context manager; :meth:`commit` makes buffered rows visible atomically.
    """

    def __init__(self, cache: Cache, *, wait_s: float = 0.0) -> None:
        self.cache = cache
        self.root = cache.path
        self.rebuilt: str | None = None
        if self.root.is_dir() and not (self.root / "state.json").exists():
            # Never adopt (and later clean up) a directory that holds someone else's files.
            foreign = sorted(p.name for p in self.root.iterdir() if p.name not in _OWN_FILES)
            if foreign:
                raise CacheError(
                    f"{self.root} is not empty and is not a seqera-analytics cache (no state.json; "
                    f"it holds {', '.join(foreign[:3])}{'...' if len(foreign) > 3 else ''}). Choose a "
                    "new or empty directory for the cache.")
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = filelock.FileLock(str(self.root / ".lock"))
        owner_file = self.root / ".lock.owner"
        try:
            self._lock.acquire(timeout=wait_s)
        except filelock.Timeout:
            try:
                owner = owner_file.read_text().strip()
            except OSError:
                owner = "another process"
            raise CacheLockedError(
                f"The cache {self.root} is being written by {owner}. Wait for that sync to "
                "finish, or use another cache directory (--cache / SEQERA_ANALYTICS_CACHE).") from None
        try:
            atomic_write_bytes(owner_file, f"pid {os.getpid()} on {socket.gethostname()} since "
                                           f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}".encode())
            self.state = self._open_state()
            self.repaired = self._repair()
            self._cleanup()
        except BaseException:
            self._lock.release()
            raise
        self._runs: list[pa.Table] = []
        self._tables: dict[str, list[pa.Table]] = defaultdict(list)
        self._replace: dict[str, set[str]] = defaultdict(set)
        self._workspaces: pa.Table | None = None

    # ------------------------------------------------------------------ lifecycle
    def _open_state(self) -> State:
        state = read_state(self.root)
        if state is None:
            state = State()
            write_state(self.root, state)
            return state
        if state.schema_version > SCHEMA_VERSION:
            raise CacheError(
                f"The cache at {self.root} was written by a newer seqera-analytics (schema "
                f"{state.schema_version} > {SCHEMA_VERSION}); upgrade, or use another cache directory.")
        if state.schema_version < SCHEMA_VERSION:
            # the data stays: a re-fetch of a large organisation takes hours
            state, self.rebuilt = upgrade(self.root, state)
        return state

    def _repair(self) -> str | None:
        """Drop partitions whose files are gone (e.g. lost in a power cut after state.json
        was written) from every per-run table, so their runs count as not cached and the next
        sync of their workspace lists everything and fetches them again."""
        missing = {(t, f) for t, files in self.state.files.items() for f in files
                   if not (self.root / f).exists()}
        if not missing:
            return None
        broken = {file_partition(f) for t, f in missing if t in PARTITIONED} - {None}
        for table in PARTITIONED:
            self.state.files[table] = [f for f in self.state.files.get(table, [])
                                       if file_partition(f) not in broken and (table, f) not in missing]
        if any(t == "workspaces" for t, _ in missing):
            self.state.files["workspaces"] = []
        for ws_key in {str(w) for w, _ in broken}:  # type: ignore[misc]
            if ws_key in self.state.workspaces:
                self.state.workspaces[ws_key].complete = False
        write_state(self.root, self.state)
        months = ", ".join(f"workspace {w} {m}" for w, m in sorted(broken))  # type: ignore[misc]
        return (f"The cache at {self.root} had lost {len(missing)} file(s); dropped the affected "
                f"partitions ({months or 'workspaces table'}): their runs are fetched again.")

    def _cleanup(self) -> None:
        """Delete files no commit refers to (left by a killed sync)."""
        live = {f for files in self.state.files.values() for f in files}
        for table in TABLE_SPECS:
            base = self.root / table
            if not base.is_dir():
                continue
            # Only files this package names (part-<uuid>.parquet[.tmp]) are ever deleted.
            for path in base.rglob("part-*.parquet*"):
                if path.is_file() and str(path.relative_to(self.root)) not in live:
                    path.unlink(missing_ok=True)
            for d in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                if d.name.startswith(("workspace_id=", "month=")):
                    try:
                        d.rmdir()  # only empty partition directories go
                    except OSError:
                        pass
        (self.root / "state.json.tmp").unlink(missing_ok=True)

    def close(self) -> None:
        """Release the lock (buffered, uncommitted rows are dropped)."""
        self._clear()
        if self._lock.is_locked:
            (self.root / ".lock.owner").unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ buffering
    def _clear(self) -> None:
        self._runs, self._workspaces = [], None
        self._tables.clear()
        self._replace.clear()

    def put_runs(self, runs: pa.Table, tasks: pa.Table | None = None,
                 process_progress: pa.Table | None = None, process_metrics: pa.Table | None = None) -> None:
        """Buffer complete data of some runs; it replaces everything cached for those runs
        at the next :meth:`commit`.

        Tables follow the frames schemas. Rows of ``tasks``/``process_*`` must belong to runs
        in ``runs``; a table passed as ``None`` keeps what is cached for those runs.

        Raises
        ------
        ValueError
            Rows for runs that are not in ``runs``.
        """
        ids = set(runs["run_id"].to_pylist())
        given = {"tasks": tasks, "process_progress": process_progress, "process_metrics": process_metrics}
        for name, table in given.items():
            if table is not None and table.num_rows:
                stray = set(pc.unique(table["run_id"]).to_pylist()) - ids
                if stray:
                    raise ValueError(f"{name} rows for runs not being written: {sorted(stray)[:5]}")
        self._runs.append(runs)
        self._replace["runs"] |= ids
        for name, table in given.items():
            if table is not None:
                self._tables[name].append(table)
                self._replace[name] |= ids

    def put_workspaces(self, workspaces: pa.Table) -> None:
        """Replace the workspaces table at the next commit."""
        self._workspaces = workspaces

    def set_workspace_state(self, ws: WorkspaceState) -> None:
        """Record a workspace's sync state (committed with the next commit)."""
        self.state.workspaces[str(int(ws.workspace_id))] = ws

    @property
    def pending_runs(self) -> int:
        """Runs buffered since the last commit."""
        return len(self._replace.get("runs", ()))

    # ------------------------------------------------------------------ commit
    def _write_file(self, table: str, directory: str, rows: pa.Table) -> tuple[str, Path]:
        rel = new_file_name(directory)
        tmp = self.root / (rel + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        schema = _file_schema(table)
        rows = rows.select(schema.names).cast(schema)
        if rows.num_rows:
            rows = rows.sort_by(_SORT_KEYS[table])
        pq.write_table(rows, tmp, **_PARQUET_OPTIONS)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        return rel, tmp

    def _read_files(self, table: str, files: Iterable[str]) -> pa.Table:
        schema = _file_schema(table)
        files = list(files)
        if not files:
            return schema.empty_table()
        return pa.concat_tables(pq.read_table(self.root / f, schema=schema) for f in files)

    def _incoming(self, table: str, runs: pa.Table) -> pa.Table:
        if table == "runs":
            return runs
        return concat_tables(TABLE_SPECS[table], self._tables.get(table, []))

    def commit(self) -> int:
        """Make buffered rows and workspace states visible atomically.

        Returns
        -------
        int
            Runs committed.
        """
        runs = concat_tables(TABLE_SPECS["runs"], self._runs)
        if runs.num_rows:  # a run put twice in one commit: the later put wins
            order = pa.table({"run_id": runs["run_id"], "i": pa.array(range(runs.num_rows))})
            last = order.group_by("run_id").aggregate([("i", "max")])["i_max"]
            runs = runs.take(pa.array(sorted(last.to_pylist()), pa.int64()))
        keys = _partition_keys(runs)
        old_keys = self._cached_partitions(set(keys))
        files = {t: list(v) for t, v in self.state.files.items()}
        staged: list[tuple[Path, Path]] = []
        dropped: list[str] = []
        try:
            for table in PARTITIONED:
                replace = self._replace.get(table)
                if not replace:
                    continue
                incoming = self._incoming(table, runs)
                part_of = [keys[r] for r in incoming["run_id"].to_pylist()]
                ws_col = pa.array([k[0] for k in part_of], pa.int64())
                month_col = pa.array([k[1] for k in part_of], pa.string())
                replace_set = pa.array(sorted(replace), pa.string())
                affected = {keys[r] for r in replace} | {old_keys[r] for r in replace if r in old_keys}
                current = files.setdefault(table, [])
                by_part: dict[tuple[int, str], list[str]] = defaultdict(list)
                for f in current:
                    by_part[file_partition(f)].append(f)  # type: ignore[index]
                for w, m in sorted(affected):
                    old = self._read_files(table, by_part.get((w, m), []))
                    if old.num_rows:
                        old = old.filter(pc.invert(pc.is_in(old["run_id"], value_set=replace_set)))
                    mine = pc.and_(pc.equal(ws_col, w), pc.equal(month_col, m))
                    merged = pa.concat_tables([old, incoming.filter(mine).select(old.schema.names)
                                               .cast(old.schema)])
                    for f in by_part.get((w, m), []):
                        dropped.append(f)
                        current.remove(f)
                    if merged.num_rows:
                        rel, tmp = self._write_file(table, partition_dir(table, w, m), merged)
                        staged.append((tmp, self.root / rel))
                        current.append(rel)
            if self._workspaces is not None:
                rel, tmp = self._write_file("workspaces", "workspaces", self._workspaces)
                staged.append((tmp, self.root / rel))
                dropped.extend(files.get("workspaces", []))
                files["workspaces"] = [rel]
            for tmp, final in staged:
                os.replace(tmp, final)
            for directory in {final.parent for _, final in staged}:
                fsync_dir(directory)  # the renames must be durable before state.json names them
            self.state.files = files
            write_state(self.root, self.state)  # the commit point
        except BaseException:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        for f in dropped:
            (self.root / f).unlink(missing_ok=True)
        self._clear()
        return runs.num_rows

    def _cached_partitions(self, run_ids: set[str]) -> dict[str, tuple[int, str]]:
        """Where the given runs are cached now (run_id -> partition)."""
        if not run_ids or not self.state.files.get("runs"):
            return {}
        out: dict[str, tuple[int, str]] = {}
        for f in self.state.files["runs"]:
            p = file_partition(f)
            ids = pq.read_table(self.root / f, columns=["run_id"])["run_id"].to_pylist()
            for rid in run_ids.intersection(ids):
                out[rid] = p  # type: ignore[assignment]
        return out

    def _workspace_files(self, table: str, workspace_id: int | None) -> list[str]:
        ws = PERSONAL_WORKSPACE_ID if workspace_id is None else int(workspace_id)
        return [f for f in self.state.files.get(table, []) if (file_partition(f) or (None,))[0] == ws]

    def cached_runs(self, workspace_id: int | None, extra: Sequence[str] = ()) -> pa.Table:
        """``run_id``, ``status``, ``last_updated`` (and the ``extra`` runs columns) of the
        runs cached for a workspace."""
        columns = ["run_id", "status", "last_updated", *extra]
        files = self._workspace_files("runs", workspace_id)
        if not files:
            return _file_schema("runs").empty_table().select(columns)
        return pa.concat_tables(pq.read_table(self.root / f, columns=columns) for f in files)

    def cached_task_rows(self, workspace_id: int | None) -> dict[str, int]:
        """Task rows cached per run of a workspace [rows] (runs without tasks are absent).

        Reads only the ``run_id`` column of the workspace's task files.
        """
        files = self._workspace_files("tasks", workspace_id)
        if not files:
            return {}
        ids = pa.concat_tables(pq.read_table(self.root / f, columns=["run_id"]) for f in files)["run_id"]
        counts = pc.value_counts(ids)
        return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))


def statuses_upper(status: str | Sequence[str]) -> list[str]:
    values = [status] if isinstance(status, str) else list(status)
    out = []
    for s in values:
        up = str(s).strip().upper()
        if up not in RUN_STATUSES:
            raise ValueError(f"status={s!r} is not a run status; use one of "
                             f"{', '.join(x.lower() for x in RUN_STATUSES)}")
        out.append(up)
    return out
