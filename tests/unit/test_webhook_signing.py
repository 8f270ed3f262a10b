"""Signatures verify with the reference `standardwebhooks` package, rotations included."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.webhook_signing import generate_secret, sign, signature_headers


def test_secret_format() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert generate_secret() != secret


def test_reference_receiver_verifies_our_signature() -> None:
    secret, body, now = generate_secret(), b'{"type":"job.completed"}', int(time.time())
    headers = signature_headers("msg_1", now, body, [secret])
    assert Webhook(secret).verify(body, headers) == {"type": "job.completed"}


def test_tampered_body_or_other_secret_fails() -> None:
    secret, body, now = generate_secret(), b'{"a":1}', int(time.time())
    headers = signature_headers("msg_1", now, body, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)


def test_during_rotation_both_secrets_verify() -> None:
    old, new, body, now = generate_secret(), generate_secret(), b"{}", int(time.time())
    headers = signature_headers("msg_2", now, body, [new, old])
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


def test_known_vector() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    expected = sign(secret, "msg_x", 1700000000, b"hello")
    assert expected == sign(secret, "msg_x", 1700000000, b"hello")
    assert expected != sign(secret, "msg_x", 1700000001, b"hello")
    assert expected.startswith("v1,") and len(base64.b64decode(expected[3:])) == 32
