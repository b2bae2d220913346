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
  ``service-info.json``. A directory holding these files (an unpacked dump) works too. An
  archive packing several dumps in folders (``runA/workflow.json``, ``runB/workflow.json``...)
  holds one run per folder: files are grouped by folder, never mixed across runs.

Malformed input (a ``workflow`` without ``id``, a ``meta`` or ``metrics`` of the wrong shape...)
raises :class:`~seqera_analytics.DataFormatError` naming the file and what is wrong. Values
inside the records are not checked here: the frame builders read them leniently.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ._exceptions import DataFormatError

__all__ = ["RunBundle", "bundled_runs_dir", "iter_run_bundles", "read_run_bundle", "read_run_bundles"]

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


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return type(value).__name__


def _bad(file: str, field: str, problem: str) -> DataFormatError:
    """``"{file}: '{field}' {problem}"`` (no field: the file's whole content is meant)."""
    return DataFormatError(f"{file}: '{field}' {problem}" if field else f"{file}: {problem}")


def _object(value: Any, file: str, field: str = "") -> dict[str, Any]:
    """``value`` if it is a JSON object; ``{}`` for null; else a DataFormatError."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(file, field, f"must be an object, got {_json_type(value)}")
    return value


def _objects(value: Any, file: str, field: str = "") -> list[dict[str, Any]]:
    """``value`` if it is a list of JSON objects; ``[]`` for null; else a DataFormatError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(file, field, f"must be a list, got {_json_type(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise DataFormatError(f"{file}: {field}[{i}] is not an object (got {_json_type(item)})")
    return value


def _string(value: Any, file: str, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _bad(file, field, f"must be a string, got {_json_type(value)}")


def _integer(value: Any, file: str, field: str) -> int | None:
    """An id: an integer, or a string of one (``"123"``); null stays ``None``."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _bad(file, field, f"must be an integer, got {_json_type(value)} {value!r:.40}")


def _workflow(value: Any, file: str, field: str = "") -> dict[str, Any]:
    """The ``workflow`` object, checked to carry a run id (a non-empty string or an integer)."""
    workflow = _object(value, file, field)
    run_id = workflow.get("id")
    if run_id is None or run_id == "":
        raise DataFormatError(f"{file}: the workflow has no run id ('id' is missing or null)")
    if isinstance(run_id, bool) or not isinstance(run_id, (str, int)):
        raise DataFormatError(f"{file}: the run id ('workflow.id') must be a string, got {_json_type(run_id)}")
    return workflow


def _labels(raw: Any, file: str, field: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if raw is None:
        return out
    if not isinstance(raw, list):
        raise _bad(file, field, f"must be a list, got {_json_type(raw)}")
    for i, lab in enumerate(raw):
        if isinstance(lab, dict):
            name = lab.get("name")
            if name is None or name == "":
                continue  # a label without a name says nothing
            if not isinstance(name, str):
                raise DataFormatError(f"{file}: {field}[{i}].name must be a string, got {_json_type(name)}")
            out.append({"name": name, "value": lab.get("value"), "resource": bool(lab.get("resource"))})
        elif isinstance(lab, str):
            if lab:
                out.append({"name": lab, "value": None, "resource": False})
        else:
            raise DataFormatError(f"{file}: {field}[{i}] must be a label object or a name, got {_json_type(lab)}")
    return out


def _unwrap_tasks(raw: Any, file: str, field: str = "") -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise _bad(file, field, f"must be a list, got {_json_type(raw)}")
    tasks = []
    for i, item in enumerate(raw):
        task = item.get("task", item) if isinstance(item, dict) else item
        if not isinstance(task, dict):
            raise DataFormatError(f"{file}: {field}[{i}] is not an object (got {_json_type(task)})")
        tasks.append(task)
    return tasks


def _progress(raw: Any, file: str) -> dict[str, Any]:
    """A bundle's ``progress``: an object whose ``workflowProgress`` is an object and whose
    ``processesProgress`` is a list of objects (any of them may be null or absent)."""
    progress = _object(raw, file, "progress")
    # Some captures hold the whole GET /progress response rather than its .progress.
    if "progress" in progress and "workflowProgress" not in progress:
        progress = _object(progress["progress"], file, "progress.progress")
    _object(progress.get("workflowProgress"), file, "progress.workflowProgress")
    _objects(progress.get("processesProgress"), file, "progress.processesProgress")
    return progress


def _from_bundle_json(path: Path) -> RunBundle:
    file = str(path)
    data = _load_json(path.read_bytes(), file)
    if not isinstance(data, dict) or not isinstance(data.get("workflow"), dict):
        raise DataFormatError(f"{file}: not a run bundle (no 'workflow' object)")
    meta = _object(data.get("meta"), file, "meta")
    labels, labels_field = data.get("labels"), "labels"
    if labels is None:
        labels, labels_field = meta.get("labels"), "meta.labels"
    return RunBundle(
        workflow=_workflow(data["workflow"], file, "workflow"),
        tasks=_unwrap_tasks([] if data.get("tasks") is None else data["tasks"], file, "tasks"),
        metrics=_objects(data.get("metrics"), file, "metrics"),
        progress=_progress(data.get("progress"), file),
        workspace=_string(meta.get("workspace"), file, "meta.workspace"),
        labels=_labels(labels, file, labels_field),
        meta=meta,
        source=file,
    )


#: The JSON files ``tw runs dump`` writes about the run; a folder holding any of them is a dump.
_DUMP_FILES = frozenset({
    "workflow.json", "workflow-tasks.json", "workflow-metrics.json", "workflow-load.json",
    "workflow-metadata.json", "workflow-launch.json",
})


def _from_dump_files(files: dict[str, bytes], source: str, prefix: str) -> RunBundle:
    """One dump from its files by name. ``source`` becomes :attr:`RunBundle.source`; a file
    is named ``{prefix}{name}`` in messages."""
    missing = [name for name in _DUMP_REQUIRED if name not in files]
    if missing:
        raise DataFormatError(f"{source}: not a tw runs dump, missing {', '.join(missing)}")

    def load(name: str) -> tuple[Any, str]:
        file = f"{prefix}{name}"
        return (_load_json(files[name], file) if name in files else None), file

    workflow = _workflow(*load("workflow.json"))
    tasks = _unwrap_tasks(*load("workflow-tasks.json"))
    metrics = _objects(*load("workflow-metrics.json"))
    progress = _object(*load("workflow-load.json"))
    meta, mfile = load("workflow-metadata.json")
    meta = _object(meta, mfile)
    org = _string(meta.get("organizationName"), mfile, "organizationName")
    ws = _string(meta.get("workspaceName"), mfile, "workspaceName")
    return RunBundle(
        workflow=workflow,
        tasks=tasks,
        metrics=metrics,
        progress={"workflowProgress": progress, "processesProgress": []} if progress else {},
        workspace=f"{org}/{ws}" if org and ws else None,
        org_id=_integer(meta.get("organizationId"), mfile, "organizationId"),
        workspace_id=_integer(meta.get("workspaceId"), mfile, "workspaceId"),
        labels=_labels(meta.get("labels"), mfile, "labels"),
        meta=meta,
        source=source,
    )


def _from_dump_archive(path: Path) -> list[RunBundle]:
    """Every dump in an archive: one at its root or in a folder, or several, one per folder.

    Files are grouped by the folder they are in, so the files of one run never mix with
    another's.
    """
    folders: dict[str, dict[str, bytes]] = {}
    try:
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                parts = [p for p in PurePosixPath(member.name).parts if p not in ("/", ".", "")]
                if not parts or parts[-1] not in _DUMP_FILES:
                    continue
                fh = tar.extractfile(member)
                if fh is not None:
                    folders.setdefault("/".join(parts[:-1]), {})[parts[-1]] = fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: cannot read the archive: {exc}") from exc
    if len(folders) <= 1:  # the usual case: one dump, at the root or in a folder
        folder, files = next(iter(folders.items()), ("", {}))
        return [_from_dump_files(files, str(path), f"{path}:{folder}/" if folder else f"{path}:")]
    return [_from_dump_files(files, f"{path}:{folder or '.'}", f"{path}:{folder}/" if folder else f"{path}:")
            for folder, files in sorted(folders.items())]


def _is_unpacked_dump(directory: Path) -> bool:
    return any((directory / name).is_file() for name in _DUMP_FILES)


def _from_dump_dir(directory: Path) -> RunBundle:
    files = {f.name: f.read_bytes() for f in directory.glob("*.json") if f.is_file()}
    return _from_dump_files(files, str(directory), f"{directory}{os.sep}")


def read_run_bundles(path: str | Path) -> list[RunBundle]:
    """Every run in one file or unpacked dump directory.

    A run bundle ``*.json`` and an unpacked dump hold one run; a ``tw runs dump`` archive
    holds one, or several when it packs several dump folders (``runA/workflow.json``,
    ``runB/workflow.json``...): each folder is read as its own run, in folder name order.

    Raises
    ------
    DataFormatError
        The path does not exist, is not one of the formats, or holds malformed JSON (the
        message names the file and what is wrong).
    """
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file or directory")
    if p.is_dir():
        return [_from_dump_dir(p)]
    name = p.name.lower()
    if name.endswith(_DUMP_SUFFIXES):
        return _from_dump_archive(p)
    if name.endswith(".json"):
        return [_from_bundle_json(p)]
    raise DataFormatError(
        f"{p}: unknown format; expected a run bundle .json or a tw runs dump archive "
        f"({', '.join(_DUMP_SUFFIXES)})"
    )


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
        The path does not exist, is not one of the formats, holds malformed JSON, or is an
        archive of several dumps (read those with :func:`read_run_bundles`).
    """
    bundles = read_run_bundles(path)
    if len(bundles) != 1:
        raise DataFormatError(
            f"{path}: holds {len(bundles)} tw runs dumps ({', '.join(b.source for b in bundles)}), not one; "
            "read them with read_run_bundles() or seqera_analytics.load_dump()"
        )
    return bundles[0]


def _is_run_file(p: Path) -> bool:
    name = p.name.lower()
    return p.is_file() and (name.endswith(".json") or name.endswith(_DUMP_SUFFIXES))


def iter_run_bundles(directory: str | Path) -> Iterator[RunBundle]:
    """Read every run bundle and dump archive in ``directory``, sorted by name.

    Not recursive, except that a sub-directory holding an unpacked dump (its
    ``workflow.json``...) is read as one run. An archive of several dumps yields each.

    Raises
    ------
    DataFormatError
        The directory does not exist, or a file in it cannot be read.
    """
    d = Path(directory)
    if not d.is_dir():
        raise DataFormatError(f"{d}: not a directory of runs")
    for p in sorted(d.iterdir()):
        if _is_run_file(p) or (p.is_dir() and _is_unpacked_dump(p)):
            yield from read_run_bundles(p)
