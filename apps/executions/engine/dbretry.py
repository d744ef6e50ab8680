"""Riding out a database outage: the engine's own writes retry instead of losing a step or its log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger("ansflow.engine.db")

T = TypeVar("T")

# How long a write keeps trying before it gives up (the step is then reaped as lost and retried).
OUTAGE_TIMEOUT = 300.0


def with_db_retry(operation: Callable[[], T], what: str, timeout: float = OUTAGE_TIMEOUT) -> T:
    """Run ``operation``; on a lost or refused connection, reconnect and try again with backoff."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return operation()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() > deadline:
                raise
            logger.warning("database unavailable during %s (%s); retrying in %.2f s", what, exc, delay)
            connection.close()  # the next query opens a fresh connection
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
