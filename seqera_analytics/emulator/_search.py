"""The ``search`` query of ``GET /workflow``, as the Platform documents it (API-NOTES §2).

Syntax: space-separated tokens; ``keyword:value`` tokens are criteria, every other token
is free text. All criteria combine with AND (``status:succeeded status:failed`` matches
nothing); a keyword may repeat (``label:a label:b`` needs both labels).

========================  ==========================================================
token                     matches a run when
========================  ==========================================================
``status:X``              ``workflow.status`` equals X, case-insensitive
``label:X``               one of its labels is named X, or is ``name=value`` == X
``userName:X``            ``workflow.userName`` == X (``username:`` also accepted)
``projectName:X``         ``workflow.projectName`` == X
``runName:X``             ``workflow.runName`` == X
``sessionId:X``           ``workflow.sessionId`` == X
``workflowId:X``          ``workflow.id`` == X
``after:T``               submitted at or after T (ISO-8601 UTC, or ``YYYY-MM-DD``/
                          ``YYYY-MM`` read as 00:00 UTC of that day/month)
``before:T``              submitted at or before T (same formats)
``is:starred``            the run is starred (the emulator stars nothing)
free text                 all free-text tokens joined by one space, leading/trailing
                          ``*`` removed, is a case-insensitive substring of the project
                          name, run name, session id, manifest name or user name
========================  ==========================================================

Keyword names are case-insensitive (``username:`` = ``userName:``); keyword values match
exactly and case-sensitively, except ``status:``. A token whose prefix is not a keyword
(``foo:bar``) is free text. An unparseable date or an unknown ``is:`` value is a 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._util import parse_search_date

__all__ = ["SearchError", "SearchQuery", "parse_search"]


class SearchError(ValueError):
    """The search string cannot be understood (the API answers 400 with this message)."""


_KEYWORDS = {
    "status": "statuses",
    "label": "labels",
    "username": "user_names",
    "projectname": "project_names",
    "runname": "run_names",
    "sessionid": "session_ids",
    "workflowid": "workflow_ids",
}


@dataclass
class SearchQuery:
    """A parsed ``search`` string; every list is AND-ed."""

    statuses: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    user_names: list[str] = field(default_factory=list)
    project_names: list[str] = field(default_factory=list)
    run_names: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    workflow_ids: list[str] = field(default_factory=list)
    after: list[float] = field(default_factory=list)
    before: list[float] = field(default_factory=list)
    starred: bool = False
    text: str | None = None

    def matches(
        self,
        *,
        run_id: str,
        submit: float,
        status: str,
        user_name: str | None,
        project_name: str | None,
        run_name: str | None,
        session_id: str | None,
        manifest_name: str | None,
        labels: tuple[tuple[str, str | None], ...],
        starred: bool = False,
    ) -> bool:
        """Whether a run with these fields satisfies every criterion."""
        if any(s != status.upper() for s in self.statuses):
            return False
        if any(u != user_name for u in self.user_names):
            return False
        if any(p != project_name for p in self.project_names):
            return False
        if any(r != run_name for r in self.run_names):
            return False
        if any(s != session_id for s in self.session_ids):
            return False
        if any(w != run_id for w in self.workflow_ids):
            return False
        if any(submit < a for a in self.after) or any(submit > b for b in self.before):
            return False
        if self.starred and not starred:
            return False
        for want in self.labels:
            if not any(
                want == name or (value is not None and want == f"{name}={value}")
                for name, value in labels
            ):
                return False
        if self.text:
            hay = (project_name, run_name, session_id, manifest_name, user_name)
            if not any(h and self.text in h.lower() for h in hay):
                return False
        return True


def parse_search(search: str | None) -> SearchQuery | None:
    """Parse a ``search`` string; ``None`` for an empty one.

    Raises
    ------
    SearchError
        An ``after:``/``before:`` value that is not a date, or an ``is:`` other than ``starred``.
    """
    if not search or not search.strip():
        return None
    q = SearchQuery()
    free: list[str] = []
    for token in search.split():
        key, sep, value = token.partition(":")
        k = key.lower()
        if not sep or not value or (k not in _KEYWORDS and k not in ("after", "before", "is")):
            free.append(token)
            continue
        if k in _KEYWORDS:
            getattr(q, _KEYWORDS[k]).append(value.upper() if k == "status" else value)
        elif k in ("after", "before"):
            try:
                when = parse_search_date(value)
            except ValueError:
                raise SearchError(
                    f"Invalid search date '{value}' for '{key}:': use an ISO-8601 UTC timestamp "
                    "such as 2024-05-29T00:00:00.000Z"
                ) from None
            (q.after if k == "after" else q.before).append(when)
        else:  # is:
            if value.lower() != "starred":
                raise SearchError(f"Unsupported search term '{token}': only 'is:starred' is known")
            q.starred = True
    if free:
        text = " ".join(free).strip("*").lower()
        q.text = text or None
    return q
