from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from security import signin


class LockingFormMixin:
    """Refuses an attempt that must still wait (security.signin) before checking the password, and
    counts failures; a success forgets the pair's failures."""

    request: Any

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username", ""))  # type: ignore[attr-defined]
        address = signin.client_address(self.request)
        wait = signin.attempt_wait(username=username, address=address)
        if wait:
            raise forms.ValidationError(signin.throttled_message(wait), code="throttled")
        try:
            cleaned = super().clean()  # type: ignore[misc]
        except forms.ValidationError:
            signin.record_failure(username=username, address=address)
            raise
        signin.record_success(username=username, address=address)
        return cleaned


class LockingAuthenticationForm(LockingFormMixin, AuthenticationForm):
    """The sign-in page's form."""


class LockingAdminAuthenticationForm(LockingFormMixin, AdminAuthenticationForm):
    """The admin's sign-in form, under the same throttle."""


class ConfirmPasswordForm(forms.Form):
    password = forms.CharField(
        label="Your password", strip=False, widget=forms.PasswordInput(attrs={"autofocus": True})
    )

    def __init__(self, *args: Any, request: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        address = signin.client_address(self.request)
        wait = signin.attempt_wait(username=user.get_username(), address=address)
        if wait:
            raise forms.ValidationError(signin.throttled_message(wait), code="throttled")
        if not user.check_password(password):
            signin.record_failure(username=user.get_username(), address=address)
            raise forms.ValidationError("That is not your password.", code="wrong_password")
        signin.record_success(username=user.get_username(), address=address)
        return password
