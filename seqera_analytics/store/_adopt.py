"""What a writer does when it opens: repair lost files, adopt what a killed sync left.

A commit moves its tree files into place before it replaces ``state.json``, the runs
files last. A sync killed in between leaves tree files no state names. Each carries its
batch in its footer (``BATCH_KEY``: batch id, kind, the batch's file list), so the next
writer decides per *unit*, the files of one batch in one ``(workspace_id, month)``
partition:

* every file of the unit is in place (so is its runs file, which went last): the unit
  holds whole, finished runs; it is **adopted**, added to the state as it is, and those
  runs count as cached (they leave every workspace's ``pending`` list: the sync does not
  fetch them again);
* otherwise the unit is incomplete (its runs file never appeared, so no plain reader saw
  those runs, only, for a moment, some of their tasks): its files are deleted, and its runs
  are fetched by the next sync as if never written;
* a unit holding a run that is already committed (cannot happen through this package) is
  deleted rather than let a plain reader see the run twice.

Files without a batch (an older release's debris) or of an interrupted upgrade are deleted.
A plain reader listing a folder at the moment such a file goes may get a "file not found"
for it and should read again; that is the only time a file leaves a table tree.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow.parquet as pq

from ._billing import BILLING_TABLES, period_of_file
from ._files import batch_of
from ._fs import Location
from ._layout import ACTIVE_DIR, PARTITIONED, STAGING_DIR, TABLE_SPECS, file_partition
from ._state import State, write_state

__all__ = ["adopt", "clear_staging", "final_index", "repair"]


def _run_ids(loc: Location, rel: str) -> list[str]:
    return pq.read_table(loc.path(rel), columns=["run_id"], filesystem=loc.filesystem)["run_id"].to_pylist()


def final_index(loc: Location, state: State) -> dict[str, tuple[int, str]]:
    """run_id -> partition of every committed (finished) run in the trees."""
    out: dict[str, tuple[int, str]] = {}
    for f in state.files.get("runs", []):
        part = file_partition(f)
        for rid in _run_ids(loc, f):
            out[rid] = part  # type: ignore[assignment]
    return out


def repair(loc: Location, state: State) -> str | None:
    """Drop what the state names but is gone (e.g. lost in a power cut after state.json was
    written): the partitions of lost tree files (their other files go back to adoption,
    which keeps the complete units), lost active runs, a lost facts file. The affected
    workspaces are marked incomplete, so their next sync lists everything."""
    # (on an object store: one listing per folder, not a request per file)
    present = loc.existing([*(f for fs in (*state.files.values(), *state.active.values()) for f in fs),
                            *([state.facts] if state.facts else [])])
    missing = {(t, f) for t, files in state.files.items() for f in files if f not in present}
    lost_active = [rid for rid, fs in state.active.items() if any(f not in present for f in fs)]
    lost_facts = state.facts is not None and state.facts not in present
    if not missing and not lost_active and not lost_facts:
        return None
    # A lost billing file: its period of the bill goes (both tables), to be imported again.
    lost_periods = {period_of_file(f) for t, f in missing if t in BILLING_TABLES}
    for table in BILLING_TABLES:
        if table in state.files:
            state.files[table] = [f for f in state.files[table] if period_of_file(f) not in lost_periods]
    broken = {file_partition(f) for t, f in missing if t in PARTITIONED} - {None}
    for table in PARTITIONED:
        state.files[table] = [f for f in state.files.get(table, [])
                              if file_partition(f) not in broken and (table, f) not in missing]
    if any(t == "workspaces" for t, _ in missing):
        state.files["workspaces"] = []
    for rid in lost_active:
        for f in state.active.pop(rid):
            loc.delete(f)
    keys = {str(w) for w, _ in broken}  # type: ignore[misc]
    if lost_facts:
        state.facts = None
    if lost_facts or lost_active:
        keys |= set(state.workspaces)
    for key in keys:
        if key in state.workspaces:
            state.workspaces[key].complete = False
    state.generation += 1
    write_state(loc, state)
    months = ", ".join(f"workspace {w} {m}" for w, m in sorted(broken))  # type: ignore[misc]
    lost = len(missing) + len(lost_active) + int(lost_facts)
    if lost_periods and not broken and not lost_active and not lost_facts and \
            not any(t == "workspaces" for t, _ in missing):
        return (f"The cache at {loc.display} had lost {lost} billing file(s); dropped the bill of "
                f"{', '.join(sorted(p or '?' for p in lost_periods))}: import it again "
                "(`seqera-analytics cur import FILES`).")
    return (f"The cache at {loc.display} had lost {lost} file(s); dropped the affected parts "
            f"({months or 'active runs, facts or the workspaces table'}): their runs are fetched again.")


def adopt(loc: Location, state: State, final: dict[str, tuple[int, str]]) -> int:
    """Adopt the complete units a killed sync left in the trees, delete the rest of its
    files (see the module doc). Commits the state when it adopted anything.

    Returns
    -------
    int
        Runs adopted.
    """
    live = {f for files in state.files.values() for f in files}
    orphans: set[str] = set()
    for table in TABLE_SPECS:
        # Only files this package names (part-<...>.parquet[.tmp]) are ever touched.
        for rel in loc.list_files(table, "part-*.parquet*"):
            if rel in live:
                continue
            if rel.endswith(".parquet"):
                orphans.add(rel)
            else:
                loc.delete(rel)  # an older release's .tmp
    batches: dict[str, list[str]] = {}
    for rel in sorted(orphans):
        batch = batch_of(loc, rel)
        if batch is None or batch.get("kind") != "commit" or rel not in batch["files"]:
            loc.delete(rel)
            orphans.discard(rel)
        else:
            batches.setdefault(batch["id"], batch["files"])
    adopted = 0
    dropped_active: list[str] = []
    for files in batches.values():
        units: dict[tuple[int, str] | None, list[str]] = defaultdict(list)
        for f in files:
            units[file_partition(f)].append(f)
        for part, rels in units.items():
            present = [r for r in rels if r in orphans]
            runs_files = [r for r in rels if r.startswith("runs/")]
            ids: list[str] = []
            ok = part is not None and bool(runs_files) and len(present) == len(rels)
            if ok:
                try:
                    for r in runs_files:
                        ids += _run_ids(loc, r)
                except (OSError, ValueError):
                    ok = False
            if ok and not set(ids) & final.keys():
                for r in rels:
                    state.files.setdefault(r.split("/", 1)[0], []).append(r)
                for rid in ids:
                    final[rid] = part  # type: ignore[assignment]
                    dropped_active += state.active.pop(rid, [])
                adopted += len(ids)
            else:
                for r in present:
                    loc.delete(r)
            for r in present:
                orphans.discard(r)
    if adopted:
        # Written now: no workspace's sync needs to fetch them again.
        mine = set(final)
        for ws in state.workspaces.values():
            ws.pending = [r for r in ws.pending if r not in mine]
        state.generation += 1
        write_state(loc, state)
        for f in dropped_active:
            loc.delete(f)
    loc.remove_empty_dirs((*TABLE_SPECS, ACTIVE_DIR), _removable)
    return adopted


def clear_staging(loc: Location, state: State) -> None:
    """Remove what a killed writer left half-written, and active files no state names."""
    loc.delete_tree(STAGING_DIR)
    loc.delete("state.json.tmp")
    live = {f for fs in state.active.values() for f in fs}
    if state.facts:
        live.add(state.facts)
    for area in (ACTIVE_DIR, "_facts"):
        for rel in loc.list_files(area, "*.parquet"):
            if rel not in live:
                loc.delete(rel)


def _removable(name: str, parent: str) -> bool:
    """Partition folders (and the active area's table folders) may go when empty."""
    return name.startswith(("workspace_id=", "month=")) or parent == ACTIVE_DIR
