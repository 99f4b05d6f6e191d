"""DRF authentication: API keys (``Authorization: Bearer ak_…`` or ``Api-Key ak_…``), and HTTP basic
authentication under the same guessing throttle as the sign-in page."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from security import signin
from security.keys import key_matches, key_prefix
from security.models import ApiKey
from security.services import apikey_mark_used

logger = logging.getLogger(__name__)

KEYWORDS = ("bearer", "api-key")
INVALID = "Invalid, expired or revoked API key."


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates as the key's user; ``request.auth`` is the ApiKey, whose scopes
    ``security.permissions.HasScope`` checks. Logs name the key by its prefix, never the key."""

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, plain = header.partition(" ")
        if keyword.lower() not in KEYWORDS:
            return None
        plain = plain.strip()
        prefix = key_prefix(plain)
        if prefix is None:
            raise exceptions.AuthenticationFailed(INVALID)
        # The callback secret is only read to sign a callback: not decrypted on every request.
        key = ApiKey.objects.select_related("user").defer("callback_secret").filter(prefix=prefix).first()
        if key is None or not key_matches(plain, key.hashed_key):
            logger.warning("API key refused: unknown key ak_%s", prefix)
            raise exceptions.AuthenticationFailed(INVALID)
        if not key.is_usable(at=timezone.now()) or not key.user.is_active:
            logger.warning("API key refused: ak_%s is expired, revoked or its user inactive", prefix)
            raise exceptions.AuthenticationFailed(INVALID)
        logger.info("API key ak_%s (%s) used: %s %s", prefix, key.name, request.method, request.path)
        apikey_mark_used(key=key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class SignInThrottled(exceptions.Throttled):
    """429 with ``Retry-After``: "Too many failed sign-ins. Try again in N seconds." """

    default_detail = signin.THROTTLED
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."
    default_code = "signin_throttled"


class LockedBasicAuthentication(authentication.BasicAuthentication):
    """Basic authentication under the sign-in throttle (security.signin): an attempt that must still
    wait is refused with 429 and ``Retry-After`` before its password is checked."""

    def authenticate_credentials(self, userid: str, password: str, request: Any = None) -> tuple[Any, None]:
        address = signin.client_address(request) if request is not None else ""
        wait = signin.attempt_wait(username=userid, address=address)
        if wait:
            raise SignInThrottled(wait=wait)
        try:
            result = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            signin.record_failure(username=userid, address=address)
            raise
        signin.record_success(username=userid, address=address)
        return result
