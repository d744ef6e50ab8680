"""Following an execution: its log and status over ``/ws/executions/{id}/?after=<seq>&batch=1``, resumed on reconnect.

``batch=1`` asks for one message per published batch of lines (``{"type": "logs", "lines": [...]}``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import connect

from .client import DENIED, NOT_FOUND, UNREACHABLE, Client, CliError

TERMINAL = {"success", "failed", "canceled"}
RECONNECTS = 10


def ws_url(base: str, execution_id: int, after: int) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"{parts.path.rstrip('/')}/ws/executions/{execution_id}/",
                       f"after={after}&batch=1", ""))  # fmt: skip


def format_line(line: dict[str, Any]) -> str:
    return f"[{line.get('step') or '-'}] {line.get('text', '')}"


class Follower:
    """Prints lines in sequence order, each once, until the execution finishes; returns its final status."""

    def __init__(self, client: Client, execution_id: int, after: int = 0, out: TextIO | None = None,
                 emit: Callable[[dict[str, Any]], None] | None = None) -> None:  # fmt: skip
        self.client = client
        self.execution_id = execution_id
        self.last = after
        self.out = out or sys.stdout
        self.emit = emit or self._print

    def _print(self, message: dict[str, Any]) -> None:
        if message["type"] == "log":
            self.out.write(format_line(message) + "\n")
        elif message["type"] == "status" and message.get("kind") == "step":
            self.out.write(f"--- {message['step']}: {message['status']}\n")
        self.out.flush()

    def _line(self, line: dict[str, Any]) -> None:
        if line["seq"] <= self.last:
            return
        self.last = line["seq"]
        self.emit({"type": "log", **line})

    def drain(self) -> None:
        """Every line after the last one printed, from the REST API (the database is the truth)."""
        while True:
            page = self.client.get(f"executions/{self.execution_id}/logs/", after=self.last, limit=5000)
            for line in page["lines"]:
                self._line(line)
            if not page["has_more"]:
                return

    def run(self) -> str:
        failures = 0
        while True:
            try:
                status = self._session()
            except InvalidStatus as exc:
                raise CliError(f"the server refused the log socket: HTTP {exc.response.status_code}", DENIED) from exc
            except (OSError, ConnectionClosed, WebSocketException, TimeoutError) as exc:
                received = getattr(exc, "rcvd", None)
                refused = close_code_error(received.code if received is not None else None, self.execution_id)
                if refused is not None:
                    raise refused from exc
                failures += 1
                if failures > RECONNECTS:
                    raise CliError(f"lost the log socket of execution {self.execution_id}: {exc}", UNREACHABLE) from exc
                time.sleep(min(0.2 * failures, 2.0))
                continue
            if status is not None:
                self.drain()
                return status
            failures = 0

    def _session(self) -> str | None:
        headers = {"Authorization": f"Token {self.client.settings.token}"} if self.client.settings.token else {}
        url = ws_url(self.client.settings.url, self.execution_id, self.last)
        with connect(url, additional_headers=headers, open_timeout=10, close_timeout=1) as ws:
            while True:
                message = json.loads(ws.recv(timeout=60))
                kind = message.get("type")
                if kind == "logs":
                    for line in message["lines"]:
                        self._line(line)
                elif kind == "log":
                    self._line(message)
                elif kind == "status":
                    if message.get("kind") == "step":
                        self.emit(message)
                    elif message.get("status") in TERMINAL:
                        return str(message["status"])
                # "resync" needs nothing: the lines that follow it are deduplicated by sequence number.


def close_code_error(code: int | None, execution_id: int) -> CliError | None:
    if code == 4401:
        return CliError("not authenticated on the log socket: run `ansflow login` or set ANSFLOW_TOKEN", DENIED)
    if code == 4403:
        return CliError(f"permission denied: you may not view execution {execution_id}", DENIED)
    if code == 4404:
        return CliError(f"not found: execution {execution_id}", NOT_FOUND)
    return None
