"""The cache's state file: schema version, the committed Parquet files, the active area,
the facts file, per-workspace sync state.

``state.json`` is the commit point of every write: it is replaced atomically (locally:
write a temp file, fsync, ``os.replace``, fsync the directory; on an object store: one
PUT), and the library reads only the files it
lists. A tree file it does not list was left by a killed sync: the next writer adopts it
(see ``_adopt``) or removes it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._exceptions import CacheError
from ..frames import SCHEMA_VERSION
from ._fs import CacheConflictError, Location, fsync_dir
from ._layout import ACTIVE_DIR, FACTS_DIR

__all__ = ["State", "WorkspaceState", "fsync_dir", "read_state", "write_state"]

STATE_FILE = "state.json"
FORMAT = "seqera-analytics-cache"


@dataclass
class WorkspaceState:
    """What the cache knows about one synced workspace.

    Attributes
    ----------
    workspace_id : int
    workspace : str or None
        ``org/workspace`` name, when known (saves resolving it again).
    endpoint : str
        API endpoint it was synced from (a cache never mixes platforms for one id).
    synced_at : str or None
        ISO-8601 UTC time of the last completed sync.
    covered_since : str or None
        Submission time from which the cached history is complete (ISO-8601 UTC); ``None``
        when the whole history is cached. Only set by a sync whose listing finished.
    complete : bool
        The last listing finished (an interrupted sync leaves ``False``, so the next sync
        lists everything instead of stopping at the first cached run).
    pending : list of str
        Runs a sync meant to write and did not (their fetch failed: 403/404, or 5xx and
        connection errors after retries; or the sync stopped first). Every later sync
        fetches them again, listed or not, until they are written.
    short_refetches : dict of str to int
        Terminal runs whose cached task rows are fewer than their counts promise, and how
        many fetches in a row came back short; they are fetched again while that is below
        the sync's limit (so a server that lists fewer rows than it counts is not asked
        forever).
    full_listed_at : str or None
        ISO-8601 UTC time of the last full listing of the workspace (the one that finds
        runs the Platform no longer lists, see ``CacheWriter.mark_unlisted``).

    Older state files lack ``pending`` and ``short_refetches`` (read as empty); keys this
    version does not know are ignored, so a newer file still opens.
    """

    workspace_id: int
    workspace: str | None = None
    endpoint: str = ""
    synced_at: str | None = None
    covered_since: str | None = None
    complete: bool = False
    pending: list[str] = field(default_factory=list)
    short_refetches: dict[str, int] = field(default_factory=dict)
    full_listed_at: str | None = None

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> WorkspaceState:
        """Read one workspace entry of ``state.json`` (older and newer versions included).

        Raises
        ------
        ValueError, TypeError
            A field of the wrong type (the caller reports the file as damaged).
        """
        known = {f.name for f in fields(cls)}
        ws = cls(**{k: v for k, v in body.items() if k in known})
        if not isinstance(ws.pending, list) or not all(isinstance(r, str) for r in ws.pending):
            raise ValueError("'pending' must be a list of run ids")
        if not isinstance(ws.short_refetches, dict) or not all(
                isinstance(k, str) and isinstance(v, int) for k, v in ws.short_refetches.items()):
            raise ValueError("'short_refetches' must map run ids to counts")
        return ws


@dataclass
class State:
    """Contents of ``state.json``.

    ``files``: table -> committed tree files (finished runs); ``active``: run_id -> its
    files in the active area (runs not finished); ``facts``: the facts file overlaid on the
    runs rows, or ``None``; ``generation``: bumped by every commit.
    """

    schema_version: int = SCHEMA_VERSION
    files: dict[str, list[str]] = field(default_factory=dict)
    workspaces: dict[str, WorkspaceState] = field(default_factory=dict)
    active: dict[str, list[str]] = field(default_factory=dict)
    facts: str | None = None
    generation: int = 0

    def active_files(self, table: str) -> list[str]:
        """Files of ``table`` in the active area."""
        prefix = f"{ACTIVE_DIR}/{table}/"
        return [f for fs in self.active.values() for f in fs if f.startswith(prefix)]

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT,
            "schema_version": self.schema_version,
            "generation": self.generation,
            "files": {k: sorted(v) for k, v in sorted(self.files.items())},
            "active": {k: sorted(v) for k, v in sorted(self.active.items())},
            "facts": self.facts,
            "workspaces": {k: asdict(v) for k, v in sorted(self.workspaces.items())},
        }
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str | Path, root: str | Path | None = None) -> State:
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or body.get("format") != FORMAT:
                raise ValueError("not a seqera-analytics cache state")
            files = body.get("files") or {}
            spaces = body.get("workspaces") or {}
            if not isinstance(files, dict) or not all(
                    isinstance(v, list) and all(isinstance(f, str) for f in v) for v in files.values()):
                raise ValueError("'files' must map tables to lists of paths")
            if not isinstance(spaces, dict) or not all(isinstance(v, dict) for v in spaces.values()):
                raise ValueError("'workspaces' must map ids to objects")
            active = body.get("active") or {}
            if not isinstance(active, dict) or not all(
                    isinstance(v, list) and all(isinstance(f, str) for f in v) for v in active.values()):
                raise ValueError("'active' must map run ids to lists of paths")
            facts = body.get("facts")
            if facts is not None and not isinstance(facts, str):
                raise ValueError("'facts' must be a path or null")
            state = cls(
                schema_version=int(body["schema_version"]),
                files={str(k): list(v) for k, v in files.items()},
                workspaces={str(int(k)): WorkspaceState.from_dict(v) for k, v in spaces.items()},
                active={str(k): list(v) for k, v in active.items()},
                facts=facts,
                generation=int(body.get("generation") or 0),
            )
            for table, paths in state.files.items():
                for f in paths:
                    _check_path(f, f"{table}/")
            for paths in state.active.values():
                for f in paths:
                    _check_path(f, f"{ACTIVE_DIR}/")
            if state.facts is not None:
                _check_path(state.facts, f"{FACTS_DIR}/")
            return state
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            parent = root if root is not None else Path(where).parent
            raise CacheError(f"{where} is damaged ({exc}). Remove the cache directory "
                             f"{parent} and sync again.") from exc

    def workspace(self, workspace_id: int) -> WorkspaceState | None:
        return self.workspaces.get(str(int(workspace_id)))


def _check_path(f: str, prefix: str) -> None:
    if not f.startswith(prefix) or ".." in f.split("/") or not f.endswith(".parquet"):
        raise ValueError(f"unexpected file {f!r}")


def read_state(loc: Location) -> State | None:
    """The state of the cache at ``loc``; ``None`` for a new (empty) cache."""
    try:
        raw = loc.read_bytes(STATE_FILE)
    except FileNotFoundError:
        return None
    return State.from_json(raw, loc.uri(STATE_FILE), loc.display)


def write_state(loc: Location, state: State) -> None:
    """Replace ``state.json`` (the commit point).

    On an object store, where the writers' lease is not exclusive (see ``_lease``), the
    state is read back first: it must be the one this writer read or wrote last (the
    generation just before ``state``'s), else another writer has committed meanwhile and
    this one stops, its own files not yet named by any state (the next writer removes or
    adopts them).

    Raises
    ------
    CacheConflictError
        Another writer committed since (object stores only).
    """
    if not loc.local:
        current = read_state(loc)
        if (current is None and state.generation != 0) or (
                current is not None and current.generation != state.generation - 1):
            raise CacheConflictError(
                f"Another writer committed to the cache {loc.display} while this one was writing "
                f"(generation {current.generation if current else 'none'}, expected "
                f"{state.generation - 1}); nothing it committed is lost. Run the sync again.")
    loc.write_bytes(STATE_FILE, state.to_json())
