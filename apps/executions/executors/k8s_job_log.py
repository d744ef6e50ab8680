"""Following a Job's pod logs into a step log, exactly once, across stream breaks and worker deaths.

The unit is the *record*: a line of the container's log without its newline, cut into pieces of at most
``MAX_LINE`` bytes. The cut depends only on the log's bytes, never on how the stream happened to be chunked,
so reading a log again from its start yields the same records in the same order. Each record becomes exactly
one stdout row in the step log (the sink stores a complete line as one row), which makes "how many records
of this Job are already stored" a ``COUNT`` of the step's stdout rows written after the Job's creation line.

Resuming is therefore always "read the log from its start and drop the first N records":

* inside one attempt, when a follow stream ends or breaks while the container still runs, N is the number
  of records this follower has already seen of that pod;
* in a new attempt that re-attaches to a lost attempt's Job, N (``skip``) is the number of rows the
  database holds; rows a killed worker still had in memory were never stored, so they are read again.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes import client as k8s

from apps.k8s_integration.clusters.kube import ClusterError

from ..engine.logsink import MAX_LINE

CONTAINER = "main"
# A follow stream that stays silent this long is closed and reopened; it also bounds how long a dead
# connection can hold the step.
READ_TIMEOUT = 60.0


def records(chunks: Iterator[bytes], pending: bytearray) -> Iterator[bytes]:
    """Complete records from a byte stream; an unfinished line stays in ``pending``."""
    for chunk in chunks:
        pending.extend(chunk)
        while True:
            newline = pending.find(b"\n", 0, MAX_LINE + 1)
            if 0 <= newline < MAX_LINE:
                record = bytes(pending[:newline])
                del pending[: newline + 1]
            elif len(pending) >= MAX_LINE:
                record = bytes(pending[:MAX_LINE])
                del pending[:MAX_LINE]
            else:
                break
            yield record


def container_state(pod: Any) -> tuple[str, Any]:
    """("waiting" | "running" | "terminated", the state object) of the step's container in ``pod``."""
    for status in (pod.status.container_statuses or []) if pod.status else []:
        if status.name == CONTAINER and status.state is not None:
            for name in ("terminated", "running", "waiting"):
                value = getattr(status.state, name)
                if value is not None:
                    return name, value
    return "waiting", None


class PodLogFollower:
    """Streams the pods of one Job, in creation order, into ``emit``; ``skip`` records are dropped first.

    ``call`` makes one API call (raising ClusterError, or the step's Stopped once it is canceled); ``pause``
    waits or raises Stopped. ``emit(text)`` writes a record to the step log, ``seen(text)`` is told about a
    dropped one (it may still carry an output the step printed before the worker died).
    """

    def __init__(
        self,
        core: k8s.CoreV1Api,
        namespace: str,
        call: Callable[..., Any],
        pause: Callable[[float], None],
        emit: Callable[[str], None],
        seen: Callable[[str], None],
        skip: int = 0,
    ) -> None:
        self.core = core
        self.namespace = namespace
        self.call = call
        self.pause = pause
        self.emit = emit
        self.seen = seen
        self.skip = skip
        self.response: Any = None

    def follow(self, pod_name: str) -> bool:
        """Copy one pod's log until its container has ended and the whole log is read.

        Returns False when the pod disappeared first (deleted with its Job, say)."""
        read = 0  # records of this pod taken (emitted or dropped) so far
        not_ready = 0
        while True:
            try:
                response = self.call(
                    self.core.read_namespaced_pod_log,
                    pod_name,
                    self.namespace,
                    container=CONTAINER,
                    follow=True,
                    _preload_content=False,
                    _request_timeout=(10, READ_TIMEOUT),
                )
            except ClusterError as exc:
                if exc.status == 404:
                    return False
                not_ready += 1
                if exc.status == 400 and not_ready < 300:  # "is waiting to start": still being created
                    self.pause(0.2)
                    continue
                raise
            not_ready = 0
            complete, taken = self._copy(response, read)
            read += taken
            pod = self._pod(pod_name)
            if pod is None:
                return False
            if complete and container_state(pod)[0] == "terminated":
                return True
            if complete:
                # The stream ended although the container runs on (or its end is not yet in the pod's status).
                self.pause(0.2)

    def _copy(self, response: Any, already: int) -> tuple[bool, int]:
        """Take the records after the first ``already`` ones; (ended cleanly, records newly taken)."""
        self.response = response
        pending = bytearray()
        index = taken = 0
        complete = False
        try:
            for record in records(response.stream(MAX_LINE), pending):
                index += 1
                if index > already:
                    self._take(record)
                    taken += 1
            complete = True
        except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError):
            # Broken, timed out, or shut down by ``abort``; a partial line is read again on reopen.
            complete = False
        finally:
            self.response = None
            if not complete:
                response.close()  # never hand a half-read connection back to the pool
            response.release_conn()
        if complete and pending:
            # The log's last line has no newline: it is a record too (and only ever seen at a clean end).
            index += 1
            if index > already:
                self._take(bytes(pending))
                taken += 1
        return complete, taken

    def _take(self, record: bytes) -> None:
        text = record.decode("utf-8", errors="replace")
        if self.skip > 0:
            self.skip -= 1
            self.seen(text)
        else:
            self.emit(text)

    def _pod(self, name: str) -> Any:
        try:
            return self.call(self.core.read_namespaced_pod, name, self.namespace)
        except ClusterError as exc:
            if exc.status == 404:
                return None
            raise

    def abort(self) -> None:
        """From another thread: end the open stream now (shutting the socket down wakes a blocked read)."""
        response = self.response
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
