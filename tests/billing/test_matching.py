"""How bill lines find their tasks: the full hash through the workdir, the 8-digit prefix
within the run when the workdir does not give it, and what matches nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from curgen import line, write
from synthetic import runs_frame, short, tasks_frame, workdir

from seqera_analytics.billing import load_cur
from seqera_analytics.reports import billed_tasks, cost_report, reconcile_billing

FULL = "1a" + "ab" * 15            # matched through its workdir
LOOSE = "2b" + "cd" * 15           # its task has no workdir: the prefix matches
NOWHERE = "3c" + "ef" * 15         # no task of the run has it
TWIN_A, TWIN_B = "4d000000" + "0" * 24, "4d000000" + "1" * 24   # same 8-digit prefix
AT = {"line_item_usage_start_date": datetime(2025, 9, 10, 10), "line_item_usage_end_date": datetime(2025, 9, 10, 11)}


def _split(cost: float, idle: float, run: str, h: str | None, ident: str) -> dict:
    tags = {"unique_run_id": run, **({"task_hash": h} if h else {})}
    return line(identity_line_item_id=ident, split_line_item_split_cost=cost,
                split_line_item_unused_cost=idle, tags=tags, **AT)


def _case(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    lines = [
        _split(1.0, 0.5, "R1", FULL, "a"),
        _split(2.0, 1.0, "R1", LOOSE, "b"),
        _split(4.0, 0.0, "R1", NOWHERE, "c"),
        _split(8.0, 0.0, "R1", TWIN_A, "d"),
        _split(16.0, 0.0, "ZZ", FULL, "e"),        # a run the cache does not know
        _split(32.0, 0.0, "R1", None, "f"),        # the run's head job: no task tag
    ]
    bill = load_cur(write(lines, tmp_path / "m", "cur2-map"))
    tasks = tasks_frame([
        {"run_id": "R1", "task_id": 1, "hash": short(FULL), "workdir": workdir(FULL), "cost": 1.0},
        {"run_id": "R1", "task_id": 2, "hash": short(LOOSE), "workdir": None, "cost": 1.0},
        {"run_id": "R1", "task_id": 3, "hash": short(TWIN_A), "workdir": None, "cost": 1.0},
        {"run_id": "R1", "task_id": 4, "hash": short(TWIN_B), "workdir": None, "cost": 1.0},
        {"run_id": "R1", "task_id": 5, "hash": "99/999999", "workdir": workdir("99" + "9" * 30), "cost": 1.0},
    ])
    return tasks, runs_frame(["R1"]), bill


def test_full_hash_then_prefix(tmp_path: Path) -> None:
    tasks, runs, bill = _case(tmp_path)
    got = billed_tasks(tasks=tasks, runs=runs, billing=bill).set_index("task_id")
    assert got.at[1, "matched_by"] == "hash" and got.at[1, "billed_cost"] == 1.5
    assert got.at[2, "matched_by"] == "prefix" and got.at[2, "billed_cost"] == 3.0
    # two tasks share the 8-digit prefix: ambiguous, so neither takes the line
    assert pd.isna(got.at[3, "matched_by"]) and pd.isna(got.at[4, "matched_by"])
    assert got.at[5, "bill_lines"] == 0 and pd.isna(got.at[5, "billed_cost"])


def test_what_matches_no_task_stays_with_its_run(tmp_path: Path) -> None:
    tasks, runs, bill = _case(tmp_path)
    run = reconcile_billing(per="run", tasks=tasks, runs=runs, billing=bill).set_index("run_id")
    # 4.0 (a hash no task has) + 8.0 (the ambiguous prefix) + 32.0 (no task tag)
    assert run.at["R1", "unmatched_cost"] == 44.0
    assert run.at["R1", "billed_cost"] == 1.5 + 3.0 + 44.0
    assert run.at["R1", "tasks_without_lines"] == 3
    per = reconcile_billing(tasks=tasks, runs=runs, billing=bill).set_index("row")
    assert per.at["unattributed", "billed_cost"] == 16.0   # run ZZ is not cached
    assert per.at["total", "billed_cost"] == 1.5 + 3.0 + 44.0 + 16.0
    by_process = cost_report(tasks, runs, billing=bill, basis="billed", by="process", period=None)
    assert by_process["billed_cost"].sum() == 48.5  # the run's lines, the unknown run's not
    assert by_process.set_index("process", drop=False)["unmatched_cost"].fillna(0).sum() == 44.0
