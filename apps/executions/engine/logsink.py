"""The log sink: lines in, numbered batches out — persisted first, then published.

Reader threads call ``write``; a flusher thread writes a batch every
``FLUSH_INTERVAL`` seconds or every ``FLUSH_LINES`` lines: one UPDATE that hands
out a range of sequence numbers, one bulk INSERT, one channel-layer message.
Writers block when ``MAX_BUFFERED`` lines wait, so a fast step cannot grow the
worker's memory without bound.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.masking import StreamMasker

from ..choices import LogStream
from ..models import Execution, LogLine
from . import events, statements
from .dbretry import with_db_retry

logger = logging.getLogger("ansflow.engine.logs")

# While lines keep coming, one batch per 8 ms: each batch is one frame to every viewer, so a shorter
# interval multiplies the web process's sends (bench/README.md, "Flush interval").
FLUSH_INTERVAL = 0.008
FLUSH_LINES = 2000
MAX_BUFFERED = 20000
MAX_LINE = 64 * 1024


class SinkSql(NamedTuple):
    next_seq: str  # reserve sequence numbers: (count, execution id)
    last_seq: str  # read the last one reserved: (execution id,)
    insert_lines: str  # one row: (execution id, step pk, seq, stream, time, text)


@functools.cache
def sink_sql() -> SinkSql:
    """The sink's statements; identifiers from the models' metadata, every value a parameter."""
    executions, lines = statements.table(Execution), statements.table(LogLine)
    log_seq, pk = statements.column(Execution, "log_seq"), statements.column(Execution, "id")
    columns = ", ".join(
        statements.column(LogLine, name) for name in ("execution", "step", "seq", "stream", "time", "text")
    )
    return SinkSql(
        next_seq=f"UPDATE {executions} SET {log_seq} = {log_seq} + %s WHERE {pk} = %s",  # noqa: S608
        last_seq=f"SELECT {log_seq} FROM {executions} WHERE {pk} = %s",  # noqa: S608
        insert_lines=f"INSERT INTO {lines} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608
    )


class LogSink:
    """Collects a step's output lines and writes them in batches."""

    def __init__(
        self,
        execution_id: int,
        step_pk: int | None,
        step_id: str,
        secrets: Iterable[str] = (),
        on_line: Callable[[str, str], None] | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.step_pk = step_pk
        self.step_id = step_id
        self.secrets = [s for s in secrets if s]
        self.on_line = on_line
        self._buffer: list[tuple[str, datetime, str]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._maskers: dict[str, StreamMasker] = {}
        self._partial: dict[str, str] = {}
        self._first_at = 0.0
        self.lines_written = 0
        self._context = contextvars.copy_context()  # the flusher's log lines name the execution and step
        # Started with the first line: a step that prints nothing costs no thread.
        self._thread: threading.Thread | None = None

    # --- input ---------------------------------------------------------------

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Mask these too from now on: credentials an executor looked up for the step (a registry's password,
        say) that the pipeline's ``credentials`` list does not name. Text held back for a possible secret split
        across chunks is masked with them as well."""
        new = [s for s in secrets if s and s not in self.secrets]
        if not new:
            return
        self.secrets.extend(new)
        for stream, old in list(self._maskers.items()):
            masker = StreamMasker(self.secrets)
            masker.buffer = old.buffer
            self._maskers[stream] = masker

    def write_chunk(self, stream: str, chunk: bytes) -> None:
        """A chunk read from a pipe: a whole line, or part of one longer than the read limit."""
        text = chunk.decode("utf-8", errors="replace")
        masker = self._maskers.get(stream)
        if masker is None:
            masker = self._maskers[stream] = StreamMasker(self.secrets)
        safe = masker.feed(text)
        if text.endswith("\n"):
            safe += masker.flush()
        pending = self._partial.pop(stream, "") + safe
        *complete, rest = pending.split("\n")
        for line in complete:
            self._emit(stream, line)
        while len(rest) >= MAX_LINE:
            self._emit(stream, rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        if rest:
            self._partial[stream] = rest

    def write(self, stream: str, text: str) -> None:
        """Engine messages (stream ``s``) and already-decoded lines."""
        self.write_chunk(stream, (text if text.endswith("\n") else text + "\n").encode("utf-8"))

    def _emit(self, stream: str, line: str) -> None:
        if self.on_line is not None:
            self.on_line(stream, line)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._context.run, args=(self._run,), name=f"logsink-{self.step_id}", daemon=True
                )
                self._thread.start()
            while len(self._buffer) >= MAX_BUFFERED and not self._closed:
                self._cond.wait(0.1)
            if not self._buffer:
                self._first_at = time.monotonic()
                self._cond.notify_all()
            self._buffer.append((stream, timezone.now(), line))
            if len(self._buffer) >= FLUSH_LINES:
                self._cond.notify_all()

    # --- output --------------------------------------------------------------

    def _run(self) -> None:
        flushed_at = float("-inf")
        try:
            while True:
                with self._cond:
                    while not self._buffer and not self._closed:
                        self._cond.wait()
                    # A line after a quiet spell goes out at once; while lines keep coming, a batch goes
                    # out every FLUSH_INTERVAL (or FLUSH_LINES), so no line waits longer than that and
                    # each viewer gets one message per interval, not one per line.
                    deadline = max(self._first_at, flushed_at + FLUSH_INTERVAL)
                    while len(self._buffer) < FLUSH_LINES and not self._closed:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    batch, self._buffer = self._buffer[:FLUSH_LINES], self._buffer[FLUSH_LINES:]
                    closed = self._closed
                    self._cond.notify_all()
                if batch:
                    flushed_at = time.monotonic()
                    self._flush(batch)
                if closed:
                    with self._cond:
                        if not self._buffer:
                            return
        finally:
            connection.close()

    def _flush(self, batch: list[tuple[str, datetime, str]]) -> None:
        first, _last = with_db_retry(lambda: self._persist(batch), "log flush")
        self.lines_written += len(batch)
        lines = [
            {"seq": first + i, "step": self.step_id, "stream": stream, "text": text}
            for i, (stream, _at, text) in enumerate(batch)
        ]
        events.log_batch(self.execution_id, lines)

    def _persist(self, batch: list[tuple[str, datetime, str]]) -> tuple[int, int]:
        """One transaction: hand out a range of sequence numbers and insert the lines.

        Plain SQL through the connection's cursor: this runs up to every ``FLUSH_INTERVAL`` while a step
        prints, and the ORM's statement building cost several times the database's own work here.
        """
        count, ops = len(batch), connection.ops
        with transaction.atomic(), connection.cursor() as cursor:
            sql = sink_sql()
            cursor.execute(sql.next_seq, [count, self.execution_id])
            cursor.execute(sql.last_seq, [self.execution_id])
            last = int(cursor.fetchone()[0])
            first = last - count + 1
            cursor.executemany(
                sql.insert_lines,
                [
                    (self.execution_id, self.step_pk, first + i, stream, ops.adapt_datetimefield_value(at), text)
                    for i, (stream, at, text) in enumerate(batch)
                ],
            )
        return first, last

    def close(self) -> None:
        """Flush partial lines and everything buffered; returns when it is in the database."""
        for stream, rest in list(self._partial.items()):
            masker = self._maskers.get(stream)
            tail = masker.flush() if masker else ""
            if rest or tail:
                self._emit(stream, rest + tail)
        self._partial.clear()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()


def system_line(execution_id: int, step_pk: int | None, step_id: str, text: str) -> None:
    """Write one engine message into an execution's log right away."""
    sink = LogSink(execution_id, step_pk, step_id)
    sink.write(LogStream.SYSTEM, text)
    sink.close()
