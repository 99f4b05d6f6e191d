"""A small typed client for the AgentOps approval API. Standard library only.

An agent proposes a tool call (``propose``), then polls until a human or the policy decides
(``wait``), or receives a signed callback. ``require_approval`` wraps a function so that calling it
runs this round trip first and then runs the function with the approved, possibly edited, arguments.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import inspect
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

# Statuses as the server names them.
OPEN_STATUSES = frozenset({"proposed", "pending_approval"})
APPROVED_STATUSES = frozenset({"approved", "executing", "executed", "failed"})
REFUSED_STATUSES = frozenset({"rejected", "expired", "cancelled"})

ACTIONS_PATH = "/api/v1/actions/"


class AgentOpsError(Exception):
    """The server refused a request or could not be reached. ``status`` is the HTTP status (None
    when there was no answer); ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "", body: Any = None) -> None:
        self.status = status
        self.code = code
        self.body = body
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class ProposalInvalid(AgentOpsError):
    """The proposal does not fit the kind's schema (or another field is wrong); ``field`` names it,
    e.g. ``payload.subject``."""

    def __init__(
        self, field: str, error: str, *, status: int = 400, code: str = "", body: Any = None
    ) -> None:
        self.field = field
        self.error = error
        super().__init__(f"{field}: {error}" if field else error, status=status, code=code, body=body)


@dataclass(frozen=True)
class ActionResult:
    """A proposed action as the server reports it. ``payload`` is the current payload: after an
    edit-then-approve it holds the approver's values. ``created`` is False when the proposal matched
    an earlier one with the same idempotency key."""

    id: int
    kind: str
    status: str
    payload: dict[str, Any]
    required_approvals: int = 1
    policy_reasons: list[str] = field(default_factory=list)
    approved_payload_sha256: str = ""
    payload_sha256: str = ""  # of ``payload`` as read: what ``approve`` approves
    decided_at: str | None = None
    url: str = ""
    decisions: list[dict[str, Any]] = field(default_factory=list)
    created: bool = True
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, created: bool = True) -> ActionResult:
        return cls(
            id=int(data["id"]),
            kind=str(data["kind"]),
            status=str(data["status"]),
            payload=dict(data.get("payload") or {}),
            required_approvals=int(data.get("required_approvals") or 1),
            policy_reasons=list(data.get("policy_reasons") or []),
            approved_payload_sha256=str(data.get("approved_payload_sha256") or ""),
            payload_sha256=str(data.get("payload_sha256") or ""),
            decided_at=data.get("decided_at"),
            url=str(data.get("url") or ""),
            decisions=list(data.get("decisions") or []),
            created=created,
            raw=dict(data),
        )

    @property
    def pending(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def approved(self) -> bool:
        return self.status in APPROVED_STATUSES


class ApprovalRejected(AgentOpsError):
    """The action was rejected (by a person or a blocking policy), expired or was cancelled."""

    def __init__(self, result: ActionResult) -> None:
        self.result = result
        refusal = next((d for d in result.decisions if d.get("outcome") == "reject"), {})
        self.reason_code = str(refusal.get("reason_code") or "")
        self.comment = str(refusal.get("comment") or "")
        detail = f": {self.reason_code}" if self.reason_code else ""
        detail += f" ({self.comment})" if self.comment else ""
        super().__init__(f"action #{result.id} was {result.status}{detail}", code=result.status)


class PayloadChanged(AgentOpsError):
    """The approval was refused because the payload changed since it was read (another approver's
    edit). ``changes`` is field → {"from", "to"}; ``payload_sha256`` the new content's hash. Show
    the changes to whoever approves, read the action again (``get``), and approve that."""

    def __init__(self, action_id: int, data: Mapping[str, Any]) -> None:
        self.action_id = action_id
        self.payload_sha256 = str(data.get("payload_sha256") or "")
        self.changes = data.get("changes")
        super().__init__(
            f"action #{action_id}: {data.get('detail') or 'the payload changed'}",
            status=409,
            code="payload_changed",
            body=dict(data),
        )


class ApprovalTimeout(AgentOpsError):
    """No decision within the time the caller was willing to wait; the action may still be decided later."""

    def __init__(self, action_id: int, status: str, waited: float) -> None:
        self.action_id = action_id
        self.last_status = status
        super().__init__(f"action #{action_id} still {status} after {waited:.0f}s", code="timeout")


def idempotency_key_for(
    *, kind: str, payload: Mapping[str, Any], target: Mapping[str, Any] | None = None
) -> str:
    """A key derived from the content, so retrying the same proposal never creates a second one.
    Pass your own key to propose identical content again on purpose."""
    canonical = json.dumps(
        {"kind": kind, "payload": payload, "target": target or {}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "client:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET and drop the credentials' intent; report it instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class AgentOpsClient:
    """Talks to one AgentOps server with an API key (``api_key="ak_…"``, sent as a bearer token), or
    with HTTP basic authentication (``username`` and ``password``).

    ``base_url`` is the server's root (``https://agentops.example.com``). To propose, the key needs the
    ``submit_actions`` scope, and its user (or the basic-auth user) the
    ``approvals.add_proposedaction`` permission.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url: must be an http(s) URL, got {base_url!r}")
        if api_key:
            authorization = f"Bearer {api_key}"
        elif username is not None and password is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
            authorization = f"Basic {token}"
        else:
            raise ValueError("credentials: give api_key, or username and password")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {
            "Authorization": authorization,
            "Accept": "application/json",
            "User-Agent": "agentops-client/1",
        }
        self._opener = urllib.request.build_opener(_NoRedirect)

    def propose(
        self,
        *,
        kind: str,
        payload: Mapping[str, Any],
        rationale: str,
        confidence: float,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
        risk_level: str | None = None,
        domain: str | None = None,
        lead: int | Mapping[str, str] | None = None,
        ticket: int | Mapping[str, str] | None = None,
        target_system: str | None = None,
    ) -> ActionResult:
        """Submit a proposed tool call. Raises ``ProposalInvalid`` naming the field when the server
        refuses it. Safe to retry: the same content (or key) answers with the existing action."""
        optional = {
            "callback_url": callback_url,
            "risk_level": risk_level,
            "domain": domain,
            "lead": lead,
            "ticket": ticket,
            "target_system": target_system,
        }
        target = {k: optional[k] for k in ("lead", "ticket", "target_system") if optional[k] is not None}
        body = {
            "kind": kind,
            "payload": dict(payload),
            "rationale": rationale,
            "confidence": confidence,
            "idempotency_key": idempotency_key
            or idempotency_key_for(kind=kind, payload=payload, target=target),
            **{k: v for k, v in optional.items() if v is not None},
        }
        status, data = self._request("POST", ACTIONS_PATH, body)
        if status == 400:
            raise ProposalInvalid(
                str(data.get("field", "")),
                str(data.get("detail", data)),
                code=str(data.get("code", "")),
                body=data,
            )
        if status not in (200, 201):
            raise self._error(status, data)
        return ActionResult.from_json(data, created=status == 201)

    def get(self, action_id: int) -> ActionResult:
        """The action's current state."""
        status, data = self._request("GET", f"{ACTIONS_PATH}{int(action_id)}/")
        if status != 200:
            raise self._error(status, data)
        return ActionResult.from_json(data, created=False)

    def approve(
        self, action: ActionResult, *, edits: Mapping[str, Any] | None = None, comment: str = ""
    ) -> ActionResult:
        """Approve ``action`` as it was read (``get``), optionally with ``edits``: the server approves
        only the payload this result holds, by its ``payload_sha256``. Raises ``PayloadChanged`` if
        someone edited it since. Needs a key with ``decide_actions`` of a user who may decide it."""
        if not action.payload_sha256:
            raise ValueError("action: read it with get() first; its payload_sha256 is what is approved")
        body: dict[str, Any] = {"payload_sha256": action.payload_sha256, "comment": comment}
        if edits:
            body["edits"] = dict(edits)
        status, data = self._request("POST", f"{ACTIONS_PATH}{int(action.id)}/approve/", body)
        if status == 409 and data.get("code") == "payload_changed":
            raise PayloadChanged(action.id, data)
        if status != 200:
            raise self._error(status, data)
        return ActionResult.from_json(data, created=False)

    def wait(self, action_id: int, *, timeout: float = 600.0, poll_interval: float = 2.0) -> ActionResult:
        """Poll until the action is decided. Returns it once approved; raises ``ApprovalRejected`` if
        it was rejected, expired or cancelled, ``ApprovalTimeout`` if still undecided after
        ``timeout`` seconds. Transient failures (no answer, 429, 5xx) are retried until then."""
        started = time.monotonic()
        last_status = "unknown"
        while True:
            try:
                result = self.get(action_id)
            except AgentOpsError as exc:
                if not exc.retryable:
                    raise
            else:
                last_status = result.status
                if result.approved:
                    return result
                if result.status in REFUSED_STATUSES:
                    raise ApprovalRejected(result)
            waited = time.monotonic() - started
            if waited >= timeout:
                raise ApprovalTimeout(action_id, last_status, waited)
            time.sleep(max(0.0, min(poll_interval, timeout - waited)))

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)  # noqa: S310 - scheme checked in __init__
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, _json(exc.read())
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AgentOpsError(f"{method} {path}: no answer from {self.base_url} ({reason})") from exc

    @staticmethod
    def _error(status: int, data: Mapping[str, Any]) -> AgentOpsError:
        detail = data.get("detail") or data
        return AgentOpsError(
            f"HTTP {status}: {detail}", status=status, code=str(data.get("code", "")), body=data
        )


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {"detail": raw[:200].decode("utf-8", "replace")}
    return data if isinstance(data, dict) else {"detail": data}


P = ParamSpec("P")
R = TypeVar("R")


def require_approval(
    client: AgentOpsClient,
    *,
    kind: str,
    rationale: str | Callable[[dict[str, Any]], str],
    confidence: float,
    timeout: float = 600.0,
    poll_interval: float = 2.0,
    **propose_options: Any,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function whose keyword arguments are the payload of ``kind``.

    Calling the decorated function proposes the arguments it was given (defaults are left to the
    function), waits for the decision, then calls the function with the approved payload as
    keyword arguments, so an approver's edits are what runs. Raises ``ApprovalRejected``,
    ``ApprovalTimeout`` or ``ProposalInvalid`` instead of calling it. ``rationale`` may be a
    function of the payload. Other options (``risk_level``, ``lead``, ``ticket``, ``callback_url``,
    ``idempotency_key`` …) are passed to ``propose``.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(function)
        for parameter in signature.parameters.values():
            if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.VAR_POSITIONAL):
                raise TypeError(
                    f"{function.__name__}: '{parameter.name}' cannot be named in a payload; "
                    "use parameters that can be passed by keyword"
                )

        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            payload: dict[str, Any] = {}
            for name, value in bound.arguments.items():
                if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                    payload.update(value)
                else:
                    payload[name] = value
            why = rationale(payload) if callable(rationale) else rationale
            proposal = client.propose(
                kind=kind, payload=payload, rationale=why, confidence=confidence, **propose_options
            )
            decided = client.wait(proposal.id, timeout=timeout, poll_interval=poll_interval)
            return function(**decided.payload)  # type: ignore[call-arg]

        return wrapper

    return decorate
