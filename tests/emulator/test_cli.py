"""``seqera-analytics emulator``: starts, prints how to use it, stops on Ctrl-C / SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import seqera_analytics.emulator as public
from seqera_analytics.cli import build_parser, main


def _start(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqera_analytics.cli", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("TOWER_", "SEQERA_"))},
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "Ctrl-C" in line:
            return proc, lines
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"the emulator did not start: {lines} {err}")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_interrupted(stop: signal.Signals) -> None:
    proc, lines = _start(
        "--synthetic-runs",
        "12",
        "--token",
        "cli-test-token-0123456789abcdefghijklmnop",
        "--latency-ms",
        "1",
    )
    try:
        text = "\n".join(lines)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text).group(1)  # type: ignore[union-attr]
        assert f"export TOWER_API_ENDPOINT={url}" in text
        assert "export TOWER_ACCESS_TOKEN=cli-test-token-0123456789abcdefghijklmnop" in text
        assert re.search(r"export TOWER_WORKSPACE_ID=\S+/\S+", text)
        assert "synthetic/scale" in text and "seqeralabs/benchmarks" in text
        headers = {"Authorization": "Bearer cli-test-token-0123456789abcdefghijklmnop"}
        r = httpx.get(f"{url}/user-info", headers=headers)
        assert r.status_code == 200 and r.json()["user"]["userName"] == "analyst-1"
    finally:
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=20)  # also closes the pipes
    assert proc.returncode == 0, err
    assert "stopping" in err


def test_cli_rejects_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["emulator", "--runs", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["emulator", "--runs", str(tmp_path / "empty")]) == 1
    assert "holds no run bundles" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{not json")
    assert main(["emulator", "--runs", str(tmp_path / "bad")]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["emulator", "--synthetic-workspace", "flat"]) == 2
    assert "org/workspace" in capsys.readouterr().err
    for args in (
        ["--port", "70000"],
        ["--error-rate", "1.5"],
        ["--synthetic-runs", "-3"],
        ["--latency-ms", "x"],
        ["--max-page-size", "0"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(["emulator", *args])
        assert exc.value.code == 2
        assert "error: argument" in capsys.readouterr().err


def test_cli_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    from seqera_analytics.emulator import Emulator

    with Emulator() as emu:
        port = emu.url.rsplit(":", 1)[1]
        assert main(["emulator", "--port", port]) == 1
        assert "cannot listen" in capsys.readouterr().err


def test_parser_registers_emulator() -> None:
    args = build_parser().parse_args(
        ["emulator", "--rate-limit", "0", "--list-progress", "--drop-rate", "0.1"]
    )
    assert (
        args.func.__name__ == "run"
        and args.rate_limit == 0
        and args.list_progress
        and args.drop_rate == 0.1
    )


def test_parser_takes_the_page_cap_and_no_total() -> None:
    args = build_parser().parse_args(["emulator", "--max-page-size", "10", "--no-task-total"])
    assert args.max_page_size == 10 and args.no_task_total
    args = build_parser().parse_args(["emulator"])
    assert args.max_page_size is None and not args.no_task_total


def test_public_exports() -> None:
    assert public.__all__ == sorted(public.__all__)
    for name in public.__all__:
        obj = getattr(public, name)
        assert getattr(obj, "__module__", public.__name__) == public.__name__
    assert repr(public.Faults()).startswith("Faults(")
