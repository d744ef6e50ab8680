"""Every push to WebSocket viewers goes through here, after the transaction commits."""

from __future__ import annotations

import asyncio
import logging
import os
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


class _LoopThread:
    """One event loop per process for publishing, so the channel layer keeps its Redis connection."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock = threading.Lock()

    def get(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="ansflow-publisher", daemon=True).start()
                self.loop = loop
            return self.loop

    def reset(self) -> None:
        # A forked child (Celery's prefork pool) must not reuse the parent's loop thread.
        self.loop = None
        self.lock = threading.Lock()


_publisher = _LoopThread()
os.register_at_fork(after_in_child=_publisher.reset)

PUBLISH_TIMEOUT = 5.0


async def _send_all(groups: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        await layer.group_send(group, message)


def publish_now(groups: list[str], message: dict[str, Any]) -> None:
    """Send one message to the groups; viewers recover anything lost from the database."""
    try:
        future = asyncio.run_coroutine_threadsafe(_send_all(groups, message), _publisher.get())
        future.result(timeout=PUBLISH_TIMEOUT)
    except Exception:  # the database already holds the truth; a lost push is caught up on reconnect
        logger.warning("could not publish to %s", groups, exc_info=True)


def publish_on_commit(groups: list[str], message: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish_now(groups, message))


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
        "payload": {
            "type": "status",
            "kind": "step",
            "execution": execution.pk,
            "step": step_id,
            "status": status,
            "attempt": attempt,
            "exit_code": exit_code,
            "started_at": _ts(started_at),
            "finished_at": _ts(finished_at),
        },
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
        "payload": {
            "type": "status",
            "kind": "execution",
            "execution": execution.pk,
            "pipeline": execution.pipeline_id,
            "number": execution.number,
            "status": execution.status,
            "started_at": _ts(execution.started_at),
            "finished_at": _ts(execution.finished_at),
        },
    }
    publish_on_commit([execution_group(execution.pk), project_group(execution.project_id)], message)
