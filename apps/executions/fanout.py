"""One channel-layer subscription per execution group per web process, shared by the viewers in it.

Channels gives every consumer its own channel in the group, so each published batch costs every
viewer a layer receive, a deserialisation and a dispatch before anything reaches its socket. Here
one reader per process (per event loop) receives a message once and hands the same message to each
viewer of that execution, which only queues it; the viewer's sender task writes to its socket.

Messages name their execution (``"execution": id``), so one channel serves every group it joined.
``join`` returns once the group's subscription is in place, as ``group_add`` does: a viewer that
joins before reading its backlog misses nothing published after the read.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from .engine.events import execution_group

logger = logging.getLogger("ansflow.ws")

Deliver = Callable[[dict[str, Any]], None]


class Fanout:
    """The viewers of each joined group in this process, and the one task reading the layer for them."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.members: dict[str, dict[int, Deliver]] = {}
        self.lock = asyncio.Lock()
        self.reader: asyncio.Task[None] | None = None

    async def join(self, group: str, key: int, deliver: Deliver) -> None:
        """From now on ``deliver`` gets every message published to ``group`` (``key`` identifies it)."""
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
                self.reader = asyncio.ensure_future(self._read(self.channel))
            if group not in self.members:
                await self.layer.group_add(group, self.channel)
                self.members[group] = {}
            self.members[group][key] = deliver

    async def leave(self, group: str, key: int) -> None:
        async with self.lock:
            members = self.members.get(group)
            if members is None or members.pop(key, None) is None or members:
                return
            del self.members[group]
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception:
                # Redis is away: the subscription lapses with the connection, or the next join reuses it.
                logger.warning("live fan-out could not leave %s", group, exc_info=True)

    async def _read(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The layer reconnects by itself; viewers catch up from the database by seq.
                logger.warning("live fan-out could not read the channel layer", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            execution = message.get("execution")
            for deliver in list(self.members.get(execution_group(execution), {}).values()):
                try:
                    deliver(message)
                except Exception:
                    logger.exception("a viewer failed to queue a live message")


_fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Fanout] = weakref.WeakKeyDictionary()


def fanout(layer: Any) -> Fanout:
    """This event loop's fan-out (one per web process in practice)."""
    loop = asyncio.get_running_loop()
    found = _fanouts.get(loop)
    if found is None or found.layer is not layer:
        found = _fanouts[loop] = Fanout(layer)
    return found
