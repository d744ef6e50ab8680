"""Context for log records: the request id, and the execution and step an engine line is about."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
execution_id_var: ContextVar[int | None] = ContextVar("execution_id", default=None)
step_id_var: ContextVar[str] = ContextVar("step_id", default="")


@contextmanager
def engine_context(execution_id: int, step_id: str = "") -> Iterator[None]:
    """Every log record written inside carries ``execution_id`` (and ``step_id``)."""
    tokens = (execution_id_var.set(execution_id), step_id_var.set(step_id))
    try:
        yield
    finally:
        execution_id_var.reset(tokens[0])
        step_id_var.reset(tokens[1])


class RequestIdFilter(logging.Filter):
    """Adds the request id (empty outside a request) and, inside the engine, the execution and step."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        execution_id = execution_id_var.get()
        if execution_id is not None and not hasattr(record, "execution_id"):
            record.execution_id = execution_id
            record.step_id = step_id_var.get()
        return True
