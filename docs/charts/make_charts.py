"""Regenerate the README charts from the bundled real runs (no token needed).

    python docs/charts/make_charts.py

Each chart is drawn by :mod:`seqera_analytics.plots` from a report of the five bundled runs,
saved at 80 dpi and reduced to a 256-colour palette to keep the repository small.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image

from seqera_analytics import load_runs, load_tasks, plots, reports
from seqera_analytics.demo import build_demo_cache

OUT = Path(__file__).resolve().parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = build_demo_cache(tmp)
        runs, tasks = load_runs(cache=cache), load_tasks(cache=cache)
    charts = {
        "cost_by_month": plots.plot_cost_by_period(reports.cost_report(tasks, runs)),
        "cost_pareto": plots.plot_cost_pareto(
            reports.cost_report(tasks, runs, period=None, by="process"), top=20),
        "runtime_boxes": plots.plot_runtime_boxes(tasks, top=20),
        "run_trends": plots.plot_run_trends(reports.run_runtimes(tasks, runs)),
        "failure_rate": plots.plot_failure_rate(reports.failure_report(tasks, runs)),
        "exit_status_heatmap": plots.plot_exit_status_heatmap(reports.task_failures(tasks, runs)),
        "memory_efficiency": plots.plot_memory_efficiency(reports.efficiency_report(tasks, runs)),
        "task_timeline": plots.plot_task_timeline(tasks, run_id="3dLeF2W4ju5og4"),
    }
    for name, fig in charts.items():
        path = plots.save_figure(fig, OUT / f"{name}.png", dpi=80)
        with Image.open(path) as im:
            im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                path, optimize=True)
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
