"""The floor's client side: send a chain or a group of ``spawn_true`` tasks and wait for the last one."""

from __future__ import annotations

import time
import uuid

from celery import chain, group

from .floor_app import client, done_key, spawn_true


class FloorTimeout(Exception):
    """The floor run did not finish in time."""


def _wait(run: str, started: float, timeout: float) -> float:
    popped = client().blpop([done_key(run)], timeout=timeout)
    if popped is None:
        raise FloorTimeout(f"floor run {run} did not finish within {timeout:g} s")
    return float(popped[1]) - started


def run_chain(length: int, timeout: float) -> float:
    """A Celery chain of ``length`` tasks; seconds from the send call to the last task's end."""
    run = uuid.uuid4().hex
    signatures = [spawn_true.si(run, length) for _ in range(length)]
    started = time.time()
    chain(*signatures).apply_async()
    return _wait(run, started, timeout)


def run_group(width: int, timeout: float) -> float:
    """``width`` tasks sent at once; seconds from the send call to the moment the last one ended."""
    run = uuid.uuid4().hex
    signatures = [spawn_true.si(run, width) for _ in range(width)]
    started = time.time()
    group(signatures).apply_async()
    return _wait(run, started, timeout)


def spawn_cost(argv: list[str], count: int) -> float:
    """Seconds per ``subprocess.run`` of ``argv`` in this process (the cost no scheduler can avoid)."""
    import subprocess

    subprocess.run(argv, check=True)  # warm the page cache and the interpreter's fork path
    began = time.perf_counter()
    for _ in range(count):
        subprocess.run(argv, check=True)
    return (time.perf_counter() - began) / count
