"""The pod log socket: ``/ws/clusters/{id}/pods/{namespace}/{name}/logs/?container=&tail=&after=&since=``.

It speaks the execution log viewer's protocol: ``{"type": "log", "seq", "step", "text", "time"}`` lines, and
``{"type": "status", "kind": ...}`` messages: ``streaming`` once the cluster answered, ``ended`` when the
container stopped, ``error`` (with ``detail``) when the cluster failed; after those two the socket closes.
``after`` is the last sequence number the viewer has and ``since`` the time of that line: a reconnecting viewer
gets the lines after it, numbered on from there. The caller must be allowed to view the cluster.

The Kubernetes client blocks, so one thread per socket reads the followed log and hands lines to the socket's
loop through a bounded queue (a slow viewer slows the read, it does not grow memory). Closing the socket shuts
the log connection down, which ends the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError

from apps.accounts.permissions import WS_UNAUTHENTICATED, authorize_ws

from ..models import Cluster
from .kube import ClusterError
from .logs import PodLogStream

logger = logging.getLogger("ansflow.ws")

WS_BAD_REQUEST = 4400
PING_INTERVAL = 20.0
QUEUE_SIZE = 1000


def _query(scope: dict[str, Any]) -> dict[str, str]:
    parsed = parse_qs(scope.get("query_string", b"").decode())
    return {key: values[-1] for key, values in parsed.items()}


def _stream(cluster: Cluster, namespace: str, name: str, query: dict[str, str]) -> tuple[PodLogStream, int]:
    """The stream the query asks for and the sequence number to continue from (ValidationError if bad)."""
    try:
        after = int(query.get("after", "0"))
        tail = int(query["tail"]) if query.get("tail", "") != "" else None
    except ValueError as exc:
        raise ValidationError("after and tail are whole numbers.") from exc
    if after < 0:
        raise ValidationError("after is a sequence number (0 or more).")
    stream = PodLogStream(cluster, namespace=namespace, name=name, container=query.get("container", ""), tail=tail,
                          since=query.get("since", ""))  # fmt: skip
    return stream, after


class PodLogConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A pod container's log, followed live."""

    stream: PodLogStream | None = None
    sender: asyncio.Future[None] | None = None

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=WS_UNAUTHENTICATED)  # before any lookup: anonymous learns nothing
            return
        route = self.scope["url_route"]["kwargs"]
        clusters = Cluster.objects.select_related("project", "credential")
        cluster, refused = await authorize_ws(self.scope, "view", clusters.filter(pk=route["cluster_id"]).first)
        if refused is not None:
            await self.close(code=refused)
            return
        try:
            self.stream, self.seq = _stream(cluster, route["namespace"], route["name"], _query(self.scope))
        except ValidationError as exc:
            await self.send_json({"type": "status", "kind": "error", "detail": "; ".join(exc.messages)})
            await self.close(code=WS_BAD_REQUEST)
            return
        self.container = self.stream.container
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.loop = asyncio.get_running_loop()
        threading.Thread(target=self._pump, name=f"pod-log-{cluster.pk}", daemon=True).start()
        self.sender = asyncio.ensure_future(self._send_loop())

    async def disconnect(self, code: int) -> None:
        if self.stream is not None:
            self.stream.close()
        if self.sender is not None:
            self.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.sender

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    # --- the reading thread ---------------------------------------------------------------------------

    def _pump(self) -> None:
        assert self.stream is not None
        outcome: tuple[str, Any] = ("ended", "The container stopped.")
        try:
            with self.stream:
                self.stream.open()
                if not self._put(("streaming", None)):
                    return
                for line in self.stream.lines():
                    if not self._put(("line", line)):
                        return
        except ClusterError as exc:
            outcome = ("error", str(exc))
        except Exception:
            logger.exception("pod log stream failed")
            outcome = ("error", "The log stream failed.")
        if not self.stream.closed:
            self._put(outcome)

    def _put(self, item: tuple[str, Any]) -> bool:
        """Queue ``item`` for the socket, waiting while the queue is full; False once the socket is gone."""
        assert self.stream is not None
        try:
            future = asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop)
        except RuntimeError:
            return False  # the loop is closed
        while True:
            try:
                future.result(timeout=1)
                return True
            except concurrent.futures.TimeoutError:
                if self.stream.closed:
                    future.cancel()
                    return False
            except concurrent.futures.CancelledError:
                return False

    # --- the socket side ------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        try:
            while True:
                try:
                    kind, value = await asyncio.wait_for(self.queue.get(), PING_INTERVAL)
                except TimeoutError:
                    await self.send_json({"type": "ping"})
                    continue
                if kind == "line":
                    self.seq += 1
                    await self.send_json({"type": "log", "seq": self.seq, "step": self.container, **value})
                elif kind == "streaming":
                    await self.send_json({"type": "status", "kind": "streaming", "container": self.container})
                else:
                    await self.send_json({"type": "status", "kind": kind, "detail": value})
                    await self.close(code=1000)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("pod log socket sender failed")
            await self.close(code=1011)


__all__ = ["PodLogConsumer"]
