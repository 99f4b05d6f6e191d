"""A local emulator of the Slack Web API methods AgentOps uses, and of Slack's interactivity requests.

Served like the CRM sandboxes (``connectors.sandbox.server``), so ``slack_sdk.WebClient`` talks to it
over HTTP with ``base_url=<sandbox url>/api/``. It answers as Slack does — HTTP 200 with
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}`` — for:

- ``chat.postMessage`` (a user id as the channel opens a direct message, ``D…``), ``chat.update``,
  ``chat.postEphemeral``;
- ``views.open`` (only with a trigger id it issued, within Slack's 3 seconds… here 30);
- ``users.info`` and ``users.lookupByEmail`` (users added with ``add_user``).

It records what it received (``calls``, ``messages``, ``views``, ``ephemerals``) for tests, and
plays the person: ``click`` sends a signed ``block_actions`` request for a button of a posted card,
``submit`` a signed ``view_submission`` of an opened modal, both to our interactivity endpoint and
signed as Slack signs them (``v0=`` HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the signing secret).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from connectors.sandbox.server import Request, Response, SandboxApp, SandboxError, route

TEAM_ID = "T0SANDBOX"
TRIGGER_SECONDS = 30


@dataclass
class Answer:
    """Our endpoint's answer to an interactivity request."""

    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def slack_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackSandbox(SandboxApp):
    name = "slack"
    default_port = 8820

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox",  # noqa: S107 - the emulator's own made-up credentials
        signing_secret: str = "sandbox-signing-secret",  # noqa: S107
    ) -> None:
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        super().__init__()

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.users: dict[str, dict[str, Any]] = {}
            self.calls: list[tuple[str, dict[str, Any]]] = []
            self.messages: dict[tuple[str, str], dict[str, Any]] = {}
            self.views: dict[str, dict[str, Any]] = {}
            self.ephemerals: list[dict[str, Any]] = []
            self.triggers: dict[str, float] = {}
            self._seq = itertools.count(1)

    # Slack's shapes -------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, code: str) -> Any:
        return {"ok": False, "error": code or "unknown_error"}

    def authenticate(self, request: Request) -> None:
        if request.headers.get("Authorization", "") != f"Bearer {self.bot_token}":
            raise SandboxError(200, "invalid_auth", code="invalid_auth")

    def _args(self, request: Request, method: str) -> dict[str, Any]:
        """The call's arguments, from a JSON or form body and the query string; recorded."""
        args: dict[str, Any] = {k: v[0] for k, v in request.query.items()}
        if request.body:
            if "json" in (request.headers.get("Content-Type") or ""):
                args.update(request.json())
            else:
                args.update({k: v[0] for k, v in parse_qs(request.body.decode()).items()})
        for key in ("blocks", "view"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        with self.lock:
            self.calls.append((method, args))
        return args

    def _ok(self, **data: Any) -> Response:
        return self.json({"ok": True, **data})

    @staticmethod
    def _require(args: dict[str, Any], *names: str) -> None:
        for name in names:
            if not args.get(name):
                raise SandboxError(200, f"{name} missing", code="invalid_arguments")

    # Web API methods ------------------------------------------------------------------------------
    @route("POST", r"/api/chat\.postMessage")
    def chat_post_message(self, request: Request) -> Response:
        args = self._args(request, "chat.postMessage")
        self._require(args, "channel")
        channel = str(args["channel"])
        with self.lock:
            if channel.startswith("U"):
                if channel not in self.users:
                    raise SandboxError(200, "channel_not_found", code="channel_not_found")
                channel = "D" + channel[1:]
            ts = f"{int(time.time())}.{next(self._seq):06d}"
            message = {
                "channel": channel,
                "ts": ts,
                "text": args.get("text", ""),
                "blocks": args.get("blocks", []),
            }
            self.messages[(channel, ts)] = message
            self.effect("post", "message")
        return self._ok(channel=channel, ts=ts, message=message)

    @route("POST", r"/api/chat\.update")
    def chat_update(self, request: Request) -> Response:
        args = self._args(request, "chat.update")
        self._require(args, "channel", "ts")
        key = (str(args["channel"]), str(args["ts"]))
        with self.lock:
            message = self.messages.get(key)
            if message is None:
                raise SandboxError(200, "message_not_found", code="message_not_found")
            message.update(
                text=args.get("text", message["text"]), blocks=args.get("blocks", message["blocks"])
            )
            message["updates"] = message.get("updates", 0) + 1
            self.effect("update", "message")
        return self._ok(channel=key[0], ts=key[1], message=message)

    @route("POST", r"/api/chat\.postEphemeral")
    def chat_post_ephemeral(self, request: Request) -> Response:
        args = self._args(request, "chat.postEphemeral")
        self._require(args, "channel", "user")
        with self.lock:
            self.ephemerals.append(
                {"channel": args["channel"], "user": args["user"], "text": args.get("text", "")}
            )
        return self._ok(message_ts=f"{int(time.time())}.{next(self._seq):06d}")

    @route("POST", r"/api/views\.open")
    def views_open(self, request: Request) -> Response:
        args = self._args(request, "views.open")
        self._require(args, "trigger_id", "view")
        with self.lock:
            issued = self.triggers.pop(str(args["trigger_id"]), None)
            if issued is None:
                raise SandboxError(200, "invalid_trigger_id", code="invalid_trigger_id")
            if time.time() - issued > TRIGGER_SECONDS:
                raise SandboxError(200, "expired_trigger_id", code="expired_trigger_id")
            view_id = f"V{next(self._seq):08d}"
            view = {**args["view"], "id": view_id}
            self.views[view_id] = view
        return self._ok(view=view)

    @route("GET", r"/api/users\.info")
    @route("POST", r"/api/users\.info")
    def users_info(self, request: Request) -> Response:
        args = self._args(request, "users.info")
        with self.lock:
            user = self.users.get(str(args.get("user", "")))
        if user is None:
            raise SandboxError(200, "user_not_found", code="user_not_found")
        return self._ok(user=user)

    @route("GET", r"/api/users\.lookupByEmail")
    @route("POST", r"/api/users\.lookupByEmail")
    def users_lookup_by_email(self, request: Request) -> Response:
        args = self._args(request, "users.lookupByEmail")
        email = str(args.get("email", "")).lower()
        with self.lock:
            user = next(
                (u for u in self.users.values() if u["profile"].get("email", "").lower() == email), None
            )
        if user is None:
            raise SandboxError(200, "users_not_found", code="users_not_found")
        return self._ok(user=user)

    # The workspace and its people -----------------------------------------------------------------
    def add_user(self, user_id: str, *, email: str, name: str = "") -> dict[str, Any]:
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name or user_id.lower(),
            "profile": {"email": email},
        }
        with self.lock:
            self.users[user_id] = user
        return user

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [args for name, args in self.calls if name == method]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.messages[(channel, ts)]))

    def messages_in(self, channel: str) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(json.dumps(m)) for (c, _), m in sorted(self.messages.items()) if c == channel]

    def ephemerals_for(self, user_id: str) -> list[str]:
        with self.lock:
            return [e["text"] for e in self.ephemerals if e["user"] == user_id]

    def interact(
        self, url: str, payload: dict[str, Any], *, timestamp: int | None = None, secret: str | None = None
    ) -> Answer:
        """POST ``payload`` to our interactivity endpoint as Slack does: form-encoded, signed."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": slack_signature(
                secret=self.signing_secret if secret is None else secret, timestamp=stamp, body=body
            ),
        }
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - a local test server
                return Answer(int(answer.status), answer.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read())

    def _trigger(self) -> str:
        trigger = f"{next(self._seq)}.{int(time.time())}.sandbox"
        with self.lock:
            self.triggers[trigger] = time.time()
        return trigger

    @staticmethod
    def _button(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, str] | None:
        for block in blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == action_id:
                    return block.get("block_id", ""), element.get("value", "")
        return None

    def click(
        self,
        url: str,
        *,
        user_id: str,
        channel: str,
        ts: str,
        action_id: str,
        blocks: list[dict[str, Any]] | None = None,
        **signing: Any,
    ) -> Answer:
        """A person presses a button of the card at (channel, ts): as it is now, or as ``blocks``
        showed it (a stale card someone still has on screen)."""
        shown = blocks if blocks is not None else self.message(channel, ts)["blocks"]
        button = self._button(shown, action_id)
        if button is None:
            raise AssertionError(f"the card shows no {action_id!r} button")
        block_id, value = button
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "team_id": TEAM_ID},
            "team": {"id": TEAM_ID},
            "api_app_id": "A0SANDBOX",
            "trigger_id": self._trigger(),
            "container": {"type": "message", "channel_id": channel, "message_ts": ts},
            "channel": {"id": channel},
            "message": {"ts": ts, "blocks": shown},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        }
        return self.interact(url, payload, **signing)

    def opened_view(self, user_id: str | None = None) -> dict[str, Any]:
        """The last modal opened."""
        with self.lock:
            if not self.views:
                raise AssertionError("no modal was opened")
            return json.loads(json.dumps(list(self.views.values())[-1]))

    def submit(
        self, url: str, *, user_id: str, view_id: str, values: dict[str, str], **signing: Any
    ) -> Answer:
        """A person submits the modal ``view_id`` with ``values`` by block id (a select's option value,
        or an input's text); inputs not given keep their initial value."""
        with self.lock:
            view = json.loads(json.dumps(self.views[view_id]))
        state: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            block_id = block["block_id"]
            given = values.get(block_id, element.get("initial_value"))
            if element["type"] == "static_select":
                state[block_id] = {
                    "value": {"type": "static_select", "selected_option": {"value": given} if given else None}
                }
            else:
                state[block_id] = {"value": {"type": "plain_text_input", "value": given}}
        payload = {
            "type": "view_submission",
            "user": {"id": user_id, "team_id": TEAM_ID},
            "team": {"id": TEAM_ID},
            "api_app_id": "A0SANDBOX",
            "view": {**view, "state": {"values": state}},
        }
        return self.interact(url, payload, **signing)
