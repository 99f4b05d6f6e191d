"""Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat): POST ``{"text": …}`` as JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from notifications.messages import Message
from notifications.transports.base import Transport, TransportError

TIMEOUT_SECONDS = 5


class SlackTransport(Transport):
    """``target`` is the webhook URL; only http(s) URLs are used (never file:, ftp:, …)."""

    def send(self, message: Message) -> None:
        parts = urlsplit(self.target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TransportError("slack: the webhook URL must be an http(s) URL", retryable=False)
        data = json.dumps({"text": message.slack_text or f"{message.subject}\n{message.text}"}).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            self.target, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                response.read(1024)
        except urllib.error.HTTPError as exc:
            # 429 and 5xx may pass later; any other 4xx (revoked hook, bad payload) will not.
            raise TransportError(
                f"slack: HTTP {exc.code} {exc.reason}", retryable=exc.code == 429 or exc.code >= 500
            ) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TransportError(f"slack: {exc}", retryable=True) from exc
