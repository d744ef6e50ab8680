"""Results: one JSON file per benchmark, and the summary table in ``bench/README.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
README = HERE / "README.md"
BACKEND_ORDER = ("embedded", "mariadb")
BENCHMARKS = ("queries", "metrics", "chain", "fanout", "logs_latency", "logs_throughput", "viewers", "load", "scale")

DESCRIPTIONS = {
    "chain": "100 `shell` steps running `true`, each needing the previous one, on one worker (prefork, concurrency 2); "
    "floor: a Celery chain of 100 tasks that each spawn `true`.",
    "fanout": "500 independent `shell` steps running `true` on one worker (prefork, concurrency 2); "
    "floor: 500 Celery tasks that each spawn `true`, sent at once as a group.",
    "metrics": "A Prometheus scrape of /metrics (render(), in-process) with 300,000 step attempts recorded: the "
    "first scrape of a web process, and later ones each following 100 new attempts; baseline: recounting every "
    "attempt with the ORM's duration aggregate.",
    "queries": "Database statements for one step's claim, run and finish (and for starting a run), captured "
    "in-process with CaptureQueriesContext on the worker's code path.",
}


def write_results(per_backend: dict[str, dict[str, Any]], directory: Path) -> list[Path]:
    """``per_backend``: each backend's suite output. Writes ``<benchmark>.json`` holding every backend's figures."""
    directory.mkdir(parents=True, exist_ok=True)
    names = sorted({name for result in per_backend.values() for name in result["benchmarks"]})
    written = []
    for name in names:
        document = {
            "benchmark": name,
            "description": DESCRIPTIONS.get(name, ""),
            "backends": {
                label: {"environment": result["environment"], "quick": result["quick"], **result["benchmarks"][name]}
                for label, result in per_backend.items()
                if name in result["benchmarks"]
            },
        }
        path = directory / f"{name}.json"
        path.write_text(json.dumps(document, indent=2) + "\n")
        written.append(path)
    return written


def load_results(directory: Path) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def _backends(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = document.get("backends", {})
    order = [b for b in BACKEND_ORDER if b in found] + sorted(b for b in found if b not in BACKEND_ORDER)
    return [(label, found[label]) for label in order]


def _met(figures: dict[str, Any]) -> str:
    if figures.get("error"):
        return f"no: {figures['error']}"
    return "**yes**" if figures.get("met") else "**no**"


def _backend_name(label: str, figures: dict[str, Any]) -> str:
    env = figures.get("environment", {})
    return f"{label} ({env.get('database', '?')}, {env.get('redis', '?')})"


def summary_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| benchmark | backend | AnsFlow | floor (same run) | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, figures in _backends(results.get("chain", {})):
        rows.append(
            f"| (a) chain of {figures['steps']} | {_backend_name(label, figures)} "
            f"| {figures['ansflow_median_ms']:.2f} ms/step | {figures['floor_median_ms']:.2f} ms/task "
            f"| {figures['ratio']:.2f}x | <= {figures['target_ratio_max']:g}x | {_met(figures)} |"
        )
    for label, figures in _backends(results.get("fanout", {})):
        rows.append(
            f"| (b) fan-out of {figures['steps']} | {_backend_name(label, figures)} "
            f"| {figures['ansflow_median_per_s']:.0f} steps/s | {figures['floor_median_per_s']:.0f} tasks/s "
            f"| {figures['ratio']:.0%} | >= {figures['target_ratio_min']:.0%} | {_met(figures)} |"
        )
    return rows


CPU_ROLES = (
    ("pool", "pool processes (with what they spawn)"),
    ("main", "worker's main process"),
    ("benchmark", "benchmark process (start, sends)"),
    ("redis", "Redis"),
    ("database", "database server"),
)


def cpu_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    """The fan-out's CPU per step by role, AnsFlow beside the floor (``bench/cpu.py``)."""
    rows = [
        "| backend | side | " + " | ".join(title for _, title in CPU_ROLES) + " | total | 2 cores x wall per step |",
        "| --- | --- |" + " --- |" * (len(CPU_ROLES) + 2),
    ]
    for label, figures in _backends(results.get("fanout", {})):
        spent = figures.get("cpu_ms_per_step")
        if not spent:
            continue
        for side, rate in (("ansflow", figures["ansflow_median_per_s"]), ("floor", figures["floor_median_per_s"])):
            by_role = spent[side]
            cells = [by_role.get(f"{side} {role}" if role in ("pool", "main") else role, 0.0) for role, _ in CPU_ROLES]
            name = "AnsFlow" if side == "ansflow" else "floor"
            rows.append(
                f"| {label} | {name} | "
                + " | ".join(f"{value:.2f} ms" for value in cells)
                + f" | {sum(cells):.2f} ms | {2000 / rate:.2f} ms |"
            )
    return rows if len(rows) > 2 else []


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def _step_rows(built: dict[str, int] | None) -> str:
    return "-" if built is None else str(built.get("executions.StepExecution", 0))


def detail_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| backend | chain: queued -> claimed | claimed -> finished | finished -> next queued "
        "| statements per step (chain / fan-out) | in-process step, chain / fan-out | opening a DB connection "
        "| step rows read per step (chain of 7 / fan-out) | start a run: statements, time (7-step chain / fan-out) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    chain = dict(_backends(results.get("chain", {})))
    for label, q in _backends(results.get("queries", {})):
        timeline = chain.get(label, {}).get("timeline_ms", {})
        dispatch, execute, advance = (_ms(timeline.get(k)) for k in ("dispatch_ms", "execute_ms", "advance_ms"))
        rows.append(
            f"| {label} | {dispatch} | {execute} | {advance} "
            f"| {q['middle_step']['queries']} / {max(q['fanout_per_step_queries'])} "
            f"| {q['in_process_step_ms']:.1f} ms / {q['fanout_in_process_step_ms']:.1f} ms (width {q['fanout_width']}) "
            f"| {q['connect_ms']:.2f} ms "
            f"| {_step_rows(q['middle_step'].get('model_instances_built'))} "
            f"/ {_step_rows(q.get('fanout_model_instances_built'))} "
            f"| {q['start_queries']}, {q['start_ms']:.0f} ms "
            f"/ {q['fanout_start_queries']}, {q['fanout_start_ms']:.0f} ms |"
        )
    return rows


def statement_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    backends = _backends(results.get("queries", {}))
    if not backends:
        return []
    rows = ["| # | " + " | ".join(label for label, _ in backends) + " |", "| --- |" + " --- |" * len(backends)]
    sequences = [q["middle_step"]["statements"] for _, q in backends]
    for index in range(max(len(s) for s in sequences)):
        cells = [f"`{s[index]}`" if index < len(s) else "" for s in sequences]
        rows.append(f"| {index + 1} | " + " | ".join(cells) + " |")
    return rows


def environment_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| backend | database | Redis | CPUs | load (1 min) | Python | Django | Celery "
        "| spawn `true` | bash `-c true` | date |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    seen = set()
    for document in results.values():
        for label, figures in _backends(document):
            env = figures.get("environment", {})
            if label in seen or not env:
                continue
            seen.add(label)
            spawn = env.get("spawn", {})
            rows.append(
                f"| {label} | {env['database']} | {env['redis']} | {env['cpu_count']} "
                f"| {env.get('load_average_1m', '-')} | {env['python']} "
                f"| {env['django']} | {env['celery']} | {spawn.get('true_ms', float('nan')):.2f} ms "
                f"| {spawn.get('bash_true_ms', float('nan')):.2f} ms | {env['date']} |"
            )
    return rows


INTRO = """\
# Engine benchmarks

```sh
make bench                       # every benchmark, every backend that answers
make bench-peers                 # AnsFlow beside raw Celery, Prefect 3 and Airflow 3 (below)
.venv/bin/python -m bench --quick                     # smoke run: smaller sizes, one repetition
.venv/bin/python -m bench --only chain --backend embedded   # one benchmark or backend
```

Backends: the embedded default (a SQLite file under the data directory and the bundled `redis-server`, started
by the benchmark) and, when both answer on 127.0.0.1, MariaDB (`:3306`, database `ansflow_bench`, recreated) +
Redis (`:6379`, database 12, flushed). Each backend runs in a process of its own with `DATABASE_URL` /
`REDIS_URL` set, migrates its database, and starts one AnsFlow worker and one floor worker (prefork,
concurrency 2, the flags the test suite's worker uses). Every figure stands beside its floor measured in the
same run, repetitions interleaved; figures are medians of 3 repetitions. `--quick` writes under the data
directory and leaves this page and `results/` alone.

- **(a) chain**: a pipeline of 100 `shell` steps `run: "true"`, each needing the previous one. AnsFlow's time
  per step is (the execution's `finished_at` - the moment `execution_start` was called) / 100. The floor is a
  Celery chain of 100 tasks that each `subprocess.run(["true"])`, timed the same way (send -> last task done).
  Target: AnsFlow at most 3x the floor per step.
- **(b) fan-out**: 500 independent `true` steps against 500 such Celery tasks sent at once as a group;
  throughput = 500 / (start -> last step done). Target: AnsFlow at least 60 % of the floor's throughput.
- **queries**: one step's claim, run and finish run in-process on the worker's code path
  (`apps.executions.engine.runner.run_step`) under `CaptureQueriesContext`, for a step of a 7-step chain
  and of a 500-step fan-out. Statements on the worker's other threads (heartbeat, log flusher) are not
  captured; for a `true` step they issue none. A worker process keeps its database connection from task to
  task, as this does; opening one is timed separately (a worker pays it once, not per step).

Results: `bench/results/<benchmark>.json` (every repetition, the environment, the target and whether it was met).

Live logs, pages at scale and the API under load (each serves from one uvicorn process on 127.0.0.1 beside the
AnsFlow worker; `--only logs_latency`, `logs_throughput`, `viewers`, `scale`, `load`):

"""


def render_readme(results: dict[str, dict[str, Any]]) -> str:
    from .peers.report import section as peers_section
    from .report_live import LIVE_INTRO, sections

    parts = [INTRO + LIVE_INTRO, "## Results\n", *summary_rows(results), "", *sections(results)]
    parts += metrics_section(results)
    parts += peers_section(results)
    if "queries" in results:
        parts += [
            "## Where a step's time goes\n",
            "Chain columns: medians over the chain's steps, from the step rows' timestamps (queued -> claimed is "
            "commit, broker and the worker picking the message up; claimed -> finished is loading the step, "
            "rendering, spawning bash and reading its pipes; finished -> next queued is recording the attempt and "
            "the scheduler pass under the execution's row lock). The in-process step time runs the same code "
            "without Celery.\n",
            *detail_rows(results),
            "",
            "Step rows read per step: the `StepExecution` model instances one step's claim, run and finish builds "
            "(counted with `post_init`); the scheduler reads other steps as narrow tuples (a step that finishes "
            "with no dependents, as in the fan-out, reads none: two index lookups, whether a step is pending and "
            "whether one is not over yet, tell whether the run is over). A step's own statements (claim, load, "
            "lock, record, what is left, the scheduler's pass) are plain SQL built once from the models' "
            "metadata (`apps/executions/engine/statements.py`). A step starts no thread: its pipes are read and "
            "its timeout kept on its own thread, one heartbeat thread per worker process serves every step, and "
            "the log flusher starts with the first line.\n",
            *_cpu_section(results),
            "Statements of one chain step, in order:\n",
            *statement_rows(results),
            "",
        ]
    parts += [
        "## Environment\n",
        "The load average is the machine's at the start of each backend's run: other work on a shared machine slows "
        "long runs (AnsFlow's) more than short ones (the floor's), so compare figures taken under similar load.\n",
        *environment_rows(results),
        "",
    ]
    return "\n".join(parts)


def _cpu_section(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = cpu_rows(results)
    if not rows:
        return []
    return [
        "**Where the fan-out's CPU goes.** CPU milliseconds per step (per task for the floor) during the timed "
        "runs, by process, medians of the repetitions (`bench/cpu.py`: every process's CPU time before and after "
        "a run; a pool process counts the commands its steps spawned). On 2 cores the run is a CPU budget: when "
        "the total is close to 2 cores x the wall time per step, the cores were busy throughout, and throughput "
        "can only rise by spending less CPU per step. The floor's task spawns `true` and writes nothing; an AnsFlow "
        "step spawns bash, claims and records its row (8 statements, a database server's CPU on MariaDB), "
        "publishes two status messages and writes its attempt.\n",
        *rows,
        "",
    ]


def write_readme(directory: Path = RESULTS_DIR, readme: Path = README) -> None:
    readme.write_text(render_readme(load_results(directory)))


def metrics_section(results: dict[str, dict[str, Any]]) -> list[str]:
    backends = _backends(results.get("metrics", {}))
    if not backends:
        return []
    rows = [
        "## /metrics with a long history\n",
        "`bench/metrics.py`: the step duration histogram of `/metrics` is counted in full once per web process, "
        "then each scrape adds only the attempts finished since the last one. A scrape is `render()` in-process "
        "(the database work of the answer); the later scrapes each follow 100 new attempts. Baseline, same run: "
        "the whole history recounted with the ORM's duration aggregate, as every scrape did before.\n",
        "| backend | attempts | first scrape | later scrapes (median) | baseline: recount | later / baseline |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, m in backends:
        rows.append(
            f"| {_backend_name(label, m)} | {m['attempts']:,} | {m['first_scrape_ms']:.0f} ms "
            f"| {m['next_scrape_median_ms']:.1f} ms | {m['baseline_recount_median_ms']:.0f} ms | {m['ratio']:.2%} |"
        )
    return [*rows, ""]
