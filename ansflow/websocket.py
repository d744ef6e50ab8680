"""WebSocket origin checking."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):  # type: ignore[misc]
    """Refuses cross-site browser sockets; lets non-browser clients (no Origin header) through.

    Browsers always send ``Origin`` on a WebSocket handshake, so a page on another
    site cannot ride a user's session cookie here. Clients without a browser (the
    CLI, scripts) send no Origin and authenticate with a token anyway.
    """

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return bool(super().valid_origin(parsed_origin))


def origin_validator(application: Any) -> BrowserOriginValidator:
    allowed = [*settings.ALLOWED_HOSTS]
    if settings.DEBUG:
        allowed += ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed)
