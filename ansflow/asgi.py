"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ansflow.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.accounts.ws import TokenAuthMiddlewareStack  # noqa: E402  (needs Django set up first)

from .concurrency import RequestLimit  # noqa: E402
from .routing import websocket_urlpatterns  # noqa: E402
from .websocket import origin_validator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": RequestLimit(django_asgi_app, settings.WEB_MAX_CONCURRENT_REQUESTS),
        "websocket": origin_validator(TokenAuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
