"""Audit of sign-ins, failed sign-ins and sign-outs.

Django announces these only through its auth signals, so the handlers here are thin: each
calls the audit service. (Every other audit row is written by a service, never by a signal.)
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from .services import audit_record


def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, verb="auth.login", target=user, request=request)


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and user.is_authenticated:
        audit_record(actor=user, verb="auth.logout", target=user, request=request)


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Only the username is kept; Django has already replaced the password with stars.
    username = str(credentials.get(get_user_model().USERNAME_FIELD, credentials.get("username", "")))[:150]
    audit_record(actor=None, verb="auth.login_failed", changes={"username": username}, request=request)


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="accounts.audit.login")
    user_logged_out.connect(_logged_out, dispatch_uid="accounts.audit.logout")
    user_login_failed.connect(_login_failed, dispatch_uid="accounts.audit.login_failed")
