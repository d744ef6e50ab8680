"""WebSocket consumers: an execution's log and status, and a project's status feed.

``/ws/executions/{id}/?after=<seq>`` joins the execution's group first (through the
process's fan-out, one layer subscription for all its viewers), then sends the
backlog from the database, then live lines — in sequence order, each line once.
Live batches are only queued on delivery; a sender task writes to the socket, so
a slow client never stalls the others. A client that falls
more than ``MAX_QUEUED`` lines behind gets ``{"type": "resync", "after": n}`` and
is then served from the database at its own pace until it is live again.

Lines go out one message each (``{"type": "log", ...}``), or with ``batch=1`` one
message per batch (``{"type": "logs", "lines": [...]}``): a live batch then goes out
as the text the publisher encoded once for every viewer, so the cost per viewer is
one frame per batch whatever the number of lines in it, and a viewer that fell
behind gets the consecutive batches waiting for it joined into one frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from apps.accounts.models import Project
from apps.accounts.permissions import WS_UNAUTHENTICATED, authorize_ws

from .engine.events import execution_group, join_log_frames, log_frame, project_group
from .fanout import fanout
from .models import Execution
from .observability import live
from .selectors import log_page, status_snapshot

logger = logging.getLogger("ansflow.ws")

PAGE = 2000
MAX_QUEUED = 20000
PING_INTERVAL = 20.0
WS_BAD_REQUEST = 4400


def _signed_in(scope: dict[str, Any]) -> bool:
    user = scope.get("user")
    return bool(user is not None and user.is_authenticated)


def _query(scope: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode())


def _after(query: dict[str, list[str]]) -> int | None:
    raw = query.get("after", ["0"])[-1]
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _batched(query: dict[str, list[str]]) -> bool | None:
    """``batch=1``: one message per batch of lines; ``0`` or absent: one per line; anything else: ``None``."""
    return {"0": False, "1": True}.get(query.get("batch", ["0"])[-1])


def _size(event: dict[str, Any]) -> int:
    """Lines in a published batch."""
    return int(event["last_seq"]) - int(event["first_seq"]) + 1


class ExecutionConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Backlog, then live log lines and status changes of one execution."""

    # No channel of its own (a Redis subscription and a reader task per socket): the process's
    # fan-out holds the one subscription its viewers of an execution share.
    channel_layer_alias = None

    async def connect(self) -> None:
        await self.accept()
        if not _signed_in(self.scope):
            await self.close(code=WS_UNAUTHENTICATED)  # before any lookup: anonymous learns nothing
            return
        query = _query(self.scope)
        after, batched = _after(query), _batched(query)
        if after is None or batched is None:
            await self.close(code=WS_BAD_REQUEST)
            return
        execution_id = self.scope["url_route"]["kwargs"]["execution_id"]
        execution, refused = await authorize_ws(
            self.scope, "view", Execution.objects.select_related("project").filter(pk=execution_id).first
        )
        if refused is not None:
            await self.close(code=refused)
            return
        self.execution_id = execution.pk
        self.group = execution_group(execution.pk)
        self.last_sent = after
        self.batched = batched
        self.live: deque[dict[str, Any]] = deque()
        self.queued_lines = 0
        self.catching_up = True
        self.resync_pending = False
        self.dropped = False
        self.wakeup = asyncio.Event()
        self.ping_due = False
        self._arm_ping()
        # Join before reading the backlog: every line committed after the read arrives live.
        await fanout(get_channel_layer()).join(self.group, id(self), self._deliver)
        self.joined = True
        self.sender = asyncio.ensure_future(self._send_loop())
        self.counted = True
        await live.socket_opened()

    disconnected = False
    counted = False
    joined = False

    async def disconnect(self, code: int) -> None:
        self.disconnected = True
        if self.counted:
            await live.socket_closed()
        if self.joined:
            await fanout(get_channel_layer()).leave(self.group, id(self))
        ping = getattr(self, "ping_timer", None)
        if ping is not None:
            ping.cancel()
        sender = getattr(self, "sender", None)
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    # --- live messages from the process's fan-out: never touch the socket, only queue --

    def _deliver(self, event: dict[str, Any]) -> None:
        if event["type"] != "log.batch":
            self.live.append(event)  # a status message
            self.wakeup.set()
            return
        self.live.append(event)
        self.queued_lines += _size(event)
        if self.queued_lines >= MAX_QUEUED:
            # Too far behind: drop the queued lines (status events stay) and serve the client
            # from the database at its own pace; it is told where the resync starts.
            self.live = deque(e for e in self.live if e["type"] != "log.batch")
            self.queued_lines = 0
            self.dropped = True
            if not self.catching_up:
                self.catching_up = True
                self.resync_pending = True
        self.wakeup.set()

    def _arm_ping(self) -> None:
        # A timer rather than a timeout around every wait: that would cost a task per batch.
        self.ping_timer = asyncio.get_running_loop().call_later(PING_INTERVAL, self._ping)

    def _ping(self) -> None:
        self.ping_due = True
        self.wakeup.set()

    # --- the sender task ----------------------------------------------------------

    async def _send_loop(self) -> None:
        try:
            snapshot, first_page = await database_sync_to_async(self._opening)()
            await self.send_json(snapshot)
            await self._catch_up(first_page)
            while True:
                if self.catching_up:
                    await self._catch_up()
                    continue
                await self.wakeup.wait()
                self.wakeup.clear()
                if self.ping_due:
                    self.ping_due = False
                    await self.send_json({"type": "ping"})
                    self._arm_ping()
                while self.live and not self.catching_up:
                    event = self.live.popleft()
                    if event["type"] == "log.batch":
                        self.queued_lines -= _size(event)
                        await self._send_batch(self._with_following(event) if self.batched else event)
                    else:
                        for payload in event["payloads"]:
                            await self.send_json(payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            if self.disconnected:
                return  # the client went away mid-send
            logger.exception("execution socket sender failed")
            await self.close(code=1011)

    def _with_following(self, event: dict[str, Any]) -> dict[str, Any]:
        """The batch and the consecutive ones queued right behind it, as one message.

        A viewer that keeps up gets one message per published batch; one that fell behind (a slow
        network, a busy server) gets what waits for it in fewer, larger messages and so catches up.
        """
        frames, last, lines = [event["frame"]], event["last_seq"], _size(event)
        while self.live and lines < PAGE:
            following = self.live[0]
            if following["type"] != "log.batch" or following["first_seq"] != last + 1:
                break
            self.live.popleft()
            self.queued_lines -= _size(following)
            frames.append(following["frame"])
            last, lines = following["last_seq"], lines + _size(following)
        if len(frames) == 1:
            return event
        merged = join_log_frames(frames)
        return {"type": "log.batch", "first_seq": event["first_seq"], "last_seq": last, "frame": merged}

    def _opening(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The status snapshot and the backlog's first page, read on one database connection.

        Lines dropped from the queue since the join (``dropped``) make the catch-up read again.
        """
        return status_snapshot(self.execution_id), log_page(self.execution_id, self.last_sent, PAGE)

    async def _catch_up(self, first_page: list[dict[str, Any]] | None = None) -> None:
        """Send everything after ``last_sent`` from the database, a page at a time, then go live.

        ``first_page``: the first page, already read.
        """
        if self.resync_pending:
            self.resync_pending = False
            await self.send_json({"type": "resync", "after": self.last_sent})
        while True:
            if first_page is None:
                # Lines dropped from the queue during a read may be newer than it: read again.
                self.dropped = False
                rows = await database_sync_to_async(log_page)(self.execution_id, self.last_sent, PAGE)
            else:
                rows, first_page = first_page, None
            await self._send_rows(rows)
            if len(rows) < PAGE and not self.dropped:
                break
        self.catching_up = False
        self.wakeup.set()

    async def _send_rows(self, rows: list[dict[str, Any]]) -> None:
        """Lines in sequence order, all after ``last_sent``, in this socket's mode."""
        if not rows:
            return
        if self.batched:
            await self.send(text_data=log_frame(rows))
            self.last_sent = rows[-1]["seq"]
            return
        for line in rows:
            await self.send_json({"type": "log", **line})
            self.last_sent = line["seq"]

    async def _send_batch(self, event: dict[str, Any]) -> None:
        """One published batch (lines ``first_seq``..``last_seq``), after any line missing before it."""
        first, last = event["first_seq"], event["last_seq"]
        if last <= self.last_sent:
            return  # already sent from the database
        if first > self.last_sent + 1:
            # A batch published before an earlier one (two steps flushing at once): the earlier
            # lines are already committed, because sequence numbers are handed out under a row lock.
            missing = await database_sync_to_async(log_page)(
                self.execution_id, self.last_sent, first - self.last_sent - 1
            )
            await self._send_rows([line for line in missing if line["seq"] < first])
        if self.batched and first == self.last_sent + 1:
            await self.send(text_data=event["frame"])  # as the publisher encoded it, for every viewer
            self.last_sent = last
            return
        lines = json.loads(event["frame"])["lines"]
        await self._send_rows([line for line in lines if line["seq"] > self.last_sent])


class ProjectConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/projects/{slug}/``: status changes of every execution of the project, for dashboards."""

    async def connect(self) -> None:
        await self.accept()
        if not _signed_in(self.scope):
            await self.close(code=WS_UNAUTHENTICATED)  # before any lookup: anonymous learns nothing
            return
        slug = self.scope["url_route"]["kwargs"]["slug"]
        project, refused = await authorize_ws(self.scope, "view", Project.objects.filter(slug=slug).first)
        if refused is not None:
            await self.close(code=refused)
            return
        self.group = project_group(project.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.counted = True
        await live.socket_opened()
        await self.send_json({"type": "hello", "project": slug})

    counted = False

    async def disconnect(self, code: int) -> None:
        if self.counted:
            await live.socket_closed()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def status_message(self, event: dict[str, Any]) -> None:
        for payload in event["payloads"]:
            await self.send_json(payload)


__all__ = ["ExecutionConsumer", "ProjectConsumer"]
