"""Webhook secrets sealed at rest under a key derived from the server secret."""

from __future__ import annotations

import pytest

from shared.errors import SecretUnreadable
from shared.secret_box import SecretBox, is_sealed

SERVER_SECRET = "a-server-secret-of-at-least-thirty-two-characters"


def test_a_sealed_secret_opens_to_itself_and_does_not_show_it() -> None:
    box = SecretBox(SERVER_SECRET)
    stored = box.seal("whsec_c2VjcmV0LWJ5dGVzLWhlcmU=")
    assert is_sealed(stored)
    assert "c2VjcmV0" not in stored
    assert box.open(stored) == "whsec_c2VjcmV0LWJ5dGVzLWhlcmU="
    assert box.seal("whsec_x") != box.seal("whsec_x")  # a fresh IV each time
    assert len(stored) <= 255  # fits the column


def test_a_plain_value_from_before_sealing_is_read_as_it_is() -> None:
    assert SecretBox(SERVER_SECRET).open("whsec_plain") == "whsec_plain"
    assert not is_sealed("whsec_plain")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-4] + ("AAAA" if not s.endswith("AAAA") else "BBBB"),
        lambda s: "v1:" + "A" * 20,
        lambda s: "v1:not base64 at all!",
    ],
)
def test_an_altered_value_is_refused(tamper: object) -> None:
    box = SecretBox(SERVER_SECRET)
    stored = box.seal("whsec_abc")
    with pytest.raises(SecretUnreadable):
        box.open(tamper(stored))  # type: ignore[operator]


def test_another_server_secret_cannot_open_it() -> None:
    stored = SecretBox(SERVER_SECRET).seal("whsec_abc")
    with pytest.raises(SecretUnreadable, match="QUIRE_SECRET_KEY"):
        SecretBox(SERVER_SECRET + "-changed").open(stored)
