"""Authentication backends: login throttling in front of Django's model backend."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LoginThrottleBackend(AxesStandaloneBackend):  # type: ignore[misc]
    """Refuses a login while its username + address pair is locked out after repeated failures.

    Every web login (sign-in page, admin) passes the request and is throttled. Calls without a
    request (management commands, test clients' ``login``) have no address to throttle by and
    go straight to the next backend.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)  # type: ignore[no-any-return]
