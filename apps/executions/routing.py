"""WebSocket routes of the executions app."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/executions/<int:execution_id>/", consumers.ExecutionConsumer.as_asgi()),
    path("ws/projects/<slug:slug>/", consumers.ProjectConsumer.as_asgi()),
]
