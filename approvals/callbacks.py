"""Decision callbacks to integrations: the body, the URL rules, the retry back-off and the signed POST.

No ORM here: ``approvals.services.action_callback_deliver`` gathers the data and records the outcome.
The signature scheme is ``agentops_client.signing`` (shared with the client that verifies it).

A callback is a request the server makes where an agent told it to, so the URL rules keep it out
of the server's own network (SSRF): the host is resolved and every address it resolves to must be
a public one (no loopback, private, link-local, shared, multicast, reserved or unspecified address,
nor one of those inside an IPv4-mapped, NAT64 or 6to4 IPv6 address); numbers that only some
parsers read as addresses (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``) and non-ASCII
names are refused outright. Only a host named exactly in the allow-list may be local (a
developer's receiver on 127.0.0.1). The POST then connects to the very address that was checked,
so a name that resolves elsewhere a moment later (DNS rebinding) is never followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentops_client.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

# Statuses an integration is told about: the decision is made (or the action is withdrawn).
CALLBACK_STATUSES = frozenset({"approved", "rejected", "expired", "cancelled"})
EVENT = "action.decided"
# What the agent reads back about a failed delivery, whatever the reason: the reason (refused
# address, closed port, timeout, error answer) goes to the server log only, so the callback cannot
# be used to scan the network the server sits in.
FAILED = "callback_failed"

#: ``resolve(host, port)``: the addresses ``host`` resolves to (the system resolver by default).
Resolver = Callable[[str, int], Sequence[str]]

_NOT_PUBLIC = "is not an allowed public address"
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")  # what inet_aton reads as part of an address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class CallbackFailed(Exception):
    """The callback was not delivered: refused destination, no answer, or not a 2xx answer.

    The message is for the server log; integrations are only ever shown ``FAILED``.
    """


class CallbackUrlRefused(ValueError):
    """A callback URL the rules refuse; the message says why without revealing what the host's
    addresses are (a private address and a name that does not resolve read the same)."""


@dataclass(frozen=True)
class CallbackTarget:
    """A checked callback URL and the addresses it may be sent to (connect to one of these only)."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (raises ``OSError`` when none)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_is_public(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is a globally routable unicast address, looking inside IPv6 addresses
    that carry an IPv4 one (mapped, NAT64, 6to4, Teredo)."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        if ip.ipv4_mapped is not None:
            return address_is_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return address_is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in _NAT64_LOCAL or ip.teredo is not None:
            return False
        if ip.sixtofour is not None:
            return address_is_public(ip.sixtofour)
    return bool(ip.is_global) and not ip.is_multicast


def _canonical_host(raw: str) -> str:
    """The host in the one form it is compared and resolved in, or ``CallbackUrlRefused``."""
    host = raw.lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]  # "localhost." is "localhost"
    if not host:
        raise CallbackUrlRefused("must name a host")
    if not host.isascii():
        raise CallbackUrlRefused("the host must be ASCII (write an international name in its xn-- form)")
    if ":" in host:  # an IPv6 literal ([...] in the URL)
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            raise CallbackUrlRefused("the host is not a valid IPv6 address") from None
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    labels = host.split(".")
    if all(_NUMERIC_LABEL.match(label) for label in labels):
        # 2130706433, 0x7f.1, 0177.0.0.1, 127.1: addresses to some parsers, names to others.
        raise CallbackUrlRefused(
            "write an IPv4 address as four decimal numbers (a.b.c.d), or use a host name"
        )
    if not all(_DNS_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise CallbackUrlRefused("the host is not a valid host name")
    return host


def _allow_list(allowed_hosts: Sequence[str]) -> list[str]:
    entries = []
    for entry in allowed_hosts:
        name = entry.strip().lower().lstrip(".")
        if not name:
            continue
        try:
            entries.append(str(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            entries.append(name.rstrip("."))
    return entries


def callback_url_check(
    url: str,
    *,
    allowed_hosts: Sequence[str] = (),
    require_https: bool = False,
    resolve: Resolver | None = None,
) -> CallbackTarget:
    """The target of ``url`` if callbacks may be sent there, else ``CallbackUrlRefused`` saying why.

    An http(s) URL (https only with ``require_https``) without credentials, whose host resolves
    only to public addresses. With ``allowed_hosts`` the host must also be one of them or a
    subdomain of one; a host named *exactly* in the list may be local (a developer's receiver on
    127.0.0.1); a subdomain still has to resolve to public addresses.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackUrlRefused(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise CallbackUrlRefused(f"must be an http or https URL, got scheme {parts.scheme or 'none'!r}")
    if require_https and parts.scheme != "https":
        raise CallbackUrlRefused("must be an https URL on this server")
    if "@" in parts.netloc or parts.username or parts.password:
        raise CallbackUrlRefused("must not carry credentials; the signature authenticates the callback")
    if "\\" in url or any(ord(c) < 33 for c in url):
        raise CallbackUrlRefused("must not contain backslashes, spaces or control characters")
    host = _canonical_host(parts.hostname or "")
    allowed = _allow_list(allowed_hosts)
    named = host in allowed
    if allowed and not named and not any(host.endswith("." + h) for h in allowed):
        raise CallbackUrlRefused(f"host {host!r} is not in AGENTOPS_CALLBACK_HOSTS")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal: str | None = str(ipaddress.ip_address(host))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = list((resolve or system_resolver)(host, port))
        except (OSError, UnicodeError):
            addresses = []
    clean = []
    for address in addresses:
        try:
            clean.append(ipaddress.ip_address(str(address).split("%", 1)[0]))
        except ValueError:
            clean = []
            break
    if not clean or (not named and not all(address_is_public(a) for a in clean)):
        raise CallbackUrlRefused(
            f"host {host!r} {_NOT_PUBLIC} (it must resolve to public addresses only; "
            "a local receiver must be named in AGENTOPS_CALLBACK_HOSTS)"
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CallbackTarget(
        url=url,
        scheme=parts.scheme,
        host=host,
        port=port,
        path=path,
        addresses=tuple(str(a) for a in clean),
    )


def retry_delay(attempt: int, *, base: float = 30.0, cap: float = 3600.0) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): 30 s, 1 min, 2 min, …
    doubling up to an hour."""
    if attempt < 1:
        raise ValueError("attempt: counts from 1")
    return float(min(cap, base * 2 ** (attempt - 1)))


def callback_body(
    *,
    action_id: int,
    kind: str,
    status: str,
    decided_at: str | None,
    approved_payload_sha256: str,
    payload: Mapping[str, Any],
    decisions: Sequence[Mapping[str, Any]],
    correlation_id: str,
    idempotency_key: str,
) -> bytes:
    """The JSON body of a callback, compact and with sorted keys (the exact bytes that are signed)."""
    document = {
        "event": EVENT,
        "action_id": action_id,
        "kind": kind,
        "status": status,
        "decided_at": decided_at,
        "approved_payload_sha256": approved_payload_sha256,
        "payload": dict(payload),
        "decisions": [dict(d) for d in decisions],
        "correlation_id": correlation_id,
        "idempotency_key": idempotency_key,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def _connection(target: CallbackTarget, address: str, timeout: float) -> http.client.HTTPConnection:
    """A connection to ``target`` that opens its socket to ``address`` (the checked one) whatever
    the name resolves to now; TLS still verifies the certificate for the host name (SNI)."""

    def pinned(_: tuple[str, int], timeout: float = timeout, source: Any = None) -> socket.socket:
        return socket.create_connection((address, target.port), timeout, source)

    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(target.host, target.port, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    connection._create_connection = pinned  # type: ignore[attr-defined]
    return connection


def callback_post(
    *,
    url: str,
    body: bytes,
    secret: str,
    timeout: float,
    allowed_hosts: Sequence[str] = (),
    require_https: bool = False,
    resolve: Resolver | None = None,
    now: float | None = None,
) -> int:
    """POST ``body`` to ``url`` signed with ``secret``; return the 2xx status or raise ``CallbackFailed``.

    The URL is checked again here, with the same allow-list, right before sending (its name may
    resolve elsewhere than when it was proposed), and the request goes to the address that check
    approved. Redirects are not followed: a 3xx counts as a failure.
    """
    try:
        target = callback_url_check(
            url, allowed_hosts=allowed_hosts, require_https=require_https, resolve=resolve
        )
    except CallbackUrlRefused as exc:
        raise CallbackFailed(f"refused destination: {exc}") from None
    timestamp = int(time.time() if now is None else now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "AgentOps-Callback/1",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(body=body, timestamp=timestamp, secret=secret),
        "X-AgentOps-Event": EVENT,
    }
    connection = _connection(target, target.addresses[0], timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        status = int(response.status)
        response.read(65536)
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, TLS, bad answer
        raise CallbackFailed(f"no answer from the receiver at {target.addresses[0]}: {exc}") from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise CallbackFailed(f"HTTP {status} from the receiver")
    return status
