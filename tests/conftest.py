"""Shared pytest fixtures.

* ``emulator`` (session): one running :class:`~seqera_analytics.emulator.Emulator` with the
  bundled real runs and default settings (20 requests/s per token, no faults). Treat it as
  read-only: tests that add runs, switch faults or change latency use ``make_emulator``.
* ``make_emulator(**kwargs)``: start an emulator with any ``Emulator`` arguments; all those
  started in a test are stopped when it ends.
* autouse ``_clean_environ``: removes every ``TOWER_*`` and ``SEQERA_*`` environment
  variable for the duration of each test, so a developer's real credentials or workspace
  never leak into a test (the values seen at start-up stay available, read-only, in
  ``ORIGINAL_ENVIRON`` for the opt-in remote tests).

``tests/`` is on ``sys.path`` (``pythonpath = ["tests"]`` in pyproject.toml), so helpers
import as ``from spec_check import spec_validator``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Any

import pytest

from seqera_analytics.emulator import Emulator

_PREFIXES = ("TOWER_", "SEQERA_")

ORIGINAL_ENVIRON = MappingProxyType(
    {k: v for k, v in os.environ.items() if k.startswith(_PREFIXES)}
)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(_PREFIXES):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """The bundled real runs served on 127.0.0.1 (free port), default settings."""
    with Emulator() as emu:
        yield emu


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """Factory: ``make_emulator(synthetic_runs=50, rate_limit=None)`` -> a running emulator."""
    started: list[Emulator] = []

    def factory(**kwargs: Any) -> Emulator:
        emu = Emulator(**kwargs).start()
        started.append(emu)
        return emu

    yield factory
    for emu in reversed(started):
        emu.stop()
