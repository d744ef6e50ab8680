"""DRF authentication by API token: ``Authorization: Token <key>`` or ``Authorization: Bearer <key>``."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .models import ApiToken
from .permissions import attach_token
from .services import token_authenticate

KEYWORDS = ("token", "bearer")


def key_from_header(value: str) -> str | None:
    """The key in an Authorization header value, None when the header is not a token header."""
    parts = value.split()
    if len(parts) != 2 or parts[0].lower() not in KEYWORDS:
        return None
    return parts[1]


class TokenAuthentication(authentication.BaseAuthentication):
    """Authenticates a request by API token; the token then rides on ``request.user`` (see
    ``permissions.token_of``) so read-only and project scope apply to every permission check."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        key = key_from_header(header)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid token header: expected 'Token <key>' or 'Bearer <key>'.")
        token = token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return attach_token(token.user, token), token

    def authenticate_header(self, request: Request) -> str:
        return "Token"
