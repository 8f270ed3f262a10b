"""The SSRF guard for outgoing webhook calls.

A callback URL is checked in three steps: its syntax (:func:`check_url_syntax`, no DNS), then
every address its host resolves to (:func:`resolve_target`, :func:`address_allowed`), and the
request itself (:func:`post_json`) connects to the one address that was checked, with the
``Host`` header, TLS SNI and certificate verification still naming the host as written. There
is no second DNS lookup between the check and the connection, so DNS rebinding cannot swap the
address, and redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

import httpx

from shared.errors import CallbackRefused, DeliveryFailed
from shared.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
# A dotted IPv4 in any notation inet_aton accepts: 1 to 4 parts, each decimal, octal or hex.
_IPV4_ISH = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_REASON_LIMIT = 200

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_PRIVATE = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv6Network("fc00::/7"),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


@dataclass(frozen=True)
class EgressPolicy:
    """What outgoing webhook calls may reach, and how long they may take."""

    allow_http: bool = False
    allow_loopback: bool = False
    allow_private: bool = False
    timeout_seconds: float = 10.0
    max_response_bytes: int = 64 * 1024


@dataclass(frozen=True)
class Target:
    """A checked callback: the URL as given and the one address it will connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


@dataclass(frozen=True)
class Reply:
    """The receiver's answer, body capped at the policy's ``max_response_bytes``."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _ParsedURL:
    scheme: str
    host: str
    port: int
    parts: SplitResult


# --- URL syntax ------------------------------------------------------------------------------


def check_url_syntax(url: str, policy: EgressPolicy) -> None:
    """Check a callback URL without touching the network.

    Args:
        url: The callback URL as the user gave it.
        policy: The egress policy (decides whether plain http is allowed).

    Raises:
        CallbackRefused: The URL is too long, has a wrong scheme, no host, credentials, a bad
            port or characters that must be percent-encoded.
    """
    _parse_url(url, policy)


def _parse_url(url: str, policy: EgressPolicy) -> _ParsedURL:
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"callback_url must be at most {MAX_URL_LENGTH} characters")
    if _UNSAFE_CHARS.search(url):
        raise CallbackRefused(
            "callback_url must not contain spaces, control characters or backslashes; "
            "percent-encode them"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise CallbackRefused(f"callback_url is not a valid URL: {exc}") from exc
    scheme = _checked_scheme(parts.scheme, policy)
    if "@" in parts.netloc:
        raise CallbackRefused("callback_url must not contain a user name or password (user@)")
    host = _checked_host(parts.hostname)
    return _ParsedURL(scheme, host, _checked_port(parts, scheme), parts)


def _checked_scheme(scheme: str, policy: EgressPolicy) -> str:
    allowed = ("http", "https") if policy.allow_http else ("https",)
    if scheme not in allowed:
        raise CallbackRefused(f"callback_url must use {' or '.join(allowed)}, not {scheme!r}")
    return scheme


def _checked_host(hostname: str | None) -> str:
    if not hostname:
        raise CallbackRefused("callback_url must name a host")
    if ":" in hostname:
        return _checked_ipv6_literal(hostname)
    try:
        ascii_host = hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise CallbackRefused(f"callback_url host {hostname!r} is not a valid host name") from exc
    ascii_host = ascii_host.lower()
    if not _HOSTNAME.fullmatch(ascii_host):
        raise CallbackRefused(f"callback_url host {hostname!r} is not a valid host name")
    return ascii_host


def _checked_ipv6_literal(hostname: str) -> str:
    if "%" in hostname:
        raise CallbackRefused("callback_url must not use an IPv6 zone identifier (%)")
    try:
        ipaddress.IPv6Address(hostname)
    except ValueError as exc:
        raise CallbackRefused(
            f"callback_url host [{hostname}] is not a valid IPv6 address"
        ) from exc
    return hostname


def _checked_port(parts: SplitResult, scheme: str) -> int:
    try:
        port = parts.port
    except ValueError as exc:
        raise CallbackRefused("callback_url port must be a number from 1 to 65535") from exc
    if port is None:
        return DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65535:
        raise CallbackRefused("callback_url port must be a number from 1 to 65535")
    return port


# --- resolution --------------------------------------------------------------------------------


def resolve_target(url: str, policy: EgressPolicy, resolver: Resolver | None = None) -> Target:
    """Check a callback URL and resolve it to the single address quire will connect to.

    Every address the host resolves to must be allowed; one refused address refuses the URL,
    since a later lookup could return it. Literal IPv4 hosts in odd notations (``2130706433``,
    ``0177.0.0.1``, ``0x7f.1``, ``127.1``) are normalised to dotted quads first.

    Args:
        url: The callback URL.
        policy: The egress policy.
        resolver: Maps ``(host, port)`` to IP strings; defaults to ``socket.getaddrinfo``.

    Returns:
        The target, connecting to the first resolved address.

    Raises:
        CallbackRefused: The URL's syntax is refused, the host does not resolve, or any
            resolved address is refused by the policy.
    """
    parsed = _parse_url(url, policy)
    addresses = _resolve(parsed.host, parsed.port, resolver or default_resolver)
    if not addresses:
        raise CallbackRefused(f"callback_url host {parsed.host!r} does not resolve to any address")
    for address in addresses:
        allowed, reason = address_allowed(address, policy)
        if not allowed:
            raise CallbackRefused(f"callback_url host {parsed.host!r} is refused: {reason}")
    return Target(url, parsed.scheme, parsed.host, parsed.port, addresses[0])


def default_resolver(host: str, port: int) -> list[str]:
    """Resolve a host with ``socket.getaddrinfo`` (IPv4 and IPv6) to IP strings.

    Args:
        host: A host name or IP literal.
        port: The port, passed on to ``getaddrinfo``.

    Returns:
        The addresses, in the order ``getaddrinfo`` gives them.

    Raises:
        OSError: The lookup failed (``socket.gaierror``).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _resolve(host: str, port: int, resolver: Resolver) -> list[str]:
    try:
        found = resolver(_normalise_ipv4(host), port)
    except UnicodeError as exc:
        raise CallbackRefused(f"callback_url host {host!r} is not a valid host name") from exc
    except OSError as exc:
        # DNS can fail for a while (or a name can appear later): retry, do not give up.
        raise DeliveryFailed(f"callback_url host {host!r} could not be resolved") from exc
    return list(dict.fromkeys(found))


def _normalise_ipv4(host: str) -> str:
    """Rewrite any IPv4 notation ``inet_aton`` accepts as a dotted quad; keep other hosts."""
    if not _IPV4_ISH.fullmatch(host):
        return host
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return host


# --- address policy ----------------------------------------------------------------------------


def address_allowed(address: str, policy: EgressPolicy) -> tuple[bool, str]:
    """Decide whether quire may connect to an IP address.

    IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are judged
    by that IPv4 address.

    Args:
        address: An IPv4 or IPv6 address (an IPv6 zone suffix is accepted).
        policy: The egress policy.

    Returns:
        ``(allowed, reason)``; the reason names the kind of address.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False, f"{address!r} is not an IP address"
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else []
    for label, inner in embedded:
        allowed, reason = _judge(inner, policy)
        if not allowed:
            return False, f"{label} of {inner}: {reason}"
    if embedded:
        return True, f"{embedded[0][0]} of a public address"
    return _judge(ip, policy)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    if ip.ipv4_mapped is not None:
        return [("IPv4-mapped IPv6 address", ip.ipv4_mapped)]
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return [("IPv4-compatible IPv6 address", low32)]
    if ip in _NAT64:
        return [("NAT64 address", low32)]
    if ip.sixtofour is not None:
        return [("6to4 address", ip.sixtofour)]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [("Teredo address", client), ("Teredo server", server)]
    return []


def _judge(ip: IPAddress, policy: EgressPolicy) -> tuple[bool, str]:
    refused = _always_refused(ip)
    if refused:
        return False, refused
    if ip.is_loopback:
        return _by_policy(policy.allow_loopback, "loopback address", "allow_loopback")
    if ip in _CGNAT:
        return _by_policy(
            policy.allow_private, "shared CGNAT address (100.64.0.0/10)", "allow_private"
        )
    if any(ip in network for network in _PRIVATE):
        return _by_policy(policy.allow_private, "private address (RFC 1918 / ULA)", "allow_private")
    if not ip.is_global:
        return False, "not a globally routable address"
    return True, "public address"


def _always_refused(ip: IPAddress) -> str:
    """The reason an address is refused whatever the policy, or an empty string."""
    if ip.is_link_local:
        return "link-local address (169.254.0.0/16, fe80::/10, incl. cloud metadata)"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_unspecified:
        return "unspecified address (0.0.0.0, ::)"
    if ip == _BROADCAST:
        return "broadcast address"
    if isinstance(ip, ipaddress.IPv6Address) and (ip.is_site_local or ip in _NAT64_LOCAL):
        return "site-local or local-use IPv6 address"
    if ip.is_reserved and not ip.is_loopback:  # ::1 lies in the reserved ::/8
        return "reserved address"
    return ""


def _by_policy(allowed: bool, kind: str, setting: str) -> tuple[bool, str]:
    if allowed:
        return True, f"{kind}, allowed by {setting}"
    return False, f"{kind}, not allowed"


# --- delivery ----------------------------------------------------------------------------------


def post_json(target: Target, body: bytes, headers: dict[str, str], policy: EgressPolicy) -> Reply:
    """POST a body to a checked target, connecting to ``target.address`` only.

    The ``Host`` header, TLS SNI and certificate verification name ``target.host``; redirects
    are returned, never followed; at most ``policy.max_response_bytes`` of the answer is read.

    Args:
        target: A target from :func:`resolve_target`.
        body: The request body (JSON, already encoded).
        headers: Extra request headers; ``Host`` is always set from the target.
        policy: The egress policy; the target's scheme and address are checked again.

    Returns:
        The receiver's status, headers (lowercased names) and capped body.

    Raises:
        CallbackRefused: The target's scheme or address is refused by the policy.
        DeliveryFailed: Connecting, TLS, sending or reading failed or timed out.
    """
    _recheck(target, policy)
    extensions: dict[str, Any] = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with _client(policy) as client:
            request = client.build_request(
                "POST",
                _connect_url(target),
                content=body,
                headers=_request_headers(target, headers),
                extensions=extensions,
            )
            return _send(client, request, policy)
    except httpx.TimeoutException as exc:
        raise DeliveryFailed(_short(f"the receiver timed out ({type(exc).__name__})")) from exc
    except httpx.TransportError as exc:
        raise DeliveryFailed(
            _short(f"could not deliver: {str(exc) or type(exc).__name__}")
        ) from exc


def _recheck(target: Target, policy: EgressPolicy) -> None:
    _checked_scheme(target.scheme, policy)
    allowed, reason = address_allowed(target.address, policy)
    if not allowed:
        raise CallbackRefused(f"callback address is refused: {reason}")


def _client(policy: EgressPolicy) -> httpx.Client:
    # An explicit transport and trust_env=False: no proxy from the environment, no retries.
    # The transport still honours SSL_CERT_FILE / SSL_CERT_DIR for a private CA.
    return httpx.Client(
        transport=httpx.HTTPTransport(retries=0),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(policy.timeout_seconds),
    )


def _connect_url(target: Target) -> httpx.URL:
    parts = urlsplit(target.url)
    raw_path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        raw_path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    host = target.address.split("%", 1)[0]
    return httpx.URL(scheme=target.scheme, host=host, port=target.port, raw_path=raw_path.encode())


def _request_headers(target: Target, headers: dict[str, str]) -> httpx.Headers:
    result = httpx.Headers({"content-type": "application/json", "accept-encoding": "identity"})
    for name, value in headers.items():
        result[name] = value
    result["host"] = _host_header(target)
    return result


def _host_header(target: Target) -> str:
    """The host as written, with the port unless it is the scheme's default."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    if target.port == DEFAULT_PORTS.get(target.scheme):
        return host
    return f"{host}:{target.port}"


def _send(client: httpx.Client, request: httpx.Request, policy: EgressPolicy) -> Reply:
    response = client.send(request, stream=True)
    try:
        body = _read_capped(response, policy)
    finally:
        response.close()
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Reply(response.status_code, headers, body)


def _read_capped(response: httpx.Response, policy: EgressPolicy) -> bytes:
    """Read at most ``max_response_bytes`` raw bytes, within ``timeout_seconds`` in all."""
    limit = policy.max_response_bytes
    deadline = time.monotonic() + policy.timeout_seconds
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit:
            break
        if time.monotonic() > deadline:
            raise DeliveryFailed("the receiver sent its answer too slowly")
    return b"".join(chunks)


def _short(reason: str) -> str:
    return reason if len(reason) <= _REASON_LIMIT else reason[: _REASON_LIMIT - 3] + "..."


def policy_from_settings(settings: Settings) -> EgressPolicy:
    """The operator's egress policy for webhooks."""
    return EgressPolicy(
        allow_http=settings.webhook_allow_http,
        allow_loopback=settings.webhook_allow_loopback,
        allow_private=settings.webhook_allow_private,
        timeout_seconds=settings.webhook_timeout_seconds,
    )
