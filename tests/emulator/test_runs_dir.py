"""``runs_dir``: run bundles and ``tw runs dump`` archives, duplicates, clear errors."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from spec_check import spec_validator

from seqera_analytics import DataFormatError
from seqera_analytics.emulator import Emulator, SyntheticWorkspace

from .helpers import REPO, RUNS_DIR, Api

DUMP = REPO / "data" / "tw-runs-dump" / "50CueCkLKqyOeH.tar.gz"


def test_tw_dump_is_served(
    tmp_path: Path, make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    shutil.copy(DUMP, tmp_path)
    emu = make_emulator(runs_dir=tmp_path, rate_limit=None)
    (ws,) = emu.workspaces
    assert ws["full_name"] == "seqeralabs/benchmarks" and ws["n_runs"] == 1
    api = api_for(emu)
    wid = ws["workspace_id"]  # the ids recorded in the dump's metadata
    v = spec_validator()
    tasks = api.all_tasks("50CueCkLKqyOeH", wid)
    assert len(tasks) == 58
    progress = api.json("/workflow/50CueCkLKqyOeH/progress", workspaceId=wid)
    v.check_response(progress, "/workflow/{workflowId}/progress")
    assert progress["progress"]["processesProgress"] == []  # tw does not save them
    v.check_response(
        api.json("/workflow/50CueCkLKqyOeH", workspaceId=wid), "/workflow/{workflowId}"
    )


def test_same_run_twice_is_served_once(
    tmp_path: Path, make_emulator: Callable[..., Emulator]
) -> None:
    for p in RUNS_DIR.glob("*.json"):
        shutil.copy(p, tmp_path)
    shutil.copy(DUMP, tmp_path)  # 50CueCkLKqyOeH again, as a dump
    emu = make_emulator(runs_dir=tmp_path)
    assert sum(w["n_runs"] for w in emu.workspaces) == 5


def test_bad_runs_dirs(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="does not exist"):
        Emulator(tmp_path / "missing")
    with pytest.raises(DataFormatError, match="holds no run bundles"):
        Emulator(tmp_path)
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DataFormatError):
        Emulator(tmp_path)


def test_negative_seed_works() -> None:
    ws = SyntheticWorkspace(3, seed=-7)
    assert ws.run_bundle(2).tasks
