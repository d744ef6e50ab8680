"""Step processes whose pool process died: the worker's main process adopts them and ends them.

A step runs in a process group (a session) of its own, started by a pool process. When that pool
process is killed (the kernel's OOM killer, a ``kill -9``), the step's processes would otherwise be
re-parented to init and run on, while the reaper declares the attempt lost and a retry starts: the
step's side effects would happen twice, at the same time.

``adopt`` makes the worker's main process the "child subreaper" of everything it starts (Linux), so
such processes become its children. ``sweep`` (run every ``ORPHAN_SWEEP_INTERVAL`` by the main
process) reaps the adopted processes that ended, and ends the process group of each one whose
``ANSFLOW_WORKER`` (set in every step's environment) names a pool process that is no longer there.
Pool processes share the main process's group and are never touched; a running step's processes
are children of their pool process, not of the main one, so they are not either.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

logger = logging.getLogger("ansflow.engine.orphans")

_PR_SET_CHILD_SUBREAPER = 36


def adopt() -> bool:
    """Become the subreaper of this process's descendants; False where the system has no such thing."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        logger.warning("cannot adopt orphaned step processes: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


def children() -> set[int]:
    """This process's children, from every one of its threads' ``children`` lists."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def _worker_of(pid: int) -> int | None:
    """The pool process that ran the step this process belongs to (its ``ANSFLOW_WORKER``), if any."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(b"ANSFLOW_WORKER="):
            with contextlib.suppress(ValueError):
                return int(entry.rpartition(b":")[2])
    return None


def sweep() -> list[int]:
    """Reap the adopted processes that ended; end the groups of those whose step's pool process is gone.

    Returns the process groups killed. An adopted process whose pool process still runs (a daemon a
    running step detached, such as an SSH ControlPersist master) is left to its step.
    """
    own = os.getpgrp()
    found = children()
    pool: set[int] = set()
    adopted: dict[int, int] = {}
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            group = os.getpgid(pid)
            if group == own:
                pool.add(pid)  # a pool process, or anything else the worker itself started
            else:
                adopted[pid] = group
    killed: list[int] = []
    for pid, group in sorted(adopted.items()):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                continue  # it had ended: now it is reaped
        owner = _worker_of(pid)
        if owner is None or owner in pool:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
            killed.append(group)
            logger.warning("ended process group %d of a step whose pool process %d is gone (pid %d)", group, owner, pid)
    return killed
