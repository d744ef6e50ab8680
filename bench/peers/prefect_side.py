"""Prefect 3 for the peers benchmark; run by the Prefect venv's interpreter, never imported by AnsFlow.

``python -m bench.peers.prefect_side --json OUT --chain N --fanout N --reps N``: with no ``PREFECT_API_URL`` Prefect
starts its temporary (ephemeral) API server as a subprocess on 127.0.0.1 with a SQLite database under
``PREFECT_HOME``; the first flow of the process pays for that start (reported as ``startup_s``). Then, in the same
warm process, chain runs (``N`` task calls in a row, each waiting for the one before) and fan-out runs (``N`` tasks
``.submit()``-ted at once to Prefect's default task runner, a thread pool) alternate. Every task spawns ``true`` and
records that it ran, so a run only counts when all of its tasks did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import prefect
from prefect import flow, task
from prefect.futures import wait

from bench.peers import side

_ran = 0
_lock = threading.Lock()


@task
def true_step(index: int) -> int:
    global _ran
    subprocess.run(["true"], check=True)
    with _lock:
        _ran += 1
    return index


@flow
def chain(steps: int) -> None:
    for index in range(steps):
        true_step(index)


@flow
def fanout(steps: int) -> None:
    futures = [true_step.submit(index) for index in range(steps)]
    wait(futures)
    for future in futures:
        future.result()


def timed(one_flow: Callable[[int], None], steps: int) -> float:
    """Seconds from calling the flow to its return; every task must have run."""
    global _ran
    _ran = 0
    began = time.perf_counter()
    one_flow(steps)
    seconds = time.perf_counter() - began
    if _ran != steps:
        raise RuntimeError(f"{one_flow}: {_ran} of {steps} tasks ran")
    return seconds


def main() -> int:
    args = side.arguments("bench.peers.prefect_side")
    began = time.perf_counter()
    timed(chain, 1)  # starts the temporary server and creates its database
    startup = time.perf_counter() - began
    timed(fanout, 10)  # warm: the thread pool and the server's connections
    chain_s: list[float] = []
    fanout_s: list[float] = []
    for _ in range(args.reps):
        chain_s.append(timed(chain, args.chain))
        fanout_s.append(timed(fanout, args.fanout))
    result = {
        "version": prefect.__version__,
        "python": sys.version.split()[0],
        "startup_s": round(startup, 3),
        "chain_s": [round(v, 4) for v in chain_s],
        "fanout_s": [round(v, 4) for v in fanout_s],
        "task_runner": "ThreadPoolTaskRunner, max_workers "
        + (os.environ.get("PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS") or "unbounded (Prefect's default)"),
        "api": os.environ.get("PREFECT_API_URL") or "temporary server on 127.0.0.1 (ephemeral mode), SQLite",
    }
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
