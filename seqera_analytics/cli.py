"""The ``seqera-analytics`` command line: a thin layer over sync, reports and the emulator.

Each subcommand parses its arguments and calls the library; it never computes anything
itself. Errors the user can fix are printed as one clear line with exit status 2 (usage)
or 1 (everything else), never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from ._exceptions import SeqeraError


def _add_emulator(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .emulator.cli import add_parser

    add_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqera-analytics",
        description="Seqera Platform runs, tasks and metrics as DataFrames, a Parquet cache, and reports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_emulator(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SeqeraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
