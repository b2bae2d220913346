"""The bill imported into a cache on S3 (moto's server) reads as the same bill on disk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs

from seqera_analytics import reports
from seqera_analytics.billing import bundled_cur, import_cur
from seqera_analytics.fetch import connect
from seqera_analytics.ingest import sync

WORKSPACES = ("seqeralabs/benchmarks", "scidev/testing")


def test_billing_on_s3_equals_billing_on_disk(make_emulator, s3, tmp_path: Path) -> None:
    emu = make_emulator(rate_limit=None)
    local, remote = tmp_path / "c", s3.uri("team/cache")
    with connect(token=emu.token, endpoint=emu.url) as client:
        for ws in WORKSPACES:
            for cache in (local, remote):
                sync(ws, cache=cache, client=client, show_progress=False)
    for cache in (local, remote):
        first = import_cur(bundled_cur(), cache=cache)
        again = import_cur(bundled_cur(), cache=cache)  # the keys are read back from S3
        assert (first.lines_added, again.lines_added) == (1427, 0)
    for kw in ({"per": "period"}, {"per": "run"}):
        got, want = reports.reconcile_billing(cache=remote, **kw), reports.reconcile_billing(cache=local, **kw)
        pd.testing.assert_frame_equal(got, want)
    got = reports.cost_report(cache=remote, basis="both", by="pipeline")
    pd.testing.assert_frame_equal(got, reports.cost_report(cache=local, basis="both", by="pipeline"))
    sel = pafs.FileSelector(f"{s3.bucket}/team/cache/billing_tasks", recursive=True)
    names = [i.path for i in s3.fs.get_file_info(sel) if i.is_file]
    assert any("period=2025-09" in n for n in names) and any("period=undated" in n for n in names)
