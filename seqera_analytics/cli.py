"""The ``seqera-analytics`` command line: a thin layer over sync, reports and the emulator.

Each subcommand parses its arguments and calls the library; it computes nothing itself.
Errors the user can fix are printed as one line (``error: ...``) with exit status 2 for bad
arguments and 1 for everything else, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from ._exceptions import SeqeraError


class _UsageError(Exception):
    """Bad arguments: exit status 2."""


def _add_cache_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", metavar="DIR",
                   help="cache directory (default: $SEQERA_ANALYTICS_CACHE or ~/.cache/seqera-analytics)")


def _add_sync(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "sync", help="fetch a workspace's runs and tasks into the local Parquet cache (incremental)",
        description="Fetch a workspace's runs, tasks and progress into the cache. Only new and "
                    "changed runs are fetched; an interrupted sync is completed by the next one. "
                    "Uses TOWER_ACCESS_TOKEN and TOWER_API_ENDPOINT like tw.")
    p.add_argument("--workspace", "-w", metavar="ORG/WS",
                   help="workspace as org/workspace or numeric id (default: $TOWER_WORKSPACE_ID)")
    p.add_argument("--since", metavar="DATE", help="only runs submitted on or after this UTC date (2025-01-01)")
    p.add_argument("--endpoint", metavar="URL", help="API endpoint (default: $TOWER_API_ENDPOINT or Seqera Cloud)")
    p.add_argument("--metrics", action="store_true", help="also fetch /metrics per run (one more request each)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--commit-every", type=float, default=10.0, metavar="S", help=argparse.SUPPRESS)
    _add_cache_arg(p)
    p.set_defaults(func=_cmd_sync)


def _cmd_sync(args: argparse.Namespace) -> int:
    from .sync import sync

    summary = sync(args.workspace, args.since, cache=args.cache, metrics=args.metrics,
                   show_progress=not args.no_progress, commit_every_s=args.commit_every,
                   endpoint=args.endpoint)
    print(summary)
    return 0


def _add_cache(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("cache", help="inspect the local cache")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True
    info = csub.add_parser("info", help="what is cached: workspaces, runs, tasks, date range, size")
    _add_cache_arg(info)
    info.set_defaults(func=_cmd_cache_info)


def _cmd_cache_info(args: argparse.Namespace) -> int:
    from .store import Cache

    print(Cache(args.cache).info())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .emulator.cli import add_parser as add_emulator

    parser = argparse.ArgumentParser(
        prog="seqera-analytics",
        description="Seqera Platform runs, tasks and metrics as DataFrames, a Parquet cache, and reports.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_sync(sub)
    _add_cache(sub)
    add_emulator(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (_UsageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SeqeraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
