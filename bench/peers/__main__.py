"""``python -m bench.peers [--reps N] [--quick]``: AnsFlow, raw Celery, Prefect 3 and Airflow 3 in one run.

Prefect and Airflow are installed first (untimed) into ``<data dir>/<peer>-venv`` from their pinned requirements
files. Then ``--reps`` rounds: in each, every side runs one timed run of each workload in a process of its own,
in turn: AnsFlow + the Celery floor once per backend (the embedded default, and MariaDB + Redis when both answer
on 127.0.0.1), Prefect and Airflow by their own venv's interpreter.
A side that cannot be installed or run is reported with its exact error; the others still run. Results go to
``bench/results/peers.json`` and ``bench/README.md`` (``--quick``: under the data dir).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ansflow.settings")

from django.conf import settings

from .. import floor
from .. import report as bench_report
from ..backends import fresh_environment, mariadb_answers, recreate_mariadb_database, redis_answers, wait_or_stop
from . import figures, venvs
from .report import section

MARIADB_DATABASE = "ansflow_peers"
EXTERNAL_REDIS = "redis://127.0.0.1:6379/11"
SIDE_TIMEOUT = 3600.0
PEERS = ("prefect", "airflow")
LOOPBACK_ONLY = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def say(text: str) -> None:
    print(f"bench-peers: {text}", flush=True)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def loopback_only() -> bool:
    """Whether commands can run in a network namespace that has only loopback (needs root and util-linux)."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run([*LOOPBACK_ONLY, "true"], capture_output=True).returncode == 0


def run_side(name: str, argv: list[str], env: dict[str, str], workdir: Path, out: Path) -> dict[str, Any]:
    """Run one side to its end; its JSON, or ``{"error": ...}`` with the exit code and its log's last lines."""
    log = workdir / f"{name}.log"
    say(f"{name} ... (log: {log})")
    with log.open("wb") as output:
        process = subprocess.Popen(argv, env=env, stderr=output, stdout=output, cwd=settings.BASE_DIR)
        code = wait_or_stop(process, SIDE_TIMEOUT)  # each side stops what it started on SIGTERM
    if code == 0 and out.exists():
        return dict(json.loads(out.read_text()))
    tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-20:])
    return {"error": f"{name} exited {code}" + (" (timed out)" if code == -1 else "") + f":\n{tail}"}


def ansflow_backends() -> dict[str, dict[str, str]]:
    found = {"embedded": {"DATABASE_URL": "", "REDIS_URL": ""}}
    if mariadb_answers() and redis_answers(EXTERNAL_REDIS):
        found["mariadb"] = {"DATABASE_URL": recreate_mariadb_database(MARIADB_DATABASE), "REDIS_URL": EXTERNAL_REDIS}
    else:
        say("MariaDB on 127.0.0.1:3306 or Redis on 127.0.0.1:6379 does not answer; AnsFlow runs on the default only")
    return found


def run_ansflow(label: str, overrides: dict[str, str], base: Path, sizes: list[str]) -> dict[str, Any]:
    data_dir = base / f"ansflow-{label}"
    env = fresh_environment(data_dir, overrides)
    out = data_dir / "result.json"
    argv = [sys.executable, "-m", "bench.peers.ansflow_side", "--label", label, "--json", str(out), *sizes]
    return run_side(f"ansflow-{label}", argv, env, data_dir, out)


def install(peer: str, base: Path) -> Path | str:
    """The peer's venv, or why it could not be installed."""
    try:
        venv, seconds = venvs.ensure(peer, base)
    except venvs.InstallFailed as exc:
        return f"installing {peer} failed: {exc}"
    say(f"{peer}: " + (f"installed into {venv} in {seconds:.0f} s" if seconds else f"{venv} is up to date"))
    return venv


def run_peer(peer: str, venv: Path, base: Path, sizes: list[str], isolate: bool) -> dict[str, Any]:
    workdir = base / peer
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    out = workdir / "result.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1", DO_NOT_TRACK="1")
    # run from the checkout (the working directory), so the side can import bench.peers.side
    argv = [str(venvs.python(venv)), "-m", f"bench.peers.{peer}_side", "--json", str(out), *sizes]
    if peer == "prefect":
        env.update(
            PREFECT_HOME=str(workdir / "home"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_UI_ENABLED="false",
            # the default 20 s is too short for the server's first start (it creates its database) on a busy machine
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",
        )
        env.pop("PREFECT_API_URL", None)  # no API URL: Prefect's temporary server on loopback
    else:
        argv += ["--home", str(workdir / "home")]
    return run_side(peer, [*LOOPBACK_ONLY, *argv] if isolate else argv, env, workdir, out)


def git_revision() -> str:
    found = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description="AnsFlow beside its peers")
    parser.add_argument("--reps", type=int, default=3, help="rounds: timed runs of each workload per tool (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: a chain of 10, a fan-out of 20, 1 run")
    args = parser.parse_args(argv)
    chain, fanout, reps = (10, 20, 1) if args.quick else (100, 200, args.reps)
    base = Path(settings.DATA_DIR)
    base.mkdir(parents=True, exist_ok=True)
    isolate = loopback_only()
    environment: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_1m_start": load(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "revision": git_revision(),
        "spawn_true_ms": round(floor.spawn_cost(["true"], 300) * 1000, 3),
        "repetitions": f"{reps} round(s), each one timed run of each workload in every tool",
        "network": "own network namespace with only loopback" if isolate else "the host's network (not isolated)",
    }
    say(f"load average {environment['load_average_1m_start']}, spawning true {environment['spawn_true_ms']} ms")
    venv_of = {peer: install(peer, base) for peer in PEERS}  # before any timing
    # Rounds: every side runs once per round, in turn, so the shared machine's load hits every tool alike.
    one_run = ["--chain", str(chain), "--fanout", str(fanout), "--reps", "1"]
    rounds: dict[str, list[dict[str, Any]]] = {}
    loads: list[float] = []
    for number in range(1, reps + 1):
        say(f"round {number} of {reps}")
        for label, overrides in ansflow_backends().items():  # MariaDB's database is recreated for every round
            loads.append(load())
            rounds.setdefault(f"ansflow-{label}", []).append(run_ansflow(label, overrides, base, one_run))
        for peer, venv in venv_of.items():
            loads.append(load())
            result = run_peer(peer, venv, base, one_run, isolate) if isinstance(venv, Path) else {"error": venv}
            rounds.setdefault(peer, []).append(result)
    raw = {key: figures.combine(results) for key, results in rounds.items()}
    environment["load_average_1m_end"] = load()
    environment["load_average_1m_sides"] = f"{min(loads)} to {max(loads)}"
    document = build(raw, environment, {"chain": chain, "fanout": fanout}, args.quick)
    directory = base / "quick-results" if args.quick else bench_report.RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "peers.json").write_text(json.dumps(document, indent=2) + "\n")
    if args.quick:
        (directory / "README.md").write_text("\n".join(section({"peers": document})))
    else:
        bench_report.write_readme(directory)
    print("\n".join(section({"peers": document})))
    say(f"results in {directory}")
    return 1 if any(row.get("error") for row in document["rows"]) else 0


def build(raw: dict[str, Any], environment: dict[str, Any], sizes: dict[str, int], quick: bool) -> dict[str, Any]:
    spawn = environment["spawn_true_ms"]
    rows: list[dict[str, Any]] = []
    for key, result in raw.items():
        if key.startswith("ansflow-"):
            rows += figures.ansflow_rows(key.removeprefix("ansflow-"), result, sizes, spawn)
    rows.sort(key=lambda row: not row["key"].startswith("ansflow"))  # AnsFlow's rows first, then the floor's
    rows += figures.prefect_rows(raw.get("prefect", {"error": "not run"}), sizes, spawn)
    rows += figures.airflow_rows(raw.get("airflow", {"error": "not run"}), sizes, spawn)
    figures.add_ratios(rows)
    return {
        "benchmark": "peers",
        "description": "The same chain and fan-out of `true` steps in AnsFlow, raw Celery, Prefect 3 and Airflow 3.",
        "quick": quick,
        "workloads": sizes,
        "environment": environment,
        "rows": rows,
        "targets": figures.targets(rows),
    }


if __name__ == "__main__":
    sys.exit(main())
