"""Where the CPU goes during a timed run: the CPU seconds each process on the machine used, by role.

On two cores a throughput benchmark is a CPU budget: the worker's pool processes (with the
commands their steps spawn, once reaped), the worker's main process (the Celery consumer), this
benchmark process (which starts the run and sends its messages), Redis and the database server
all share it. Roles are read from the command lines; processes that started or ended during the
run count what they used while both snapshots saw them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import psutil

T = TypeVar("T")

Snapshot = dict[int, tuple[str, float]]


def _role(command: str, parent_command: str) -> str | None:
    for app, name in (("-A ansflow ", "ansflow"), ("-A bench.floor_app ", "floor")):
        if app in command and " worker" in command:
            return f"{name} pool" if app in parent_command else f"{name} main"
    if "redis-server" in command:
        return "redis"
    if "mariadbd" in command or "mysqld" in command:
        return "database"
    return None


def snapshot() -> Snapshot:
    """CPU seconds so far of every process with a role (a pool process's reaped children included)."""
    me = os.getpid()
    found: Snapshot = {}
    commands = {}
    for process in psutil.process_iter(["pid", "ppid", "cmdline"]):
        commands[process.pid] = (" ".join(process.info["cmdline"] or []), process.info["ppid"])
    for pid, (command, ppid) in commands.items():
        role = "benchmark" if pid == me else _role(command, commands.get(ppid, ("", 0))[0])
        if role is None:
            continue
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        spent = times.user + times.system
        if role.endswith(" pool"):
            spent += times.children_user + times.children_system  # the commands its steps ran
        found[pid] = (role, spent)
    return found


def used(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds per role between two snapshots."""
    by_role: dict[str, float] = {}
    for pid, (role, spent) in after.items():
        if pid in before:
            by_role[role] = by_role.get(role, 0.0) + spent - before[pid][1]
    return {role: round(seconds, 3) for role, seconds in sorted(by_role.items())}


def measured(run: Callable[[], T]) -> tuple[T, dict[str, float]]:
    """``run()``'s result and the CPU seconds each role used while it ran."""
    before = snapshot()
    result = run()
    return result, used(before, snapshot())
