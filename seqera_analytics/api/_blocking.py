"""A blocking facade over :class:`AsyncSeqeraClient` that also works inside Jupyter.

Notebooks already run an event loop, so ``asyncio.run`` fails there and ``nest_asyncio``
patches the loop globally. Instead, coroutines run on one private event loop in a daemon
thread (shared by every sync client of the process) and the caller blocks on the result;
Ctrl-C / a notebook interrupt cancels the request in flight.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ._client import AsyncSeqeraClient
from ._config import ClientConfig

__all__ = ["SeqeraClient", "run_sync"]

T = TypeVar("T")


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="seqera-analytics-loop", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()


_RUNNER: _LoopThread | None = None
_RUNNER_LOCK = threading.Lock()


def _runner() -> _LoopThread:
    global _RUNNER
    with _RUNNER_LOCK:
        if _RUNNER is None or not _RUNNER.thread.is_alive():
            _RUNNER = _LoopThread()
        return _RUNNER


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the shared background loop and wait for its result.

    Works whether or not the calling thread has a running event loop (e.g. Jupyter).

    Raises
    ------
    RuntimeError
        When called from the background loop itself (that would deadlock).
    """
    runner = _runner()
    if threading.current_thread() is runner.thread:
        coro.close()
        raise RuntimeError("run_sync() called from the seqera-analytics loop; await the coroutine instead")
    finished = threading.Event()

    async def tracked() -> T:
        try:
            return await coro
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(tracked(), runner.loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()
        # Give the coroutine a moment to clean up (a sync commits what it fetched) before the
        # interrupt reaches the caller, which may be about to exit.
        finished.wait(timeout=30)
        raise


def _blocking(name: str) -> Any:
    method = getattr(AsyncSeqeraClient, name)

    @functools.wraps(method)
    def call(self: SeqeraClient, *args: Any, **kwargs: Any) -> Any:
        return run_sync(getattr(self.aio, name)(*args, **kwargs))

    return call


class SeqeraClient:
    """Blocking client with the same methods as :class:`AsyncSeqeraClient`.

    Parameters are those of :class:`AsyncSeqeraClient`. The async client is available as
    ``.aio`` (use it only through :func:`run_sync`, it lives on the background loop).
    """

    def __init__(self, config: ClientConfig | None = None, **kwargs: Any) -> None:
        self.aio = AsyncSeqeraClient(config, **kwargs)

    @property
    def config(self) -> ClientConfig:
        return self.aio.config

    @property
    def stats(self) -> Any:
        """:class:`RequestStats` of this client."""
        return self.aio.stats

    def close(self) -> None:
        """Close the connection pool."""
        run_sync(self.aio.aclose())

    def __enter__(self) -> SeqeraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SeqeraClient(endpoint={self.config.endpoint!r}, workspace={self.config.workspace!r})"

    service_info = _blocking("service_info")
    user_info = _blocking("user_info")
    list_user_workspaces = _blocking("list_user_workspaces")
    list_organizations = _blocking("list_organizations")
    list_org_workspaces = _blocking("list_org_workspaces")
    workspaces = _blocking("workspaces")
    resolve_workspace = _blocking("resolve_workspace")
    list_runs = _blocking("list_runs")
    describe_run = _blocking("describe_run")
    get_progress = _blocking("get_progress")
    get_metrics = _blocking("get_metrics")
    get_task = _blocking("get_task")
    list_tasks = _blocking("list_tasks")
