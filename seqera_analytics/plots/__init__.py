"""Charts of the reports (matplotlib).

Every ``plot_*`` function takes the DataFrame a report function returns (the box plots and
the task timeline take the tasks table: they draw individual task attempts), draws on the
``ax`` given or on a new figure, and returns the :class:`matplotlib.figure.Figure`. Nothing
here computes what a report computes: charts only pick the top N groups to name, shorten
labels and lay things out.

========================  ==================================================  ========
function                  input                                               units
========================  ==================================================  ========
plot_cost_by_period       ``reports.cost_report(period="month", by=...)``     USD
plot_cost_pareto          ``reports.cost_report(period=None, by="process")``  USD, %
plot_runtime_boxes        the tasks table                                     min or h
plot_run_trends           ``reports.run_runtimes()`` or ``runtime_report()``  h, min
plot_failure_rate         ``reports.failure_report(period="month")``          %, count
plot_exit_status_heatmap  ``reports.task_failures()``                         count
plot_memory_efficiency    ``reports.efficiency_report()``                     GiB, USD
plot_task_timeline        the tasks table of one run                          h
========================  ==================================================  ========

Defaults aim at a chart you can paste into a slide: a title, units on every axis, UTC
dates, the Okabe-Ito colour-blind-safe palette, process names shortened to their tail, at
most ``top`` named categories plus "other", figure height growing with the categories, and
a figure saying "no data" (never an exception) for an empty report. Figures are created
without pyplot, so they work with any backend and save to PNG, SVG or PDF through
:func:`save_figure` or ``fig.savefig(path)``.
"""

from __future__ import annotations

from ._cost import plot_cost_by_period, plot_cost_pareto
from ._efficiency import plot_memory_efficiency
from ._failures import plot_exit_status_heatmap, plot_failure_rate
from ._runtime import plot_run_trends, plot_runtime_boxes
from ._style import FAILED_COLOR, OKABE_ITO, OTHER_COLOR, save_figure, short_process_names
from ._timeline import plot_task_timeline

__all__ = [
    "FAILED_COLOR",
    "OKABE_ITO",
    "OTHER_COLOR",
    "plot_cost_by_period",
    "plot_cost_pareto",
    "plot_exit_status_heatmap",
    "plot_failure_rate",
    "plot_memory_efficiency",
    "plot_run_trends",
    "plot_runtime_boxes",
    "plot_task_timeline",
    "save_figure",
    "short_process_names",
]
