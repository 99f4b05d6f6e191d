"""Per-key throttling: each API key has its own budget (``ApiKey.rate_per_minute``); requests beyond
it answer 429 with Retry-After (DRF adds the header from ``wait()``). Other requests are not throttled here."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from security.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"
    rate = "600/min"  # replaced per key in allow_request

    def get_rate(self) -> str:
        return self.rate or "600/min"

    def allow_request(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            self.num_requests, self.duration = request.auth.rate_per_minute, 60
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
