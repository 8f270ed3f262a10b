"""The per-process memory of verified API keys."""

from __future__ import annotations

import pytest

from api.caller import Caller, CallerCache, TenantRef


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def caller(name: str) -> Caller:
    return Caller(tenant=TenantRef(id=f"t-{name}", name=name), key_id=f"k-{name}")


@pytest.mark.parametrize(
    ("ttl", "age", "kept"),
    [
        (5.0, 0.0, True),
        (5.0, 4.9, True),
        (5.0, 5.0, False),  # exactly ttl old: looked up again
        (5.0, 60.0, False),
        (0.0, 0.0, False),  # 0: nothing is remembered
    ],
)
def test_an_entry_lives_ttl_seconds(ttl: float, age: float, kept: bool) -> None:
    clock = Clock()
    cache = CallerCache(ttl, clock=clock)
    cache.put("digest", caller("a"))
    clock.now += age
    assert (cache.get("digest") == caller("a")) is kept


def test_unknown_digest_is_a_miss_and_expired_entries_are_dropped() -> None:
    clock = Clock()
    cache = CallerCache(1.0, clock=clock)
    assert cache.get("nope") is None
    cache.put("d", caller("a"))
    clock.now += 2
    assert cache.get("d") is None
    assert "d" not in cache._entries


def test_a_full_cache_drops_its_oldest_entry() -> None:
    cache = CallerCache(60.0, max_entries=2, clock=Clock())
    cache.put("a", caller("a"))
    cache.put("b", caller("b"))
    cache.put("a", caller("a"))  # refreshed: now the newest
    cache.put("c", caller("c"))
    assert cache.get("b") is None
    assert cache.get("a") == caller("a")
    assert cache.get("c") == caller("c")


def test_forget_key_drops_every_entry_of_that_key_only() -> None:
    cache = CallerCache(60.0, clock=Clock())
    cache.put("d1", caller("a"))
    cache.put("d2", caller("b"))
    cache.forget_key("k-a")
    cache.forget_key("k-unknown")
    assert cache.get("d1") is None
    assert cache.get("d2") == caller("b")
