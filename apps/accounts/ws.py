"""WebSocket authentication: the session cookie, or an API token in ``?token=`` or the Authorization header.

A socket that presents a token which is unknown, expired or revoked is refused at the handshake
(close code 4401) instead of silently continuing as anonymous.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware
from django.conf import settings

from .authentication import key_from_header
from .permissions import WS_UNAUTHENTICATED, attach_token
from .services import token_authenticate


def _presented_key(scope: dict[str, Any]) -> str | None:
    """The token key the client presented (query first, then header); "" when one was malformed."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "token" in query:
        return query["token"][-1]
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return key_from_header(value.decode("latin-1")) or ""
    return None


@database_sync_to_async
def _token_user(key: str) -> Any:
    token = token_authenticate(key=key)
    return attach_token(token.user, token) if token is not None else None


class TokenAuthMiddleware:
    """Replaces the session user with the token's user when the socket presents a token."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") != "websocket":
            return await self.inner(scope, receive, send)
        key = _presented_key(scope)
        if key is None:
            return await self.inner(scope, receive, send)
        user = await _token_user(key) if key else None
        if user is None:
            await receive()  # the websocket.connect event
            await send({"type": "websocket.close", "code": WS_UNAUTHENTICATED})
            return None
        return await self.inner(dict(scope, user=user, api_token=user._ansflow_token), receive, send)


class SessionUserMiddleware:
    """The session cookie's user, looked up once at the handshake.

    Channels' ``SessionMiddleware`` wraps every message a socket sends, to save a modified session
    with an HTTP response; a socket never modifies the session, and that check cost a share of the
    server's CPU on every live log frame. Here the session is read, not wrapped around ``send``.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope, session=self.store(scope["cookies"].get(settings.SESSION_COOKIE_NAME)))
        scope["user"] = await get_user(scope)
        return await self.inner(scope, receive, send)


def TokenAuthMiddlewareStack(inner: Any) -> Any:
    """Session authentication (cookie) with API-token authentication on top."""
    return CookieMiddleware(SessionUserMiddleware(TokenAuthMiddleware(inner)))
