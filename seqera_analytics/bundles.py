"""Read captured runs from disk: nf-aggregate run bundles and ``tw runs dump`` archives.

This is the offline twin of :mod:`seqera_analytics.api`: it returns the same raw API records
(plain ``dict``/``list`` JSON, camelCase keys, tasks unwrapped from ``{"task": ...}``), so the
frame builders, the emulator and offline import all consume one shape. No pandas here.

Two formats are understood:

* **Run bundle** (``*.json``, the nf-aggregate dump format, as in ``data/real-runs/``):
  ``{"workflow": GET /workflow/{id} .workflow, "tasks": [all pages of GET /workflow/{id}/tasks
  .tasks, each {"task": ...}], "metrics": GET /workflow/{id}/metrics .metrics, "progress":
  GET /workflow/{id}/progress .progress, "meta": {"id", "workspace": "org/workspace", ...}}``.
* **tw runs dump** (``*.tar.gz``/``*.tgz``/``*.tar.xz``/``*.tar``, written by ``tw runs dump``):
  ``workflow.json``, ``workflow-tasks.json`` (unwrapped tasks), ``workflow-metrics.json``,
  ``workflow-load.json`` (only ``progress.workflowProgress``; tw does not save
  ``processesProgress``), ``workflow-metadata.json`` (org/workspace ids and names, labels),
  ``service-info.json``. A directory holding these files (an unpacked dump) works too.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._exceptions import DataFormatError

__all__ = ["RunBundle", "bundled_runs_dir", "iter_run_bundles", "read_run_bundle"]

_DUMP_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar")
_DUMP_REQUIRED = ("workflow.json", "workflow-tasks.json")


@dataclass
class RunBundle:
    """One captured run as raw API records.

    Attributes
    ----------
    workflow : dict
        ``GET /workflow/{id}`` ``.workflow`` (camelCase keys, as the API sends them).
    tasks : list[dict]
        Every task of the run, unwrapped (``Task`` objects, not ``{"task": ...}``).
    metrics : list[dict]
        ``GET /workflow/{id}/metrics`` ``.metrics`` (may be empty).
    progress : dict
        ``GET /workflow/{id}/progress`` ``.progress``: ``workflowProgress``,
        ``processesProgress`` (empty for tw dumps, which do not save it), ``totalProcesses``.
    workspace : str or None
        ``"org/workspace"`` the run belongs to, when the source says.
    org_id, workspace_id : int or None
        Numeric ids, when the source has them (tw dumps do; run bundles do not).
    labels : list[dict]
        Run labels as ``{"name", "value", "resource"}`` records.
    meta : dict
        The source's own metadata (bundle ``meta`` or dump ``workflow-metadata.json``).
    source : str
        Where the bundle was read from.
    """

    workflow: dict[str, Any]
    tasks: list[dict[str, Any]]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    progress: dict[str, Any] = field(default_factory=dict)
    workspace: str | None = None
    org_id: int | None = None
    workspace_id: int | None = None
    labels: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def run_id(self) -> str:
        """The workflow run id (``workflow.id``)."""
        return str(self.workflow["id"])


def bundled_runs_dir() -> Path:
    """The directory of real runs shipped with the project (``data/real-runs``).

    Looks inside the installed package first (wheels carry a copy), then in the source
    checkout next to the package (editable installs).

    Raises
    ------
    DataFormatError
        If neither location exists.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / "real-runs", here.parent / "data" / "real-runs"):
        if candidate.is_dir():
            return candidate
    raise DataFormatError(
        "The bundled real runs are missing: expected data/real-runs next to the package. "
        "Reinstall seqera-analytics or pass the runs directory explicitly."
    )


def _load_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise DataFormatError(f"{what} is not valid JSON: {exc}") from exc


def _labels(raw: Any) -> list[dict[str, Any]]:
    out = []
    for lab in raw or []:
        if isinstance(lab, dict) and lab.get("name"):
            out.append({"name": lab["name"], "value": lab.get("value"), "resource": bool(lab.get("resource"))})
        elif isinstance(lab, str) and lab:
            out.append({"name": lab, "value": None, "resource": False})
    return out


def _unwrap_tasks(raw: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise DataFormatError(f"{what}: 'tasks' must be a list, got {type(raw).__name__}")
    tasks = []
    for item in raw:
        task = item.get("task", item) if isinstance(item, dict) else None
        if not isinstance(task, dict):
            raise DataFormatError(f"{what}: a task entry is not an object")
        tasks.append(task)
    return tasks


def _from_bundle_json(path: Path) -> RunBundle:
    data = _load_json(path.read_bytes(), str(path))
    if not isinstance(data, dict) or not isinstance(data.get("workflow"), dict):
        raise DataFormatError(f"{path}: not a run bundle (no 'workflow' object)")
    meta = data.get("meta") or {}
    progress = data.get("progress") or {}
    # Some captures hold the whole GET /progress response rather than its .progress.
    if "progress" in progress and "workflowProgress" not in progress:
        progress = progress["progress"] or {}
    return RunBundle(
        workflow=data["workflow"],
        tasks=_unwrap_tasks(data.get("tasks") or [], str(path)),
        metrics=list(data.get("metrics") or []),
        progress=progress,
        workspace=meta.get("workspace"),
        labels=_labels(data.get("labels") or meta.get("labels")),
        meta=meta,
        source=str(path),
    )


def _from_dump_files(files: dict[str, bytes], source: str) -> RunBundle:
    missing = [name for name in _DUMP_REQUIRED if name not in files]
    if missing:
        raise DataFormatError(f"{source}: not a tw runs dump, missing {', '.join(missing)}")
    workflow = _load_json(files["workflow.json"], f"{source}:workflow.json")
    tasks = _load_json(files["workflow-tasks.json"], f"{source}:workflow-tasks.json")
    metrics = _load_json(files["workflow-metrics.json"], f"{source}:workflow-metrics.json") if "workflow-metrics.json" in files else []
    load = _load_json(files["workflow-load.json"], f"{source}:workflow-load.json") if "workflow-load.json" in files else None
    meta = _load_json(files["workflow-metadata.json"], f"{source}:workflow-metadata.json") if "workflow-metadata.json" in files else {}
    if not isinstance(workflow, dict) or "id" not in workflow:
        raise DataFormatError(f"{source}: workflow.json has no run id")
    org, ws = meta.get("organizationName"), meta.get("workspaceName")
    return RunBundle(
        workflow=workflow,
        tasks=_unwrap_tasks(tasks, f"{source}:workflow-tasks.json"),
        metrics=list(metrics or []),
        progress={"workflowProgress": load, "processesProgress": []} if load else {},
        workspace=f"{org}/{ws}" if org and ws else None,
        org_id=meta.get("organizationId"),
        workspace_id=meta.get("workspaceId"),
        labels=_labels(meta.get("labels")),
        meta=meta,
        source=source,
    )


def _from_dump_archive(path: Path) -> RunBundle:
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(".json"):
                    fh = tar.extractfile(member)
                    if fh is not None:
                        files[Path(member.name).name] = fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: cannot read the archive: {exc}") from exc
    return _from_dump_files(files, str(path))


def read_run_bundle(path: str | Path) -> RunBundle:
    """Read one captured run, whatever its format.

    Parameters
    ----------
    path : str or Path
        A run bundle ``*.json``, a ``tw runs dump`` archive (``.tar.gz``, ``.tgz``,
        ``.tar.xz``, ``.tar``), or a directory holding an unpacked dump.

    Returns
    -------
    RunBundle

    Raises
    ------
    DataFormatError
        The path does not exist, is not one of the formats, or holds invalid JSON.
    """
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file or directory")
    if p.is_dir():
        files = {f.name: f.read_bytes() for f in p.glob("*.json")}
        return _from_dump_files(files, str(p))
    name = p.name.lower()
    if name.endswith(_DUMP_SUFFIXES):
        return _from_dump_archive(p)
    if name.endswith(".json"):
        return _from_bundle_json(p)
    raise DataFormatError(
        f"{p}: unknown format; expected a run bundle .json or a tw runs dump archive "
        f"({', '.join(_DUMP_SUFFIXES)})"
    )


def iter_run_bundles(directory: str | Path) -> Iterator[RunBundle]:
    """Read every run bundle and dump archive in ``directory`` (not recursive), sorted by name.

    Raises
    ------
    DataFormatError
        The directory does not exist, or a file in it cannot be read.
    """
    d = Path(directory)
    if not d.is_dir():
        raise DataFormatError(f"{d}: not a directory of runs")
    for p in sorted(d.iterdir()):
        if p.is_file() and (p.name.lower().endswith(".json") or p.name.lower().endswith(_DUMP_SUFFIXES)):
            yield read_run_bundle(p)
