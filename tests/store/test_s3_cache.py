"""A cache on object storage (``s3://bucket/prefix``), against a local moto S3 server.

The same bundled runs are synced through the emulator into S3 and into a local directory:
frames and reports must be equal, and equal to what the bundled run files say (read here
directly). Bad locations fail in one line before any Platform request; the writers' lease
refuses a second writer, is taken over once expired, and the generation check stops a
writer whose cache another one committed to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

import seqera_analytics
from seqera_analytics import fetch, reports, sync
from seqera_analytics._exceptions import CacheError, CacheLockedError, ReportError
from seqera_analytics.api import RetryPolicy
from seqera_analytics.bundles import bundled_runs_dir, iter_run_bundles
from seqera_analytics.fetch import bundle_tables
from seqera_analytics.reports._engine import Engine
from seqera_analytics.store import Cache, load_runs, load_tasks
from seqera_analytics.store._fs import CacheConflictError, CacheLocationError

QUICK = RetryPolicy(max_retries=3, initial_delay_s=0.01, max_delay_s=0.05)
RAW = {p.stem: json.loads(p.read_text()) for p in sorted(bundled_runs_dir().glob("*.json"))}
WORKSPACES = sorted({r["meta"]["workspace"] for r in RAW.values()})


def _sync(emu, cache, workspace, **kw):
    c = fetch.connect(token=emu.token, endpoint=emu.url, requests_per_second=500, retry=QUICK)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sync(workspace, cache=cache, client=c, show_progress=False, **kw)
    finally:
        c.close()


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


def test_a_cache_on_s3_reads_as_the_same_cache_on_disk(make_emulator, s3, tmp_path):
    emu = make_emulator(rate_limit=None)
    local, remote = tmp_path / "c", s3.uri("team/cache")
    for ws in WORKSPACES:
        _sync(emu, local, ws)
        _sync(emu, remote, ws)
    runs_l, runs_r = load_runs(cache=local), load_runs(cache=remote)
    pd.testing.assert_frame_equal(runs_r, runs_l)
    keys = ["run_id", "task_id", "attempt"]
    tasks_l, tasks_r = _sorted(load_tasks(cache=local), keys), _sorted(load_tasks(cache=remote), keys)
    pd.testing.assert_frame_equal(tasks_r, tasks_l)
    # what the bundled files hold, counted here
    assert sorted(runs_r.run_id) == sorted(RAW)
    assert sorted(tasks_r.groupby("run_id").size().items()) == sorted(
        (rid, len(r["tasks"])) for rid, r in RAW.items())
    # filtered reads prune the same way
    ws = WORKSPACES[0]
    pd.testing.assert_frame_equal(load_tasks(ws, cache=remote).pipe(_sorted, keys),
                                  load_tasks(ws, cache=local).pipe(_sorted, keys))
    # reports read the S3 files through a pyarrow dataset in DuckDB: the same answers
    first, last = runs_l.submit.min(), runs_l.submit.max()
    window = {"since": f"{first:%Y-%m}", "until": (last + pd.Timedelta(days=40)).strftime("%Y-%m")}
    for fn, kw in ((reports.cost_report, {"period": None, "by": "run_id"}),
                   (reports.cost_report, {}),
                   (reports.cost_report, {"period": "month", **window}),  # footer ranges pick files
                   (reports.failure_report, {"period": None}),
                   (reports.runtime_report, {}),
                   (reports.efficiency_report, {}),
                   (reports.data_quality, window)):
        got, want = fn(cache=remote, **kw), fn(cache=local, **kw)
        pd.testing.assert_frame_equal(got, want, obj=fn.__name__)
    # the command line too
    here = str(Path(seqera_analytics.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": here}
    out = [subprocess.run([sys.executable, "-m", "seqera_analytics.cli", "report", "cost", "--cache", str(c)],
                          env=env, capture_output=True, text=True, check=True, timeout=120).stdout
           for c in (remote, local)]
    assert out[0] == out[1] and out[0].strip()
    by_run = reports.cost_report(cache=remote, period=None, by="run_id").set_index("run_id")
    costs = tasks_r.groupby("run_id")["cost"].sum(min_count=1)
    for rid, row in by_run.iterrows():
        if pd.notna(costs.get(rid)):
            assert row["cost"] == pytest.approx(float(costs[rid]))
    # a plain reader of the S3 trees: each task once, every run with all its tasks
    fs = s3.fs
    plain = ds.dataset(f"{s3.bucket}/team/cache/tasks", filesystem=fs, format="parquet",
                       partitioning="hive").to_table(columns=["run_id", "task_id"]).to_pandas()
    assert not plain.duplicated(["run_id", "task_id"]).any()
    assert len(plain) == sum(len(r["tasks"]) for r in RAW.values())
    info = Cache(remote).info()
    assert info.path == remote and info.size_bytes > 0
    assert sorted(info.workspaces.runs) == sorted(
        sum(1 for r in RAW.values() if r["meta"]["workspace"] == w) for w in WORKSPACES)


def test_spark_refuses_a_cache_on_s3_in_one_line(s3):
    c = Cache(s3.uri())
    with c.writer():
        pass

    class FakeSpark:  # what the engine looks at: its name
        name = "pyspark"

    with pytest.raises(ReportError) as err:
        reports.cost_report(cache=c, backend=Engine(FakeSpark()))
    assert "local-disk cache only" in str(err.value) and "\n" not in str(err.value)


def _one_line_error_before_any_request(emu, cache) -> str:
    emu.reset_counts()
    with pytest.raises(CacheError) as err:
        _sync(emu, cache, WORKSPACES[0])
    assert emu.requests == [], "the location is checked before the Platform is asked"
    text = str(err.value)
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


def test_bad_locations_fail_in_one_line_before_any_request(make_emulator, s3, monkeypatch):
    emu = make_emulator(rate_limit=None)
    text = _one_line_error_before_any_request(emu, "foo://x/y")
    assert "foo" in text and "scheme" in text
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    text = _one_line_error_before_any_request(emu, f"s3://{s3.bucket}-missing/cache")
    assert "does not exist" in text and f"{s3.bucket}-missing" in text and secret not in text
    host = s3.endpoint.split("://", 1)[1]
    in_uri = (f"s3://{s3.bucket}-missing/c?access_key=testing&secret_key={secret}"
              f"&endpoint_override={host}&scheme=http&region=us-east-1")
    text = _one_line_error_before_any_request(emu, in_uri)
    assert secret not in text  # (pyarrow refuses the parameter; the message does not echo it)
    # URLs pyarrow cannot parse: its own message quotes them whole, keys in the user info too
    in_url = "Zq9UrlSecretNotInTheEnvironment"  # (the environment's secret is scrubbed anyway)
    for bad in (f"s3://AKIA:{in_url}@{s3.bucket}/x y", f"s3://AKIA:{in_url}@{s3.bucket}/x%zz",
                f"s3://AKIA:{in_url}@{s3.bucket}:99999/x"):
        text = _one_line_error_before_any_request(emu, bad)
        assert in_url not in text and "AKIA" not in text, text
    # schemes other than S3 (gs:// would wait minutes for Google credentials) and prefixes
    # that climb out of themselves are refused up front
    for bad in ("gs://b/x", "hdfs://h/x"):
        assert "Unsupported cache location scheme" in _one_line_error_before_any_request(emu, bad)
    for bad in (f"s3://{s3.bucket}/x%2F..%2Fy", f"s3://{s3.bucket}/../x", f"s3://{s3.bucket}/./x"):
        assert "'..'" in _one_line_error_before_any_request(emu, bad)
    assert Cache(f"S3://{s3.bucket}/upper").location.uri() == f"s3://{s3.bucket}/upper"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    text = _one_line_error_before_any_request(emu, s3.uri())
    assert "credentials" in text.lower()
    with pytest.raises(CacheLocationError):
        Cache("foo://x")


def _bundle(i: int) -> dict[str, pa.Table]:
    b = list(iter_run_bundles(bundled_runs_dir()))[i]
    return bundle_tables(b)


def test_a_second_writer_is_refused_while_the_lease_holds(s3):
    uri = s3.uri("locked")
    with Cache(uri).writer() as w:
        with pytest.raises(CacheLockedError) as err:
            Cache(uri).writer()
        text = str(err.value)
        assert "pid" in text and "lease until" in text and "\n" not in text
        t = _bundle(0)
        w.put_runs(t["runs"], t["tasks"])
        w.commit()
    # released at close: the next writer opens at once
    with Cache(uri).writer() as w2:
        assert w2.state.generation >= 1
    assert not Cache(uri).location.exists(".lock")


def test_an_expired_lease_is_taken_over(s3):
    uri = s3.uri("expired")
    c = Cache(uri)
    c.writer().close()
    stale = {"id": "dead-writer", "owner": "pid 1 on gone-host", "since": "2020-01-01T00:00:00Z",
             "expires": time.time() - 1, "expires_at": "2020-01-01T00:15:00Z"}
    c.location.write_bytes(".lock", json.dumps(stale).encode())
    with c.writer() as w:
        held = json.loads(c.location.read_bytes(".lock"))
        assert held["id"] == w._lease.id and held["expires"] > time.time()
        t = _bundle(0)
        w.put_runs(t["runs"], t["tasks"])
        w.commit()
    assert set(load_runs(cache=uri).run_id) == set(t["runs"]["run_id"].to_pylist())
    # a live lease of someone else is not taken over
    c.location.write_bytes(".lock", json.dumps({**stale, "expires": time.time() + 60}).encode())
    with pytest.raises(CacheLockedError, match="pid 1 on gone-host"):
        c.writer()


def test_two_writers_that_both_took_the_lease_the_second_stops_at_its_commit(s3):
    """Plain S3 has no atomic create: two writers may both take the lease. The generation
    check at commit stops the one whose cache changed under it; nothing committed is lost."""
    uri = s3.uri("race")
    Cache(uri).writer().close()
    a = Cache(uri).writer()
    a.loc.delete(".lock")  # as if b read "no lease" in the same instant a took it
    b = Cache(uri).writer()
    tb, ta = _bundle(0), _bundle(1)
    b.put_runs(tb["runs"], tb["tasks"])
    b.commit()
    b.close()
    a.put_runs(ta["runs"], ta["tasks"])
    with pytest.raises(CacheConflictError) as err:
        a.commit()
    assert "Another writer committed" in str(err.value) and "\n" not in str(err.value)
    a.close()
    # b's commit stands; a's files are gone (no tree file that no state names)
    c = Cache(uri)
    assert set(load_runs(cache=c).run_id) == set(tb["runs"]["run_id"].to_pylist())
    live = {f for fs in c.state().files.values() for f in fs}
    on_store = {f for top in ("runs", "tasks", "process_progress", "process_metrics")
                for f in c.location.list_files(top, "*.parquet")}
    assert on_store == live


def test_a_lease_left_by_a_killed_writer_on_this_host_is_taken_over_at_once(s3, monkeypatch):
    uri = s3.uri("killed-here")
    c = Cache(uri)
    c.writer().close()
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(gone.stdout)  # a pid that has exited
    pidns = os.stat("/proc/self/ns/pid").st_ino  # the writer's pid namespace (a container has its own)
    lease = {"id": "killed", "owner": f"pid {pid} on {socket.gethostname()}", "host": socket.gethostname(),
             "pid": pid, "pidns": pidns, "since": "2026-01-01T00:00:00Z", "expires": time.time() + 300,
             "expires_at": "later"}
    c.location.write_bytes(".lock", json.dumps(lease).encode())
    with c.writer() as w:
        assert json.loads(c.location.read_bytes(".lock"))["id"] == w._lease.id
    # the same lease from another host, or another pid namespace of this one, must be waited for
    for other in ({"host": "elsewhere"}, {"pidns": pidns + 1}):
        c.location.write_bytes(".lock", json.dumps({**lease, **other}).encode())
        with pytest.raises(CacheLockedError, match="remove s3://"):
            c.writer()
    # a damaged expiry (no writer of ours writes one) does not block the cache forever
    for bad in (float("nan"), float("inf"), 1e300):
        c.location.write_bytes(".lock", json.dumps({**lease, "host": "elsewhere", "expires": bad}).encode())
        c.writer().close()


def test_the_cache_variable_may_name_an_s3_prefix(s3, monkeypatch):
    monkeypatch.setenv("SEQERA_ANALYTICS_CACHE", s3.uri("from-env"))
    t = _bundle(0)
    with Cache().writer() as w:
        w.put_runs(t["runs"], t["tasks"])
        w.commit()
    c = Cache()
    assert c.path == s3.uri("from-env") and c.is_remote and c.is_cache()
    assert len(load_tasks()) == t["tasks"].num_rows


def test_an_older_cache_copied_to_s3_is_upgraded_in_place_as_on_disk(s3, tmp_path):
    import shutil

    from seqera_analytics.frames import SCHEMA_VERSION

    v1 = Path(__file__).parents[1] / "fixtures" / "cache-v1"
    local = tmp_path / "v1"
    shutil.copytree(v1, local)
    fs, prefix = s3.fs, f"{s3.bucket}/v1"
    old = sorted(p.relative_to(v1).as_posix() for p in v1.rglob("*") if p.is_file())
    for rel in old:  # as `aws s3 sync` would copy it
        with fs.open_output_stream(f"{prefix}/{rel}") as out:
            out.write((v1 / rel).read_bytes())
    uri = s3.uri("v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs_r, runs_l = load_runs(cache=uri), load_runs(cache=local)
        tasks_r = _sorted(load_tasks(cache=uri), ["run_id", "task_id", "attempt"])
        tasks_l = _sorted(load_tasks(cache=local), ["run_id", "task_id", "attempt"])
    pd.testing.assert_frame_equal(runs_r, runs_l)
    pd.testing.assert_frame_equal(tasks_r, tasks_l)
    assert len(runs_r) > 0 and len(tasks_r) > 0
    assert Cache(uri).state().schema_version == SCHEMA_VERSION
    left = {i.path[len(prefix) + 1:] for i in fs.get_file_info(pafs.FileSelector(prefix, recursive=True))
            if i.type == pafs.FileType.File}
    assert not left & {r for r in old if r.endswith(".parquet")}, "the old files are gone"
