"""Apache Airflow 3 for the peers benchmark; run by the Airflow venv's interpreter, never imported by AnsFlow.

``python -m bench.peers.airflow_side --home DIR --json OUT --chain N --fanout N --reps N``: a fresh ``AIRFLOW_HOME``
with a SQLite metadata database (``airflow db migrate``, untimed), the two DAGs of ``airflow_dags.py``, then two
ways of running them, each a whole ``airflow dags test`` command per run:

- ``dags_test``: no executor; ``dags test`` runs the tasks one after another inside its own process (it has no
  way to run two at once, so the fan-out runs serially).
- ``local_executor``: ``dags test --use-executor`` with the LocalExecutor (``parallelism`` 2, as AnsFlow's
  worker), whose task processes report through the Execution API of an ``airflow api-server`` on 127.0.0.1.

A run's time is the DAG run's ``start_date`` -> ``end_date`` in the metadata database (the command's own start-up
and DAG parsing excluded; the command's wall clock is reported beside it). A run counts only when the DAG run
succeeded with every task instance ``success``.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.peers import side

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
RUN_TIMEOUT = 1800.0
PARALLELISM = 2


class RunFailed(Exception):
    """An Airflow command or DAG run did not succeed; the message carries Airflow's own last lines."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path, port: int, chain: int, fanout: int) -> dict[str, str]:
    return dict(
        os.environ,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM=str(PARALLELISM),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
        AIRFLOW__USAGE_DATA_COLLECTION__ENABLED="False",
        SCARF_ANALYTICS="false",
        DO_NOT_TRACK="1",
        PEERS_CHAIN=str(chain),
        PEERS_FANOUT=str(fanout),
    )


def command(argv: list[str], env: dict[str, str], log: Path) -> float:
    """Run an ``airflow`` command to its end; its wall-clock seconds. A failure raises with its last lines."""
    began = time.perf_counter()
    with log.open("ab") as out:
        try:
            code = subprocess.run(
                [str(BIN / "airflow"), *argv], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    seconds = time.perf_counter() - began
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-12:]
        raise RunFailed(f"`airflow {' '.join(argv)}` exited {code}:\n" + "\n".join(tail))
    return seconds


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def last_run(home: Path, dag_id: str, steps: int) -> dict[str, float]:
    """The DAG run just finished: its duration, the first task's start and (chains) the median start-to-start."""
    with sqlite3.connect(home / "airflow.db") as db:
        run_id, state, started, ended = db.execute(
            "SELECT run_id, state, start_date, end_date FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
            (dag_id,),
        ).fetchone()
        tasks = db.execute(
            "SELECT state, start_date FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY task_id",
            (dag_id, run_id),
        ).fetchall()
    succeeded = sum(1 for task_state, _ in tasks if task_state == "success")
    if state != "success" or succeeded != steps:
        raise RunFailed(f"{dag_id} run {run_id} ended {state} with {succeeded} of {steps} tasks succeeded")
    starts = [_when(start) for _, start in tasks]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(starts)]
    return {
        "run_s": (_when(ended) - _when(started)).total_seconds(),
        "first_task_s": (min(starts) - _when(started)).total_seconds(),
        "task_to_task_ms": statistics.median(gaps) * 1000 if dag_id == "peers_chain" and gaps else float("nan"),
    }


def measure_mode(home: Path, env: dict[str, str], extra: list[str], sizes: dict[str, int], reps: int) -> dict:
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in sizes}
    for _ in range(reps):
        for name, steps in sizes.items():
            dag_id = f"peers_{name}"
            seconds = command(["dags", "test", *extra, dag_id], env, home / f"{dag_id}.log")
            row = {"command_s": seconds, **last_run(home, dag_id, steps)}
            for key, value in row.items():
                figures[name].setdefault(key, []).append(round(value, 4))
    return figures


class ApiServer:
    """``airflow api-server`` on 127.0.0.1 (the Execution API the LocalExecutor's task processes talk to)."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.env, self.log = env, home / "api-server.log"
        self.url = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/api/v2/monitor/health"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ApiServer:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(BIN / "airflow"), "api-server"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RunFailed(f"airflow api-server exited {self.process.returncode}: {self._tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2):  # noqa: S310 (a loopback http URL)
                    return self
            except OSError:
                time.sleep(0.5)
        raise RunFailed(f"airflow api-server did not answer {self.url} within 300 s: {self._tail()}")

    def _tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").strip().splitlines()[-12:])

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> int:
    args = side.arguments("bench.peers.airflow_side", ("--home", Path))
    home: Path = args.home
    if home.exists():
        shutil.rmtree(home)
    (home / "dags").mkdir(parents=True)
    shutil.copy(HERE / "airflow_dags.py", home / "dags" / "peers_dags.py")
    env = airflow_env(home, free_port(), args.chain, args.fanout)
    sizes = {"chain": args.chain, "fanout": args.fanout}
    from importlib.metadata import version

    result: dict[str, Any] = {
        "version": version("apache-airflow"),
        "python": sys.version.split()[0],
        "database": f"SQLite {sqlite3.sqlite_version}",
        "parallelism": PARALLELISM,
        "modes": {},
    }
    result["migrate_s"] = round(command(["db", "migrate"], env, home / "migrate.log"), 3)
    modes: dict[str, Any] = result["modes"]
    try:
        modes["dags_test"] = measure_mode(home, env, [], sizes, args.reps)
    except RunFailed as exc:
        modes["dags_test"] = {"error": str(exc)}
    try:
        with ApiServer(home, env):
            modes["local_executor"] = measure_mode(home, env, ["--use-executor"], sizes, args.reps)
    except RunFailed as exc:
        modes["local_executor"] = {"error": str(exc)}
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
