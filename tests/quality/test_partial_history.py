"""A cache whose history starts mid-month (synced with --since) marks that month partial."""

from __future__ import annotations

import pandas as pd

from seqera_analytics import connect, sync
from seqera_analytics.emulator import Emulator
from seqera_analytics.reports import cost_report


def test_a_month_the_sync_history_cuts_is_partial(tmp_path):
    with Emulator(rate_limit=None) as emu, connect(token=emu.token, endpoint=emu.url) as c:
        sync("seqeralabs/benchmarks", since="2025-09-15", cache=tmp_path / "c", client=c, show_progress=False)
    rep = cost_report(cache=tmp_path / "c", by=())
    september = rep[rep.period_label == "2025-09"]
    assert len(september) == 1 and bool(september.partial.iloc[0])
    # asked for the whole month, the row is still partial: the cache does not hold it all
    alone = cost_report(cache=tmp_path / "c", by=(), since="2025-09", until="2025-10")
    assert bool(alone.partial.iloc[0]) and alone.cost.iloc[0] == september.cost.iloc[0]
    # a year-long window: January to August hold nothing and print nothing
    year = cost_report(cache=tmp_path / "c", by=(), since="2025-01", until="2026-01")
    assert list(year.period_label) == ["2025-09"] and (year.tasks > 0).all()
    assert pd.api.types.is_bool_dtype(year.partial.dtype)
