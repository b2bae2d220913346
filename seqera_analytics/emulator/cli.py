"""``seqera-analytics emulator``: run the API emulator until Ctrl-C.

Prints the base URL, the (local, fake) access token, the ``export`` lines that point
``tw`` or this toolkit at it, and the workspaces it serves.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, got {value}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _millis(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1, got {text}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``emulator`` subcommand on ``subparsers`` (sets ``func=run``)."""
    p = subparsers.add_parser(
        "emulator",
        help="run a local Seqera Platform API emulator (real and synthetic runs)",
        description=(
            "Serve the Seqera Platform API endpoints seqera-analytics uses, seeded with the "
            "bundled real runs (or --runs DIR) and optionally a synthetic workspace, until Ctrl-C."
        ),
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)"
    )
    p.add_argument(
        "--port", type=_port, default=8080, help="port (default: 8080; 0 = any free port)"
    )
    p.add_argument(
        "--runs",
        type=Path,
        metavar="DIR",
        help="directory of run bundles / tw runs dump archives (default: the bundled real runs)",
    )
    p.add_argument(
        "--no-real-runs",
        action="store_true",
        help="do not serve the real runs (they still seed synthetic data)",
    )
    p.add_argument(
        "--synthetic-runs",
        type=_count,
        default=0,
        metavar="N",
        help="add a synthetic workspace of N runs",
    )
    p.add_argument(
        "--synthetic-workspace",
        default="synthetic/scale",
        metavar="ORG/WS",
        help="name of the synthetic workspace (default: synthetic/scale)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the synthetic data and tokens (default: 0)"
    )
    p.add_argument(
        "--latency-ms",
        type=_millis,
        default=0.0,
        metavar="MS",
        help="delay added to every response [ms]",
    )
    p.add_argument(
        "--rate-limit",
        type=_count,
        default=20,
        metavar="N",
        help="requests per second per token (default: 20; 0 = no limit)",
    )
    p.add_argument(
        "--rate-limit-timeout-ms",
        type=_millis,
        default=0.0,
        metavar="MS",
        help="how long an over-limit request may wait before a 429 [ms]",
    )
    p.add_argument(
        "--list-progress",
        action="store_true",
        help="include `progress` in GET /workflow list elements",
    )
    p.add_argument(
        "--max-page-size",
        type=_positive,
        default=None,
        metavar="N",
        help="serve task pages of at most N rows, whatever `max` asks (default: as asked)",
    )
    p.add_argument(
        "--no-task-total",
        action="store_true",
        help="leave `total` out of GET /workflow/{id}/tasks responses",
    )
    p.add_argument("--token", help="fix the access token (default: derived from --seed)")
    faults = p.add_argument_group("fault injection (shares of requests, 0-1)")
    faults.add_argument(
        "--error-rate", type=_rate, default=0.0, help="502/503/504 with an HTML body"
    )
    faults.add_argument(
        "--drop-rate", type=_rate, default=0.0, help="connection closed without a response"
    )
    faults.add_argument(
        "--truncate-rate", type=_rate, default=0.0, help="200 JSON bodies cut in the middle"
    )
    faults.add_argument(
        "--burst-429-rate", type=_rate, default=0.0, help="429 with Retry-After: 0 below the limit"
    )
    faults.add_argument(
        "--new-runs-per-list-page",
        type=_count,
        default=0,
        metavar="N",
        help="runs added before each GET /workflow page with offset > 0",
    )
    faults.add_argument("--fault-seed", type=int, default=0, help="seed of the fault decisions")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Start the emulator from parsed arguments and serve until interrupted."""
    from . import Emulator, Faults

    try:
        emu = Emulator(
            args.runs,
            include_real_runs=not args.no_real_runs,
            synthetic_runs=args.synthetic_runs,
            synthetic_workspace=args.synthetic_workspace,
            seed=args.seed,
            rate_limit=args.rate_limit or None,
            rate_limit_timeout_ms=args.rate_limit_timeout_ms,
            latency_ms=args.latency_ms,
            faults=Faults(
                error_rate=args.error_rate,
                drop_rate=args.drop_rate,
                truncate_rate=args.truncate_rate,
                burst_429_rate=args.burst_429_rate,
                new_runs_per_list_page=args.new_runs_per_list_page,
                seed=args.fault_seed,
            ),
            list_progress=args.list_progress,
            max_page_size=args.max_page_size,
            task_totals=not args.no_task_total,
            host=args.host,
            port=args.port,
            token=args.token,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        emu.start()
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    try:
        spaces = emu.workspaces
        # Suggest the workspace with the most runs (the synthetic one when there is one).
        first = max(spaces, key=lambda w: w["n_runs"])["full_name"] if spaces else ""
        out = [
            f"Seqera Platform API emulator listening on {emu.url}",
            "",
            "Point tw or seqera-analytics at it (the token is a local fake):",
            f"  export TOWER_API_ENDPOINT={emu.url}",
            f"  export TOWER_ACCESS_TOKEN={emu.token}",
            f"  export TOWER_WORKSPACE_ID={first}",
            "",
            "Workspaces (user analyst-1):",
            f"  {'WORKSPACE ID':<17} {'ORG/WORKSPACE':<32} RUNS",
        ]
        out += [f"  {w['workspace_id']:<17} {w['full_name']:<32} {w['n_runs']}" for w in spaces]
        out += [
            "",
            f"A second user (sees only other-org/private, no runs): {emu.other_token}",
            f"Rate limit: {emu.rate_limit or 'none'} requests/s per token. Press Ctrl-C to stop.",
        ]
        print("\n".join(out), flush=True)
        previous = None
        if threading.current_thread() is threading.main_thread():
            # `kill PID` (SIGTERM) stops as cleanly as Ctrl-C.
            previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(3600)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr)
    finally:
        emu.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
