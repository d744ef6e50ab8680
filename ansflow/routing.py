"""WebSocket URL routes."""

from django.urls import path

from apps.executions.routing import websocket_urlpatterns as execution_routes
from apps.k8s_integration.routing import websocket_urlpatterns as cluster_routes

from . import health

websocket_urlpatterns = [
    path("ws/health/", health.HealthConsumer.as_asgi()),
    *execution_routes,
    *cluster_routes,
]
