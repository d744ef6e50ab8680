"""Liveness and readiness: ``/healthz``, ``/readyz`` and the ``/ws/health/`` socket.

``/readyz`` checks every part a request or a run depends on, concurrently and
each within ``READYZ_TIMEOUT`` seconds, and answers 503 naming the parts that
failed. ``/ws/health/`` proves the WebSocket path end to end: a ``ping`` makes a
round trip through the channel layer (Redis); a signed-in user may ask for it to
go through a Celery worker as well.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from asgiref.sync import async_to_sync, sync_to_async
from celery import shared_task
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ansflow.celery import app as celery_app


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; nothing else is checked."""
    return JsonResponse({"status": "ok"})


# --- readiness checks: each raises with a message naming the cause ----------------


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    vendor = connection.vendor
    connection.close()
    return vendor


def _redis_target() -> str:
    return settings.REDIS_URL.split("@")[-1]  # never echo a password


def _check_redis() -> str:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=settings.READYZ_TIMEOUT, socket_connect_timeout=settings.READYZ_TIMEOUT
    )
    try:
        client.ping()
        return str(client.info("server").get("redis_version", "?"))
    except redis.RedisError as exc:
        raise RuntimeError(f"Redis unreachable at {_redis_target()}: {exc}") from exc
    finally:
        client.close()


async def _check_channel_layer() -> str:
    # A private layer instance, flushed afterwards, so probes leave no subscriptions behind.
    config: dict[str, Any] = settings.CHANNEL_LAYERS["default"]
    if str(config["BACKEND"]).endswith("RedisPubSubChannelLayer"):
        # Without the layer's retries, so an unreachable Redis is reported at once, by name.
        hosts = [{**host, "retry": None, "retry_on_error": None} for host in config["CONFIG"]["hosts"]]
        layer: Any = RedisPubSubChannelLayer(**{**config["CONFIG"], "hosts": hosts})
    else:
        layer = get_channel_layer()
    try:
        channel = await layer.new_channel()
        token = secrets.token_hex(8)
        await layer.send(channel, {"type": "readyz.probe", "token": token})
        message = await layer.receive(channel)
        if message.get("token") != token:
            raise RuntimeError("channel layer returned a foreign message")
        return "round trip ok"
    except (OSError, redis.RedisError) as exc:
        raise RuntimeError(f"channel layer (Redis at {_redis_target()}) unreachable: {exc}") from exc
    finally:
        if isinstance(layer, RedisPubSubChannelLayer):
            await layer.flush()


def _check_celery() -> str:
    with celery_app.connection_for_write() as conn:
        try:
            conn.ensure_connection(max_retries=1, timeout=settings.READYZ_TIMEOUT)
        except Exception as exc:  # kombu raises several types for one cause
            raise RuntimeError(f"Celery broker (Redis at {_redis_target()}) unreachable: {exc}") from exc
        replies = celery_app.control.ping(timeout=min(1.0, settings.READYZ_TIMEOUT), limit=1, connection=conn)
    if not replies:
        raise RuntimeError("no Celery worker answered a ping")
    return ", ".join(sorted(name for reply in replies for name in reply))


async def _run_check(check: Callable[[], Awaitable[str]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), timeout=settings.READYZ_TIMEOUT + 0.5)
        result: dict[str, Any] = {"ok": True, "detail": detail}
    except TimeoutError:
        result = {"ok": False, "error": f"timed out after {settings.READYZ_TIMEOUT} s"}
    except Exception as exc:
        result = {"ok": False, "error": str(exc) or exc.__class__.__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when database, Redis, channel layer and a Celery worker all answer; 503 naming each failure."""
    checks: dict[str, Callable[[], Awaitable[str]]] = {
        "database": sync_to_async(_check_database, thread_sensitive=False),
        "redis": sync_to_async(_check_redis, thread_sensitive=False),
        "channel_layer": _check_channel_layer,
        "celery": sync_to_async(_check_celery, thread_sensitive=False),
    }
    results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    failing = [name for name, result in report.items() if not result["ok"]]
    body = {"status": "unavailable" if failing else "ok", "failing": failing, "checks": report}
    return JsonResponse(body, status=503 if failing else 200)


# --- end-to-end echo through Celery and the channel layer -------------------------


@shared_task(name="ansflow.health_echo")
def health_echo(group: str, nonce: str) -> None:
    """Runs on a worker and answers the waiting socket through the channel layer."""
    layer = get_channel_layer()
    assert layer is not None
    async_to_sync(layer.group_send)(
        group, {"type": "health.pong", "nonce": nonce, "via": "celery", "worker": socket.gethostname()}
    )


def health_group(token: str) -> str:
    return f"health.{token}"


class HealthConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/health/``: says hello with a token, answers pings through Redis (and Celery)."""

    async def connect(self) -> None:
        self.token = secrets.token_hex(16)
        await self.channel_layer.group_add(health_group(self.token), self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "token": self.token})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "token"):
            await self.channel_layer.group_discard(health_group(self.token), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_json({"type": "error", "error": 'expected {"type": "ping"}'})
            return
        nonce = str(content.get("nonce", ""))[:64]
        if content.get("via") == "celery":
            user = self.scope.get("user")
            if not (user and user.is_authenticated):
                await self.send_json({"type": "error", "error": "sign in to ping through Celery"})
                return
            await sync_to_async(health_echo.delay)(health_group(self.token), nonce)
            return
        await self.channel_layer.group_send(
            health_group(self.token), {"type": "health.pong", "nonce": nonce, "via": "channel_layer"}
        )

    async def health_pong(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", **{k: v for k, v in event.items() if k != "type"}})


class EchoRequestSerializer(serializers.Serializer[Any]):
    token = serializers.RegexField(r"^[0-9a-f]{32}$", help_text="The token /ws/health/ sent in its hello.")
    nonce = serializers.CharField(max_length=64, required=False, default="")


class HealthEchoView(APIView):
    """Sends a Celery task that answers the given ``/ws/health/`` socket through Redis."""

    permission_classes = [permissions.IsAdminUser]
    serializer_class = EchoRequestSerializer

    def post(self, request: Request) -> Response:
        serializer = EchoRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        health_echo.delay(health_group(data["token"]), data["nonce"])
        return Response({"queued": True}, status=202)
