"""Reading captured runs from disk: several dumps in one archive, the same run twice, empty
directories and malformed bundles (every one a DataFormatError naming the file).

Bad inputs are built in ``tmp_path`` from the bundled real runs; expected values come from
the raw JSON read here with ``json``, never from the code under test.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from seqera_analytics import bundles as B
from seqera_analytics._exceptions import DataFormatError
from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles, read_run_bundle
from seqera_analytics.fetch import load_dump

RAW_PATHS = sorted(bundled_runs_dir().glob("*.json"))
RAW = [json.loads(p.read_text()) for p in RAW_PATHS]
DUMP = bundled_runs_dir().parent / "tw-runs-dump" / "50CueCkLKqyOeH.tar.gz"


def dump_files(bundle: dict[str, Any], *, load: dict[str, Any] | None = None) -> dict[str, Any]:
    """The files ``tw runs dump`` writes for one run bundle (unwrapped tasks)."""
    files: dict[str, Any] = {
        "workflow.json": bundle["workflow"],
        "workflow-tasks.json": [t["task"] for t in bundle["tasks"]],
        "workflow-metrics.json": bundle["metrics"],
    }
    if load is not None:
        files["workflow-load.json"] = load
    return files


def write_tar(path: Path, files: dict[str, Any], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            raw = data if isinstance(data, bytes) else json.dumps(data).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------------------- 1. several dumps in one archive
def two_dump_tar(tmp_path: Path) -> tuple[Path, dict, dict]:
    a, b = RAW[0], RAW[1]
    load_a = {**a["progress"]["workflowProgress"], "cost": 123456.0}
    files = {f"runA/{n}": d for n, d in dump_files(a, load=load_a).items()}
    files.update({f"runB/{n}": d for n, d in dump_files(b).items()})
    return write_tar(tmp_path / "two.tar.gz", files), a, b


def test_tar_with_two_dump_folders_reads_each_folder_as_its_own_run(tmp_path):
    path, a, b = two_dump_tar(tmp_path)
    data = load_dump(path)
    ida, idb = a["workflow"]["id"], b["workflow"]["id"]
    assert sorted(data.runs.run_id) == sorted([ida, idb])
    runs = data.runs.set_index("run_id")
    assert runs.loc[ida, "cost"] == 123456.0  # A's workflow-load.json stays with A
    assert pd.isna(runs.loc[idb, "cost"])  # B has none and gets none
    counts = data.tasks.run_id.value_counts()
    assert counts[ida] == len(a["tasks"]) and counts[idb] == len(b["tasks"])
    by_run = data.tasks.set_index(["run_id", "task_id"])
    for raw in (a, b):
        t0 = raw["tasks"][0]["task"]
        assert by_run.loc[(raw["workflow"]["id"], t0["taskId"]), "hash"] == t0["hash"]
    metrics_runs = set(data.process_metrics.run_id)
    assert metrics_runs == {ida, idb}


def test_read_run_bundles_returns_one_bundle_per_folder_with_its_source(tmp_path):
    path, a, b = two_dump_tar(tmp_path)
    bundles = B.read_run_bundles(path)
    assert [x.run_id for x in bundles] == [a["workflow"]["id"], b["workflow"]["id"]]
    assert bundles[0].source.endswith("runA") and bundles[1].source.endswith("runB")
    assert [len(x.tasks) for x in bundles] == [len(a["tasks"]), len(b["tasks"])]


def test_read_run_bundle_refuses_an_archive_holding_several_runs(tmp_path):
    path, _, _ = two_dump_tar(tmp_path)
    with pytest.raises(DataFormatError, match=r"2 tw runs dumps.*runA.*runB"):
        read_run_bundle(path)


def test_a_dump_folder_without_workflow_json_is_named(tmp_path):
    a, b = RAW[0], RAW[1]
    files = {f"runA/{n}": d for n, d in dump_files(a).items()}
    files.update({f"runB/{n}": d for n, d in dump_files(b).items() if n != "workflow.json"})
    path = write_tar(tmp_path / "broken.tar.gz", files)
    with pytest.raises(DataFormatError, match=r"broken\.tar\.gz:runB.*missing workflow\.json"):
        load_dump(path)


def test_a_single_dump_inside_a_folder_still_reads(tmp_path):
    a = RAW[0]
    path = write_tar(tmp_path / "one.tar.gz", {f"./export/{n}": d for n, d in dump_files(a).items()})
    data = load_dump(path)
    assert list(data.runs.run_id) == [a["workflow"]["id"]] and len(data.tasks) == len(a["tasks"])


def test_a_directory_of_unpacked_dump_folders_reads_every_run(tmp_path):
    for name, raw in (("runA", RAW[0]), ("runB", RAW[1])):
        for fname, content in dump_files(raw).items():
            write_json(tmp_path / "unpacked" / name / fname, content)
    data = load_dump(tmp_path / "unpacked")
    assert sorted(data.runs.run_id) == sorted([RAW[0]["workflow"]["id"], RAW[1]["workflow"]["id"]])
    assert len(data.tasks) == len(RAW[0]["tasks"]) + len(RAW[1]["tasks"])


# ---------------------------------------------------------------------------- 2. the same run twice
def test_same_run_as_bundle_and_dump_in_one_directory_is_read_once_with_a_warning(tmp_path):
    d = tmp_path / "runs"
    d.mkdir()
    shutil.copy(DUMP, d / "50CueCkLKqyOeH.tar.gz")
    bundle = next(p for p in RAW_PATHS if p.stem == "50CueCkLKqyOeH")
    shutil.copy(bundle, d / "50CueCkLKqyOeH.json")
    raw = json.loads(bundle.read_text())
    with pytest.warns(UserWarning, match=r"50CueCkLKqyOeH.*50CueCkLKqyOeH\.json.*50CueCkLKqyOeH\.tar\.gz"):
        data = load_dump(d)
    assert list(data.runs.run_id) == ["50CueCkLKqyOeH"]
    assert len(data.tasks) == len(raw["tasks"]) and not data.tasks.duplicated(["run_id", "task_id"]).any()
    # The first in sorted path order (the .json bundle) is kept: it has processesProgress, the dump has not.
    assert len(data.process_progress) == len(raw["progress"]["processesProgress"])
    assert data.runs.cost.iloc[0] == pytest.approx(raw["progress"]["workflowProgress"]["cost"])


def test_same_run_in_two_given_paths_is_read_once(tmp_path):
    a = shutil.copy(RAW_PATHS[0], tmp_path / "a.json")
    b = shutil.copy(RAW_PATHS[0], tmp_path / "b.json")
    with pytest.warns(UserWarning, match=r"a\.json.*b\.json"):
        data = load_dump([a, b])
    assert len(data.runs) == 1 and len(data.tasks) == len(RAW[0]["tasks"])


def test_same_run_twice_inside_one_archive_is_read_once(tmp_path):
    a = RAW[0]
    files = {f"x/{n}": d for n, d in dump_files(a).items()}
    files.update({f"y/{n}": d for n, d in dump_files(a).items()})
    path = write_tar(tmp_path / "twice.tar.gz", files)
    with pytest.warns(UserWarning, match=r"twice\.tar\.gz:x.*twice\.tar\.gz:y"):
        data = load_dump(path)
    assert len(data.runs) == 1 and len(data.tasks) == len(a["tasks"])


# ---------------------------------------------------------------------------- 3. nothing to read
def test_an_empty_directory_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match=r"no run bundles \(\*\.json\) or tw runs dump archives in .*empty"):
        load_dump(tmp_path / "empty")


def test_a_directory_without_runs_is_an_error(tmp_path):
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "readme.txt").write_text("hi")
    (tmp_path / "txt" / "sub").mkdir()
    with pytest.raises(DataFormatError, match=r"no run bundles .* in .*txt"):
        load_dump(tmp_path / "txt")


def test_the_bundled_runs_directory_still_reads():
    data = load_dump(bundled_runs_dir())
    assert sorted(data.runs.run_id) == sorted(r["workflow"]["id"] for r in RAW)
    assert len(data.tasks) == sum(len(r["tasks"]) for r in RAW)
    assert len(list(iter_run_bundles(bundled_runs_dir()))) == len(RAW)


# ---------------------------------------------------------------------------- 4. malformed bundles
def _bundle(**changes: Any) -> dict[str, Any]:
    raw = json.loads(RAW_PATHS[0].read_text())
    for key, value in changes.items():
        if key == "workflow_id":
            if value is _DROP:
                del raw["workflow"]["id"]
            else:
                raw["workflow"]["id"] = value
        else:
            raw[key] = value
    return raw


_DROP = object()

BAD_BUNDLES = {
    "workflow without id": ({"workflow_id": _DROP}, r"workflow has no run id"),
    "workflow id null": ({"workflow_id": None}, r"workflow has no run id"),
    "workflow id an object": ({"workflow_id": {"a": 1}}, r"run id .*must be a string.*dict"),
    "workflow not an object": ({"workflow": [1]}, r"no 'workflow' object"),
    "meta a list": ({"meta": ["x"]}, r"'meta' must be an object, got list"),
    "meta.workspace an object": ({"meta": {"workspace": {"a": 1}}}, r"'meta.workspace' must be a string"),
    "metrics an object": ({"metrics": {"a": 1}}, r"'metrics' must be a list, got dict"),
    "metrics with nulls": ({"metrics": [None]}, r"metrics\[0\] is not an object \(got null\)"),
    "progress a list": ({"progress": [1]}, r"'progress' must be an object, got list"),
    "workflowProgress a list": ({"progress": {"workflowProgress": [1], "processesProgress": []}},
                                r"progress.workflowProgress' must be an object, got list"),
    "processesProgress junk": ({"progress": {"workflowProgress": {}, "processesProgress": [None]}},
                               r"progress.processesProgress\[0\] is not an object \(got null\)"),
    "processesProgress an object": ({"progress": {"workflowProgress": {}, "processesProgress": {"a": 1}}},
                                    r"progress.processesProgress' must be a list, got dict"),
    "labels a string": ({"labels": "abc"}, r"'labels' must be a list, got str"),
    "labels with a number": ({"labels": [5]}, r"labels\[0\] .*got int"),
    "tasks an object": ({"tasks": {"a": 1}}, r"'tasks' must be a list, got dict"),
    "task entry null": ({"tasks": [None]}, r"tasks\[0\] is not an object"),
    "task wrapper null": ({"tasks": [{"task": None}]}, r"tasks\[0\] is not an object"),
}


@pytest.mark.parametrize("changes, message", BAD_BUNDLES.values(), ids=BAD_BUNDLES.keys())
def test_a_malformed_run_bundle_is_a_data_format_error_naming_the_file(tmp_path, changes, message):
    path = write_json(tmp_path / "bad-bundle.json", _bundle(**changes))
    with pytest.raises(DataFormatError, match=message) as err:
        load_dump(path)
    assert "bad-bundle.json" in str(err.value)


def _dump(**changes: Any) -> dict[str, Any]:
    raw = RAW[0]
    files = dump_files(raw, load=raw["progress"]["workflowProgress"])
    files["workflow-metadata.json"] = {"organizationId": 1, "organizationName": "org", "workspaceId": 2,
                                       "workspaceName": "ws", "labels": []}
    for name, value in changes.items():
        if value is _DROP:
            files.pop(name)
        else:
            files[name] = value
    return files


BAD_DUMPS = {
    "metadata a list": ({"workflow-metadata.json": []}, r"workflow-metadata\.json: must be an object, got list"),
    "metadata workspaceId an object": (
        {"workflow-metadata.json": {"workspaceId": {"a": 1}}}, r"workflow-metadata\.json: 'workspaceId' must be an integer"),
    "metadata names not strings": (
        {"workflow-metadata.json": {"organizationName": 5, "workspaceName": "w"}},
        r"workflow-metadata\.json: 'organizationName' must be a string"),
    "metadata labels an object": (
        {"workflow-metadata.json": {"labels": {"a": 1}}}, r"workflow-metadata\.json: 'labels' must be a list"),
    "load a list": ({"workflow-load.json": [1, 2]}, r"workflow-load\.json: must be an object, got list"),
    "metrics an object": ({"workflow-metrics.json": {"a": 1}}, r"workflow-metrics\.json: must be a list, got dict"),
    "metrics with nulls": ({"workflow-metrics.json": [None]}, r"workflow-metrics\.json: \[0\] is not an object"),
    "workflow without id": ({"workflow.json": {"runName": "x"}}, r"workflow\.json: the workflow has no run id"),
    "workflow a list": ({"workflow.json": [1]}, r"workflow\.json: must be an object, got list"),
    "tasks an object": ({"workflow-tasks.json": {"a": 1}}, r"workflow-tasks\.json: must be a list, got dict"),
    "invalid json": ({"workflow-load.json": b"{nope"}, r"workflow-load\.json is not valid JSON"),
    "no workflow.json": ({"workflow.json": _DROP}, r"missing workflow\.json"),
}


@pytest.mark.parametrize("changes, message", BAD_DUMPS.values(), ids=BAD_DUMPS.keys())
def test_a_malformed_dump_is_a_data_format_error_naming_the_archive_and_file(tmp_path, changes, message):
    path = write_tar(tmp_path / "bad-dump.tar.gz", _dump(**changes))
    with pytest.raises(DataFormatError, match=message) as err:
        load_dump(path)
    assert "bad-dump.tar.gz" in str(err.value)


def test_a_malformed_unpacked_dump_directory_is_named(tmp_path):
    for name, content in _dump(**{"workflow-metadata.json": []}).items():
        write_json(tmp_path / "unpacked" / name, content)
    with pytest.raises(DataFormatError, match=r"unpacked.workflow-metadata\.json: must be an object"):
        load_dump(tmp_path / "unpacked")


def test_dump_metadata_ids_as_numeric_strings_are_read_as_integers(tmp_path):
    meta = {"organizationId": "11", "organizationName": "org", "workspaceId": "22", "workspaceName": "ws"}
    path = write_tar(tmp_path / "ok.tar.gz", _dump(**{"workflow-metadata.json": meta}))
    data = load_dump(path)
    assert data.runs.workspace_id.iloc[0] == 22 and data.runs.org_id.iloc[0] == 11
    assert (data.tasks.workspace_id == 22).all() and data.runs.workspace.iloc[0] == "org/ws"


def test_out_of_range_task_values_become_na_not_an_error(tmp_path):
    raw = _bundle()
    task = raw["tasks"][0]["task"]
    task.update(memory=2**64, peakRss=10**30, realtime=2**63, submit=10**17, start=1e300)
    data = load_dump(write_json(tmp_path / "huge.json", raw))
    row = data.tasks[data.tasks.task_id == task["taskId"]].iloc[0]
    for col in ("memory", "peak_rss", "realtime", "submit", "start"):
        assert pd.isna(row[col]), col
    assert len(data.tasks) == len(raw["tasks"])


def test_null_meta_metrics_progress_and_labels_are_empty_not_errors(tmp_path):
    raw = _bundle(meta=None, metrics=None, progress=None, labels=None)
    data = load_dump(write_json(tmp_path / "nulls.json", raw))
    assert len(data.runs) == 1 and data.process_metrics.empty and data.process_progress.empty
    assert len(data.tasks) == len(raw["tasks"])
