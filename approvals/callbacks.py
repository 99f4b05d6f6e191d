"""Decision callbacks to integrations: the body, the URL rules, the retry back-off and the signed POST.

No ORM here: ``approvals.services.action_callback_deliver`` gathers the data and records the outcome.
The signature scheme is ``agentops_client.signing`` (shared with the client that verifies it).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from agentops_client.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

# Statuses an integration is told about: the decision is made (or the action is withdrawn).
CALLBACK_STATUSES = frozenset({"approved", "rejected", "expired", "cancelled"})
EVENT = "action.decided"


class CallbackFailed(Exception):
    """The receiver did not acknowledge the callback with a 2xx answer."""


def callback_url_check(url: str, *, allowed_hosts: Sequence[str] = ()) -> str:
    """Return ``url`` if callbacks may be sent to it, else raise ``ValueError`` saying why.

    Only http(s) URLs with a host; when ``allowed_hosts`` is set, the host must be one of them or a
    subdomain of one (a guard against using callbacks to reach internal services).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must be an http or https URL, got scheme {parts.scheme or 'none'!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("must name a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; the signature authenticates the callback")
    allowed = [h.strip().lower().lstrip(".") for h in allowed_hosts if h.strip()]
    if allowed and not any(host == h or host.endswith("." + h) for h in allowed):
        raise ValueError(f"host {host!r} is not in AGENTOPS_CALLBACK_HOSTS")
    return url


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Following a redirect would resend to a URL nobody registered; a 3xx counts as a failure.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def callback_post(*, url: str, body: bytes, secret: str, timeout: float, now: float | None = None) -> int:
    """POST ``body`` to ``url`` signed with ``secret``; return the 2xx status or raise ``CallbackFailed``."""
    callback_url_check(url)
    timestamp = int(time.time() if now is None else now)
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "AgentOps-Callback/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(body=body, timestamp=timestamp, secret=secret),
            "X-AgentOps-Event": EVENT,
        },
    )
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise CallbackFailed(f"HTTP {exc.code} from the receiver") from None
    except OSError as exc:  # URLError, timeouts, refused or reset connections
        reason = getattr(exc, "reason", exc)
        raise CallbackFailed(f"no answer from the receiver: {reason}") from None
    if not 200 <= status < 300:
        raise CallbackFailed(f"HTTP {status} from the receiver")
    return status
