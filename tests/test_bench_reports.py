"""bench/reports.py keeps working: one tiny run of each mode (the numbers are not checked;
the benchmark prints them and asserts that both methods agree)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "reports.py"


@pytest.mark.slow
def test_report_mode_runs_and_both_methods_agree(tmp_path):
    res = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "20000", "--repeat", "1", "--cache-dir",
         str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "20,000 tasks: same result" in res.stdout
    assert "ours / duckdb" in res.stdout and "peak RSS" in res.stdout


@pytest.mark.slow
def test_explorer_mode_runs(tmp_path):
    res = subprocess.run(
        [sys.executable, str(BENCH), "--explorer", "--explorer-size", "400,20000", "--cache-dir",
         str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "explorer on 400 runs, 20,000 tasks" in res.stdout and "filter change" in res.stdout
