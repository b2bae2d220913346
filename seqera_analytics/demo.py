"""The no-token demo: the bundled real runs served by the emulator, synced into a cache.

Three entry points:

* :func:`run_demo` is ``seqera-analytics demo``: start the emulator on a free local port,
  sync every workspace it serves into a temporary cache, print the monthly cost report and a
  failure summary, and write all reports (Parquet and CSV) into a folder.
* :func:`build_demo_cache` fills a cache directory from the bundled runs (what
  ``Explorer.from_demo()`` and the notebooks use without a token).
* :func:`notebook_backend` gives notebooks a client and workspaces: the real Platform when
  ``TOWER_ACCESS_TOKEN`` is set, else the emulator (started once per process).

Nothing here touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import reports
from ._text import text_table
from .api import SeqeraClient
from .billing import bundled_cur, import_cur
from .fetch import connect
from .ingest import SyncSummary, sync
from .store import Cache

__all__ = ["DemoResult", "NotebookBackend", "build_demo_cache", "notebook_backend", "run_demo"]

_LOCK = threading.Lock()
_EMULATOR: Any = None


def _demo_emulator() -> Any:
    """The process-wide emulator serving the bundled real runs (stopped at exit)."""
    global _EMULATOR
    from .emulator import Emulator  # the server stack is only needed for the demo

    with _LOCK:
        if _EMULATOR is None:
            _EMULATOR = Emulator().start()
            atexit.register(_EMULATOR.stop)
        return _EMULATOR


def _temporary_dir(prefix: str) -> Path:
    """A temporary directory removed when the process exits (demo caches are throwaway)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _demo_workspaces(emu: Any) -> list[str]:
    return [w["full_name"] for w in emu.workspaces if w["n_runs"]]


def build_demo_cache(cache: str | Path | None = None, *, show_progress: bool = False) -> Cache:
    """Sync the bundled real runs (served by the emulator) into ``cache``.

    Parameters
    ----------
    cache : path, optional
        Cache directory; default: a new temporary directory, removed when the process exits.

    Returns
    -------
    Cache
        The filled cache (workspaces ``seqeralabs/benchmarks`` and ``scidev/testing``), with
        the bundled CUR extract imported (the billed basis of four September runs).
    """
    path = Path(cache) if cache is not None else _temporary_dir("seqera-analytics-demo-cache-")
    emu = _demo_emulator()
    with connect(token=emu.token, endpoint=emu.url) as client:
        for ws in _demo_workspaces(emu):
            sync(ws, cache=path, client=client, show_progress=show_progress)
    import_cur(bundled_cur(), cache=path)  # the AWS bill of four of the runs (idempotent)
    return Cache(path)


@dataclass
class NotebookBackend:
    """What a notebook talks to.

    Attributes
    ----------
    client : SeqeraClient
    workspaces : list of str
        Workspaces to work on: ``TOWER_WORKSPACE_ID`` on a real Platform, the demo's two
        workspaces on the emulator.
    cache : Path
        Cache directory: the default cache on a real Platform, a temporary one for the demo
        (so demo data never mixes with yours).
    demo : bool
        True when running against the emulator.
    """

    client: SeqeraClient
    workspaces: list[str]
    cache: Path
    demo: bool

    def __repr__(self) -> str:
        where = "the bundled demo runs (emulator)" if self.demo else self.client.config.endpoint
        return f"NotebookBackend({where}, workspaces={self.workspaces}, cache={str(self.cache)!r})"


def notebook_backend() -> NotebookBackend:
    """A client for notebooks: the real Platform if ``TOWER_ACCESS_TOKEN`` is set, else the
    emulator with the bundled real runs.

    Raises
    ------
    ConfigurationError
        On a real Platform without ``TOWER_WORKSPACE_ID`` (say which workspace to use).
    """
    from ._exceptions import ConfigurationError
    from .store import default_cache_dir

    if os.environ.get("TOWER_ACCESS_TOKEN", "").strip():
        client = connect()
        ws = os.environ.get("TOWER_WORKSPACE_ID", "").strip()
        if not ws:
            raise ConfigurationError("Set TOWER_WORKSPACE_ID to the workspace to analyse (org/workspace).")
        return NotebookBackend(client, [ws], default_cache_dir(), demo=False)
    emu = _demo_emulator()
    cache = _temporary_dir("seqera-analytics-notebook-cache-")
    return NotebookBackend(connect(token=emu.token, endpoint=emu.url), _demo_workspaces(emu), cache, demo=True)


@dataclass
class DemoResult:
    """What :func:`run_demo` produced."""

    output_dir: Path
    files: list[Path] = field(default_factory=list)
    syncs: list[SyncSummary] = field(default_factory=list)
    cost: pd.DataFrame | None = None
    failures: pd.DataFrame | None = None
    seconds: float = 0.0


def _table(df: pd.DataFrame, columns: list[str]) -> str:
    shown = df[[c for c in columns if c in df.columns]].copy()
    for c in shown.columns:
        if (c.endswith("cost") and not c.startswith("tasks")) or c == "estimate":
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
        elif c == "billed/est":
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.2f}x")
        elif c == "failure_rate":
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    return text_table(shown)  # padded by terminal cells: any script stays aligned


def run_demo(output_dir: str | Path = "seqera-analytics-demo", *, show_progress: bool = True,
             echo: Callable[[str], None] = print, cache: str | Path | None = None) -> DemoResult:
    """``seqera-analytics demo``: the whole pipeline on the bundled real runs, no token.

    Writes into ``output_dir``: ``cost_by_month.{parquet,csv}`` (monthly cost by pipeline),
    ``cost_by_process.*``, ``runtime.*``, ``failures.*``, ``task_failures.*``,
    ``efficiency.*`` and ``right_sizing.config`` (a Nextflow config snippet). Parquet files
    are tidy long (id columns, ``metric``, ``value``, ``unit``); CSVs are wide (one row per
    period and group, for spreadsheets) with a ``.schema.json`` describing their columns.

    ``cache``: a directory to keep the demo's cache in (default: a temporary one, removed).

    Returns
    -------
    DemoResult
    """
    t0 = time.monotonic()
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out)
    emu = _demo_emulator()
    echo(f"Emulator serving the bundled real runs at {emu.url} (no token needed, nothing leaves this machine)")
    with contextlib.ExitStack() as stack:
        tmp = str(Path(cache).expanduser()) if cache is not None else stack.enter_context(
            tempfile.TemporaryDirectory(prefix="seqera-analytics-demo-cache-"))
        with connect(token=emu.token, endpoint=emu.url) as client:
            for ws in _demo_workspaces(emu):
                s = sync(ws, cache=tmp, client=client, show_progress=show_progress)
                result.syncs.append(s)
                echo(str(s))
        # The AWS bill (a real CUR extract of four September runs) for the billed basis.
        echo(str(import_cur(bundled_cur(), cache=tmp)))
        # Every report reads the cache's committed files itself (DuckDB, filters pushed down).
        cost = reports.cost_report(cache=tmp, period="month", by=("pipeline",))
        billed = reports.reconcile_billing(per="run", cache=tmp, since="2025-09", until="2025-10")
        failures = reports.failure_report(cache=tmp, period="month", by=("pipeline",))
        written = {
            "cost_by_month": cost,
            "cost_by_process": reports.cost_report(cache=tmp, period=None, by=("pipeline", "process")),
            "runtime": reports.runtime_report(cache=tmp, period="month", by=("pipeline",)),
            "failures": failures,
            "task_failures": reports.task_failures(cache=tmp),
            "efficiency": reports.efficiency_report(cache=tmp),
            "cost_both_by_month": reports.cost_report(cache=tmp, period="month", by=("pipeline",),
                                                      basis="both"),
            "billing_reconciliation": reports.reconcile_billing(cache=tmp),
            "billing_reconciliation_runs": billed,
        }
        suggestions = reports.right_size(cache=tmp)
    result.cost, result.failures = cost, failures
    echo("\nMonthly cost by pipeline [USD] (cost: as Seqera counts it; net: without cached tasks "
         "counted again; failed: spent on failed attempts)")
    echo(_table(cost, ["period_label", "pipeline", "runs", "tasks", "cost", "cached_cost", "net_cost",
                       "failed_cost", "tasks_without_cost"]))
    echo("\nSeptember 2025: Seqera's estimate against the AWS bill, per run [USD] (used: the tasks' "
         "share of their instances; idle: their share of the instances' unused capacity)")
    echo(_table(billed.rename(columns={"net_cost": "estimate", "billed_to_estimate": "billed/est"}),
                ["run_id", "pipeline", "estimate", "used_cost", "idle_cost", "billed_cost", "billed/est",
                 "tasks_without_lines"]))
    echo("\nFailures by month and pipeline")
    echo(_table(failures, ["period_label", "pipeline", "runs", "runs_failed", "failure_rate",
                           "runs_needing_attention", "failed_attempts", "failed_recovered", "failed_cost"]))
    for name, df in written.items():
        # Parquet in the tidy long layout (metric, value, unit) for tools; CSV one row per
        # period and group, as printed, for spreadsheets. Both carry the column docs.
        result.files.append(reports.export(df, out / f"{name}.parquet", layout="long"))
        result.files.append(reports.export(df, out / f"{name}.csv", layout="wide"))
    config = out / "right_sizing.config"
    config.write_text(reports.nextflow_config(suggestions), encoding="utf-8")
    result.files.append(config)
    result.files = sorted({*result.files, *out.glob("*.schema.json")})
    result.seconds = time.monotonic() - t0
    echo(f"\nWrote {len(result.files)} files to {out}:")
    for f in result.files:
        echo(f"  {f.name}")
    echo(f"Done in {result.seconds:.0f} s. The CSVs (one row per month and pipeline) open in a "
         f"spreadsheet; the Parquet files are tidy long (metric, value, unit): "
         f"seqera_analytics.reports.read_report('{out / 'cost_by_month.parquet'}')")
    return result
