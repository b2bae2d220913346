"""What a sync did: :class:`SyncSummary` per workspace, :class:`MultiSyncSummary` for many."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MultiSyncSummary", "SyncSummary"]


@dataclass
class SyncSummary:
    """What a sync did in one workspace.

    Attributes
    ----------
    workspace : str or None
        ``org/workspace`` (``None`` for the personal workspace or an id never named).
    workspace_id : int or None
    runs_listed : int
        Runs read from the listing (stops early on an incremental sync).
    full_listing : bool
        The listing was read to its end (first sync, ``full=True``, an interrupted sync, or
        the periodic full listing): the one that finds runs no longer listed.
    runs_added, runs_updated : int
        Runs written by this sync that were new to the cache, and cached runs written again
        (they changed, were pending, or were short). Counted when committed: a run fetched
        but not committed (the sync failed) is in neither.
    runs_facts_updated : int
        Finished runs whose facts alone changed (``lastUpdated``, labels): updated from the
        listing, no task request.
    runs_unlisted, runs_relisted : int
        Cached runs a full listing no longer shows, newly marked ``unlisted_since`` (they stay
        in the cache and in reports); marked runs listed again.
    runs_failed : list of str
        Runs whose fetch failed with 403/404 (deleted, or no access); they stay pending and
        the next sync tries them again. ``runs_skipped`` is the same list (older name).
    runs_short : list of str
        Runs written with fewer task rows than their counts promise (the server listed no
        more); fetched again by later syncs, up to ``MAX_SHORT_REFETCHES`` times.
    tasks_added : int
        Task rows written (for the added and updated runs).
    requests : int or None
        HTTP requests made, retries included (``None`` for one workspace of a sync of many:
        the token's requests are counted for the whole sync).
    rate_limited, retries : int
        429 responses received; retried requests.
    seconds : float
        Wall time [s].
    cache : Path
    rebuilt : str or None
        Set when an older-schema cache was rebuilt.
    repaired : str or None
        Set when files missing from the cache were dropped (their runs are fetched again).
    """

    workspace: str | None
    workspace_id: int | None
    runs_listed: int = 0
    full_listing: bool = False
    runs_added: int = 0
    runs_updated: int = 0
    runs_facts_updated: int = 0
    runs_unlisted: int = 0
    runs_relisted: int = 0
    runs_failed: list[str] = field(default_factory=list)
    runs_short: list[str] = field(default_factory=list)
    tasks_added: int = 0
    requests: int | None = 0
    rate_limited: int = 0
    retries: int = 0
    seconds: float = 0.0
    cache: Path | str | None = None
    rebuilt: str | None = None
    repaired: str | None = None

    @property
    def runs_skipped(self) -> list[str]:
        """The older name of :attr:`runs_failed`."""
        return self.runs_failed

    @property
    def label(self) -> str:
        if self.workspace:
            return self.workspace
        return "personal workspace" if self.workspace_id is None else str(self.workspace_id)

    def notes(self) -> list[str]:
        """The lines about runs that need attention (failed, short, unlisted)."""
        lines = []
        if self.runs_failed:
            more = "..." if len(self.runs_failed) > 5 else ""
            lines.append(f"{len(self.runs_failed)} runs could not be fetched (403/404: deleted or no access) "
                         f"and stay pending for the next sync: {', '.join(self.runs_failed[:5])}{more}")
        if self.runs_short:
            lines.append(f"{len(self.runs_short)} runs have fewer task rows than their counts say "
                         f"(the server listed no more): {', '.join(self.runs_short[:5])}")
        if self.runs_unlisted:
            lines.append(f"{self.runs_unlisted} cached runs are no longer listed by the Platform (its run history "
                         "is limited); they stay in the cache and in reports, marked unlisted_since")
        if self.runs_relisted:
            lines.append(f"{self.runs_relisted} runs marked unlisted are listed again (unmarked)")
        if self.runs_facts_updated and self.requests is None:
            lines.append(f"{self.runs_facts_updated} finished runs had only their facts (labels) updated")
        if self.workspace_id is None and self.runs_listed == 0 and not self.runs_added:
            lines.append("the personal workspace holds no runs: name one with --workspace ORG/WS "
                         "(or TOWER_WORKSPACE_ID), or sync --all")
        return lines

    def __str__(self) -> str:
        extra = []
        if self.runs_facts_updated:
            extra.append(f"{self.runs_facts_updated} facts updated")
        requests = "" if self.requests is None else f"; {self.requests} requests in {self.seconds:.1f}s"
        lines = [f"synced {self.label} into {self.cache}: {self.runs_added} runs added, {self.runs_updated} updated, "
                 + "".join(f"{e}, " for e in extra) + f"{self.tasks_added} tasks written{requests}"
                 + (f" ({self.rate_limited} rate-limited, retried)" if self.rate_limited else "")]
        lines += [f"{self.label}: {n}" if self.requests is None else n for n in self.notes()]
        lines += [note for note in (self.rebuilt, self.repaired) if note]
        return "\n".join(lines)


@dataclass
class MultiSyncSummary:
    """What a sync of several workspaces did (``sync --all``, ``--org``, repeated ``--workspace``).

    Attributes
    ----------
    workspaces : list of SyncSummary
        One per workspace synced, in the order they were resolved (``requests`` is ``None``
        in each: the token's requests are counted here).
    failed : dict of str to str
        Workspaces that could not be synced (403/404 on their listing): name -> reason. The
        others were synced; run the sync again once access is back.
    requests, rate_limited, retries : int
        HTTP requests made, 429 responses received, retried requests: for the whole sync.
    seconds : float
        Wall time [s].
    cache : Path or str
    """

    workspaces: list[SyncSummary] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    seconds: float = 0.0
    cache: Path | str | None = None
    rebuilt: str | None = None
    repaired: str | None = None

    @property
    def ok(self) -> bool:
        """Every workspace was synced."""
        return not self.failed

    def _total(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.workspaces)

    @property
    def runs_added(self) -> int:
        return self._total("runs_added")

    @property
    def runs_updated(self) -> int:
        return self._total("runs_updated")

    @property
    def tasks_added(self) -> int:
        return self._total("tasks_added")

    @property
    def requests_per_second(self) -> float:
        """Requests per second of wall time over the whole sync [1/s]."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        n = len(self.workspaces)
        lines = [f"synced {n} workspace{'s' if n != 1 else ''} into {self.cache}:",
                 f"  {self.runs_added} runs added, {self.runs_updated} updated, {self.tasks_added} tasks written; "
                 f"{self.requests} requests in {self.seconds:.1f}s ({self.requests_per_second:.1f}/s)"
                 + (f", {self.rate_limited} rate-limited, retried" if self.rate_limited else "")]
        if self.workspaces:
            width = min(40, max(len("workspace"), *(len(s.label) for s in self.workspaces)))
            lines.append(f"  {'workspace':<{width}}  {'listed':>7}  {'added':>7}  {'updated':>7}  "
                         f"{'failed':>6}  {'tasks':>9}")
            for s in self.workspaces:
                name = s.label if len(s.label) <= width else s.label[:width - 1] + "…"
                lines.append(f"  {name:<{width}}  {s.runs_listed:>7}  {s.runs_added:>7}  {s.runs_updated:>7}  "
                             f"{len(s.runs_failed):>6}  {s.tasks_added:>9}")
        for s in self.workspaces:
            lines += [f"{s.label}: {note}" for note in s.notes()]
        for name, why in self.failed.items():
            lines.append(f"could not sync {name}: {why}")
        if not self.workspaces and not self.failed:
            lines.append("no workspace to sync: the token sees none of those asked for (the personal workspace "
                         "only with --include-personal)")
        lines += [note for note in (self.rebuilt, self.repaired) if note]
        return "\n".join(lines)
