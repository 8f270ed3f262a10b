from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.egress import (
    CallbackRefused,
    DeliveryFailed,
    EgressPolicy,
    Reply,
    Target,
    address_allowed,
    check_url_syntax,
    post_json,
    resolve_target,
)
from shared.errors import QuireError

DEFAULT = EgressPolicy()
LOOPBACK = EgressPolicy(allow_loopback=True)
PRIVATE = EgressPolicy(allow_private=True)
EVERYTHING = EgressPolicy(allow_http=True, allow_loopback=True, allow_private=True)
LOCAL_HTTP = EgressPolicy(allow_http=True, allow_loopback=True, timeout_seconds=0.5)


# --- errors ----------------------------------------------------------------------------------


def test_error_classes() -> None:
    refused, failed = CallbackRefused("x"), DeliveryFailed("y")
    assert isinstance(refused, QuireError) and isinstance(failed, QuireError)
    assert (refused.code, refused.http_status, refused.retryable) == (
        "callback_url_refused",
        422,
        False,
    )
    assert refused.title == "Callback URL refused"
    assert (failed.code, failed.retryable) == ("delivery_failed", True)


# --- address_allowed -------------------------------------------------------------------------

ALLOWED_BY: list[tuple[str, list[EgressPolicy]]] = [
    ("8.8.8.8", [DEFAULT, LOOPBACK, PRIVATE, EVERYTHING]),
    ("2001:4860:4860::8888", [DEFAULT, LOOPBACK, PRIVATE, EVERYTHING]),
    ("127.0.0.1", [LOOPBACK, EVERYTHING]),
    ("127.8.9.10", [LOOPBACK, EVERYTHING]),
    ("::1", [LOOPBACK, EVERYTHING]),
    ("10.0.0.1", [PRIVATE, EVERYTHING]),
    ("172.16.5.4", [PRIVATE, EVERYTHING]),
    ("192.168.1.1", [PRIVATE, EVERYTHING]),
    ("fd00::1", [PRIVATE, EVERYTHING]),
    ("100.64.0.1", [PRIVATE, EVERYTHING]),
    ("169.254.169.254", []),
    ("fe80::1", []),
    ("fe80::1%eth0", []),
    ("224.0.0.1", []),
    ("ff02::1", []),
    ("0.0.0.0", []),
    ("::", []),
    ("255.255.255.255", []),
    ("240.0.0.1", []),
    ("192.0.2.1", []),
    ("fec0::1", []),
    ("::ffff:127.0.0.1", [LOOPBACK, EVERYTHING]),
    ("::ffff:169.254.169.254", []),
    ("::ffff:8.8.8.8", [DEFAULT, LOOPBACK, PRIVATE, EVERYTHING]),
    ("::127.0.0.1", [LOOPBACK, EVERYTHING]),
    ("64:ff9b::7f00:1", [LOOPBACK, EVERYTHING]),
    ("64:ff9b::a9fe:a9fe", []),
    ("64:ff9b::808:808", [DEFAULT, LOOPBACK, PRIVATE, EVERYTHING]),
    ("64:ff9b:1::a00:1", []),
    ("2002:7f00:1::", [LOOPBACK, EVERYTHING]),
    ("2002:a9fe:a9fe::", []),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", [LOOPBACK, EVERYTHING]),  # Teredo, client 127.0.0.1
    ("not-an-ip", []),
]


@pytest.mark.parametrize(("address", "allowed_by"), ALLOWED_BY)
@pytest.mark.parametrize("policy", [DEFAULT, LOOPBACK, PRIVATE, EVERYTHING])
def test_address_allowed(
    address: str, allowed_by: list[EgressPolicy], policy: EgressPolicy
) -> None:
    allowed, reason = address_allowed(address, policy)
    assert allowed == (policy in allowed_by), reason
    assert reason


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("10.0.0.1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
    ],
)
def test_address_refusal_names_the_kind(address: str, words: str) -> None:
    allowed, reason = address_allowed(address, DEFAULT)
    assert not allowed
    assert words in reason


# --- check_url_syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/hook",
        "https://EXAMPLE.org:8443/hook?x=1#frag",
        "https://[2001:db8::1]/hook",
        "https://münchen.example/hook",
    ],
)
def test_url_syntax_accepted(url: str) -> None:
    check_url_syntax(url, DEFAULT)


@pytest.mark.parametrize(
    ("url", "policy", "words"),
    [
        ("http://example.org/hook", DEFAULT, "https"),
        ("ftp://example.org/hook", EVERYTHING, "http or https"),
        ("https://user:pass@example.org/hook", DEFAULT, "password"),
        ("https://user@example.org/hook", DEFAULT, "password"),
        ("https:///hook", DEFAULT, "host"),
        ("https://", DEFAULT, "host"),
        ("/relative/hook", DEFAULT, "https"),
        ("https://example.org/" + "a" * 2048, DEFAULT, "2048"),
        ("https://example.org:0/hook", DEFAULT, "port"),
        ("https://example.org:65536/hook", DEFAULT, "port"),
        ("https://example.org:http/hook", DEFAULT, "port"),
        ("https://exa mple.org/hook", DEFAULT, "spaces"),
        ("https://example.org\\@evil.org/", DEFAULT, "backslashes"),
        ("https://[fe80::1%25eth0]/hook", DEFAULT, "zone"),
        ("https://exa$mple.org/hook", DEFAULT, "host name"),
    ],
)
def test_url_syntax_refused(url: str, policy: EgressPolicy, words: str) -> None:
    with pytest.raises(CallbackRefused) as caught:
        check_url_syntax(url, policy)
    assert words in caught.value.message


def test_http_allowed_by_policy() -> None:
    check_url_syntax("http://example.org/hook", EgressPolicy(allow_http=True))


# --- resolve_target --------------------------------------------------------------------------


def fake_resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def test_resolves_to_loopback_is_refused() -> None:
    resolver = fake_resolver({"hooks.example.org": ["127.0.0.1"]})
    with pytest.raises(CallbackRefused) as caught:
        resolve_target("https://hooks.example.org/x", DEFAULT, resolver)
    assert "loopback" in caught.value.message


def test_one_bad_address_is_enough() -> None:
    resolver = fake_resolver({"hooks.example.org": ["8.8.8.8", "10.0.0.1"]})
    with pytest.raises(CallbackRefused) as caught:
        resolve_target("https://hooks.example.org/x", DEFAULT, resolver)
    assert "private" in caught.value.message


def test_public_address_gives_a_target() -> None:
    resolver = fake_resolver({"hooks.example.org": ["2001:4860:4860::8888", "8.8.8.8"]})
    target = resolve_target("https://Hooks.Example.org:8443/x?y=1", DEFAULT, resolver)
    assert target == Target(
        url="https://Hooks.Example.org:8443/x?y=1",
        scheme="https",
        host="hooks.example.org",
        port=8443,
        address="2001:4860:4860::8888",
    )


def test_no_address_is_refused() -> None:
    table: dict[str, list[str]] = {"hooks.example.org": []}
    with pytest.raises(CallbackRefused) as caught:
        resolve_target("https://hooks.example.org/x", DEFAULT, fake_resolver(table))
    assert "resolve" in caught.value.message


def test_failed_lookup_is_retryable_not_refused() -> None:
    with pytest.raises(DeliveryFailed) as caught:
        resolve_target("https://hooks.example.org/x", DEFAULT, fake_resolver({}))
    assert caught.value.retryable and "resolved" in caught.value.message


def test_syntax_is_checked_before_resolving() -> None:
    def explode(host: str, port: int) -> list[str]:
        raise AssertionError("resolver called")

    with pytest.raises(CallbackRefused):
        resolve_target("http://hooks.example.org/x", DEFAULT, explode)


def test_literal_ip_goes_through_the_resolver_normalised() -> None:
    seen: list[tuple[str, int]] = []

    def record(host: str, port: int) -> list[str]:
        seen.append((host, port))
        return ["8.8.8.8"]

    target = resolve_target("https://134744072/x", DEFAULT, record)
    assert seen == [("8.8.8.8", 443)]
    assert (target.host, target.address) == ("134744072", "8.8.8.8")


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_odd_loopback_notations_are_refused(url: str) -> None:
    with pytest.raises(CallbackRefused) as caught:
        resolve_target(url, EgressPolicy(allow_http=True))
    assert "loopback" in caught.value.message


def test_odd_notation_resolves_to_dotted_quad() -> None:
    target = resolve_target("http://0x7f.1:8080/", LOCAL_HTTP)
    assert (target.host, target.port, target.address) == ("0x7f.1", 8080, "127.0.0.1")


# --- post_json against a local server --------------------------------------------------------


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    seen: list[Seen] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    seen: list[Seen]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        getattr(
            self, "answer_" + self.path.strip("/").split("?")[0] or "answer_ok", self.answer_ok
        )()

    def answer_ok(self) -> None:
        self._send(200, b'{"ok": true}', {"X-Receiver": "yes", "Content-Type": "application/json"})

    def answer_redirect(self) -> None:
        other = f"http://127.0.0.1:{self.connection.getsockname()[1]}/other"
        self._send(302, b"", {"Location": other})

    def answer_slow(self) -> None:
        time.sleep(1.0)
        self._send(200, b"late", {})

    def answer_big(self) -> None:
        self._send(200, b"x" * 200_000, {})

    def answer_drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        for _ in range(20):
            self.wfile.write(b"d")
            self.wfile.flush()
            time.sleep(0.1)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hung up on purpose (timeouts, capped bodies)


def serve(wrap: Callable[[socket.socket], socket.socket] | None = None) -> Iterator[Receiver]:
    seen: list[Seen] = []
    handler = type("BoundHandler", (Handler,), {"seen": seen})
    server = QuietServer(("127.0.0.1", 0), handler)
    if wrap is not None:
        server.socket = wrap(server.socket)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Receiver(server.server_address[1], seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


def local_target(port: int, path: str = "/ok", host: str = "localhost") -> Target:
    return Target(f"http://{host}:{port}{path}", "http", host, port, "127.0.0.1")


def test_post_json_delivers(receiver: Receiver) -> None:
    body = json.dumps({"job": "j1", "status": "done"}).encode()
    reply = post_json(
        local_target(receiver.port, "/ok?a=1"),
        body,
        {"X-Quire-Signature": "sha256=abc", "X-Quire-Event": "job.done"},
        LOCAL_HTTP,
    )
    assert reply == Reply(200, reply.headers, b'{"ok": true}')
    assert reply.headers["x-receiver"] == "yes"
    assert reply.headers["content-type"] == "application/json"
    [seen] = receiver.seen
    assert (seen.path, seen.body) == ("/ok?a=1", body)
    assert seen.headers["host"] == f"localhost:{receiver.port}"
    assert seen.headers["x-quire-signature"] == "sha256=abc"
    assert seen.headers["x-quire-event"] == "job.done"
    assert seen.headers["content-type"] == "application/json"


def test_caller_cannot_override_host(receiver: Receiver) -> None:
    post_json(local_target(receiver.port), b"{}", {"Host": "evil.example"}, LOCAL_HTTP)
    assert receiver.seen[0].headers["host"] == f"localhost:{receiver.port}"


def test_connects_to_the_address_not_the_host(receiver: Receiver) -> None:
    target = local_target(receiver.port, host="unresolvable.invalid")
    reply = post_json(target, b"{}", {}, LOCAL_HTTP)
    assert reply.status == 200
    assert receiver.seen[0].headers["host"] == f"unresolvable.invalid:{receiver.port}"


def test_redirect_is_returned_not_followed(receiver: Receiver) -> None:
    reply = post_json(local_target(receiver.port, "/redirect"), b"{}", {}, LOCAL_HTTP)
    assert reply.status == 302
    assert reply.headers["location"] == f"http://127.0.0.1:{receiver.port}/other"
    assert [seen.path for seen in receiver.seen] == ["/redirect"]


def test_slow_receiver_times_out(receiver: Receiver) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as caught:
        post_json(local_target(receiver.port, "/slow"), b"{}", {}, LOCAL_HTTP)
    assert time.monotonic() - started < 0.95
    assert caught.value.retryable
    assert "timed out" in caught.value.message


def test_dripping_receiver_is_cut_off(receiver: Receiver) -> None:
    with pytest.raises(DeliveryFailed, match="too slowly"):
        post_json(local_target(receiver.port, "/drip"), b"{}", {}, LOCAL_HTTP)


def test_big_answer_is_capped(receiver: Receiver) -> None:
    policy = EgressPolicy(allow_http=True, allow_loopback=True, max_response_bytes=1000)
    reply = post_json(local_target(receiver.port, "/big"), b"{}", {}, policy)
    assert (reply.status, reply.body) == (200, b"x" * 1000)


def test_closed_port_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryFailed) as caught:
        post_json(local_target(port), b"{}", {}, LOCAL_HTTP)
    assert caught.value.code == "delivery_failed"


@pytest.mark.parametrize(
    ("target", "policy"),
    [
        (local_target(80), EgressPolicy(allow_http=True)),
        (local_target(80), EgressPolicy(allow_loopback=True)),
        (Target("http://x/", "http", "x", 80, "x.example"), EVERYTHING),
    ],
)
def test_post_json_rechecks_the_target(target: Target, policy: EgressPolicy) -> None:
    with pytest.raises(CallbackRefused):
        post_json(target, b"{}", {}, policy)


# --- TLS: SNI and certificate checked against the host, not the address ----------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )

    def cert(subject: str, key: Any, extensions: list[tuple[Any, bool]]) -> Any:
        builder = x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("test ca"))
        builder = builder.public_key(key.public_key()).serial_number(x509.random_serial_number())
        builder = builder.not_valid_before(now - datetime.timedelta(hours=1))
        builder = builder.not_valid_after(now + datetime.timedelta(hours=1))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(ca_key, hashes.SHA256())

    ca = cert("test ca", ca_key, [(x509.BasicConstraints(ca=True, path_length=None), True)])
    san = x509.SubjectAlternativeName([x509.DNSName("localhost")])
    leaf = cert("localhost", leaf_key, [(san, False)])
    folder = tmp_path_factory.mktemp("tls")
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    key_bytes = leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "leaf.key").write_bytes(key_bytes)
    return folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key"


@pytest.fixture
def tls_receiver(
    tls_files: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Receiver]:
    ca, leaf, key = tls_files
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf, key)
    yield from serve(lambda sock: context.wrap_socket(sock, server_side=True))


def tls_target(port: int, host: str) -> Target:
    return Target(f"https://{host}:{port}/ok", "https", host, port, "127.0.0.1")


def test_tls_verifies_against_the_host(tls_receiver: Receiver) -> None:
    reply = post_json(tls_target(tls_receiver.port, "localhost"), b"{}", {}, LOOPBACK)
    assert reply.status == 200
    assert tls_receiver.seen[0].headers["host"] == f"localhost:{tls_receiver.port}"


def test_tls_refuses_a_certificate_for_another_host(tls_receiver: Receiver) -> None:
    with pytest.raises(DeliveryFailed, match="certificate"):
        post_json(tls_target(tls_receiver.port, "other.example"), b"{}", {}, LOOPBACK)
    assert tls_receiver.seen == []
