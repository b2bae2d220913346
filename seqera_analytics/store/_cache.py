"""The Parquet cache: reads of the committed files (and the active area), no lock.

Writes are :class:`~._writer.CacheWriter`'s (layout in ``_layout``, commit protocol in
``_writer``, recovery in ``_adopt``). The library reads exactly what ``state.json`` names:
the committed tree files, plus the active area (runs not finished), with the facts file
overlaid on the runs rows (``_facts``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .._exceptions import CacheError, CacheLockedError
from ..frames import RUN_STATUSES, SCHEMA_VERSION
from ._billing import read_billing_table
from ._facts import overlay, read_facts
from ._files import file_schema as _file_schema
from ._fs import LocalLocation, Location, location
from ._layout import (
    ACTIVE_DIR,
    PARTITION_SCHEMA,
    PARTITIONED,
    PERSONAL_WORKSPACE_ID,
    TABLE_SPECS,
    default_cache_dir,
    file_partition,
)
from ._state import State, read_state
from ._writer import CacheWriter

__all__ = ["Cache", "CacheInfo", "CacheWriter", "TimeRange"]

#: How long a reader that finds an older cache waits for a running sync to upgrade it [s].
_UPGRADE_WAIT_S = 120.0
log = logging.getLogger("seqera_analytics")


@dataclass
class CacheInfo:
    """What a cache holds (``seqera-analytics cache info``).

    Attributes
    ----------
    path : Path or str
        The directory, or the URI of a cache on an object store.
    schema_version : int or None
    size_bytes : int
        Bytes of the committed Parquet files (trees, active area, facts) [bytes].
    workspaces : pandas.DataFrame
        One row per cached workspace: ``workspace_id`` (Int64), ``workspace`` (string),
        ``endpoint`` (string), ``runs``, ``tasks`` (Int64 counts), ``first_submit``,
        ``last_submit`` (datetime64[ms, UTC]), ``synced_at`` (datetime64[ms, UTC]).
    """

    path: Path | str
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
        Cache directory, or an object-store URI (``s3://bucket/prefix``; credentials,
        region and endpoint from the usual AWS environment and config files); default
        ``$SEQERA_ANALYTICS_CACHE`` or the user cache dir.

    Reading a local cache never touches the network (one on an object store reads from
    it) and takes no lock (except once, to upgrade a cache of an older schema version in
    place).

    Attributes
    ----------
    path : Path or str
        The directory (a ``Path``), or the URI of a cache on an object store (a ``str``).
    location : Location
        Where the files are, and how to reach them (``store._fs``).

    Raises
    ------
    CacheError
        An empty path, a path that is a file, or an unknown URI scheme
        (``CacheLocationError``).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None and not str(path).strip():
            # Path("") is the working directory: never let an unset variable point there.
            raise CacheError("The cache path is empty; give a directory (--cache DIR) or leave it "
                             "out for the default (SEQERA_ANALYTICS_CACHE or ~/.cache/seqera-analytics).")
        where = (Path(path).expanduser() if isinstance(path, Path) else path) if path is not None \
            else default_cache_dir()
        self.location: Location = location(where)
        loc = self.location
        self.path: Path | str = loc.root if isinstance(loc, LocalLocation) else loc.display
        if isinstance(self.path, Path) and self.path.exists() and not self.path.is_dir():
            raise CacheError(f"{self.path} is a file, not a cache directory")

    @property
    def is_remote(self) -> bool:
        """Whether the cache is on an object store (``s3://...``) rather than local disk."""
        return not self.location.local

    def _abs(self, rel: str) -> Any:
        """What :meth:`committed_files` hands out for a file: a ``Path`` on local disk, the
        file's URI on an object store."""
        return self.path / rel if self.location.local else self.location.uri(rel)  # type: ignore[operator]

    def _rel(self, file: Path | str) -> str:
        if self.location.local:
            return Path(file).relative_to(self.path).as_posix()
        text, base = str(file), self.location.uri() + "/"
        if not text.startswith(base):
            raise ValueError(f"{text} is not in the cache {base}")
        return text[len(base):]

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
        state = read_state(self.location)
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
        return self.location.is_file("state.json")

    def committed_files(self, table: str, workspace_ids: Sequence[int | None] | None = None, *,
                        state: State | None = None, active: bool = True) -> list[Any]:
        """Absolute paths (``Path``; on an object store, URIs) of the Parquet files of
        ``table`` that the committed state lists: what every reader should read, and nothing
        else (files of an interrupted sync are not listed), each once: the tree files, then
        (``active``) the active area's files (runs not finished; under ``<cache>/_active/``). ``workspace_ids`` keeps only those
        workspaces' partitions (``None`` in it: the personal workspace); ``state``: a state
        already read (so that several tables come from one commit). The runs files do not
        carry the later facts: :meth:`read_table` overlays them.

        Raises
        ------
        CacheError
            As :meth:`state`.
        """
        if table not in TABLE_SPECS:
            raise ValueError(f"no table {table!r}; tables: {', '.join(TABLE_SPECS)}")
        st = state or self.state()
        files = list(dict.fromkeys(st.files.get(table, [])))
        if active:
            files += st.active_files(table)
        if workspace_ids is not None and table in PARTITIONED:
            keep = {PERSONAL_WORKSPACE_ID if w is None else int(w) for w in workspace_ids}
            files = [f for f in files if (file_partition(f) or (None,))[0] in keep]
        return [self._abs(f) for f in files]

    def is_active_file(self, file: Path | str) -> bool:
        """Whether a file is in the active area (runs not finished; library only)."""
        return self._rel(file).split("/", 1)[0] == ACTIVE_DIR

    def partition_of(self, file: Path | str) -> tuple[int | None, str] | None:
        """``(workspace_id, month)`` of a partitioned file (``None`` for the personal
        workspace; month ``YYYY-MM`` of its runs' submission, or ``unknown``)."""
        part = file_partition(self._rel(file))
        if part is None:
            return None
        return (None if part[0] == PERSONAL_WORKSPACE_ID else part[0]), part[1]

    def _footer_key(self, file: Path | str) -> _File:
        if self.location.local:
            return _File(str(file), Path(file).stat().st_size)
        # names carry a uuid and objects are written once: the name alone is the key
        return _File(self.location.path(self._rel(file)), -1, self.location.filesystem)

    def time_ranges(self, files: Sequence[Path | str], columns: Sequence[str]) -> list[dict[str, TimeRange]]:
        """Per file, the range of each timestamp column from the Parquet footer's statistics
        (no data is read; files are written once, so answers are remembered).

        Returns
        -------
        list of dict
            One dict per file: column -> :class:`TimeRange`.
        """
        return [dict(zip(columns, _footer_ranges(self._footer_key(f), tuple(columns)))) for f in files]

    def with_quality_findings(self, files: Sequence[Any]) -> list[Any]:
        """The files whose rows may carry a data-quality finding (a ``quality`` value), by
        the Parquet footer's statistics (no data is read; remembered): a clean file is
        skipped by whatever counts findings. Files without statistics are kept."""
        return [f for f in files if _footer_has_values(self._footer_key(f), "quality")]

    def arrow_dataset(self, table: str, files: Sequence[Any], *, int_times: bool = False) -> ds.Dataset:
        """A ``pyarrow.dataset`` over some of :meth:`committed_files`' files of ``table``
        (with the cache's filesystem: how DuckDB reads a cache on an object store), with
        ``workspace_id`` and ``month`` from the partition paths (``0``: personal).
        ``int_times``: timestamps and durations as their int64 ms (as SQL engines reading
        the files see durations)."""
        return self._dataset(table, [self._rel(f) for f in files], int_times=int_times)

    def _dataset(self, table: str, files: Sequence[str], *, int_times: bool = False) -> ds.Dataset:
        schema = _file_schema(table)
        if int_times:
            schema = pa.schema([pa.field(f.name, pa.int64()) if pa.types.is_timestamp(f.type)
                                or pa.types.is_duration(f.type) else f for f in schema])
        loc = self.location
        if table not in PARTITIONED:
            return ds.dataset([loc.path(f) for f in files], schema=schema, format="parquet",
                              filesystem=loc.filesystem)
        schema = schema.append(PARTITION_SCHEMA.field("workspace_id")).append(PARTITION_SCHEMA.field("month"))
        part = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
        parts = []
        for base in (table, f"{ACTIVE_DIR}/{table}"):
            mine = [loc.path(f) for f in files if f.startswith(base + "/")]
            if mine:
                parts.append(ds.dataset(mine, schema=schema, format="parquet", partitioning=part,
                                        partition_base_dir=loc.path(base), filesystem=loc.filesystem))
        if len(parts) == 1:
            return parts[0]
        return ds.dataset(parts) if parts else schema.empty_table()

    def read_table(self, table: str, filter: ds.Expression | None = None,
                   columns: Sequence[str] | None = None) -> pa.Table:
        """Rows of one table as Arrow, typed by its schema (``workspace_id`` restored from
        the partition path, ``0`` back to null for the personal workspace): the committed
        files and the active area; runs with their latest facts (``labels``, ``deleted``,
        ``last_updated``, ``status``, ``unlisted_since``) overlaid.

        Only ``columns`` (default: all) are read from disk; ``filter`` may use the columns
        and the partition fields ``workspace_id`` (``0``: personal) and ``month``.
        """
        spec = TABLE_SPECS[table]
        names = list(columns) if columns else spec.names
        unknown = [c for c in names if c not in spec]
        if unknown:
            raise ValueError(f"no column {', '.join(unknown)} in {table}; columns: {', '.join(spec.names)}")
        schema = pa.schema([spec[c].arrow_field() for c in names])
        for attempt in range(3):
            state = self.state()
            files = [*state.files.get(table, []), *state.active_files(table)]
            if not files:
                return schema.empty_table()
            try:
                scanned = self._scan(table, files, names, filter,
                                     read_facts(self.location, state.facts) if table == "runs" else None)
                break
            except FileNotFoundError as exc:
                # A concurrent commit replaced active or facts files after we read state.json.
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

    def _scan(self, table: str, files: Sequence[str], names: list[str], filter: ds.Expression | None,
              facts: dict | None) -> pa.Table:
        data = self._dataset(table, files)
        if not facts:
            return data.to_table(columns=names, filter=filter)
        # Runs with facts are read whole, overlaid, then filtered (a filter may name a fact);
        # the others are filtered in the scan.
        ids = pa.array(sorted(facts), pa.string())
        plain = ~ds.field("run_id").isin(ids)
        a = data.to_table(columns=names, filter=plain if filter is None else filter & plain)
        b = overlay(data.to_table(filter=ds.field("run_id").isin(ids)), facts)
        if filter is not None:
            b = ds.dataset(b).to_table(filter=filter)
        return pa.concat_tables([a, b.select(names).cast(a.schema)])

    def read_billing(self, state: State | None = None) -> pa.Table:
        """The imported bill: the ``billing_tasks`` rows (``frames.BILLING_TASKS``) of every
        period, with ``period`` (``YYYY-MM`` or ``undated``) from the partition path; empty
        when no CUR was imported. See :mod:`._billing`.

        Raises
        ------
        CacheError
            A listed file is gone or damaged (import that period again).
        """
        return read_billing_table(self.location, state or self.state(), "billing_tasks")

    def read_billing_parents(self, state: State | None = None) -> pa.Table:
        """The instance-hours the imported split lines restate (``frames.BILLING_PARENTS``).

        Raises
        ------
        CacheError
            A listed file is gone or damaged.
        """
        return read_billing_table(self.location, state or self.state(), "billing_parents")

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
        if not self.location.exists("state.json"):
            return CacheInfo(self.path, None, 0)
        state = self.state()
        listed = [f for files in (*state.files.values(), *state.active.values()) for f in files]
        if state.facts:
            listed.append(state.facts)
        size = sum(self.location.file_sizes(listed).values())
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


@dataclass(frozen=True)
class _File:
    """A file's footer cache key: its path and size (a local file), the filesystem beside."""

    path: str
    size: int
    fs: Any = field(default=None, compare=False, hash=False)

    def metadata(self) -> pq.FileMetaData:
        return pq.ParquetFile(self.path, filesystem=self.fs).metadata


@functools.lru_cache(maxsize=65_536)
def _footer_has_values(file: _File, column: str) -> bool:
    """Whether a (list) column of a file holds any value: its leaf's statistics show a
    min/max in some row group, or are missing (then: maybe)."""
    meta = file.metadata()
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
def _footer_ranges(file: _File, columns: tuple[str, ...]) -> tuple[TimeRange, ...]:
    meta = file.metadata()
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
