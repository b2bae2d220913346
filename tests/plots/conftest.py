"""Fixtures of the chart tests: the bundled real runs, synced once into a temporary cache."""

from __future__ import annotations

import os

# Charts must never need a display: the non-interactive backend, set before matplotlib loads.
os.environ.setdefault("MPLBACKEND", "Agg")

from collections.abc import Iterator

import pandas as pd
import pytest

from seqera_analytics import demo
from seqera_analytics.store import Cache, load_runs, load_tasks


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cache]:
    """The five bundled real runs (two workspaces), synced from the emulator, no token."""
    yield demo.build_demo_cache(tmp_path_factory.mktemp("plots-demo-cache"))


@pytest.fixture(scope="session")
def demo_runs(demo_cache: Cache) -> pd.DataFrame:
    return load_runs(cache=demo_cache)


@pytest.fixture(scope="session")
def demo_tasks(demo_cache: Cache) -> pd.DataFrame:
    return load_tasks(cache=demo_cache)
