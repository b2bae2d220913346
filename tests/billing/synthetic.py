"""Small tasks and runs frames for the synthetic bills (typed as ``frames.TASKS``/``RUNS``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

SEP = pd.Timestamp("2025-09-10T10:00:00Z")


def tasks_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``rows``: run_id, task_id, hash, workdir, cost, status (default COMPLETED)."""
    df = pd.DataFrame([{"status": "COMPLETED", "cpus": 2, "process": "P", **r} for r in rows])
    df["submit"] = SEP
    df["start"] = SEP + pd.Timedelta(minutes=1)
    df["complete"] = SEP + pd.Timedelta(minutes=30)
    for c in ("submit", "start", "complete"):
        df[c] = df[c].astype("datetime64[ms, UTC]")
    return df.astype({"run_id": "string", "task_id": "Int64", "hash": "string", "workdir": "string",
                      "cost": "Float64", "status": "string", "cpus": "Int64", "process": "string"})


def runs_frame(run_ids: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({"run_id": run_ids, "run_name": [f"run-{r}" for r in run_ids],
                       "project_name": "nf-core/demo", "submit": SEP})
    df["submit"] = df["submit"].astype("datetime64[ms, UTC]")
    return df.astype({"run_id": "string", "run_name": "string", "project_name": "string"})


def workdir(full_hash: str) -> str:
    return f"s3://bucket/work/{full_hash[:2]}/{full_hash[2:]}"


def short(full_hash: str) -> str:
    return f"{full_hash[:2]}/{full_hash[2:8]}"
