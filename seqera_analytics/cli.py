"""The ``seqera-analytics`` command line: a thin layer over sync, reports and the emulator.

Each subcommand parses its arguments and calls the library; it computes nothing itself.
Errors the user can fix are printed as one line (``error: ...``) with exit status 2 for bad
arguments and 1 for everything else, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__
from ._exceptions import SeqeraError


class _UsageError(Exception):
    """Bad arguments: exit status 2."""


def _add_cache_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", metavar="DIR|URL",
                   help="cache directory, or s3://bucket/prefix on object storage (default: "
                        "$SEQERA_ANALYTICS_CACHE or ~/.cache/seqera-analytics)")


def _add_client_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (the token is read from TOWER_ACCESS_TOKEN only)")
    g.add_argument("--endpoint", metavar="URL", help="API endpoint (default: $TOWER_API_ENDPOINT or Seqera Cloud)")
    g.add_argument("--requests-per-second", type=float, metavar="N",
                   help="pace requests at N per second (default 19; the Cloud limit is 20 per token, "
                        "Enterprise installs may set less)")
    g.add_argument("--timeout", type=float, metavar="S", help="per-request timeout in seconds (default 60)")
    g.add_argument("--insecure", action="store_true",
                   help="allow a plain http:// Enterprise endpoint (the token then travels unencrypted)")


def _client_options(args: argparse.Namespace) -> dict[str, object]:
    opts: dict[str, object] = {"endpoint": args.endpoint}
    if args.requests_per_second is not None:
        if args.requests_per_second <= 0:
            raise _UsageError("--requests-per-second must be > 0")
        opts["requests_per_second"] = args.requests_per_second
    if args.timeout is not None:
        if args.timeout <= 0:
            raise _UsageError("--timeout must be > 0")
        opts["timeout_s"] = args.timeout
    if args.insecure:
        opts["allow_insecure"] = True
    return opts


#: ``sync`` exit status when some workspaces could not be synced (403/404) and the rest were.
EXIT_PARTIAL = 3


def _add_sync(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "sync", help="fetch workspaces' runs and tasks into the Parquet cache (incremental)",
        description="Fetch the runs, tasks and load of one workspace, several, an organization's or all the "
                    "token can see into the cache. Only new and changed runs are fetched; an interrupted sync "
                    "is completed by the next one. Uses TOWER_ACCESS_TOKEN and TOWER_API_ENDPOINT like tw.",
        epilog="Exit status: 0 when every workspace was synced (runs that could not be fetched are listed and "
               f"stay pending for the next sync); {EXIT_PARTIAL} when some workspaces could not be synced "
               "(403/404, listed) and the others were; 1 on an error that stopped the sync (what was fetched "
               "is kept) or a workspace or organization name that matched nothing; 2 on malformed arguments.")
    p.add_argument("--workspace", "-w", metavar="ORG/WS", action="append",
                   help="workspace as org/workspace or numeric id; repeat for several "
                        "(default: $TOWER_WORKSPACE_ID, else the personal workspace)")
    p.add_argument("--org", metavar="ORG", help="every workspace of this organization (name or id)")
    p.add_argument("--all", action="store_true", dest="all_workspaces",
                   help="every workspace the token can see (not the personal one: see --include-personal)")
    p.add_argument("--include-personal", action="store_true", help="with --all: the personal workspace too")
    p.add_argument("--since", metavar="DATE",
                   help="only runs submitted on or after this UTC date, e.g. 2025-01-01 (default: all history; "
                        "a later sync without --since fetches the rest)")
    p.add_argument("--full", action="store_true",
                   help="read every listing to its end to find runs the Platform no longer lists (done "
                        "automatically every 7 days; one request per 99 runs)")
    p.add_argument("--metrics", action="store_true", help="also fetch /metrics per run (one more request each)")
    p.add_argument("--progress", action="store_true",
                   help="also fetch /progress per finished run (the Platform's own peaks and net_cost; one "
                        "more request each; by default a finished run's load is derived from its tasks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (not the opposite of --progress)")
    p.add_argument("--commit-every", type=float, default=10.0, metavar="S", help=argparse.SUPPRESS)
    _add_cache_arg(p)
    _add_client_args(p)
    p.set_defaults(func=_cmd_sync)


def _cmd_sync(args: argparse.Namespace) -> int:
    from .ingest import MultiSyncSummary, sync

    if args.include_personal and not args.all_workspaces:
        raise _UsageError("--include-personal goes with --all")
    names = args.workspace or []
    one = not args.all_workspaces and args.org is None and len(names) <= 1
    summary = sync(names[0] if one and names else (None if one else names), args.since, org=args.org,
                   all_workspaces=args.all_workspaces, include_personal=args.include_personal, full=args.full,
                   cache=args.cache, metrics=args.metrics, progress=args.progress,
                   show_progress=not args.no_progress and sys.stderr.isatty(), commit_every_s=args.commit_every,
                   **_client_options(args))
    print(summary)
    return EXIT_PARTIAL if isinstance(summary, MultiSyncSummary) and not summary.ok else 0


def _add_cache(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("cache", help="inspect the cache")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True
    info = csub.add_parser("info", help="what is cached: workspaces, runs, tasks, date range, size")
    _add_cache_arg(info)
    info.set_defaults(func=_cmd_cache_info)


def _cmd_cache_info(args: argparse.Namespace) -> int:
    from .store import Cache

    print(Cache(args.cache).info())
    return 0


_REPORTS = {
    "cost": ("cost_report", "pipeline"),
    "runtime": ("runtime_report", "pipeline"),
    "failures": ("failure_report", "pipeline"),
    "efficiency": ("efficiency_report", "process"),
    "quality": ("data_quality", ""),
    "reconcile": ("reconcile_billing", ""),
}
#: Reports without periods or group keys.
_UNGROUPED = ("quality", "reconcile")


def _add_report(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report", help="cost, runtime, failure, efficiency or data-quality report from the cache",
        description="Compute a report from the cache (run `seqera-analytics sync` first, or "
                    "pass --sync). Prints a table, or writes --output as CSV or Parquet (tidy long "
                    "format). Costs are USD (Seqera's estimate); a task counts in the period it "
                    "completed in (a cached task: when its original execution completed), so a "
                    "period's figures never depend on the window asked. Rows of periods the window "
                    "or the cache's history cuts are marked partial (*). `report quality` lists the "
                    "records every report left out.")
    p.add_argument("kind", choices=sorted(_REPORTS), help="which report")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--month", metavar="YYYY-MM", help="one UTC calendar month, e.g. 2025-09")
    when.add_argument("--since", metavar="DATE", help="from this UTC date/time (inclusive)")
    p.add_argument("--until", metavar="DATE", help="up to this UTC date/time (exclusive)")
    p.add_argument("--by", metavar="KEYS", help="comma-separated group-by keys, e.g. pipeline,user "
                   "(default: pipeline; process for efficiency)")
    p.add_argument("--period", default="month", choices=["day", "week", "month", "quarter", "year", "none"],
                   help="time bucket (default: month; ignored by efficiency)")
    p.add_argument("--workspace", "-w", metavar="ORG/WS", help="only this cached workspace (default: all)")
    p.add_argument("--pipeline", metavar="NAME", help="only runs of this pipeline (project name)")
    p.add_argument("--user", metavar="NAME", help="only runs launched by this user")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE.csv or FILE.parquet")
    p.add_argument("--layout", choices=["long", "wide"], default="long",
                   help="--output layout: long (tidy: id columns, metric, value, unit; default) or wide "
                        "(one row per period and group, as printed; easiest in a spreadsheet)")
    p.add_argument("--basis", choices=["estimate", "billed", "both"], default="estimate",
                   help="cost, failures, efficiency: Seqera's estimate (default), the AWS bill imported "
                        "with `cur import`, or both side by side")
    p.add_argument("--idle", choices=["task", "spread", "row"], default="task",
                   help="cost --basis billed|both: the instances' idle capacity as AWS split it over "
                        "the tasks (default), spread over the groups by used cost, or as its own row")
    p.add_argument("--per", choices=["period", "run"], default="period",
                   help="reconcile: one row per period and kind of money (default), or per run")
    p.add_argument("--all-columns", action="store_true", help="print every column (efficiency has ~40)")
    p.add_argument("--config", metavar="FILE", help="efficiency: write the right-sizing Nextflow config here")
    p.add_argument("--sync", action="store_true", help="sync the workspace from the API first")
    _add_cache_arg(p)
    _add_client_args(p)
    p.set_defaults(func=_cmd_report)


def _window(args: argparse.Namespace) -> tuple[object, object]:
    import re

    import pandas as pd

    if args.month:
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.month.strip()):
            raise _UsageError(f"--month must be YYYY-MM (e.g. 2025-09), got {args.month!r}")
        start = pd.Timestamp(args.month.strip() + "-01", tz="UTC")
        if args.until:
            raise _UsageError("--until cannot be combined with --month")
        return start, start + pd.offsets.MonthBegin(1)
    return args.since, args.until


#: Columns printed for a report in the terminal (all of them go to --output); efficiency has
#: ~40, too many to read in a terminal.
_SHOWN = {
    "quality": ("table", "class", "column", "records", "runs", "action"),
    "efficiency": ("process", "pipeline", "user", "workspace", "machine_type", "tasks", "runs", "cost",
                   "wasted_cost", "wasted_share", "billed_cost", "wasted_billed_cost",
                   "cpu_usage_median", "memory_usage_median",
                   "time_usage_median", "cpus_requested", "suggested_cpus", "memory_requested_gib",
                   "suggested_memory", "suggested_time", "note"),
    "reconcile:period": ("period_label", "row", "line_item_type", "net_cost", "used_cost", "idle_cost",
                         "billed_cost", "billed_to_estimate", "runs", "tasks_without_lines"),
    "reconcile:run": ("period_label", "run_id", "pipeline", "net_cost", "used_cost", "idle_cost",
                      "billed_cost", "billed_to_estimate", "note"),
}
#: Short terminal headers of the billed reports (so that they fit 100 columns; --output keeps
#: the documented names).
_SHORT = {"period_label": "period", "line_item_type": "line type", "net_cost": "estimate",
          "used_cost": "used", "idle_cost": "idle", "billed_cost": "billed",
          "billed_to_estimate": "billed/est", "tasks_without_lines": "no lines", "tasks_billed": "billed tasks",
          "cost": "gross est"}
#: Billed cost reports: the group keys, then these.
_SHOWN_BASIS = {
    "billed": ("billed_cost", "used_cost", "idle_cost", "tasks_billed", "tasks_without_lines", "runs"),
    "both": ("cost", "net_cost", "billed_cost", "used_cost", "idle_cost", "billed_to_estimate"),
}


def _print_report(df: object, kind: str, all_columns: bool = False) -> None:
    import pandas as pd

    from ._text import text_table
    from .reports import column_unit

    assert isinstance(df, pd.DataFrame)
    shown = df.drop(columns=["period"]) if "period_label" in df.columns else df.copy()
    partial = "partial" in shown.columns and bool(shown["partial"].fillna(False).any())
    if "partial" in shown.columns:
        marks = shown.pop("partial").fillna(False).to_numpy(dtype=bool)
        if "period_label" in shown.columns:
            shown["period_label"] = [f"{p}*" if m else p for p, m in zip(shown["period_label"], marks)]
    basis = df.attrs.get("basis")
    columns = _SHOWN.get(kind)
    if kind == "cost" and basis in _SHOWN_BASIS:
        from .reports import RUN_KEYS, TASK_KEYS

        kind = f"cost:{basis}"
        columns = ("period_label", *RUN_KEYS, *TASK_KEYS, *_SHOWN_BASIS[basis])
    if columns is not None and not all_columns:
        shown = shown[[c for c in shown.columns if c in columns]]
    for col in shown.columns:
        s = shown[col]
        if pd.api.types.is_float_dtype(s):
            unit = column_unit(col, df)
            if unit == "fraction":
                shown[col] = s.map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
            else:
                digits = 2 if unit in ("USD", "h", "min", "GiB") else 3
                shown[col] = s.map(lambda v, d=digits: "" if pd.isna(v) else f"{v:,.{d}f}")
    short = kind.startswith(("reconcile:", "cost:"))
    if short:
        shown = shown.rename(columns=_SHORT)
    shown = shown.astype(object).where(shown.notna(), "")  # blank, not <NA>
    # Padded by terminal cells, not len(): names in CJK, emoji or with accents stay aligned.
    print(text_table(shown))
    if short:
        print("USD. estimate: net_cost, Seqera's estimate without cached tasks; used, idle, billed:\n"
              "the AWS bill's used_cost, idle_cost, billed_cost; no lines: task attempts without lines")
    if partial:
        lo, hi = (df.attrs.get("coverage") or [None, None])[:2]
        span = f"from {lo or 'the first record'} to {hi or 'now'}"
        print(f"* partial period: the figures cover {span} (the window, the cache's sync history "
              "and the present); a starred period reaches outside that")
    if kind == "quality":
        checked = df.groupby("table")["records_checked"].max()
        print("checked " + ", ".join(f"{int(n):,} {t}" for t, n in checked.items())
              + "; --all-columns adds what each class means")
    elif columns is not None and not all_columns:
        print(f"({len(df.columns)} columns in all: --all-columns shows them, --output writes them)")


def _nothing_matches(cache: object, args: argparse.Namespace) -> str:
    """Why a report is empty, with what the cache does hold (names are exact matches)."""
    from .store import load_runs

    held = load_runs(workspace=args.workspace, cache=cache)  # type: ignore[arg-type]
    parts = []
    if args.pipeline and args.pipeline not in set(held.project_name.dropna()):
        parts.append(f"no pipeline named {args.pipeline!r} (cached: "
                     f"{', '.join(sorted(set(held.project_name.dropna()))[:10])})")
    if args.user and args.user not in set(held.user_name.dropna()):
        parts.append(f"no user named {args.user!r} (cached: {', '.join(sorted(set(held.user_name.dropna()))[:10])})")
    if not parts:
        first, last = held.submit.min(), held.submit.max()
        window = args.month or " ".join(x for x in (f"since {args.since}" if args.since else "",
                                                    f"until {args.until}" if args.until else "") if x)
        parts.append(f"no runs {window or 'match'} (cached runs were submitted from {first:%Y-%m-%d} "
                     f"to {last:%Y-%m-%d})")
    return "The report is empty: " + "; ".join(parts) + "."


def _cmd_report(args: argparse.Namespace) -> int:
    from . import reports
    from .store import Cache

    since, until = _window(args)
    if args.config and args.kind != "efficiency":
        raise _UsageError("--config goes with `report efficiency` (the right-sizing config)")
    if args.sync:
        from .ingest import sync

        print(sync(args.workspace, cache=args.cache, show_progress=True, **_client_options(args)))
    cache = Cache(args.cache)
    if not cache.is_cache():
        raise _CacheEmpty(
            f"{cache.path} is not a seqera-analytics cache (no state.json). Sync into it first "
            f"(`seqera-analytics sync --workspace ORG/WS --cache {cache.path}`), or try the "
            "bundled runs with `seqera-analytics demo --cache DIR`.")
    if not cache.state().files.get("runs") and not cache.state().active:
        raise _CacheEmpty(
            f"The cache at {cache.path} holds no runs. Run `seqera-analytics sync --workspace ORG/WS` "
            "first (or `seqera-analytics demo` to try the bundled example runs).")
    # Reports read the cache's committed files themselves, filters pushed down.
    scope = {"cache": cache, "workspace": args.workspace, "pipeline": args.pipeline,
             "user": args.user, "since": since, "until": until}
    fn_name, default_by = _REPORTS[args.kind]
    kwargs: dict[str, object] = dict(scope)
    if args.kind in _UNGROUPED:
        if args.by:
            raise _UsageError(f"--by does not go with `report {args.kind}`")
    else:
        kwargs["by"] = [b.strip() for b in (args.by or default_by).split(",") if b.strip()]
    if args.kind not in ("efficiency", "quality"):
        kwargs["period"] = None if args.period == "none" else args.period
    if args.kind == "cost":
        kwargs.update(basis=args.basis, idle=args.idle)
    elif args.idle != "task":
        raise _UsageError("--idle goes with `report cost --basis billed|both`")
    elif args.kind in ("failures", "efficiency"):
        kwargs["basis"] = args.basis
    elif args.basis != "estimate":
        raise _UsageError(f"--basis goes with `report cost`, `failures` and `efficiency` "
                          f"(`report reconcile` shows both bases; `{args.kind}` has no money)")
    if args.kind == "reconcile":
        kwargs["per"] = args.per
    elif args.per != "period":
        raise _UsageError("--per goes with `report reconcile`")
    if (args.kind == "reconcile" or kwargs.get("basis", "estimate") != "estimate") and \
            not cache.state().files.get("billing_tasks"):
        raise _CacheEmpty(
            f"No AWS bill is imported into the cache at {cache.path}: import the Cost and Usage "
            f"Report first (`seqera-analytics cur import FILES --cache {cache.path}`).")
    df = getattr(reports, fn_name)(**kwargs)
    if df.empty and args.kind == "quality":
        print("No data-quality findings: every record in scope was usable as sent.")
    elif df.empty:
        print(_nothing_matches(cache, args))
    if args.output:
        path = reports.export(df, args.output, layout=args.layout)
        # The rows of the file as written (the long layout has one per value, not per printed row).
        written = len(reports.read_report(path))
        print(f"Wrote the {args.kind} report ({written} rows, {args.layout} layout) to {path}")
    elif not df.empty:
        _print_report(df, f"reconcile:{args.per}" if args.kind == "reconcile" else args.kind,
                      args.all_columns)
    for note in df.attrs.get("notes", []):
        print(note)
    if args.kind == "efficiency" and df.empty and args.config:
        print(f"No right-sizing config written to {args.config}: the report is empty.")
    if args.kind == "efficiency" and not df.empty:
        snippet = reports.nextflow_config(reports.right_size(**scope))
        if args.config:
            from pathlib import Path

            Path(args.config).write_text(snippet, encoding="utf-8")
            print(f"Wrote the right-sizing config to {args.config}")
        elif not args.output:
            print("\n" + snippet)
    return 0


class _CacheEmpty(Exception):
    """The cache holds nothing to report on: exit status 1."""


def _add_demo(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo", help="the whole pipeline on the bundled real runs: no token, no network",
        description="Start the API emulator with the bundled real runs, sync them into a temporary "
                    "cache, print the monthly cost report and a failure summary, and write all reports "
                    "as Parquet and CSV into a folder.")
    p.add_argument("--output-dir", "-o", default="seqera-analytics-demo", metavar="DIR",
                   help="where to write the reports (default: ./seqera-analytics-demo)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--cache", metavar="DIR",
                   help="keep the demo's cache here (default: a temporary one) to try `report` on it")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.output_dir, show_progress=not args.no_progress, cache=args.cache)
    if args.cache:
        print(f"The demo's cache is in {args.cache}: try `seqera-analytics report cost --cache {args.cache}`.")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (argparse prints the whole usage first), exit status 2; no
    abbreviated options (``report --all`` would silently mean ``--all-columns``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from .billing.cli import add_parser as add_cur
    from .emulator.cli import add_parser as add_emulator

    parser = _Parser(
        prog="seqera-analytics",
        description="Seqera Platform runs, tasks and metrics as DataFrames, a Parquet cache, and reports.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_demo(sub)
    _add_report(sub)
    _add_sync(sub)
    _add_cache(sub)
    add_cur(sub, _add_cache_arg)
    add_emulator(sub)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _log_warnings() -> None:
    """Show the library's warnings (persistent retries, skipped runs) on stderr, once each,
    as one line (``warnings.warn`` would add a source file and line a user can do nothing with)."""
    import logging
    import warnings

    warnings.showwarning = _show_warning

    log = logging.getLogger("seqera_analytics")
    if not any(getattr(h, "_seqera_cli", False) for h in log.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        handler.setLevel(logging.WARNING)
        handler._seqera_cli = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        if log.level == logging.NOTSET or log.level > logging.WARNING:
            log.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_warnings()
    try:
        return int(args.func(args) or 0)
    except (_UsageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (SeqeraError, _CacheEmpty) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `seqera-analytics report ... | head`: the reader has had enough
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # unwritable output, full disk, permissions: the OS says which file
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an answer nobody foresaw: one line, and how to see more
        import os

        if os.environ.get("SEQERA_ANALYTICS_DEBUG"):
            raise
        from .api import redact

        print(f"error: unexpected {type(exc).__name__}: {redact(str(exc))}. Rerun with "
              "SEQERA_ANALYTICS_DEBUG=1 for the traceback, and please report it.", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
