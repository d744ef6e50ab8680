"""Every push to WebSocket viewers goes through here, after the transaction commits.

Messages to an execution's group name the execution (``"execution": id``): a web process receives
each once and hands it to all its viewers of that execution (``apps.executions.fanout``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

from ..models import Execution, StepExecution

logger = logging.getLogger("ansflow.engine.events")


def execution_group(execution_id: int) -> str:
    return f"execution.{execution_id}"


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


class _Publisher:
    """One thread per process sends every message in order; callers never wait for Redis.

    The database already holds what is published, so a message lost in a crash or an outage
    costs a viewer nothing but a catch-up read.
    """

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[tuple[list[str], dict[str, Any]]] | None = None
        self.lock = threading.Lock()

    def put(self, groups: list[str], message: dict[str, Any]) -> None:
        with self.lock:
            if self.queue is None:
                self.queue = queue.SimpleQueue()
                threading.Thread(target=self._run, args=(self.queue,), name="ansflow-publisher", daemon=True).start()
        self.queue.put((groups, message))

    def _run(self, messages: queue.SimpleQueue[tuple[list[str], dict[str, Any]]]) -> None:
        loop = asyncio.new_event_loop()
        while True:
            # Everything queued meanwhile goes out in one turn of the loop (a run's start queues a
            # message per step); each message still has its own timeout.
            batch = [messages.get()]
            while not messages.empty() and len(batch) < MAX_BATCH:
                batch.append(messages.get_nowait())
            loop.run_until_complete(_send_batch(batch))

    def reset(self) -> None:
        # A forked child (Celery's prefork pool) starts its own thread on first use.
        self.queue = None
        self.lock = threading.Lock()


_publisher = _Publisher()
os.register_at_fork(after_in_child=_publisher.reset)

PUBLISH_TIMEOUT = 1.0


MAX_BATCH = 1000


async def _send_all(groups: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        await layer.group_send(group, message)


def _coalesced(batch: list[tuple[list[str], dict[str, Any]]]) -> list[tuple[list[str], dict[str, Any]]]:
    """Consecutive status messages for the same groups as one message with all their payloads, in order.

    A run's start queues one per step (500 for a fan-out of 500); a web process hands each payload
    to its viewers as its own socket message all the same.
    """
    merged: list[tuple[list[str], dict[str, Any]]] = []
    for groups, message in batch:
        if merged and message["type"] == "status.message":
            last_groups, last = merged[-1]
            if last["type"] == "status.message" and last_groups == groups and last["execution"] == message["execution"]:
                merged[-1] = (groups, {**last, "payloads": last["payloads"] + message["payloads"]})
                continue
        merged.append((groups, message))
    return merged


async def _send_batch(batch: list[tuple[list[str], dict[str, Any]]]) -> None:
    for groups, message in _coalesced(batch):
        try:
            await asyncio.wait_for(_send_all(groups, message), PUBLISH_TIMEOUT)
        except Exception:
            logger.warning("could not publish to %s", groups, exc_info=True)


def publish_now(groups: list[str], message: dict[str, Any]) -> None:
    """Queue one message for the groups, in order with every earlier one from this process."""
    _publisher.put(groups, message)


def publish_on_commit(groups: list[str], message: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish_now(groups, message))


LOG_FRAME_HEAD = '{"type":"logs","lines":['
LOG_FRAME_TAIL = "]}"


def log_frame(lines: list[dict[str, Any]]) -> str:
    """The batched socket message ``{"type": "logs", "lines": [...]}`` of consecutive lines, as text."""
    return json.dumps({"type": "logs", "lines": lines}, ensure_ascii=False, separators=(",", ":"))


def join_log_frames(frames: list[str]) -> str:
    """One batched message holding the lines of several (consecutive) ones, without decoding them."""
    start, end = len(LOG_FRAME_HEAD), -len(LOG_FRAME_TAIL)
    return LOG_FRAME_HEAD + ",".join(frame[start:end] for frame in frames) + LOG_FRAME_TAIL


def log_batch(execution_id: int, lines: list[dict[str, Any]]) -> None:
    """Publish one persisted batch (consecutive ``seq``) to the execution's viewers.

    The batch travels as the finished text of its batched socket message, encoded here once:
    a viewer in batched mode forwards it as it is, whatever the number of viewers; a viewer that
    wants one message per line decodes it once per batch.
    """
    message = {
        "type": "log.batch",
        "execution": execution_id,
        "first_seq": lines[0]["seq"],
        "last_seq": lines[-1]["seq"],
        "frame": log_frame(lines),
    }
    publish_now([execution_group(execution_id)], message)


def _ts(value: Any) -> str | None:
    return value.isoformat() if value else None


def step_state(
    execution: Execution,
    *,
    step_id: str,
    status: str,
    attempt: int,
    exit_code: int | None = None,
    started_at: Any = None,
    finished_at: Any = None,
) -> None:
    message = {
        "type": "status.message",
        "execution": execution.pk,
        "payloads": [
            {
                "type": "status",
                "kind": "step",
                "execution": execution.pk,
                "step": step_id,
                "status": status,
                "attempt": attempt,
                "exit_code": exit_code,
                "started_at": _ts(started_at),
                "finished_at": _ts(finished_at),
            }
        ],
    }
    publish_on_commit([execution_group(execution.pk)], message)


def step_status(execution: Execution, step: StepExecution) -> None:
    step_state(
        execution,
        step_id=step.step_id,
        status=step.status,
        attempt=step.attempt,
        exit_code=step.exit_code,
        started_at=step.started_at,
        finished_at=step.finished_at,
    )


def execution_status(execution: Execution) -> None:
    message = {
        "type": "status.message",
        "execution": execution.pk,
        "payloads": [
            {
                "type": "status",
                "kind": "execution",
                "execution": execution.pk,
                "pipeline": execution.pipeline_id,
                "number": execution.number,
                "status": execution.status,
                "started_at": _ts(execution.started_at),
                "finished_at": _ts(execution.finished_at),
            }
        ],
    }
    publish_on_commit([execution_group(execution.pk), project_group(execution.project_id)], message)
