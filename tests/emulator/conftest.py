"""Fixtures for the emulator tests (helpers live in ``helpers.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from seqera_analytics.emulator import Emulator

from .helpers import Api, raw_runs


@pytest.fixture
def api_for() -> Iterator[Callable[..., Api]]:
    """Factory ``api_for(emu, token=None, retry_429=True)``; clients are closed afterwards."""
    made: list[Api] = []

    def factory(emu: Emulator, token: str | None = None, *, retry_429: bool = True) -> Api:
        a = Api(emu, token, retry_429=retry_429)
        made.append(a)
        return a

    yield factory
    for a in made:
        a.close()


@pytest.fixture
def api(emulator: Emulator, api_for: Callable[..., Api]) -> Api:
    """An :class:`Api` on the session emulator with the main user's token."""
    return api_for(emulator)


@pytest.fixture(scope="session")
def real_runs() -> dict[str, dict[str, Any]]:
    return raw_runs()
