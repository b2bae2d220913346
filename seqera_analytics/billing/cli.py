"""``seqera-analytics cur import``: AWS Cost and Usage Report files into the cache."""

from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["add_parser"]

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])|undated")


def _period(text: str) -> str:
    if not _PERIOD.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"must be YYYY-MM (e.g. 2025-09) or 'undated', got {text!r}")
    return text.strip()


def _tags(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise argparse.ArgumentTypeError("give one tag name or more, comma-separated")
    return names


def add_parser(sub: Any, cache_arg: Any) -> None:
    p = sub.add_parser("cur", help="import the AWS bill (Cost and Usage Report) for billed-cost reports")
    csub = p.add_subparsers(dest="cur_command", metavar="ACTION")
    csub.required = True
    imp = csub.add_parser(
        "import", help="import CUR files (CUR 2.0 or legacy; Parquet, CSV or CSV.gz) into the cache",
        description="Read AWS Cost and Usage Report files (CUR 2.0 Parquet, legacy CUR Parquet or "
                    "CSV, gzipped or not; files, globs or directories) and keep the billed cost per "
                    "task in the cache, for `report cost --basis billed|both` and `report reconcile`. "
                    "A line already imported (same identity) is never counted twice: importing a "
                    "file again, or a copy of it, changes nothing. A period's earlier lines are kept "
                    "unless --replace-period names it.")
    imp.add_argument("paths", nargs="+", metavar="PATH", help="CUR file, glob or directory")
    imp.add_argument("--replace-period", action="append", type=_period, metavar="YYYY-MM", default=[],
                     help="replace what the cache holds of this billing period with what the files hold "
                          "(repeatable); e.g. after AWS restated the month")
    imp.add_argument("--run-tag", type=_tags, metavar="NAMES",
                     help="tag(s) carrying the Seqera run id (default: unique-run-id,nf-unique-run-id)")
    imp.add_argument("--task-tag", type=_tags, metavar="NAMES", help="tag carrying the task hash (default: task-hash)")
    imp.add_argument("--process-tag", type=_tags, metavar="NAMES",
                     help="tag carrying the process name (default: pipeline-process)")
    cache_arg(imp)
    imp.set_defaults(func=_cmd_import)


def _cmd_import(args: argparse.Namespace) -> int:
    from . import BillingTags, import_cur

    kw = {k: v for k, v in (("run", args.run_tag), ("task_hash", args.task_tag),
                            ("process", args.process_tag)) if v}
    print(import_cur(args.paths, cache=args.cache, tags=BillingTags(**kw),
                     replace_period=args.replace_period or None))
    return 0
