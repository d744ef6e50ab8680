"""Pod logs: the last lines of a container (a read), and a followed stream for the log socket.

Lines are read with the kubelet's timestamps, so a follower that reconnects asks for the lines after the last
one it has (``since``) and gets no duplicate and no gap. A followed stream blocks in a socket read; ``close()``
from any thread shuts that socket down, which ends the read at once.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import urllib3
from django.core.exceptions import ValidationError
from kubernetes import client as k8s

from ..models import Cluster
from .kube import ClusterError, call, describe, kube_client
from .selectors import check_name

TAIL_DEFAULT, TAIL_MAX = 200, 5000
# Connect within 10 s; a followed container may stay silent for a long time before its next line.
FOLLOW_TIMEOUT = (10, 24 * 3600)
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def stamp_ns(stamp: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 timestamp as the kubelet writes it (None if it is not one)."""
    match = STAMP.match(stamp or "")
    if match is None:
        return None
    base, fraction, zone = match.groups()
    seconds = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).timestamp()
    return int(seconds) * 10**9 + int((fraction or "").ljust(9, "0"))


def split_line(line: str) -> dict[str, str]:
    """``{"time", "text"}`` of one timestamped log line."""
    stamp, _, text = line.partition(" ")
    if stamp_ns(stamp) is None:
        return {"time": "", "text": line}
    return {"time": stamp, "text": text}


def check_log_target(namespace: str, name: str, container: str, tail: int | None) -> None:
    check_name(namespace, "namespace", subdomain=False)
    check_name(name)
    if container:
        check_name(container, "container", subdomain=False)
    if tail is not None and not 0 <= tail <= TAIL_MAX:
        raise ValidationError({"tail": f"Between 0 and {TAIL_MAX}."})


def pod_log_tail(
    cluster: Cluster, *, namespace: str, name: str, container: str = "", tail: int = TAIL_DEFAULT
) -> list[dict[str, str]]:
    """The last ``tail`` lines of a pod's container (its only container when ``container`` is empty)."""
    check_log_target(namespace, name, container, tail)
    with kube_client(cluster) as api:
        response = call(
            cluster, k8s.CoreV1Api(api).read_namespaced_pod_log, name, namespace, container=container or None,
            tail_lines=tail, timestamps=True, _preload_content=False,
        )  # fmt: skip
        try:
            text = (response.data or b"").decode("utf-8", errors="replace")
        finally:
            response.release_conn()
    return [split_line(line) for line in text.splitlines()]


class PodLogStream:
    """A followed pod log. The owning thread calls ``open()`` then iterates ``lines()`` inside ``with``;
    any thread may call ``close()`` to end it. Lines come as ``{"time", "text"}`` until the container stops."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        namespace: str,
        name: str,
        container: str = "",
        tail: int | None = None,
        since: str = "",
    ) -> None:
        check_log_target(namespace, name, container, tail)
        self.since_ns = stamp_ns(since) if since else None
        if since and self.since_ns is None:
            raise ValidationError({"since": "An RFC 3339 timestamp, as the log lines carry."})
        self.cluster, self.namespace, self.name, self.container, self.tail = cluster, namespace, name, container, tail
        self._stack = ExitStack()
        self._response: Any = None
        self._closed = threading.Event()

    def __enter__(self) -> PodLogStream:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()
        self._stack.close()

    def open(self) -> None:
        """Connects to the log (raises ClusterError naming the cause)."""
        api = self._stack.enter_context(kube_client(self.cluster))
        options: dict[str, Any] = {"follow": True, "timestamps": True}
        if self.container:
            options["container"] = self.container
        if self.since_ns is not None:
            # The kubelet takes whole seconds back from now: ask a little more and drop what the follower has.
            options["since_seconds"] = max(1, math.ceil(time.time() - self.since_ns / 10**9) + 1)
        elif self.tail is not None:
            options["tail_lines"] = self.tail
        self._response = call(
            self.cluster, k8s.CoreV1Api(api).read_namespaced_pod_log, self.name, self.namespace,
            _preload_content=False, _request_timeout=FOLLOW_TIMEOUT, **options,
        )  # fmt: skip
        if self._closed.is_set():
            self._shutdown()

    def lines(self) -> Iterator[dict[str, str]]:
        """Each line as it is written; returns when the container stops or ``close()`` is called."""
        buffer = bytearray()
        try:
            for chunk in self._response.stream(amt=None, decode_content=False):
                buffer.extend(chunk)
                *complete, rest = bytes(buffer).split(b"\n")
                buffer = bytearray(rest)
                for raw in complete:
                    line = self._keep(raw)
                    if line is not None:
                        yield line
            if buffer:
                line = self._keep(bytes(buffer))
                if line is not None:
                    yield line
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if not self._closed.is_set():
                raise describe(exc, self.cluster) from exc

    def _keep(self, raw: bytes) -> dict[str, str] | None:
        line = split_line(raw.decode("utf-8", errors="replace"))
        if self.since_ns is not None and (stamp_ns(line["time"]) or 0) <= self.since_ns:
            return None
        return line

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (the reader went away), as opposed to the log ending by itself."""
        return self._closed.is_set()

    def close(self) -> None:
        """Ends the stream from any thread: the blocked read returns and ``lines()`` stops."""
        self._closed.set()
        self._shutdown()

    def _shutdown(self) -> None:
        response = self._response
        if response is None:
            return
        with contextlib.suppress(ValueError, RuntimeError, OSError):  # already closed or released
            response.shutdown()


__all__ = ["ClusterError", "PodLogStream", "pod_log_tail", "split_line", "stamp_ns"]
