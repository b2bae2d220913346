"""Run the emulator in its own process for benchmarks, so its CPU work does not compete with
the client under test for the GIL (a real server is on another machine)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def emulator_process(*args: str) -> Iterator[tuple[str, str]]:
    """Start ``seqera-analytics emulator --port 0 ARGS``; yield (base URL, token)."""
    proc = subprocess.Popen([sys.executable, "-m", "seqera_analytics.cli", "emulator", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = token = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if m := re.search(r"export TOWER_API_ENDPOINT=(\S+)", line):
                url = m.group(1)
            elif m := re.search(r"export TOWER_ACCESS_TOKEN=(\S+)", line):
                token = m.group(1)
            if url and token:
                break
        if not (url and token):
            raise RuntimeError(f"the emulator did not start (exit {proc.poll()})")
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
