"""WebSocket URL routes."""

from django.urls import path

from . import health

websocket_urlpatterns = [
    path("ws/health/", health.HealthConsumer.as_asgi()),
]
