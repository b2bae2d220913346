"""``GET /workflow?search=``: every documented keyword, checked against data fetched unfiltered.

Expected run sets are computed here from the unfiltered listing (and, for the real
workspace, from the raw run files), never with the emulator's own search code.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from seqera_analytics.emulator import Emulator

from .helpers import Api


@pytest.fixture(scope="module")
def ws() -> Iterator[tuple[Api, int, list[dict[str, Any]]]]:
    with Emulator(synthetic_runs=120, seed=5, rate_limit=None) as emu:
        api = Api(emu)
        wid = emu.workspace_id("synthetic/scale")
        runs = api.all_runs(wid, attributes="labels")
        yield api, wid, runs
        api.close()


def search(api: Api, wid: int, query: str) -> set[str]:
    return {w["workflow"]["id"] for w in api.all_runs(wid, search=query)}


def ids(runs: list[dict[str, Any]], pred: Any) -> set[str]:
    return {w["workflow"]["id"] for w in runs if pred(w)}


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_workspace_has_variety(ws: tuple[Api, int, list[dict[str, Any]]]) -> None:
    _, _, runs = ws
    wf = [w["workflow"] for w in runs]
    assert len(runs) == 120
    assert {w["status"] for w in wf} >= {"SUCCEEDED", "FAILED", "CANCELLED"}
    assert len({w["userName"] for w in wf}) >= 4 and len({w["projectName"] for w in wf}) >= 3
    assert len({w["submit"][:7] for w in wf}) >= 12  # spread over many months
    assert any(w["labels"] for w in runs) and any(not w["labels"] for w in runs)


@pytest.mark.parametrize("value", ["succeeded", "FAILED", "Cancelled", "running"])
def test_status(ws: tuple[Api, int, list[dict[str, Any]]], value: str) -> None:
    api, wid, runs = ws
    assert search(api, wid, f"status:{value}") == ids(
        runs, lambda w: w["workflow"]["status"] == value.upper()
    )


def test_two_statuses_are_anded_so_nothing_matches(
    ws: tuple[Api, int, list[dict[str, Any]]],
) -> None:
    api, wid, _ = ws
    assert search(api, wid, "status:succeeded status:failed") == set()


def test_user_name_exact_both_spellings(ws: tuple[Api, int, list[dict[str, Any]]]) -> None:
    api, wid, runs = ws
    expected = ids(runs, lambda w: w["workflow"]["userName"] == "analyst-3")
    assert expected
    assert search(api, wid, "userName:analyst-3") == expected
    assert search(api, wid, "username:analyst-3") == expected
    assert search(api, wid, "userName:analyst") == set()  # exact, not prefix


@pytest.mark.parametrize("key", ["projectName", "runName", "sessionId", "workflowId"])
def test_exact_keywords(ws: tuple[Api, int, list[dict[str, Any]]], key: str) -> None:
    api, wid, runs = ws
    field = "id" if key == "workflowId" else key
    value = runs[7]["workflow"][field]
    expected = ids(runs, lambda w: w["workflow"][field] == value)
    assert runs[7]["workflow"]["id"] in expected
    assert search(api, wid, f"{key}:{value}") == expected
    assert search(api, wid, f"{key}:{value[:-1]}") == set()  # no partial matches


def test_session_id_finds_the_resumed_runs(ws: tuple[Api, int, list[dict[str, Any]]]) -> None:
    api, wid, runs = ws
    resumed = [w for w in runs if w["workflow"]["resume"]]
    assert resumed
    session = resumed[0]["workflow"]["sessionId"]
    found = search(api, wid, f"sessionId:{session}")
    assert len(found) >= 2  # the resumed run and the run it resumed
    assert found == ids(runs, lambda w: w["workflow"]["sessionId"] == session)


def test_labels(ws: tuple[Api, int, list[dict[str, Any]]]) -> None:
    api, wid, runs = ws

    def has(w: dict[str, Any], name: str, value: str | None = None) -> bool:
        return any(
            lab["name"] == name and (value is None or lab["value"] == value)
            for lab in w["labels"] or []
        )

    team = next(lab["value"] for w in runs for lab in (w["labels"] or []) if lab["name"] == "team")
    assert search(api, wid, f"label:team={team}") == ids(runs, lambda w: has(w, "team", team))
    assert search(api, wid, "label:env") == ids(runs, lambda w: has(w, "env"))
    both = search(api, wid, f"label:env=prod label:team={team}")
    assert both == ids(runs, lambda w: has(w, "env", "prod") and has(w, "team", team))
    assert both < search(api, wid, "label:env=prod")
    assert search(api, wid, "label:env=staging") == set()


def test_after_and_before_on_submit(ws: tuple[Api, int, list[dict[str, Any]]]) -> None:
    api, wid, runs = ws
    submits = sorted(ts(w["workflow"]["submit"]) for w in runs)
    lo, hi = submits[30], submits[80]
    lo_s, hi_s = lo.strftime("%Y-%m-%dT%H:%M:%S.000Z"), hi.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert search(api, wid, f"after:{lo_s}") == ids(
        runs, lambda w: ts(w["workflow"]["submit"]) >= lo
    )
    assert search(api, wid, f"before:{hi_s}") == ids(
        runs, lambda w: ts(w["workflow"]["submit"]) <= hi
    )
    window = search(api, wid, f"after:{lo_s} before:{hi_s}")
    assert len(window) == 51  # inclusive at both ends
    # a plain date means midnight UTC at the start of that day
    day = submits[60].date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    assert search(api, wid, f"after:{day.isoformat()}") == ids(
        runs, lambda w: ts(w["workflow"]["submit"]) >= midnight
    )


def test_bad_date_is_a_400(ws: tuple[Api, int, list[dict[str, Any]]]) -> None:
    api, wid, _ = ws
    r = api.get("/workflow", workspaceId=wid, search="after:last-tuesday")
    assert r.status_code == 400 and "after" in r.json()["message"]


def test_is_starred(ws: tuple[Api, int, list[dict[str, Any]]]) -> None:
    api, wid, runs = ws
    assert search(api, wid, "is:starred") == ids(runs, lambda w: w["starred"])


def test_free_text(ws: tuple[Api, int, list[dict[str, Any]]]) -> None:
    api, wid, runs = ws

    def hay(w: dict[str, Any]) -> list[str]:
        wf = w["workflow"]
        manifest = (wf.get("manifest") or {}).get("name") or ""
        return [
            s.lower()
            for s in (wf["projectName"], wf["runName"], wf["sessionId"], manifest, wf["userName"])
        ]

    for text in ("SAREK", "methyl", "analyst-5", runs[3]["workflow"]["runName"][:5]):
        expected = ids(runs, lambda w, text=text: any(text.lower() in h for h in hay(w)))
        assert expected
        assert search(api, wid, text) == expected
        assert search(api, wid, f"*{text}*") == expected  # wildcards allowed
    # leftover free text is one string: two words must appear together
    assert search(api, wid, "nf-core sarek") == set()
    # free text AND keywords
    combo = search(api, wid, "sarek status:failed")
    assert combo == ids(
        runs, lambda w: w["workflow"]["status"] == "FAILED" and any("sarek" in h for h in hay(w))
    )


def test_search_pages_and_counts(ws: tuple[Api, int, list[dict[str, Any]]]) -> None:
    api, wid, runs = ws
    expected = [w["workflow"]["id"] for w in runs if w["workflow"]["status"] == "SUCCEEDED"]
    page1 = api.json(
        "/workflow", workspaceId=wid, search="status:succeeded", max=40, includeTotalSize="true"
    )
    page2 = api.json("/workflow", workspaceId=wid, search="status:succeeded", max=40, offset=40)
    assert page1["totalSize"] == len(expected) and page1["hasMore"] is True
    got = [w["workflow"]["id"] for w in page1["workflows"] + page2["workflows"]]
    assert got == expected[:80]  # same newest-first order as the unfiltered listing


def test_search_on_real_runs(api: Api, emulator: Emulator, real_runs: dict[str, Any]) -> None:
    wid = emulator.workspace_id("seqeralabs/benchmarks")
    raw = [
        r["workflow"]
        for r in real_runs.values()
        if r["meta"]["workspace"] == "seqeralabs/benchmarks"
    ]
    got = {w["workflow"]["id"] for w in api.all_runs(wid, search="projectName:nf-core/sarek")}
    assert got == {w["id"] for w in raw if w["projectName"] == "nf-core/sarek"} and len(got) == 2
    got = {w["workflow"]["id"] for w in api.all_runs(wid, search="before:2025-09-20")}
    assert got == {w["id"] for w in raw if w["submit"] <= "2025-09-20T00:00:00Z"}
