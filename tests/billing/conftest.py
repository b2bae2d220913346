"""Fixtures for the billing tests.

* ``cur_file``: the bundled real CUR extract (``data/aws-cur``, a copy of
  ``shared/data/aws-cur``).
* ``synced`` (session): the bundled real runs synced from the emulator into a cache with no
  bill imported; ``fresh_cache`` gives each test its own copy.
* ``expected``: what the CUR file says, computed here with pyarrow and pandas alone (never
  with the toolkit's billing code): per line, per (run, task hash) and per run.
* ``bundle_tasks``: the bundled runs' tasks straight from their JSON (run id, hash, workdir,
  status), to match the bill by hand.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from seqera_analytics.fetch import connect
from seqera_analytics.ingest import sync

ROOT = Path(__file__).resolve().parents[2]
CUR = ROOT / "data" / "aws-cur" / "cur-bundled-runs.parquet"
RUNS = ROOT / "data" / "real-runs"


@pytest.fixture(scope="session")
def cur_file() -> Path:
    return CUR


def cur_expected(path: Path) -> pd.DataFrame:
    """One row per line: run, hash, used, idle, billed (the BILLING-NOTES rule, by hand)."""
    df = pq.read_table(path).to_pandas()
    tags = df["resource_tags"].map(lambda pairs: {k: v for k, v in pairs})
    out = pd.DataFrame({
        "run_id": tags.map(lambda t: t.get("user_unique_run_id")),
        "task_hash": tags.map(lambda t: t.get("user_task_hash")),
        "start": df["line_item_usage_start_date"],
    })
    split = df["split_line_item_split_cost"]
    unused = df["split_line_item_unused_cost"].fillna(0.0)
    has_split = split.notna() | df["split_line_item_unused_cost"].notna()
    out["used"] = split.where(has_split, df["line_item_unblended_cost"]).fillna(0.0)
    out["idle"] = unused.where(has_split, 0.0)
    out["billed"] = out["used"] + out["idle"]
    return out


@pytest.fixture(scope="session")
def expected(cur_file: Path) -> dict[str, Any]:
    lines = cur_expected(cur_file)
    return {
        "lines": lines,
        "per_task": lines.groupby(["run_id", "task_hash"])[["used", "idle", "billed"]].sum(),
        "per_run": lines.groupby("run_id")[["used", "idle", "billed"]].sum(),
    }


@pytest.fixture(scope="session")
def bundle_tasks() -> pd.DataFrame:
    rows = []
    for f in sorted(RUNS.glob("*.json")):
        body = json.loads(f.read_text())
        rid = body["workflow"]["id"]
        for t in body["tasks"]:
            t = t.get("task", t)
            parts = (t.get("workdir") or "").rstrip("/").split("/")
            rows.append({"run_id": rid, "task_id": t["taskId"], "hash": t["hash"],
                         "full": parts[-2] + parts[-1], "status": t["status"], "cost": t.get("cost")})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def synced(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("billing-synced")
    with connect(token=emulator.token, endpoint=emulator.url) as client:
        for ws in ("seqeralabs/benchmarks", "scidev/testing"):
            sync(ws, cache=path, client=client, show_progress=False)
    return path


@pytest.fixture
def fresh_cache(synced: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "cache"
    shutil.copytree(synced, dst)
    return dst
