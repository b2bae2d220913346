"""Which workspaces a sync covers: one, several, an organisation's, or every one the token sees.

Resolved once per sync, before any run is listed. The token's workspaces come from one
request (``GET /user/{userId}/workspaces``, after ``GET /user-info``), which also refreshes
the cache's workspace names; a single workspace the cache already knows by name costs none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import frames as F
from .._exceptions import WorkspaceNotFoundError
from ..api import AsyncSeqeraClient
from ..store import PERSONAL_WORKSPACE_ID, CacheWriter

__all__ = ["OrganizationNotFoundError", "Target", "resolve_targets"]


class OrganizationNotFoundError(WorkspaceNotFoundError):
    """``--org`` names no organisation the token can see; ``available`` lists those it can."""


@dataclass(frozen=True)
class Target:
    """One workspace to sync: ``workspace_id`` (``None`` = the personal workspace) and its
    ``org/workspace`` name when known."""

    workspace_id: int | None
    name: str | None

    @property
    def label(self) -> str:
        """How summaries and errors name it."""
        if self.name:
            return self.name
        return "personal workspace" if self.workspace_id is None else str(self.workspace_id)


def _ref(row: dict[str, Any]) -> str:
    return f"{row.get('orgName')}/{row.get('workspaceName')}"


def _cached_name(writer: CacheWriter, endpoint: str, text: str) -> Target | None:
    """The cache's memory of a workspace named or numbered ``text`` (no request)."""
    for key, ws in writer.state.workspaces.items():
        if ws.endpoint == endpoint and key != str(PERSONAL_WORKSPACE_ID) and (
                key == text or (ws.workspace or "").lower() == text.lower()):
            return Target(int(key), ws.workspace)
    return None


async def resolve_targets(client: AsyncSeqeraClient, writer: CacheWriter, *,
                          workspaces: Sequence[str | int | None], org: str | None = None,
                          all_workspaces: bool = False, include_personal: bool = False) -> list[Target]:
    """The workspaces a sync covers, each once, in a stable order.

    ``workspaces`` are ``org/workspace`` names or ids (``None`` = the configured workspace,
    else the personal one); ``org`` adds every workspace of that organisation (name, matched
    case-insensitively, or numeric id); ``all_workspaces`` every workspace the token can see,
    with the personal workspace only when ``include_personal``.

    Raises
    ------
    OrganizationNotFoundError
        ``org`` is not visible to the token; the message lists the visible organisations.
    WorkspaceNotFoundError, ConfigurationError
        A workspace name matches nothing, or is neither a number nor ``org/workspace``.
    """
    endpoint = client.config.endpoint
    if not all_workspaces and org is None and len(workspaces) == 1:
        ref = workspaces[0] if workspaces[0] is not None else client.config.workspace
        if ref is None:
            return [Target(None, None)]
        known = _cached_name(writer, endpoint, str(ref).strip())
        if known is not None:
            return [known]
    # Asked afresh each sync: a long-lived client (a notebook's) must see new workspaces.
    rows = await client.list_user_workspaces(refresh=True)
    # Remember every workspace the token sees (names for later syncs and for reports).
    writer.put_workspaces(F.workspaces_table(rows))
    spaces = [r for r in rows if r.get("workspaceId") is not None]
    names = {r["workspaceId"]: _ref(r) for r in spaces}
    out: list[Target] = []
    if all_workspaces:
        out += [Target(r["workspaceId"], _ref(r)) for r in spaces]
        if include_personal:
            out.append(Target(None, None))
    if org is not None:
        wanted = str(org).strip()
        mine = [r for r in spaces if str(r.get("orgId")) == wanted
                or str(r.get("orgName") or "").lower() == wanted.lower()]
        if not mine and not any(str(r.get("orgId")) == wanted or str(r.get("orgName") or "").lower()
                                == wanted.lower() for r in rows):
            visible = sorted({str(r.get("orgName")) for r in rows if r.get("orgName")})
            listing = ", ".join(visible) if visible else "none (only the personal workspace)"
            raise OrganizationNotFoundError(
                f"No organization {wanted!r} is visible to this token. Organizations it can see: {listing}.",
                available=visible)
        out += [Target(r["workspaceId"], _ref(r)) for r in mine]
    for ref in workspaces:
        if ref is None and (all_workspaces or org is not None):
            continue  # the default workspace only when nothing else was asked
        ws_id = await client.resolve_workspace(ref)
        if ws_id is not None and ws_id not in names and len(workspaces) + bool(org) + all_workspaces > 1:
            # In a sync of many, an id the token cannot see is a typo, not a workspace to report as 403.
            available = sorted(names.values())
            raise WorkspaceNotFoundError(
                f"No workspace {ref!r} is visible to this token. Workspaces it can see: "
                f"{', '.join(available) if available else 'none (only the personal workspace)'}.",
                available=available)
        out.append(Target(ws_id, names.get(ws_id) if ws_id is not None else None))
    seen: set[int | None] = set()
    unique = []
    for t in out:
        if t.workspace_id not in seen:
            seen.add(t.workspace_id)
            unique.append(t)
    return unique
