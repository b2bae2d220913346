"""The :class:`Emulator`: state + ASGI app + a uvicorn server in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from .._exceptions import DataFormatError
from ..bundles import RunBundle, bundled_runs_dir, iter_run_bundles
from ._app import Gateway, build_app
from ._faults import Faults
from ._ratelimit import FixedWindowRateLimiter
from ._state import OTHER_WORKSPACE, Store
from ._synthetic import SyntheticWorkspace

__all__ = ["Emulator", "RequestRecord"]


class RequestRecord(NamedTuple):
    """One request the emulator received.

    Attributes
    ----------
    time : float
        ``time.monotonic()`` when the request arrived [s].
    token : str or None
        The raw bearer token sent (None without an ``Authorization`` header).
    method : str
        HTTP method.
    endpoint : str or None
        Route template, e.g. ``/workflow/{workflowId}/tasks``; None for unknown paths.
    path : str
        The request path.
    status : int
        Response status; 0 when the connection was dropped (fault injection).
    """

    time: float
    token: str | None
    method: str
    endpoint: str | None
    path: str
    status: int


def _check_int(name: str, value: Any, *, minimum: int = 0, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


class Emulator:
    """A local Seqera Platform API server for tests, benchmarks and the demo.

    It serves the real runs bundled with the project (or those in ``runs_dir``), optionally
    a deterministic synthetic workspace of any size, with the real API's auth, workspace
    access rules, page cap, per-token rate limit, and optional latency and faults. See the
    README section "The API emulator" and :mod:`seqera_analytics.emulator._app` for the
    endpoints.

    Parameters
    ----------
    runs_dir : str or Path, optional
        Directory of run bundles (``*.json``) and ``tw runs dump`` archives; default: the
        bundled real runs. Each run goes into the workspace its source names
        (bundle ``meta.workspace`` / dump metadata; ``emulator/imported`` if none).
    include_real_runs : bool
        Serve those runs. With False they still seed the synthetic generator.
    synthetic_runs : int
        If > 0, add a workspace of this many synthetic runs (see :class:`SyntheticWorkspace`).
    synthetic_workspace : str
        ``org/workspace`` name of the synthetic workspace (may be an existing one).
    seed : int
        Seed of the synthetic data and of the tokens.
    rate_limit : int or None
        Requests per fixed 1-second cycle per token; None or 0 disables the limit.
    rate_limit_timeout_ms : float
        How long an over-limit request may wait for the next cycle before a 429 [ms]
        (``TOWER_RATELIMIT_TIMEOUT``; 0 = reject at once).
    rate_limit_clock : callable, optional
        The limiter's monotonic clock [s] (default ``time.monotonic``); a test can pass a
        frozen one so that its requests fall in one cycle however slowly they are sent.
    latency_ms : float
        Delay added to every response [ms]; settable later (``emu.latency_ms = 100``).
    faults : Faults, optional
        Fault injection (off by default); settable later.
    list_progress : bool
        Include ``progress`` in ``GET /workflow`` list elements (the real tw response has none).
    max_page_size : int or None
        Largest page ``GET /workflow/{id}/tasks`` serves, whatever ``max`` asks (a server
        whose own page size is below the client's ``max``); None: pages of ``max`` rows.
        Run listings are not affected.
    task_totals : bool
        Send ``total`` in ``GET /workflow/{id}/tasks`` responses (the spec has it); False
        leaves the key out, as a server that stopped counting (API-NOTES §1, nf-tower #189).
    host : str
        Interface to listen on.
    port : int
        Port; 0 picks a free one.
    token : str, optional
        Fix the main user's access token (default: derived from ``seed``).

    Attributes
    ----------
    synthetic : SyntheticWorkspace or None
        The generator of the synthetic workspace (e.g. ``emu.synthetic.run_bundle(i)``).
    list_progress, max_page_size, task_totals : bool, int or None, bool
        May be changed on a running emulator.
    on_request : callable or None
        Called with each :class:`RequestRecord` as it is recorded (in the server's thread,
        before the response's first byte is sent): lets a test act on the N-th request
        instead of on a timer. Must be quick and must not call :meth:`stop`.

    Raises
    ------
    ValueError
        A bad number or name in the arguments (``TypeError`` for a wrong type).
    DataFormatError
        ``runs_dir`` does not exist, holds no runs, or holds an unreadable one.

    Notes
    -----
    All arguments after ``runs_dir`` are keyword-only. The server runs uvicorn in a daemon
    thread of this process; the emulator's CPU work shares the GIL with the caller.

    Examples
    --------
    >>> with Emulator() as emu:  # doctest: +SKIP
    ...     httpx.get(f"{emu.url}/user-info", headers={"Authorization": f"Bearer {emu.token}"})
    """

    def __init__(
        self,
        runs_dir: str | Path | None = None,
        *,
        include_real_runs: bool = True,
        synthetic_runs: int = 0,
        synthetic_workspace: str = "synthetic/scale",
        seed: int = 0,
        rate_limit: int | None = 20,
        rate_limit_timeout_ms: float = 0,
        rate_limit_clock: Callable[[], float] = time.monotonic,
        latency_ms: float = 0,
        faults: Faults | None = None,
        list_progress: bool = False,
        max_page_size: int | None = None,
        task_totals: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        _check_int("synthetic_runs", synthetic_runs)
        _check_int("seed", seed, minimum=-(2**63))
        _check_int("rate_limit", rate_limit, allow_none=True)
        _check_number("rate_limit_timeout_ms", rate_limit_timeout_ms)
        _check_number("latency_ms", latency_ms)
        _check_int("port", port)
        _check_int("max_page_size", max_page_size, minimum=1, allow_none=True)
        if port > 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        if faults is not None and not isinstance(faults, Faults):
            raise TypeError(f"faults must be a Faults instance, got {type(faults).__name__}")
        if token is not None and (
            not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token)
        ):
            raise ValueError("token must be a non-empty string without spaces")
        org, sep, ws = str(synthetic_workspace).partition("/")
        if not sep or not org or not ws or "/" in ws:
            raise ValueError(
                f"synthetic_workspace must be 'org/workspace', got {synthetic_workspace!r}"
            )
        if synthetic_workspace == OTHER_WORKSPACE:
            raise ValueError(f"{OTHER_WORKSPACE!r} is reserved for the second user")

        bundles = self._load(runs_dir)
        self.runs_dir = Path(runs_dir) if runs_dir is not None else None
        self.seed = seed
        self.synthetic_workspace = synthetic_workspace
        self.host = host
        self.port = port
        self.list_progress = bool(list_progress)
        self._max_page_size = max_page_size
        self.task_totals = bool(task_totals)
        self.on_request: Any = None
        self._latency_ms = float(latency_ms)
        self._faults = faults or Faults()
        self._rate_limit: int | None = None
        self._rate_limit_timeout_ms = float(rate_limit_timeout_ms)
        if not callable(rate_limit_clock):
            raise TypeError(f"rate_limit_clock must be callable, got {rate_limit_clock!r}")
        self._rate_limit_clock = rate_limit_clock
        self._limiter: FixedWindowRateLimiter | None = None
        self.rate_limit = rate_limit
        synthetic = (
            SyntheticWorkspace(synthetic_runs, seed=seed, source=bundles)
            if synthetic_runs
            else None
        )
        self._store = Store(
            bundles=bundles if include_real_runs else [],
            synthetic=synthetic,
            synthetic_workspace=synthetic_workspace,
            source=bundles,
            seed=seed,
            token=token,
        )
        self.synthetic = synthetic
        self._requests: list[RequestRecord] = []
        self._req_lock = threading.Lock()
        self._app = build_app(self)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._url: str | None = None

    @staticmethod
    def _load(runs_dir: str | Path | None) -> list[RunBundle]:
        directory = Path(runs_dir) if runs_dir is not None else bundled_runs_dir()
        if not directory.exists():
            raise DataFormatError(f"runs directory {directory} does not exist")
        if not directory.is_dir():
            raise DataFormatError(f"runs directory {directory} is not a directory")
        bundles = list(iter_run_bundles(directory))
        if not bundles:
            raise DataFormatError(
                f"runs directory {directory} holds no run bundles (*.json) or tw runs dump archives (*.tar.gz)"
            )
        return bundles

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Emulator:
        """Start serving in a background thread; returns self. Idempotent."""
        if self._thread is not None:
            return self
        import uvicorn

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto is TCP; with proto 0, Nagle + delayed ACKs add ~40 ms to small responses.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(2048)
        sock.setblocking(False)
        config = uvicorn.Config(
            self._app,
            log_config=None,  # leave the host application's logging alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="seqera-emulator", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the emulator's HTTP server did not start")
            time.sleep(0.005)
        port = sock.getsockname()[1]
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self._server, self._thread, self._socket = server, thread, sock
        self._url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread (at most a few seconds). Idempotent."""
        server, thread, sock = self._server, self._thread, self._socket
        if thread is None:
            return
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        if sock is not None:
            sock.close()
        self._server = self._thread = self._socket = None
        self._url = None

    def __enter__(self) -> Emulator:  # noqa: PYI034 (typing.Self needs Python 3.11)
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._url or "not started"
        return f"<Emulator {state}, {len(self._store.runs)} runs>"

    # ------------------------------------------------------------------ access
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._url is None:
            raise RuntimeError(
                "the emulator is not running; use `with Emulator() as emu:` or emu.start()"
            )
        return self._url

    @property
    def app(self) -> Gateway:
        """The ASGI app, for in-process use (e.g. ``httpx.ASGITransport(app=emu.app)``)."""
        return self._app

    @property
    def token(self) -> str:
        """Access token of the main user (``analyst-1``, member of every seeded workspace)."""
        return self._store.main.token

    @property
    def other_token(self) -> str:
        """Access token of a second user who sees only ``other-org/private`` (no runs)."""
        return self._store.other.token

    @property
    def user_id(self) -> int:
        """Id of the main user (``/user-info`` ``.user.id``)."""
        return self._store.main.id

    @property
    def workspaces(self) -> list[dict[str, Any]]:
        """The main user's workspaces: ``{org_id, org_name, workspace_id, workspace_name, full_name, n_runs}``."""
        with self._store.lock:
            return [
                {
                    "org_id": ws.org.id,
                    "org_name": ws.org.name,
                    "workspace_id": ws.id,
                    "workspace_name": ws.name,
                    "full_name": ws.full_name,
                    "n_runs": len(ws.entries),
                }
                for ws in self._store.member_workspaces(self._store.main)
            ]

    def workspace_id(self, full_name: str) -> int:
        """Numeric id of workspace ``org/workspace`` (any user's).

        Raises
        ------
        KeyError
            No such workspace (the message lists the known ones).
        """
        try:
            return self._store.workspace(full_name).id
        except KeyError:
            known = ", ".join(sorted(self._store.by_name))
            raise KeyError(f"no workspace {full_name!r}; known: {known}") from None

    def run_ids(self, workspace: str) -> list[str]:
        """Ids of the runs in ``org/workspace``, newest first (the listing order)."""
        ws = self._store.workspace(workspace)
        with self._store.lock:
            return [rid for _, rid in reversed(ws.order)]

    # ------------------------------------------------------------------ settings
    @property
    def max_run_history(self) -> int | None:
        """The organisations' ``maxRunHistory`` quota [runs per workspace] (None: unlimited).

        A workspace then lists only its newest runs; older ones answer 403 like deleted runs,
        which is how a run drops out of the listing.
        """
        return self._store.max_run_history

    @max_run_history.setter
    def max_run_history(self, value: int | None) -> None:
        _check_int("max_run_history", value, minimum=1, allow_none=True)
        with self._store.lock:
            self._store.max_run_history = value

    def forbid_workspace(self, workspace: str, forbidden: bool = True) -> None:
        """Make every request about ``org/workspace`` answer 403 while the main user still sees
        it in ``/user/{id}/workspaces`` (access revoked, or a role without run access).

        Raises
        ------
        KeyError
            No such workspace.
        """
        ws_id = self.workspace_id(workspace)
        with self._store.lock:
            (self._store.forbidden.add if forbidden else self._store.forbidden.discard)(ws_id)

    @property
    def latency_ms(self) -> float:
        """Delay added to every response [ms]."""
        return self._latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        _check_number("latency_ms", value)
        self._latency_ms = float(value)

    @property
    def max_page_size(self) -> int | None:
        """Largest ``GET /workflow/{id}/tasks`` page served [rows] (None: as ``max`` asks)."""
        return self._max_page_size

    @max_page_size.setter
    def max_page_size(self, value: int | None) -> None:
        _check_int("max_page_size", value, minimum=1, allow_none=True)
        self._max_page_size = value

    @property
    def faults(self) -> Faults:
        """Fault injection settings (mutable)."""
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        if not isinstance(value, Faults):
            raise TypeError(f"faults must be a Faults instance, got {type(value).__name__}")
        self._faults = value

    @property
    def rate_limit(self) -> int | None:
        """Requests per 1-second cycle per token (None: unlimited). Setting it resets the budgets."""
        return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, value: int | None) -> None:
        _check_int("rate_limit", value, allow_none=True)
        self._rate_limit = value or None
        self._limiter = (
            FixedWindowRateLimiter(value, 1.0, timeout=self._rate_limit_timeout_ms / 1000.0,
                                   clock=self._rate_limit_clock)
            if value
            else None
        )

    # ------------------------------------------------------------------ counting
    def _record(
        self,
        started: float,
        token: str | None,
        method: str,
        endpoint: str | None,
        path: str,
        status: int,
    ) -> None:
        record = RequestRecord(started, token, method, endpoint, path, status)
        with self._req_lock:
            self._requests.append(record)
        hook = self.on_request
        if hook is not None:
            hook(record)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received since start (or :meth:`reset_counts`), oldest first."""
        with self._req_lock:
            return list(self._requests)

    def count(
        self, endpoint: str | None = None, token: str | None = None, status: int | None = None
    ) -> int:
        """Number of requests received, optionally only those matching every filter given.

        Parameters
        ----------
        endpoint : str, optional
            Route template, e.g. ``"/workflow/{workflowId}/tasks"``.
        token : str, optional
            The raw token string.
        status : int, optional
            Response status (0 = dropped connection).
        """
        with self._req_lock:
            return sum(
                1
                for r in self._requests
                if (endpoint is None or r.endpoint == endpoint)
                and (token is None or r.token == token)
                and (status is None or r.status == status)
            )

    def reset_counts(self) -> None:
        """Forget the recorded requests."""
        with self._req_lock:
            self._requests.clear()

    # ------------------------------------------------------------------ live changes
    def add_runs(
        self, n: int, workspace: str = "synthetic/scale", status: str = "SUCCEEDED"
    ) -> list[str]:
        """Add ``n`` new runs to ``workspace`` (created if missing), newest first in listings.

        Each new run is submitted later than every run already there (submit ≈ now), in
        the order added (the last id returned is the newest). ``status`` is SUCCEEDED,
        FAILED, CANCELLED, RUNNING (some tasks COMPLETED, others RUNNING/SUBMITTED,
        ``complete``/``stats`` null, progress counters matching) or SUBMITTED (no tasks).

        Returns
        -------
        list of str
            The new run ids, oldest first.
        """
        if not isinstance(status, str):
            raise TypeError(f"status must be a string, got {status!r}")
        return self._store.add_runs(n, workspace, status)

    def label_run(self, run_id: str, labels: Iterable[str]) -> None:
        """Replace a run's labels, as a user editing them on the run page: its ``lastUpdated``
        becomes now, nothing else about it changes (tasks, progress, status).

        Raises
        ------
        KeyError
            No such run.
        """
        self._store.label_run(run_id, labels, time.time())

    def finish_run(self, run_id: str, status: str = "SUCCEEDED") -> None:
        """Complete a RUNNING (or SUBMITTED) run added with :meth:`add_runs`.

        Its tasks finish (or, for FAILED/CANCELLED, one fails with TERMINATE and the rest
        are aborted), the workflow gets ``complete``, ``duration``, ``stats`` and an exit
        status, progress is recomputed and ``lastUpdated`` advances. The completion time is
        the one the run's plan gives, which can lie after the wall-clock time of the call.

        Raises
        ------
        KeyError
            No such run.
        ValueError
            The run was not added with :meth:`add_runs`, is not active, or ``status`` is
            not SUCCEEDED/FAILED/CANCELLED.
        """
        self._store.finish_run(run_id, status)
