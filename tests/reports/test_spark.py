"""The same report definitions on Spark: a local session over the same cache on disk gives
the rows DuckDB gives (counts exactly, every float, money included, to a relative 1e-9;
quantiles are exact on both engines).

Marked ``spark``: ``pytest -m "not spark"`` deselects it. It needs PySpark (the test extra
installs it) and a Java 17 runtime, and is skipped, saying which is missing, without them
(except under ``CI``, where ``.ci/run`` installs Java and a missing runtime fails).
"""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from test_report_inputs import BILLED_CALLS, CALLS

from seqera_analytics import reports as R

pytestmark = [
    pytest.mark.spark,
    # PySpark's result collection leaves its local socket for the garbage collector
    # (pyspark/util.py _load_from_socket): third-party noise, not ours to fix.
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install -e '.[spark]')")
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        if os.environ.get("CI"):  # .ci/run installs Java: a skip there would hide a regression
            pytest.fail(
                "no Java runtime for Spark in CI (.ci/run installs openjdk-17-jre-headless)"
            )
        pytest.skip("no Java runtime for Spark (apt-get install openjdk-17-jre-headless)")
    engine = R.spark_backend(master="local[2]", **{"spark.sql.shuffle.partitions": "4"})
    yield engine
    engine.backend._session.stop()


@pytest.mark.parametrize("name", list(CALLS))
def test_every_report_gives_the_same_rows_on_spark(spark, cache, name):
    fn, kwargs = CALLS[name]
    on_duckdb = fn(cache=cache.path, **kwargs)
    on_spark = fn(cache=cache.path, backend=spark, **kwargs)
    assert len(on_spark) > 0
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize("name", list(BILLED_CALLS))
def test_billed_reports_give_the_same_rows_on_spark(spark, cache, name):
    fn, kwargs = BILLED_CALLS[name]
    on_duckdb = fn(cache=cache.path, **kwargs)
    on_spark = fn(cache=cache.path, backend=spark, **kwargs)
    assert len(on_spark) > 0
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=False, rtol=1e-9)


def test_filters_and_windows_on_spark(spark, cache, raw):
    kw = {
        "workspace": "seqeralabs/benchmarks",
        "pipeline": "nf-core/sarek",
        "since": "2025-09-11",
        "until": "2025-09-12T06:00:00Z",
        "period": "day",
        "by": "user,price_model",
    }
    on_spark = R.cost_report(cache=cache.path, backend=spark, **kw)
    pd.testing.assert_frame_equal(
        on_spark, R.cost_report(cache=cache.path, **kw), check_exact=False, rtol=1e-9
    )
    expected = sum(
        t["cost"] or 0.0
        for d in raw.values()
        if d["workflow"]["projectName"] == "nf-core/sarek"
        for t in d["tasks"]
        if "2025-09-11" <= (t["complete"] or t["start"] or t["submit"]) < "2025-09-12T06:00:00Z"
    )
    assert on_spark["cost"].sum() == pytest.approx(expected, rel=1e-9)


def test_frames_run_on_spark_too(spark, data):
    pd.testing.assert_frame_equal(
        R.cost_report(data.tasks, data.runs, by="pipeline,label", backend=spark),
        R.cost_report(data.tasks, data.runs, by="pipeline,label"),
        check_exact=False,
        rtol=1e-9,
    )


def test_a_cache_path_with_glob_characters_on_spark(spark, cache, tmp_path):
    """Hadoop reads paths as globs: a cache in ``g[12]`` beside ``g1`` and ``g2`` must read
    only itself."""
    truth = R.cost_report(cache=cache.path, period=None, by=())
    for name in ("g1", "g2", "g[12]", "g{1,2}"):
        shutil.copytree(cache.path, tmp_path / name)
    for name in ("g[12]", "g{1,2}"):
        got = R.cost_report(cache=tmp_path / name, period=None, by=(), backend=spark)
        pd.testing.assert_frame_equal(got, truth, check_exact=False, rtol=1e-9)


def test_data_quality_and_the_notes_on_spark(spark, tmp_path):
    from quality.hostile import write_runs_dir

    from seqera_analytics import connect, sync
    from seqera_analytics.emulator import Emulator

    runs = write_runs_dir(tmp_path / "runs")
    with Emulator(runs_dir=runs, rate_limit=None) as emu, connect(token=emu.token, endpoint=emu.url) as c:
        sync("seqeralabs/benchmarks", cache=tmp_path / "c", client=c, show_progress=False)
    for fn, kw in ((R.data_quality, {}), (R.cost_report, {"by": "run_id", "since": "2025-09"}),
                   (R.efficiency_report, {"by": "process"})):
        on_duckdb = fn(cache=tmp_path / "c", **kw)
        on_spark = fn(cache=tmp_path / "c", backend=spark, **kw)
        assert len(on_spark) > 0
        pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=False, rtol=1e-9)
        assert on_spark.attrs["notes"] == on_duckdb.attrs["notes"]
        assert fn is R.data_quality or "Data quality:" in on_spark.attrs["notes"][0]
