"""End to end: ``05_explorer.ipynb`` served by Voila, driven in headless Chromium.

The test copies the notebook into a temporary folder, starts ``voila`` on a free local port
(its kernel gets the clean environment of the notebook tests: no token, so the explorer
shows the bundled runs through the emulator), opens the page with Playwright in Debian's
Chromium, waits for the explorer, picks a pipeline in the pipeline dropdown, and checks that
the rendered table and the chart image change accordingly. Voila and its kernel are stopped
whatever happens. Only a missing Chromium skips the test (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# Flags this machine needs (no sandbox as root, no GPU, no calls to Google's services).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
PAGE_TIMEOUT_MS = 180_000  # the first render starts a kernel, the emulator and a sync


def chromium_path() -> str | None:
    for candidate in (CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    """Wait until the server accepts connections (a TCP connect starts no kernel)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"voila did not listen on {port} in {timeout_s} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    """Stop voila and its kernels: SIGTERM to its process group, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture
def voila_url(tmp_path: Path, notebooks_dir: Path, kernel_env: dict[str, str]) -> Iterator[str]:
    if chromium_path() is None:
        pytest.skip(f"Chromium not found at {CHROMIUM} (install the Debian package: "
                    "apt-get install -y chromium; .ci/run does this when run as root)")
    work = tmp_path / "served"
    work.mkdir()
    shutil.copy(notebooks_dir / "05_explorer.ipynb", work / "05_explorer.ipynb")
    port = free_port()
    log = tmp_path / "voila.log"
    cmd = [sys.executable, "-m", "voila", str(work / "05_explorer.ipynb"), "--no-browser",
           f"--port={port}", "--Voila.ip=127.0.0.1", "--show_tracebacks=True"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=kernel_env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)


def test_explorer_updates_chart_and_table_in_a_browser(voila_url: str, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(voila_url, timeout=PAGE_TIMEOUT_MS)
            table = page.locator(".sa-table-widget table")
            table.wait_for(state="visible")
            chart = page.locator(".sa-chart")
            page.wait_for_function(
                "() => { const i = document.querySelector('.sa-chart');"
                " return i && i.naturalWidth > 100; }")
            before_text = table.inner_text()
            before_src = chart.get_attribute("src")
            before_png = chart.screenshot()
            assert "nf-core/methylseq" in before_text and "example-lab/sarek" in before_text
            assert "cost [USD]" in before_text

            page.locator(".sa-filter-pipeline select").select_option(label="nf-core/sarek")

            page.wait_for_function(
                "prev => { const t = document.querySelector('.sa-table-widget table');"
                " return t && t.innerText !== prev; }", arg=before_text)
            page.wait_for_function(
                "prev => { const i = document.querySelector('.sa-chart');"
                " return i && i.getAttribute('src') !== prev && i.complete"
                " && i.naturalWidth > 100; }", arg=before_src)
            after_text = table.inner_text()
            after_png = chart.screenshot()
            page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
        finally:
            browser.close()

    assert "nf-core/sarek" in after_text
    assert "nf-core/methylseq" not in after_text and "example-lab/sarek" not in after_text
    assert after_png != before_png, "the rendered chart did not change"
