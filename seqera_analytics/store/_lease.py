"""The writers' lock of a cache: a ``filelock`` on local disk, a lease object on an object
store (``<prefix>/.lock``).

A local cache is locked with ``filelock`` (:class:`FileLock`, ``<cache>/.lock``, its owner
named in ``.lock.owner``); an object store has no locks, so a writer puts a small JSON object naming itself (host, pid, a random id) and an expiry,
and renews it at every commit. Another writer that finds a lease of someone else that has
not expired refuses (:class:`CacheLockedError`, saying who holds it and until when); an
expired lease (its writer was killed, or lost its network) is taken over, and so is one
whose writer ran on this host under a pid that no longer exists (killed: no need to wait
for the expiry).

Plain S3 has no atomic "create if absent": two writers starting in the same instant can
both read "no lease", both put theirs, and each may read its own back. The lease only
makes that unlikely; what keeps the cache consistent is the generation check at every
commit (``_state.write_state``): the second writer stops at its first commit with a
:class:`CacheConflictError`, before its state replaces the other's.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import filelock

from .._exceptions import CacheLockedError
from ._fs import CacheConflictError, Location

__all__ = ["LEASE_FILE", "LEASE_S", "FileLock", "Lease", "writer_lock"]

LEASE_FILE = ".lock"
#: How long a lease holds without renewal [s]: longer than any stretch between two commits
#: (a sync commits every few seconds and renews in between, see :meth:`Lease.renew`); a
#: writer killed on another machine blocks the cache this long.
LEASE_S = 300.0
#: How often a waiting writer looks at the lease again [s].
_POLL_S = 1.0


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _pid_namespace() -> int | None:
    """The inode of this process's pid namespace: two containers on one host share a host
    name but not pids, so a pid is only judged within the namespace that wrote it."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def _alive(pid: int) -> bool:
    """Whether a process of this host has that pid."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, another user's
    return True


class Lease:
    """One writer's lease on a cache at ``loc`` (see the module doc).

    Parameters
    ----------
    loc : Location
    wait_s : float
        How long :meth:`acquire` waits for another writer's lease to end [s].
    lease_s : float
        How long a lease holds without renewal [s].
    """

    def __init__(self, loc: Location, *, wait_s: float = 0.0, lease_s: float = LEASE_S) -> None:
        self.loc = loc
        self.wait_s = wait_s
        self.lease_s = lease_s
        self.id = uuid.uuid4().hex
        self.host, self.pid, self.pidns = socket.gethostname(), os.getpid(), _pid_namespace()
        self.owner = f"pid {self.pid} on {self.host}"
        self.since = time.time()
        self.written = 0.0
        self.held = False

    def _read(self) -> dict[str, Any] | None:
        try:
            body = json.loads(self.loc.read_bytes(LEASE_FILE))
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            return {}  # unreadable: treated as expired
        return body if isinstance(body, dict) else {}

    def _write(self) -> None:
        now = time.time()
        body = {"id": self.id, "owner": self.owner, "host": self.host, "pid": self.pid, "pidns": self.pidns,
                "since": _iso(self.since),
                "expires": now + self.lease_s, "expires_at": _iso(now + self.lease_s)}
        self.loc.write_bytes(LEASE_FILE, json.dumps(body).encode())
        self.written = now

    def _other(self, body: dict[str, Any] | None) -> dict[str, Any] | None:
        """``body`` when it is a live lease of another writer."""
        if not body or body.get("id") == self.id:
            return None
        try:
            expires = float(body.get("expires", 0))
        except (TypeError, ValueError):
            return None
        now = time.time()
        # A lease no writer of ours could have written (nan, inf, years ahead) is damaged:
        # treated as expired rather than blocking the cache forever.
        if not math.isfinite(expires) or expires <= now or expires > now + 10 * self.lease_s:
            return None
        if (body.get("host") == self.host and body.get("pidns") is not None and body.get("pidns") == self.pidns
                and isinstance(body.get("pid"), int) and not _alive(body["pid"])):
            return None  # its writer ran here, in this pid namespace, and is gone (killed)
        return body

    def acquire(self) -> None:
        """Take the lease (waiting up to ``wait_s`` for another writer's to end).

        Raises
        ------
        CacheLockedError
            Another writer holds a lease that has not expired.
        """
        deadline = time.monotonic() + self.wait_s
        while True:
            other = self._other(self._read())
            if other is None:
                self._write()
                # Read back: of writers putting theirs in the same moment, the last PUT
                # stands; the others see it here and wait or refuse.
                other = self._other(self._read())
                if other is None:
                    self.held = True
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                raise CacheLockedError(
                    f"The cache {self.loc.display} is being written by {other.get('owner', 'another writer')} "
                    f"since {other.get('since', '?')} (lease until {other.get('expires_at', '?')}). Wait for "
                    "that sync or import to finish, or use another cache (--cache / SEQERA_ANALYTICS_CACHE); "
                    f"if none is running, remove {self.loc.uri(LEASE_FILE)}.")
            time.sleep(min(_POLL_S, left))

    def renew(self, *, force: bool = False) -> None:
        """Extend the lease (at every commit; otherwise once a third of it has passed).

        Raises
        ------
        CacheConflictError
            Another writer took the lease over (ours had expired).
        """
        if not self.held or (not force and time.time() - self.written < self.lease_s / 3):
            return
        other = self._other(self._read())
        if other is not None:
            raise CacheConflictError(
                f"This writer's lease on the cache {self.loc.display} expired and "
                f"{other.get('owner', 'another writer')} took it over; nothing committed is lost. "
                "Run the sync again.")
        self._write()

    def release(self) -> None:
        """Remove the lease if it is still ours."""
        if not self.held:
            return
        self.held = False
        try:
            body = self._read()
            if body is not None and body.get("id") == self.id:
                self.loc.delete(LEASE_FILE)
        except OSError:
            pass  # it expires by itself


class FileLock:
    """The lock of a local cache: ``filelock`` on ``<cache>/.lock`` (released by the OS when
    its process dies), its owner written to ``.lock.owner`` for the message of the next."""

    def __init__(self, loc: Location, *, wait_s: float = 0.0) -> None:
        self.loc = loc
        self.wait_s = wait_s
        self._lock = filelock.FileLock(str(Path(loc.path(LEASE_FILE))))

    def acquire(self) -> None:
        """Take the lock (waiting up to ``wait_s``).

        Raises
        ------
        CacheLockedError
            Another process holds it.
        """
        try:
            self._lock.acquire(timeout=self.wait_s)
        except filelock.Timeout:
            try:
                owner = self.loc.read_bytes(".lock.owner").decode(errors="replace").strip()
            except OSError:
                owner = "another process"
            raise CacheLockedError(
                f"The cache {self.loc.display} is being written by {owner}. Wait for that sync or "
                "`cur import` to finish, or use another cache directory (--cache / SEQERA_ANALYTICS_CACHE).") from None
        try:
            self.loc.write_bytes(".lock.owner", f"pid {os.getpid()} on {socket.gethostname()} since "
                                                f"{_iso(time.time())}".encode())
        except BaseException:
            self._lock.release()
            raise

    def renew(self, *, force: bool = False) -> None:
        """Nothing to renew: the OS holds the lock for as long as the process lives."""

    def release(self) -> None:
        if self._lock.is_locked:
            self.loc.delete(".lock.owner")
            self._lock.release()


def writer_lock(loc: Location, *, wait_s: float = 0.0) -> FileLock | Lease:
    """The lock a writer takes on the cache at ``loc`` (not yet acquired)."""
    return FileLock(loc, wait_s=wait_s) if loc.local else Lease(loc, wait_s=wait_s)
