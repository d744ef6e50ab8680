"""From each side's raw output to ``bench/results/peers.json``: one row per tool and way of running it.

Every row gives, per workload, the run times, their median (total), the median per step (total / steps) and the
per-step overhead: per step minus what spawning ``true`` costs on this machine (measured at the start of the
run), i.e. what the tool adds to the work itself. ``vs_ansflow`` divides a row's overhead by AnsFlow's on the
embedded default. The targets compare AnsFlow with the fastest way each peer ran.
"""

from __future__ import annotations

import functools
import statistics
from typing import Any

WORKLOADS = ("chain", "fanout")
AIRFLOW_TARGET = 10.0  # AnsFlow's per-step overhead at least this many times lower than Airflow's
REFERENCE = "ansflow-embedded"


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's rounds as one result: their lists of figures joined, the first round's other values, and
    ``round_errors`` naming the rounds that failed (all failed: the first one's error)."""
    done = [result for result in rounds if "error" not in result]
    if not done:
        return {"error": rounds[0]["error"]}
    merged: dict[str, Any] = functools.reduce(_join, done)
    errors = [f"round {number}: {result['error']}" for number, result in enumerate(rounds, 1) if "error" in result]
    if errors:
        merged["round_errors"] = errors
    return merged


def _join(first: Any, later: Any) -> Any:
    if isinstance(first, dict) and isinstance(later, dict):
        return {key: _join(first[key], later[key]) if key in first and key in later else first.get(key, later.get(key))
                for key in {**first, **later}}  # fmt: skip
    if isinstance(first, list) and isinstance(later, list):
        return first + later
    return first or later  # an error string: the first one there is


def _round_errors(raw: dict[str, Any]) -> str:
    return "\n".join(raw.get("round_errors", []))


def workload(runs_s: list[float], steps: int, spawn_ms: float, **extra: Any) -> dict[str, Any]:
    total = statistics.median(runs_s)
    per_step = total / steps * 1000
    return {
        "runs_s": [round(value, 4) for value in runs_s],
        "total_s": round(total, 3),
        "per_step_ms": round(per_step, 3),
        "overhead_ms_per_step": round(per_step - spawn_ms, 3),
        **extra,
    }


def _median(values: list[float]) -> float | None:
    found = [value for value in values if value == value]  # NaN is no figure
    return round(statistics.median(found), 3) if found else None


def ansflow_rows(label: str, raw: dict[str, Any], sizes: dict[str, int], spawn_ms: float) -> list[dict[str, Any]]:
    """AnsFlow and the Celery floor of one backend, from ``bench.measure``'s chain and fan-out figures."""
    if "error" in raw:
        return [{"key": f"ansflow-{label}", "tool": "AnsFlow", "backend": label, "error": raw["error"]}]
    env, chain, fanout = raw["environment"], raw["chain"], raw["fanout"]
    setup = f"{env['database']}, {env['redis']}; one worker, {env['worker']}"
    rows = []
    for key, tool, chain_ms, fanout_rate in (
        ("ansflow", "AnsFlow", chain["ansflow_ms_per_step"], fanout["ansflow_steps_per_s"]),
        ("celery", "raw Celery (floor)", chain["floor_ms_per_step"], fanout["floor_tasks_per_s"]),
    ):
        error = chain["error"] or fanout["error"] or _round_errors(raw)
        row: dict[str, Any] = {"key": f"{key}-{label}", "tool": tool, "backend": label, "setup": setup}
        row["version"] = f"Celery {env['celery']}, Python {env['python']}"
        if chain_ms:
            row["chain"] = workload([ms * sizes["chain"] / 1000 for ms in chain_ms], sizes["chain"], spawn_ms)
        if fanout_rate:
            row["fanout"] = workload([sizes["fanout"] / rate for rate in fanout_rate], sizes["fanout"], spawn_ms)
        row["error"] = error
        rows.append(row)
    if "chain" in rows[0]:
        rows[0]["chain"]["timeline_ms"] = chain.get("timeline_ms", {})
    return rows


def prefect_rows(raw: dict[str, Any], sizes: dict[str, int], spawn_ms: float) -> list[dict[str, Any]]:
    row: dict[str, Any] = {"key": "prefect", "tool": "Prefect", "error": raw.get("error") or _round_errors(raw)}
    if "chain_s" not in raw:
        return [row]
    row["version"] = f"Prefect {raw['version']}, Python {raw['python']}"
    row["setup"] = f"one process, {raw['api']}; {raw['task_runner']}"
    row["startup_s"] = raw["startup_s"]
    row["chain"] = workload(raw["chain_s"], sizes["chain"], spawn_ms)
    row["fanout"] = workload(raw["fanout_s"], sizes["fanout"], spawn_ms)
    return [row]


AIRFLOW_MODES = {
    "dags_test": "`airflow dags test`, no executor: tasks run one at a time in the command's process",
    "local_executor": "`airflow dags test --use-executor`: LocalExecutor, parallelism {parallelism}, "
    "Execution API on `airflow api-server` (127.0.0.1)",
}


def airflow_rows(raw: dict[str, Any], sizes: dict[str, int], spawn_ms: float) -> list[dict[str, Any]]:
    if raw.get("error"):
        return [{"key": "airflow", "tool": "Apache Airflow", "error": raw["error"]}]
    rows = []
    for mode, how in AIRFLOW_MODES.items():
        figures = raw["modes"].get(mode, {"error": "not run"})
        row: dict[str, Any] = {"key": f"airflow-{mode}", "tool": "Apache Airflow", "mode": mode}
        row["version"] = f"Airflow {raw['version']}, Python {raw['python']}"
        row["setup"] = f"{how.format(parallelism=raw['parallelism'])}; {raw['database']}"
        row["error"] = figures.get("error") or _round_errors(raw)
        for name in WORKLOADS:
            if name in figures:
                f = figures[name]
                row[name] = workload(
                    f["run_s"],
                    sizes[name],
                    spawn_ms,
                    command_s=_median(f["command_s"]),
                    first_task_s=_median(f["first_task_s"]),
                    task_to_task_ms=_median(f["task_to_task_ms"]),
                )
        rows.append(row)
    return rows


def add_ratios(rows: list[dict[str, Any]]) -> None:
    reference = next((row for row in rows if row["key"] == REFERENCE), {})
    for name in WORKLOADS:
        base = reference.get(name, {}).get("overhead_ms_per_step")
        for row in rows:
            if name in row and base:
                row[name]["vs_ansflow"] = round(row[name]["overhead_ms_per_step"] / base, 2)


def _fastest(rows: list[dict[str, Any]], tool: str, name: str) -> dict[str, Any] | None:
    ran = [row for row in rows if row["tool"] == tool and name in row]
    return min(ran, key=lambda row: row[name]["overhead_ms_per_step"]) if ran else None


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per workload and AnsFlow backend: at least 10x lower overhead than Airflow's, lower than Prefect's."""
    found = []
    for name in WORKLOADS:
        airflow, prefect = _fastest(rows, "Apache Airflow", name), _fastest(rows, "Prefect", name)
        for row in rows:
            if row["tool"] != "AnsFlow" or name not in row:
                continue
            ours = row[name]["overhead_ms_per_step"]
            target: dict[str, Any] = {"workload": name, "ansflow": row["key"], "ansflow_overhead_ms": ours}
            if airflow is not None:
                theirs = airflow[name]["overhead_ms_per_step"]
                target["airflow"] = {"row": airflow["key"], "overhead_ms": theirs, "times_lower": _times(theirs, ours)}
                target["airflow"]["met"] = ours * AIRFLOW_TARGET <= theirs
            if prefect is not None:
                theirs = prefect[name]["overhead_ms_per_step"]
                target["prefect"] = {"row": prefect["key"], "overhead_ms": theirs, "times_lower": _times(theirs, ours)}
                target["prefect"]["met"] = ours < theirs
            found.append(target)
    return found


def _times(theirs: float, ours: float) -> float | None:
    return round(theirs / ours, 2) if ours > 0 else None
