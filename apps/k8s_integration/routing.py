"""WebSocket routes of the deploy targets: a pod's log, followed live."""

from django.urls import path

from .clusters.consumers import PodLogConsumer

websocket_urlpatterns = [
    path("ws/clusters/<int:cluster_id>/pods/<str:namespace>/<str:name>/logs/", PodLogConsumer.as_asgi()),
]
