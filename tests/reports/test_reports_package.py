"""The reports package: import boundaries, exports, and docstrings that list every column.

Layering (issue #9): reports run on a query engine (ibis with DuckDB, or Spark) and may read
the cache's list of committed files from ``store``; they never import the API client, the
sync, the fetch functions, the emulator or the command line.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import seqera_analytics
import seqera_analytics.store
from seqera_analytics import _exceptions
from seqera_analytics import reports as R

PKG = Path(R.__file__).resolve().parent
FORBIDDEN = (
    "api",
    "fetch",
    "emulator",
    "sync",
    "ingest",
    "cli",
    "bundles",
    "demo",
    "plots",
    "widgets",
)
FORBIDDEN_THIRD_PARTY = ("httpx", "uvicorn", "starlette")


def imported_modules(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["seqera_analytics", "reports"]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
                out.append(mod)
                out += [f"{mod}.{a.name}" for a in node.names]
            else:
                out.append(node.module or "")
    return out


@pytest.mark.parametrize("path", sorted(PKG.glob("*.py")), ids=lambda p: p.name)
def test_reports_import_no_network_cache_or_fetch_code(path):
    for mod in imported_modules(path):
        for name in FORBIDDEN:
            assert not (
                mod == f"seqera_analytics.{name}" or mod.startswith(f"seqera_analytics.{name}.")
            ), (path.name, mod)
        assert mod.split(".")[0] not in FORBIDDEN_THIRD_PARTY, (path.name, mod)


def test_only_the_engine_reads_the_store_and_only_its_committed_files():
    """Reports reach the cache through one door: ``_inputs`` reads ``store.Cache``'s
    committed state (once per report) and the files it lists, their partitions and footer
    time ranges (to skip files a window excludes), its runs table (facts overlaid), and
    resolves workspace names; nothing else."""
    for path in sorted(PKG.glob("*.py")):
        store = [m for m in imported_modules(path) if m.startswith("seqera_analytics.store")]
        if path.name == "_inputs.py":
            assert set(store) == {"seqera_analytics.store", "seqera_analytics.store.Cache"}, store
        else:
            assert not store, (path.name, store)
    used = {
        node.attr
        for node in ast.walk(ast.parse((PKG / "_inputs.py").read_text()))
        if isinstance(node, ast.Attribute) and node.attr in dir(seqera_analytics.store.Cache)
    }
    assert used <= {
        "committed_files",
        "is_cache",
        "workspace_id",
        "path",
        "partition_of",
        "time_ranges",
        "with_quality_findings",  # (issue 10: footer statistics, to skip clean files)
        "state",
        "read_table",  # (issue 11: the runs, with the facts the cache keeps apart overlaid)
        "is_active_file",  # (issue 11: runs not finished live outside the table trees)
        "is_remote",  # a cache on an object store: its files reach DuckDB as a pyarrow dataset
        "arrow_dataset",
        "read_billing",  # (issue 12: the imported bill, small per-task rows, same commit)
        "read_billing_parents",  # (issue 12: instance-hours split lines restate)
    }, used


def test_importing_reports_loads_none_of_them():
    code = (
        "import sys, seqera_analytics.reports; "
        "bad = [m for m in sys.modules if m.split('.')[0] in {'httpx', 'uvicorn'} or "
        "any(m == 'seqera_analytics.' + n or m.startswith('seqera_analytics.' + n + '.') "
        f"for n in {FORBIDDEN!r})]; print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_all_is_sorted_and_complete():
    assert R.__all__ == sorted(R.__all__)
    public = {
        name
        for name, obj in vars(R).items()
        if not name.startswith("_") and (inspect.isfunction(obj) or name.isupper())
    }
    assert public == set(R.__all__)
    for name in R.__all__:
        assert getattr(R, name) is not None


def test_report_error_is_in_the_exception_tree():
    assert issubclass(seqera_analytics.ReportError, seqera_analytics.SeqeraError)
    assert issubclass(seqera_analytics.ReportError, ValueError)
    assert "ReportError" in _exceptions.__doc__
    assert "ReportError" in seqera_analytics.__all__


def test_docstrings_list_every_column_with_dtype(data):
    t, r = data.tasks, data.runs
    calls = {
        R.cost_report: (t, r),
        R.reconcile_costs: (t, r),
        R.session_cost_report: (t, r),
        R.runtime_report: (t, r),
        R.run_runtimes: (t, r),
        R.process_runtimes: (t, r),
        R.failure_report: (t, r),
        R.task_failures: (t, r),
        R.task_attempts: (t,),
        R.runs_needing_attention: (t, r),
        R.efficiency_report: (t, r),
        R.right_size: (t, r),
    }
    for fn, args in calls.items():
        doc = fn.__doc__ or ""
        for section in ("Parameters", "Returns", "Raises"):
            assert f"{section}\n    ----" in doc, (fn.__name__, section)
        assert "{columns}" not in doc and "{keys}" not in doc
        out = fn(*args)
        group_keys = set(out.attrs.get("by") or [])
        for col in out.columns:
            if col in group_keys:
                continue  # documented as <by> plus the list of keys in Notes
            returns = doc[doc.index("Returns\n") :]
            line = next((ln for ln in returns.splitlines() if ln.split()[:1] == [col]), None)
            assert line is not None, (fn.__name__, col)
            assert str(out[col].dtype) in line, (fn.__name__, col, line)


def test_reports_do_not_change_their_inputs(data, tmp_path):
    t, r = data.tasks.copy(deep=True), data.runs.copy(deep=True)
    R.cost_report(t, r, by="label,process,compute_env", since="2025-01-01")
    R.reconcile_costs(t, r)
    R.session_cost_report(t, r)
    R.runtime_report(t, r, period="week")
    R.run_runtimes(t, r)
    R.process_runtimes(t, r)
    R.failure_report(t, r)
    R.task_failures(t, r)
    R.task_attempts(t)
    R.runs_needing_attention(t, r)
    R.efficiency_report(t, r, by="pipeline,process")
    R.export(R.cost_report(t, r), tmp_path / "c.csv")
    pd.testing.assert_frame_equal(t, data.tasks)
    pd.testing.assert_frame_equal(r, data.runs)


def test_run_level_keys_need_the_runs_frame(data):
    with pytest.raises(seqera_analytics.ReportError, match="needs the runs frame"):
        R.cost_report(data.tasks, None, by="pipeline")
    with pytest.raises(seqera_analytics.ReportError, match="needs the runs frame"):
        R.efficiency_report(data.tasks, None, by="user,process")
    # task-level keys work without runs
    assert len(R.cost_report(data.tasks, None, by="process")) > 0
