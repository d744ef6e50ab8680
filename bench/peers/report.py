"""The peers section of ``bench/README.md``, rendered from ``bench/results/peers.json``."""

from __future__ import annotations

from typing import Any

INTRO = """\
## Peers side by side

```sh
make bench-peers    # AnsFlow beside raw Celery, Prefect 3 and Airflow 3, all measured in one run
.venv/bin/python -m bench.peers --quick     # smoke run: a chain of 10, a fan-out of 20, one repetition
```

The same two workloads everywhere (issue 9 §4): a **chain** of {chain} steps running `true`, each after the one
before, and a **fan-out** of {fanout} independent `true` steps.

- **AnsFlow**: a pipeline of `shell` steps `run: "true"`, measured by the engine benchmarks' own code
  (`bench/measure.py`, one worker, prefork, concurrency 2) on the embedded default and on MariaDB + Redis
  (database `ansflow_peers`, recreated; Redis database 11, flushed). Total = `execution_start` -> the run's
  `finished_at`.
- **raw Celery** (the floor): the engine benchmarks' floor, measured interleaved with AnsFlow on the same Redis:
  a Celery chain / group of tasks that each `subprocess.run(["true"])`, one worker started like AnsFlow's.
  Total = send -> the last task's end.
- **Prefect 3**: a flow calling a `@task` that spawns `true` {chain} times in a row, and a flow `.submit()`-ting
  {fanout} of them to Prefect's default task runner (a thread pool); no `PREFECT_API_URL`, so Prefect starts its
  temporary API server on 127.0.0.1 with SQLite under the data dir. One process: the first flow pays for the
  server's start (a note below), then chain and fan-out runs alternate. Total = the flow call -> its return.
- **Apache Airflow 3**: two DAGs of `BashOperator(bash_command="true")` on a SQLite metadata database, each run one
  `airflow dags test` command: without an executor (the tasks run one at a time in that process, so the fan-out
  runs serially) and with `--use-executor` (the LocalExecutor, parallelism 2 as AnsFlow's worker; its task
  processes report to the Execution API of an `airflow api-server` on 127.0.0.1). Total = the DAG run's
  `start_date` -> `end_date` (the command's start-up and DAG parsing excluded; see the notes).

Per step = total / steps. **Overhead per step** = per step - the cost of spawning `true` on this machine
(measured at the start), i.e. what the tool adds to the work. *vs AnsFlow* = the row's overhead / AnsFlow's on
the embedded default. The benchmark runs in rounds (`--reps`, default 3): each round runs every side in turn, one
timed run of each workload (after its untimed warm-up runs), so the load of a shared machine hits every tool alike;
totals are medians over the rounds. Each peer is installed by the benchmark into its own
virtual environment under the data dir (`var/peers/<peer>-venv`) from the pinned
`bench/peers/requirements-<peer>.txt`. When the benchmark runs as root, Prefect and Airflow run in a network
namespace of their own that has only loopback (`unshare --net`), which shows they ran offline.
"""


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def _x(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}x" if abs(value) >= 1 else f"{value:.2f}x"


def _cells(row: dict[str, Any], name: str) -> list[str]:
    f = row.get(name)
    if f is None:
        return ["-", "-", "-", "-"]
    return [_s(f["total_s"]), _ms(f["per_step_ms"]), _ms(f["overhead_ms_per_step"]), _x(f.get("vs_ansflow"))]


def _name(row: dict[str, Any]) -> str:
    where = row.get("backend") or row.get("mode", "")
    return f"{row['tool']}, {where}" if where else row["tool"]


def table(document: dict[str, Any]) -> list[str]:
    sizes = document["workloads"]
    rows = [
        f"| tool | chain of {sizes['chain']}: total | per step | overhead / step | vs AnsFlow "
        f"| fan-out of {sizes['fanout']}: total | per step | overhead / step | vs AnsFlow | how it ran |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in document["rows"]:
        how = row.get("setup", "") + (f" ({row['version']})" if row.get("version") else "")
        if row.get("error"):
            how = f"**failed**: see below. {how}"
        rows.append(f"| {_name(row)} | " + " | ".join(_cells(row, "chain") + _cells(row, "fanout")) + f" | {how} |")
    return rows


def _met(found: dict[str, Any] | None) -> str:
    if found is None:
        return "- (did not run)"
    verdict = "**yes**" if found["met"] else "**no**"
    return f"{_ms(found['overhead_ms'])} ({found['row']}): {_x(found['times_lower'])} AnsFlow's; {verdict}"


def target_rows(document: dict[str, Any]) -> list[str]:
    rows = [
        "| workload | AnsFlow | overhead / step | Airflow's fastest: overhead, x AnsFlow; 10x or more? "
        "| Prefect: overhead, x AnsFlow; higher than AnsFlow's? |",
        "| --- | --- | --- | --- | --- |",
    ]
    for target in document["targets"]:
        rows.append(
            f"| {target['workload']} | {target['ansflow']} | {_ms(target['ansflow_overhead_ms'])} "
            f"| {_met(target.get('airflow'))} | {_met(target.get('prefect'))} |"
        )
    return rows


def notes(document: dict[str, Any]) -> list[str]:
    env = document["environment"]
    lines = [
        f"- Machine: {env['cpu_count']} CPUs, load average (1 min) {env['load_average_1m_start']} at the start and "
        f"{env['load_average_1m_end']} at the end, {env['load_average_1m_sides']} as each side started (the "
        "benchmark's own processes count in it too); spawning `true` cost "
        f"{env['spawn_true_ms']:.2f} ms; {env['repetitions']}; {env['date']}; Prefect and Airflow: {env['network']}.",
    ]
    for row in document["rows"]:
        if row.get("startup_s") is not None:
            lines.append(f"- {_name(row)}: the first flow of the process (the temporary server's start included) "
                         f"took {row['startup_s']:.1f} s.")  # fmt: skip
        for name in ("chain", "fanout"):
            f = row.get(name, {})
            if f.get("command_s") is not None:
                parts = [
                    f"the whole `airflow dags test` command took {_s(f['command_s'])}",
                    f"the first task started {_s(f['first_task_s'])} after the DAG run did",
                ]
                if name == "chain":
                    parts.append(f"from one task's start to the next one's {_ms(f['task_to_task_ms'])}")
                lines.append(f"- {_name(row)}, {name} (medians): " + "; ".join(parts) + ".")
        if row.get("error"):
            lines.append(f"- {_name(row)} **failed**:\n\n```text\n{row['error'].strip()}\n```")
    return lines


def section(results: dict[str, dict[str, Any]]) -> list[str]:
    document = results.get("peers")
    if not document:
        return []
    sizes = document["workloads"]
    return [
        INTRO.format(chain=sizes["chain"], fanout=sizes["fanout"]),
        *table(document),
        "",
        "Targets (issue 9 §4): AnsFlow's per-step overhead at least 10x lower than Airflow's and lower than "
        "Prefect's, against the fastest way each peer ran:\n",
        *target_rows(document),
        "",
        *notes(document),
        "",
    ]
