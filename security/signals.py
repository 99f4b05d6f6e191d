"""Receivers: start the session clocks at sign-in; end every session of a deactivated account.

Ending sessions is not a business write (nothing the decision log records), and deactivation can
happen anywhere a user is saved (the admin, a shell), so a signal is the one place that sees it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from security import signin
from security.services import user_sessions_end


@receiver(user_logged_in)
def _start_session_clocks(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        signin.mark_signed_in(request)


@receiver(pre_save, sender=get_user_model())
def _end_sessions_on_deactivation(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk is None or instance.is_active:
        return
    was_active = sender.objects.filter(pk=instance.pk, is_active=True).exists()
    if was_active:
        user_id = instance.pk
        transaction.on_commit(lambda: user_sessions_end(user_id=user_id))
