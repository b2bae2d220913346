"""Many workspaces in one sync, and history the API forgets (issue: organisation-wide sync).

Expected run ids come from the emulator's own listing (``emu.run_ids``) and from the bundled
run JSON files; task rows from the raw task lists. Requests are counted by the emulator.
"""

from __future__ import annotations

import json
import math
import warnings

import pandas as pd
import pytest

from seqera_analytics import MultiSyncSummary, SyncSummary, WorkspaceNotFoundError, cli, fetch, sync
from seqera_analytics.api import RetryPolicy
from seqera_analytics.bundles import bundled_runs_dir
from seqera_analytics.ingest import OrganizationNotFoundError
from seqera_analytics.reports import cost_report
from seqera_analytics.store import Cache, load_runs, load_tasks

QUICK = RetryPolicy(max_retries=2, initial_delay_s=0.01, max_delay_s=0.05)
RAW = {p.stem: json.loads(p.read_text()) for p in sorted(bundled_runs_dir().glob("*.json"))}
BUNDLED_WS = sorted({r["meta"]["workspace"] for r in RAW.values()})
SMALL = ("lab-a/rnaseq", "lab-a/variants", "lab-b/scratch")


def _client(emu):
    return fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=500, retry=QUICK)


def _sync(emu, cache, *args, **kw):
    c = _client(emu)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sync(*args, cache=cache, client=c, show_progress=False, **kw)
    finally:
        c.close()


@pytest.fixture
def org(make_emulator, monkeypatch):
    """The bundled runs in their workspaces, plus three small workspaces in two more orgs."""
    emu = make_emulator(rate_limit=None)
    monkeypatch.setenv("TOWER_ACCESS_TOKEN", emu.token)  # for the CLI
    monkeypatch.delenv("TOWER_WORKSPACE_ID", raising=False)
    for i, ws in enumerate(SMALL):
        emu.add_runs(2 + i, ws)
    return emu


def _cached_ids(cache, ws_id):
    runs = load_runs(cache=cache)
    return set(runs.loc[runs.workspace_id == ws_id, "run_id"])


def test_all_syncs_every_workspace_the_token_sees(org, tmp_path):
    s = _sync(org, tmp_path / "c", all_workspaces=True)
    assert isinstance(s, MultiSyncSummary) and s.ok
    served = {w["full_name"]: w["workspace_id"] for w in org.workspaces}
    assert set(BUNDLED_WS) | set(SMALL) <= set(served)
    assert {x.workspace for x in s.workspaces} == set(served)
    for name, ws_id in served.items():
        assert _cached_ids(tmp_path / "c", ws_id) == set(org.run_ids(name)), name
    # The bundled runs' tasks, one row per raw task record.
    tasks = load_tasks(cache=tmp_path / "c")
    for rid, raw in RAW.items():
        assert (tasks.run_id == rid).sum() == len(raw["tasks"]), rid
    # Workspaces were resolved once for the whole sync, not per workspace.
    assert org.count("/user/{userId}/workspaces") == 1 and org.count("/user-info") == 1
    text = str(s)
    assert all(name in text for name in served) and f"synced {len(served)} workspaces" in text


def test_a_workspace_answering_403_is_reported_and_the_rest_are_synced(org, tmp_path, capsys):
    org.forbid_workspace("lab-a/variants")
    code = cli.main(["sync", "--all", "--no-progress", "--cache", str(tmp_path / "c"), "--endpoint", org.url,
                     "--requests-per-second", "500"])
    out = capsys.readouterr().out
    assert code == cli.EXIT_PARTIAL
    assert "could not sync lab-a/variants: " in out and "403" in out
    for name in (*BUNDLED_WS, "lab-a/rnaseq", "lab-b/scratch"):
        assert _cached_ids(tmp_path / "c", org.workspace_id(name)) == set(org.run_ids(name)), name
    assert not _cached_ids(tmp_path / "c", org.workspace_id("lab-a/variants"))
    # Access back: the next sync picks it up, the others cost no task request.
    org.forbid_workspace("lab-a/variants", False)
    org.reset_counts()
    s = _sync(org, tmp_path / "c", all_workspaces=True)
    assert s.ok and _cached_ids(tmp_path / "c", org.workspace_id("lab-a/variants")) == set(
        org.run_ids("lab-a/variants"))
    fetched = {r.path.split("/")[2] for r in org.requests if r.endpoint == "/workflow/{workflowId}/tasks"}
    assert fetched == set(org.run_ids("lab-a/variants"))


def test_org_and_repeated_workspaces(org, tmp_path, capsys):
    s = _sync(org, tmp_path / "a", org="LAB-A")  # names match case-insensitively, like tw
    assert {x.workspace for x in s.workspaces} == {"lab-a/rnaseq", "lab-a/variants"}
    code = cli.main(["sync", "-w", "lab-b/scratch", "-w", BUNDLED_WS[0], "--no-progress", "--cache",
                     str(tmp_path / "b"), "--endpoint", org.url])
    assert code == 0
    runs = load_runs(cache=tmp_path / "b")
    assert set(runs.run_id) == set(org.run_ids("lab-b/scratch")) | set(org.run_ids(BUNDLED_WS[0]))
    capsys.readouterr()


def test_an_unknown_org_fails_in_one_line_listing_the_visible_ones(org, tmp_path, capsys):
    with pytest.raises(OrganizationNotFoundError) as err:
        _sync(org, tmp_path / "c", org="no-such-org")
    visible = sorted({w["org_name"] for w in org.workspaces})
    assert err.value.available == visible
    code = cli.main(["sync", "--org", "no-such-org", "--no-progress", "--cache", str(tmp_path / "c"),
                     "--endpoint", org.url])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and all(o in lines[0] for o in visible)
    assert cli.main(["sync", "--include-personal", "--cache", str(tmp_path / "c")]) == 2


def test_small_workspaces_finish_while_a_large_one_syncs(make_emulator, tmp_path):
    # The large workspace sorts first, so a sync taking workspaces one after another would
    # fetch all of it before any small one.
    emu = make_emulator(synthetic_runs=60, include_real_runs=False, rate_limit=None, latency_ms=5,
                        synthetic_workspace="aaa/big")
    for ws in SMALL:
        emu.add_runs(2, ws, status="SUCCEEDED")
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=200, retry=QUICK,
                      max_concurrency=4)
    try:
        s = sync(cache=tmp_path / "c", client=c, all_workspaces=True, show_progress=False)
    finally:
        c.close()
    assert s.ok
    ws_of = {w["workspace_id"]: w["full_name"] for w in emu.workspaces}
    owner = {rid: name for name in ws_of.values() for rid in emu.run_ids(name)}
    order = [owner[r.path.split("/")[2]] for r in emu.requests if r.endpoint == "/workflow/{workflowId}/tasks"]
    big = [i for i, name in enumerate(order) if name == "aaa/big"]
    for ws in SMALL:
        last = max(i for i, name in enumerate(order) if name == ws)
        # Round robin: each small workspace is done before the large one is a quarter through.
        assert last < big[len(big) // 4], (ws, last, big[:5])


def test_runs_the_platform_no_longer_lists_stay_marked(make_emulator, tmp_path, monkeypatch):
    emu = make_emulator(synthetic_runs=12, include_real_runs=False, rate_limit=None)
    ws = "synthetic/scale"
    every = emu.run_ids(ws)  # newest first
    cache = tmp_path / "c"
    _sync(emu, cache, ws)
    costs = load_runs(cache=cache).set_index("run_id").cost
    emu.max_run_history = 8
    # An incremental sync stops at the first cached run: it cannot see what went.
    s = _sync(emu, cache, ws)
    assert not s.full_listing and s.runs_unlisted == 0
    s = _sync(emu, cache, ws, full=True)
    assert isinstance(s, SyncSummary) and s.full_listing and s.runs_unlisted == 4
    assert "no longer listed" in str(s)
    runs = load_runs(cache=cache).set_index("run_id")
    assert set(runs.index) == set(every)  # nothing dropped
    marked = set(runs.index[runs.unlisted_since.notna()])
    assert marked == set(every[8:])
    # ... and they stay in reports: the cost report still sums every run.
    report = cost_report(cache=Cache(cache), by="pipeline")
    assert report["cost"].sum() == pytest.approx(costs.sum(), rel=1e-9)
    assert any("4 runs here are no longer listed" in n for n in report.attrs["notes"]), report.attrs["notes"]
    # Listed again (the quota raised): unmarked by the next full listing, found automatically
    # once the last full listing is older than the interval.
    emu.max_run_history = None
    monkeypatch.setattr("seqera_analytics.ingest._workspace.FULL_LISTING_EVERY", pd.Timedelta(0))
    s = _sync(emu, cache, ws)
    assert s.full_listing and s.runs_relisted == 4
    assert load_runs(cache=cache).unlisted_since.isna().all()


def test_a_finished_runs_changed_facts_cost_no_task_request(make_emulator, tmp_path):
    emu = make_emulator(rate_limit=None)
    ws = BUNDLED_WS[0]
    rid = emu.run_ids(ws)[-1]  # the oldest: an incremental listing must read past the others
    cache = tmp_path / "c"
    _sync(emu, cache, ws)
    before = load_tasks(cache=cache)
    emu.label_run(rid, ["reviewed", "billing-q3"])
    emu.reset_counts()
    s = _sync(emu, cache, ws, full=True)
    assert s.runs_facts_updated == 1 and s.runs_updated == 0 and s.runs_added == 0
    assert emu.count("/workflow/{workflowId}/tasks") == 0 and emu.count("/workflow/{workflowId}/progress") == 0
    listing = math.ceil(len(emu.run_ids(ws)) / 99)
    assert emu.count("/workflow") == listing
    run = load_runs(cache=cache).set_index("run_id").loc[rid]
    assert sorted(run.labels) == ["billing-q3", "reviewed"]
    pd.testing.assert_frame_equal(load_tasks(cache=cache), before)


def test_a_long_lived_client_sees_workspaces_created_after_its_first_sync(org, tmp_path):
    c = _client(org)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            first = sync(org="lab-a", cache=tmp_path / "c", client=c, show_progress=False)
            org.add_runs(2, "lab-a/new-project", status="SUCCEEDED")
            second = sync(org="lab-a", cache=tmp_path / "c", client=c, show_progress=False)
            with pytest.raises(WorkspaceNotFoundError, match="12345678"):
                # in a sync of many, an id the token cannot see is refused like a name
                sync([12345678, "lab-a/rnaseq"], cache=tmp_path / "c", client=c, show_progress=False)
    finally:
        c.close()
    assert "lab-a/new-project" not in {s.workspace for s in first.workspaces}
    assert "lab-a/new-project" in {s.workspace for s in second.workspaces}
    assert _cached_ids(tmp_path / "c", org.workspace_id("lab-a/new-project")) == set(
        org.run_ids("lab-a/new-project"))


def test_a_run_is_stored_the_same_whichever_request_brought_it(make_emulator, tmp_path):
    """A run cached while active and refreshed through GET /workflow/{id} once finished holds
    the same values as the same run fetched finished from the listing."""
    emu = make_emulator(include_real_runs=False, rate_limit=None)
    ws = "lab-a/x"
    (active,) = emu.add_runs(1, ws, status="RUNNING")
    emu.add_runs(3, ws)  # newer runs: the refresh of the active one lies past the stop point
    _sync(emu, tmp_path / "a", ws)
    emu.finish_run(active)
    emu.reset_counts()
    _sync(emu, tmp_path / "a", ws)
    assert emu.count("/workflow/{workflowId}") == 1  # refreshed through GET /workflow/{id}
    _sync(emu, tmp_path / "b", ws)  # a cache that first sees it finished, in the listing
    a = load_runs(cache=tmp_path / "a").set_index("run_id").sort_index()
    b = load_runs(cache=tmp_path / "b").set_index("run_id").sort_index()
    pd.testing.assert_frame_equal(a.drop(columns=["last_updated"]), b.drop(columns=["last_updated"]),
                                  check_exact=True)


def test_an_active_run_dropped_from_the_history_is_marked_and_not_asked_for_again(make_emulator, tmp_path):
    emu = make_emulator(include_real_runs=False, rate_limit=None)
    ws = "lab-a/x"
    (active,) = emu.add_runs(1, ws, status="RUNNING")
    emu.add_runs(3, ws)  # newer: the active run is the oldest, first out of the history
    cache = tmp_path / "c"
    _sync(emu, cache, ws)
    emu.max_run_history = 3
    s = _sync(emu, cache, ws, full=True)
    assert s.runs_failed == [] and s.runs_unlisted == 1
    run = load_runs(cache=cache).set_index("run_id").loc[active]
    assert run.status == "RUNNING" and pd.notna(run.unlisted_since)  # its last known state, marked
    emu.reset_counts()
    s = _sync(emu, cache, ws)
    assert emu.count("/workflow/{workflowId}") == 0 and s.runs_failed == []
