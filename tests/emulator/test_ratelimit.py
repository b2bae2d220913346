"""The per-token rate limit: fixed 1-second cycles, 429 + Retry-After, separate budgets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from seqera_analytics.emulator import Emulator, FixedWindowRateLimiter

from .helpers import Api


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fixed_cycles_and_rejections_do_not_consume() -> None:
    clock = FakeClock()
    lim = FixedWindowRateLimiter(3, 1.0, clock=clock)
    assert [lim.acquire("a").allowed for _ in range(5)] == [True, True, True, False, False]
    clock.now += 0.4
    rejected = lim.acquire("a")
    assert (
        not rejected.allowed and rejected.wait_s == pytest.approx(0.6) and rejected.retry_after == 0
    )
    clock.now += 0.6  # next cycle: the two rejections above did not eat its permits
    assert [lim.acquire("a").allowed for _ in range(4)] == [True, True, True, False]
    assert lim.acquire("b").allowed  # another key, its own budget


def test_cycles_are_fixed_not_sliding() -> None:
    # A full burst late in one cycle and another at the start of the next both pass: the
    # limiter counts per cycle (resilience4j AtomicRateLimiter), not per sliding second.
    clock = FakeClock()
    lim = FixedWindowRateLimiter(20, 1.0, clock=clock)
    lim.acquire("t")
    clock.now += 0.95
    assert sum(lim.acquire("t").allowed for _ in range(19)) == 19
    clock.now += 0.1
    assert sum(lim.acquire("t").allowed for _ in range(25)) == 20


def test_timeout_reserves_a_permit_of_the_next_cycle() -> None:
    clock = FakeClock()
    lim = FixedWindowRateLimiter(2, 1.0, timeout=0.5, clock=clock)
    lim.acquire("t"), lim.acquire("t")
    clock.now += 0.7
    waited = lim.acquire("t")  # 0.3 s to the next cycle <= 0.5 s timeout
    assert waited.allowed and waited.wait_s == pytest.approx(0.3)
    clock.now += 0.3
    assert lim.acquire("t").allowed  # one permit left in this cycle (one was reserved)
    assert not lim.acquire("t").allowed


def test_limiter_validates() -> None:
    with pytest.raises(ValueError):
        FixedWindowRateLimiter(0)
    with pytest.raises(ValueError):
        Emulator(rate_limit=-1)


def frozen() -> float:
    """A clock that never moves: every request falls in the first cycle, however slow the
    machine (a real clock lets a loaded machine spread the requests over two cycles)."""
    return 0.0


def test_burst_of_25_gets_429_with_retry_after(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    # default settings: 20 requests per cycle per token
    emu = make_emulator(rate_limit_clock=frozen)
    api = api_for(emu, retry_429=False)
    responses = [api.get("/user-info") for _ in range(25)]
    limited = [r for r in responses if r.status_code == 429]
    assert len(limited) == 5, "25 requests in one cycle: 20 allowed, 5 refused"
    assert all(r.status_code in (200, 429) for r in responses)
    for r in limited:
        assert int(r.headers["retry-after"]) >= 0
        assert r.json()["message"].startswith("Maximum request rate exceeded. Wait ")
        assert r.json()["message"].endswith("secs before issuing a new request")


def test_tokens_have_separate_budgets(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(rate_limit=5, rate_limit_clock=frozen)
    main = api_for(emu, retry_429=False)
    other = api_for(emu, emu.other_token, retry_429=False)
    main_codes = [main.get("/user-info").status_code for _ in range(8)]
    other_codes = [other.get("/user-info").status_code for _ in range(5)]
    assert main_codes == [200] * 5 + [429] * 3
    assert other_codes == [200] * 5
    assert emu.count(status=429, token=emu.token) == main_codes.count(429)
    assert emu.count(status=429, token=emu.other_token) == 0


def test_unknown_tokens_are_not_rate_limited_but_refused(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(rate_limit=2)
    bad = api_for(emu, "nope", retry_429=False)
    assert {bad.get("/workflow").status_code for _ in range(6)} == {401}


def test_rate_limit_can_be_disabled_and_changed(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(rate_limit=None, rate_limit_clock=frozen)
    api = api_for(emu, retry_429=False)
    assert {api.get("/user-info").status_code for _ in range(40)} == {200}
    emu.rate_limit = 3
    assert [api.get("/user-info").status_code for _ in range(5)] == [200] * 3 + [429] * 2


def test_timeout_delays_instead_of_rejecting(
    make_emulator: Callable[..., Emulator], api_for: Callable[..., Api]
) -> None:
    emu = make_emulator(rate_limit=3, rate_limit_timeout_ms=1500)
    api = api_for(emu, retry_429=False)
    codes = [api.get("/user-info").status_code for _ in range(5)]
    assert codes == [200] * 5  # the 4th and 5th waited for the next cycle
