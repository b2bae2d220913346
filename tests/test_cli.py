"""The command line: demo, report, sync, cache info; bad input gets one clear line, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from seqera_analytics.bundles import bundled_runs_dir
from seqera_analytics.cli import main
from seqera_analytics.demo import build_demo_cache
from seqera_analytics.reports import read_report

RAW = {p.stem: json.loads(p.read_text()) for p in sorted(bundled_runs_dir().glob("*.json"))}


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory):
    return build_demo_cache(tmp_path_factory.mktemp("demo-cache")).path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_demo_command_on_a_fresh_process(tmp_path):
    # The README's first command, as a new user runs it: a console script, no token.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOWER_", "SEQERA_"))}
    # (timeout: a hang guard, not a speed requirement)
    proc = subprocess.run([sys.executable, "-m", "seqera_analytics.cli", "demo", "-o", str(tmp_path / "out"),
                           "--no-progress"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Monthly cost by pipeline" in proc.stdout and "nf-core/sarek" in proc.stdout
    out = tmp_path / "out"
    for name in ("cost_by_month", "runtime", "failures", "efficiency", "task_failures", "cost_by_process"):
        assert (out / f"{name}.parquet").exists() and (out / f"{name}.csv").exists()
    want = sum(t["task"]["cost"] or 0 for r in RAW.values() for t in r["tasks"]
               if t["task"]["complete"].startswith("2025-09"))
    csv = pd.read_csv(out / "cost_by_month.csv")  # wide: one row per month and pipeline
    assert csv[csv.period_label == "2025-09"].cost.sum() == pytest.approx(want, rel=1e-9)
    long = read_report(out / "cost_by_month.parquet")  # tidy long
    sept = long[(long.period_label == "2025-09") & (long.metric == "cost")]
    assert sept.value.sum() == pytest.approx(want, rel=1e-9)
    assert "process {" in (out / "right_sizing.config").read_text()


def test_report_prints_a_table(capsys, demo_cache):
    code, out, _ = run(capsys, "report", "cost", "--month", "2025-09", "--by", "pipeline,user", "--cache", demo_cache)
    assert code == 0 and "nf-core/methylseq" in out and "analyst-1" in out and "2025-03" not in out


def test_report_output_files_match_the_raw_json(capsys, demo_cache, tmp_path):
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"cost{suffix}"
        code, out, _ = run(capsys, "report", "cost", "--month", "2025-09", "--by", "pipeline",
                           "--output", path, "--cache", demo_cache)
        assert code == 0 and path.exists()
        if suffix == ".csv":  # the message counts the file's rows (read here with the csv module)
            import csv

            with open(path, newline="", encoding="utf-8") as fh:
                rows = sum(1 for _ in csv.reader(fh)) - 1
            assert f"({rows} rows, long layout)" in out, out
        df = read_report(path)
        got = df[df.metric == "cost"].set_index("pipeline")["value"] if "metric" in df.columns else df.set_index("pipeline")["cost"]
        for pipeline in ("nf-core/sarek", "nf-core/methylseq"):
            want = sum(t["task"]["cost"] or 0 for r in RAW.values() if r["workflow"]["projectName"] == pipeline
                       for t in r["tasks"] if t["task"]["complete"].startswith("2025-09"))
            assert got[pipeline] == pytest.approx(want, rel=1e-9)


def test_efficiency_report_writes_the_config(capsys, demo_cache, tmp_path):
    code, out, _ = run(capsys, "report", "efficiency", "--config", tmp_path / "rs.config", "--cache", demo_cache)
    assert code == 0 and "withName" in (tmp_path / "rs.config").read_text()


@pytest.mark.parametrize("argv,code,words", [
    (["report", "cost", "--month", "2025-13"], 2, ["YYYY-MM"]),
    (["report", "cost", "--month", "sept"], 2, ["YYYY-MM"]),
    (["report", "cost", "--since", "not-a-date"], 2, ["not an ISO date"]),
    (["report", "cost", "--since", "1/2/2025"], 2, ["YYYY-MM-DD"]),
    (["report", "cost", "--since", "2025-09-10", "--until", "2025-09-01"], 2, ["until"]),
    (["report", "cost", "--by", "pipline"], 2, ["pipline", "pipeline", "user"]),
    (["report", "runtime", "--period", "none", "--by", "process"], 2, ["process"]),
    (["report", "cost", "--workspace", "acme/prod"], 1, ["not in the cache", "sync --workspace acme/prod"]),
    (["report", "failures", "--output", "/nonexistent-dir/x.csv"], 2, ["x.csv"]),
    (["report", "cost", "--output", "report.xlsx"], 2, [".csv", ".parquet"]),
])
def test_bad_input_is_one_clear_line(capsys, demo_cache, argv, code, words):
    got, out, err = run(capsys, *argv, "--cache", demo_cache)
    assert got == code, err
    assert err.startswith("error: ") and err.count("\n") == 1
    for w in words:
        assert w in err


def test_a_period_with_no_runs_is_an_empty_report_said_so(capsys, demo_cache):
    code, out, _ = run(capsys, "report", "cost", "--month", "2024-01", "--cache", demo_cache)
    assert code == 0 and "report is empty" in out


def test_empty_cache_says_how_to_sync(capsys, tmp_path):
    code, _, err = run(capsys, "report", "cost", "--cache", tmp_path / "empty")
    assert code == 1 and "seqera-analytics sync --workspace" in err


def test_sync_without_a_token_names_the_variable(capsys, tmp_path):
    code, _, err = run(capsys, "sync", "--workspace", "a/b", "--cache", tmp_path / "c", "--no-progress")
    assert code == 1 and "TOWER_ACCESS_TOKEN" in err


def test_sync_then_cache_info(capsys, emulator, monkeypatch, tmp_path):
    monkeypatch.setenv("TOWER_ACCESS_TOKEN", emulator.token)
    monkeypatch.setenv("TOWER_API_ENDPOINT", emulator.url)
    code, out, err = run(capsys, "sync", "--workspace", "seqeralabs/benchmarks", "--cache", tmp_path / "c",
                         "--no-progress")
    assert code == 0 and "4 runs added" in out
    assert emulator.token not in out + err
    code, out, _ = run(capsys, "cache", "info", "--cache", tmp_path / "c")
    assert code == 0 and "seqeralabs/benchmarks" in out and "655" in out
    code, out, err = run(capsys, "sync", "--workspace", "seqeralabs/nope", "--cache", tmp_path / "c", "--no-progress")
    assert code == 1 and "seqeralabs/benchmarks" in err  # lists what the token can see


def test_wrong_token_via_cli(capsys, emulator, monkeypatch, tmp_path):
    secret = "wrong-token-abcdefghijklmnopqrstuvwxyz"
    monkeypatch.setenv("TOWER_ACCESS_TOKEN", secret)
    monkeypatch.setenv("TOWER_API_ENDPOINT", emulator.url)
    code, out, err = run(capsys, "sync", "--workspace", "seqeralabs/benchmarks", "--cache", tmp_path / "c",
                         "--no-progress")
    assert code == 1 and "TOWER_ACCESS_TOKEN" in err and secret not in out + err


def test_piping_into_head_exits_quietly(demo_cache):
    proc = subprocess.run(f"{sys.executable} -m seqera_analytics.cli report efficiency --cache '{demo_cache}' | head -1",
                          shell=True, capture_output=True, text=True, timeout=120,
                          executable="/bin/bash")
    assert proc.stderr == "" and proc.stdout.count("\n") == 1


def test_efficiency_prints_a_readable_subset(capsys, demo_cache):
    code, out, _ = run(capsys, "report", "efficiency", "--cache", demo_cache)
    table = out.split("\n(")[0]
    assert code == 0 and "suggested_memory" in table and "memory_used_q_gib" not in table
    assert "--all-columns" in out and "withName" in out
    code, out, _ = run(capsys, "report", "efficiency", "--all-columns", "--cache", demo_cache)
    assert "memory_used_q_gib" in out


def test_wide_layout_output(capsys, demo_cache, tmp_path):
    path = tmp_path / "cost.csv"
    code, out, _ = run(capsys, "report", "cost", "--layout", "wide", "--output", path, "--cache", demo_cache)
    df = pd.read_csv(path)
    assert code == 0 and {"period_label", "pipeline", "cost", "net_cost"} <= set(df.columns) and len(df) == 3


@pytest.mark.parametrize("argv,words", [
    (["--pipeline", "sarek"], ["no pipeline named 'sarek'", "nf-core/sarek"]),
    (["--user", "nobody"], ["no user named 'nobody'", "analyst-1"]),
    (["--month", "2024-01"], ["no runs 2024-01", "2025-03-31"]),
])
def test_an_empty_report_says_what_the_cache_holds(capsys, demo_cache, argv, words):
    code, out, _ = run(capsys, "report", "cost", *argv, "--cache", demo_cache)
    assert code == 0
    for w in words:
        assert w in out


def test_config_only_goes_with_efficiency(capsys, demo_cache, tmp_path):
    code, _, err = run(capsys, "report", "cost", "--config", tmp_path / "x.config", "--cache", demo_cache)
    assert code == 2 and "efficiency" in err and not (tmp_path / "x.config").exists()
