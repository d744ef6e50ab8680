"""What a ``k8s.job`` step's Job looks like: its name, labels, pod template and environment."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from .base import StepContext

EXECUTION_LABEL = "ansflow.io/execution"
STEP_LABEL = "ansflow.io/step"  # the StepExecution row id: unique across executions
ATTEMPT_LABEL = "ansflow.io/attempt"  # the attempt that created the Job (an adopting attempt leaves it)
STEP_ID_ANNOTATION = "ansflow.io/step-id"


def job_name(ctx: StepContext) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", ctx.step_id.lower()).strip("-")[:24].strip("-") or "step"
    digest = hashlib.sha256(ctx.step_id.encode()).hexdigest()[:6]
    return f"ansflow-{ctx.execution_id}-{slug}-{digest}-{ctx.attempt}"


def job_labels(ctx: StepContext) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "ansflow",
        EXECUTION_LABEL: str(ctx.execution_id),
        STEP_LABEL: str(ctx.step_pk),
        ATTEMPT_LABEL: str(ctx.attempt),
    }


def step_selector(ctx: StepContext) -> str:
    return f"{EXECUTION_LABEL}={ctx.execution_id},{STEP_LABEL}={ctx.step_pk}"


def job_env(ctx: StepContext, secret_name: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The container's env (the step's ``env`` names) and the values that must travel in the Secret."""
    env: list[dict[str, Any]] = []
    secret: dict[str, str] = {}
    for name, value in (ctx.spec.get("env") or {}).items():
        if name not in ctx.env:
            continue
        if isinstance(value, dict):
            secret[name] = ctx.env[name]
            env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": name}}})
        else:
            env.append({"name": name, "value": ctx.env[name]})
    return env, secret


def job_manifest(ctx: StepContext, name: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    p = ctx.params
    container: dict[str, Any] = {"name": "main", "image": str(p["image"]), "env": env}
    for key, field in (("command", "command"), ("args", "args")):
        if p.get(key) is not None:
            container[field] = [str(item) for item in p[key]]
    optional = {"workingDir": p.get("workdir"), "imagePullPolicy": p.get("image_pull_policy")}
    container.update({key: value for key, value in optional.items() if value})
    if p.get("resources"):
        container["resources"] = {key: dict(value) for key, value in p["resources"].items() if value}
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": int(p.get("grace_period", 5)),
        "containers": [container],
    }
    if p.get("host_network"):
        pod["hostNetwork"] = True
    if p.get("service_account"):
        pod["serviceAccountName"] = str(p["service_account"])
    spec: dict[str, Any] = {
        "backoffLimit": int(p.get("backoff_limit") or 0),
        "template": {"metadata": {"labels": job_labels(ctx)}, "spec": pod},
    }
    if ctx.timeout:
        # A safety net for when no worker watches: the cluster itself ends the Job at the step's timeout.
        spec["activeDeadlineSeconds"] = max(1, math.ceil(ctx.timeout))
    if p.get("ttl") is not None:
        spec["ttlSecondsAfterFinished"] = int(p["ttl"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": job_labels(ctx), "annotations": {STEP_ID_ANNOTATION: ctx.step_id}},
        "spec": spec,
    }
