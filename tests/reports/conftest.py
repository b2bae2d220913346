"""Fixtures for the report tests: the bundled real runs (typed frames and raw JSON) and a
builder of small hand-made frames.

Expected numbers are computed from the raw JSON with ``json`` in the tests, never from the
code under test.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from seqera_analytics import frames as F
from seqera_analytics.bundles import bundled_runs_dir
from seqera_analytics.fetch import load_dump

RAW_PATHS = sorted(bundled_runs_dir().glob("*.json"))


@pytest.fixture(scope="session")
def data():
    """RunData of the 5 bundled real runs."""
    return load_dump(bundled_runs_dir())


@pytest.fixture(scope="session")
def raw() -> dict[str, dict[str, Any]]:
    """run id -> the raw bundle JSON, tasks unwrapped."""
    out = {}
    for p in RAW_PATHS:
        doc = json.loads(p.read_text())
        doc["tasks"] = [t["task"] for t in doc["tasks"]]
        out[doc["workflow"]["id"]] = doc
    return out


def _frame(spec: F.TableSpec, rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in spec.columns:
        if col.name in df and pa.types.is_timestamp(col.type):
            df[col.name] = pd.to_datetime(df[col.name], utc=True)
    return F.to_pandas(F.from_pandas(df, spec)) if rows else F.empty_frame(spec)


def make_tasks(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A typed tasks frame from dicts (column name -> value; durations in ms)."""
    return _frame(F.TASKS, rows)


def make_runs(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A typed runs frame from dicts."""
    return _frame(F.RUNS, rows)


@pytest.fixture(name="make_tasks")
def _make_tasks_fixture():
    return make_tasks


@pytest.fixture(name="make_runs")
def _make_runs_fixture():
    return make_runs


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """The bundled real runs synced from the emulator into a cache (two workspaces)."""
    from seqera_analytics.demo import build_demo_cache

    return build_demo_cache(tmp_path_factory.mktemp("reports-cache"))
