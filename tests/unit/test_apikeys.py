from __future__ import annotations

import re

import pytest

from shared.apikeys import DISPLAY_PREFIX_LEN, KEY_PREFIX, display_prefix, generate_key, hash_key


def test_generate_key_is_prefixed_and_url_safe() -> None:
    key = generate_key()
    assert key.startswith("qk_")
    assert KEY_PREFIX == "qk_"
    assert re.fullmatch(r"qk_[A-Za-z0-9_-]{43}", key)  # 32 random bytes, base64url


def test_generate_key_is_unique() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200


def test_hash_key_is_deterministic() -> None:
    key = "qk_example"
    assert hash_key(key, "secret-a") == hash_key(key, "secret-a")


def test_hash_key_depends_on_the_secret_and_the_key() -> None:
    key = generate_key()
    assert hash_key(key, "secret-a") != hash_key(key, "secret-b")
    assert hash_key(key, "secret-a") != hash_key(generate_key(), "secret-a")


def test_hash_key_is_hmac_sha256_hex() -> None:
    # RFC 4231 test case 2: HMAC-SHA256(key="Jefe", data="what do ya want for nothing?").
    digest = hash_key("what do ya want for nothing?", "Jefe")
    assert digest == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert re.fullmatch(r"[0-9a-f]{64}", hash_key(generate_key(), "s"))


def test_hash_does_not_contain_the_key() -> None:
    key = generate_key()
    assert key not in hash_key(key, "secret")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("qk_abcdefghijklmnop", "qk_abcdefg"),
        ("qk_abc", "qk_abc"),
        ("", ""),
    ],
)
def test_display_prefix(key: str, expected: str) -> None:
    assert display_prefix(key) == expected


def test_display_prefix_of_a_generated_key() -> None:
    key = generate_key()
    prefix = display_prefix(key)
    assert len(prefix) == DISPLAY_PREFIX_LEN == 10
    assert key.startswith(prefix)
    assert prefix.startswith(KEY_PREFIX)
