"""The two timed benchmarks, each beside its floor, repetitions interleaved so noise hits both alike."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import Any

from . import cpu, floor, pipelines

CHAIN_TARGET = 3.0  # AnsFlow's time per chained step at most this many times the floor's
FANOUT_TARGET = 0.6  # AnsFlow's fan-out throughput at least this share of the floor's


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _repeat(reps: int, one: Callable[[int], None]) -> str:
    """Run ``one(rep)`` ``reps`` times; the first error ends the series and is returned."""
    for rep in range(reps):
        try:
            one(rep)
        except (pipelines.RunFailed, floor.FloorTimeout) as exc:
            return str(exc)
    return ""


def warm_up(timeout: float) -> None:
    """A few untimed runs, so every pool process has imported and connected before timing starts."""
    floor.run_group(10, timeout)
    pipelines.run_once(pipelines.import_pipeline(pipelines.fanout_yaml(10)), timeout)


def chain(length: int, reps: int, timeout: float) -> dict[str, Any]:
    """(a) ``length`` chained ``true`` steps against a Celery chain of ``length`` tasks spawning ``true``."""
    pipeline = pipelines.import_pipeline(pipelines.chain_yaml(length))
    warm_up(timeout)
    floor_ms: list[float] = []
    ansflow_ms: list[float] = []
    timelines: list[dict[str, float]] = []

    def one(rep: int) -> None:
        floor_ms.append(floor.run_chain(length, timeout) / length * 1000)
        execution, seconds = pipelines.run_once(pipeline, timeout)
        ansflow_ms.append(seconds / length * 1000)
        timelines.append(pipelines.chain_timeline(execution))

    error = _repeat(reps, one)
    ansflow, base = _median(ansflow_ms), _median(floor_ms)
    ratio = ansflow / base if ansflow_ms and floor_ms else float("nan")
    return {
        "steps": length,
        "repetitions": len(ansflow_ms),
        "ansflow_ms_per_step": [round(v, 3) for v in ansflow_ms],
        "floor_ms_per_step": [round(v, 3) for v in floor_ms],
        "ansflow_median_ms": round(ansflow, 3),
        "floor_median_ms": round(base, 3),
        "ratio": round(ratio, 3),
        "overhead_ms_per_step": round(ansflow - base, 3),
        "target": f"AnsFlow per step <= {CHAIN_TARGET:g} x floor per task",
        "target_ratio_max": CHAIN_TARGET,
        "met": bool(ratio <= CHAIN_TARGET) and not error,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "timeline_ms": {key: round(_median([t[key] for t in timelines]), 3) for key in timelines[0]}
        if timelines
        else {},
        "error": error,
    }


def fanout(width: int, reps: int, timeout: float) -> dict[str, Any]:
    """(b) ``width`` independent ``true`` steps against ``width`` Celery tasks sent at once."""
    pipeline = pipelines.import_pipeline(pipelines.fanout_yaml(width))
    warm_up(timeout)
    floor_rate: list[float] = []
    ansflow_rate: list[float] = []
    floor_cpu: list[dict[str, float]] = []
    ansflow_cpu: list[dict[str, float]] = []

    def one(rep: int) -> None:
        seconds, used = cpu.measured(lambda: floor.run_group(width, timeout))
        floor_rate.append(width / seconds)
        floor_cpu.append(used)
        (_, seconds), used = cpu.measured(lambda: pipelines.run_once(pipeline, timeout))
        ansflow_rate.append(width / seconds)
        ansflow_cpu.append(used)

    error = _repeat(reps, one)
    ansflow, base = _median(ansflow_rate), _median(floor_rate)
    share = ansflow / base if ansflow_rate and floor_rate else float("nan")
    return {
        "steps": width,
        "repetitions": len(ansflow_rate),
        "ansflow_steps_per_s": [round(v, 2) for v in ansflow_rate],
        "floor_tasks_per_s": [round(v, 2) for v in floor_rate],
        "ansflow_median_per_s": round(ansflow, 2),
        "floor_median_per_s": round(base, 2),
        "ratio": round(share, 3),
        "target": f"AnsFlow throughput >= {FANOUT_TARGET:.0%} of the floor's",
        "target_ratio_min": FANOUT_TARGET,
        "met": bool(share >= FANOUT_TARGET) and not error,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        # CPU milliseconds per step (per task) by role, medians over the repetitions: see bench/cpu.py.
        "cpu_ms_per_step": {"ansflow": _cpu_per_step(ansflow_cpu, width), "floor": _cpu_per_step(floor_cpu, width)},
        "error": error,
    }


def _cpu_per_step(runs: list[dict[str, float]], steps: int) -> dict[str, float]:
    roles = sorted({role for used in runs for role in used})
    return {role: round(_median([used.get(role, 0.0) for used in runs]) / steps * 1000, 3) for role in roles}


def spawn_costs(count: int) -> dict[str, float]:
    """What spawning costs here, outside any scheduler: ``true``, and bash running a script of ``true``."""
    return {
        "true_ms": round(floor.spawn_cost(["true"], count) * 1000, 3),
        "bash_true_ms": round(
            floor.spawn_cost(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", "true"], count) * 1000, 3
        ),
    }
