"""Waiting until applied objects are ready, and saying why they are not.

Readiness per kind follows ``kubectl rollout status``: a Deployment is rolled out when the controller has seen
its generation and every replica is updated and available (a progress deadline exceeded fails it); a
StatefulSet when its update revision is current and its replicas ready; a DaemonSet when every scheduled pod
is updated and available; a Job when it is Complete (Failed fails it). Other kinds are ready once applied.

On failure or timeout :func:`diagnose` prints the object's recent events, and for each of its pods that is
not ready, the pod's state, its events and the last lines of its containers' logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.k8s_integration.clusters.kube import ClusterError

from .base import Stopped
from .k8s_api import Kube, Resource, selector_text
from .k8s_common import KubeStep

WAITED_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
EVENTS = Resource("v1", "Event", "events", True)
PODS = Resource("v1", "Pod", "pods", True)
LOG_TAIL = 20
MAX_EVENTS = 10
MAX_PODS = 5
POLL_INTERVAL = 1.0


@dataclass(frozen=True)
class Progress:
    """Where an object's rollout stands: ``done``, ``failed`` (will not get better by waiting) or neither."""

    done: bool
    message: str
    failed: bool = False


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def progress(obj: dict[str, Any]) -> Progress:
    """The rollout state of an object as the server reported it."""
    check = {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset, "Job": _job}.get(
        obj.get("kind", "")
    )
    return check(obj) if check else Progress(True, "ready")


def _observed(obj: dict[str, Any]) -> bool:
    return int((obj.get("status") or {}).get("observedGeneration") or 0) >= int(obj["metadata"].get("generation") or 0)


def _deployment(obj: dict[str, Any]) -> Progress:
    if not _observed(obj):
        return Progress(False, "waiting for the deployment spec update to be observed")
    status, wanted = obj.get("status") or {}, int((obj.get("spec") or {}).get("replicas", 1))
    if _condition(obj, "Progressing").get("reason") == "ProgressDeadlineExceeded":
        return Progress(False, "exceeded its progress deadline", failed=True)
    updated, total = int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < wanted:
        return Progress(False, f"{updated} of {wanted} replicas updated")
    if total > updated:
        return Progress(False, f"{total - updated} old replicas pending termination")
    if available < updated:
        return Progress(False, f"{available} of {updated} updated replicas available")
    return Progress(True, f"rolled out ({available} of {wanted} replicas available)")


def _statefulset(obj: dict[str, Any]) -> Progress:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return Progress(True, "updates on delete; not waited for")
    if not _observed(obj):
        return Progress(False, "waiting for the statefulset spec update to be observed")
    wanted, ready = int(spec.get("replicas", 1)), int(status.get("readyReplicas") or 0)
    if ready < wanted:
        return Progress(False, f"{ready} of {wanted} replicas ready")
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    if partition:
        updated = int(status.get("updatedReplicas") or 0)
        if updated < wanted - partition:
            return Progress(False, f"{updated} of {wanted - partition} replicas updated (partition {partition})")
        return Progress(True, f"partitioned roll out complete ({updated} updated)")
    if status.get("updateRevision") != status.get("currentRevision"):
        return Progress(False, f"{status.get('updatedReplicas') or 0} of {wanted} replicas on the new revision")
    return Progress(True, f"rolled out ({ready} of {wanted} replicas ready)")


def _daemonset(obj: dict[str, Any]) -> Progress:
    if ((obj.get("spec") or {}).get("updateStrategy") or {}).get("type") == "OnDelete":
        return Progress(True, "updates on delete; not waited for")
    if not _observed(obj):
        return Progress(False, "waiting for the daemonset spec update to be observed")
    status = obj.get("status") or {}
    wanted = int(status.get("desiredNumberScheduled") or 0)
    updated, available = int(status.get("updatedNumberScheduled") or 0), int(status.get("numberAvailable") or 0)
    if updated < wanted:
        return Progress(False, f"{updated} of {wanted} pods updated")
    if available < wanted:
        return Progress(False, f"{available} of {wanted} updated pods available")
    return Progress(True, f"rolled out ({available} of {wanted} pods available)")


def _job(obj: dict[str, Any]) -> Progress:
    status = obj.get("status") or {}
    if _condition(obj, "Complete").get("status") == "True":
        return Progress(True, f"complete ({status.get('succeeded') or 0} succeeded)")
    failed = _condition(obj, "Failed")
    if failed.get("status") == "True":
        return Progress(False, f"failed: {failed.get('reason')}: {failed.get('message') or ''}".rstrip(": "), True)
    return Progress(False, f"{status.get('active') or 0} active, {status.get('succeeded') or 0} succeeded")


# -- waiting ---------------------------------------------------------------------------------------------


def wait_ready(step: KubeStep, kube: Kube, applied: list[tuple[Resource, str | None, dict[str, Any]]]) -> str:
    """Polls until every waited object is ready; the failure in words, or '' when all are."""
    pending = [item for item in applied if item[0].kind in WAITED_KINDS]
    if pending:
        step.say(f"waiting for {', '.join(r.describe(o['metadata']['name']) for r, _, o in pending)}")
    said: dict[str, str] = {}
    ready: set[str] = set()
    try:
        while pending:
            for index, (resource, namespace, obj) in enumerate(pending):
                label = resource.describe(obj["metadata"]["name"])
                step.checkpoint()
                current = kube.get(resource, namespace, obj["metadata"]["name"])
                if current is None:
                    return f"{label} was deleted while waiting for it"
                pending[index] = (resource, namespace, current)
                state = progress(current)
                if state.failed:
                    step.say(f"{label} {state.message}")
                    diagnose(kube, namespace or "", current, step.say)
                    return f"{label} {state.message}"
                if state.done:
                    step.say(f"{label} {state.message}")
                    ready.add(label)
                elif said.get(label) != state.message:
                    step.say(f"{label}: {state.message}")
                    said[label] = state.message
            pending = [item for item in pending if item[0].describe(item[2]["metadata"]["name"]) not in ready]
            if pending:
                step.pause(POLL_INTERVAL)
    except Stopped:
        if step.timed_out.is_set():
            for resource, namespace, obj in pending:
                label = resource.describe(obj["metadata"]["name"])
                if label not in ready:
                    step.say(f"{label} not ready: {progress(obj).message}")
                    diagnose(kube, namespace or "", obj, step.say)
        raise
    return ""


# -- diagnostics ------------------------------------------------------------------------------------------


def _when(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp") or "")


def events_of(kube: Kube, namespace: str, kind: str, name: str) -> list[str]:
    """The object's latest events, oldest first, as ``Warning BackOff: message`` lines."""
    fields = f"involvedObject.kind={kind},involvedObject.name={name}"
    events = sorted(kube.list(EVENTS, namespace, fields=fields), key=_when)[-MAX_EVENTS:]
    return [
        f"{event.get('type', '')} {event.get('reason', '')}: {(event.get('message') or '').strip()}"
        + (f" (x{event['count']})" if (event.get("count") or 1) > 1 else "")
        for event in events
    ]


def pods_of(kube: Kube, namespace: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    kind, spec = obj["kind"], obj.get("spec") or {}
    if kind == "Pod":
        return [obj]
    if kind == "Job":
        selector = selector_text(spec.get("selector")) or f"job-name={obj['metadata']['name']}"
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        selector = selector_text(spec.get("selector"))
    else:
        return []
    return kube.list(PODS, namespace, selector=selector) if selector else []


def _pod_problem(pod: dict[str, Any]) -> str:
    """Why a pod is not ready ('' when it is), in a few words."""
    status = pod.get("status") or {}
    if status.get("phase") == "Succeeded":
        return ""
    problems = []
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if "waiting" in state:
            problems.append(f"{container['name']} waiting: {state['waiting'].get('reason', '')}")
        elif "terminated" in state:
            ended = state["terminated"]
            problems.append(f"{container['name']} exited {ended.get('exitCode')} ({ended.get('reason', '')})")
        elif not container.get("ready"):
            problems.append(f"{container['name']} not ready")
        if container.get("restartCount"):
            problems.append(f"{container['name']} restarted {container['restartCount']} times")
    if problems:
        return f"{status.get('phase', 'Unknown')}, " + "; ".join(problems)
    if _condition(pod, "Ready").get("status") == "True":
        return ""
    scheduled = _condition(pod, "PodScheduled")
    if scheduled.get("status") == "False":
        return f"not scheduled: {scheduled.get('message') or scheduled.get('reason')}"
    return str(status.get("phase") or "Pending")


def diagnose(kube: Kube, namespace: str, obj: dict[str, Any], say: Callable[[str], None]) -> None:
    """Print what the cluster says about an object that did not become ready."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    try:
        for line in events_of(kube, namespace, kind, name):
            say(f"  event of {kind} {name}: {line}")
        pods = [pod for pod in pods_of(kube, namespace, obj) if _pod_problem(pod)]
        for pod in pods[:MAX_PODS]:
            pod_name = pod["metadata"]["name"]
            say(f"  pod {pod_name}: {_pod_problem(pod)}")
            for line in events_of(kube, namespace, "Pod", pod_name):
                say(f"    event: {line}")
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                _container_log(kube, namespace, pod_name, container, say)
    except ClusterError as exc:
        say(f"  (could not read the diagnostics: {exc})")


def _container_log(kube: Kube, namespace: str, pod: str, container: dict[str, Any], say: Callable[[str], None]) -> None:
    state = container.get("state") or {}
    if "running" not in state and "terminated" not in state and not container.get("restartCount"):
        return  # never started: no log to show
    previous = "terminated" not in state and bool(container.get("restartCount"))
    try:
        text = kube.pod_log(namespace, pod, container["name"], LOG_TAIL, previous=previous)
    except ClusterError as exc:
        say(f"    log of {container['name']}: unavailable ({exc})")
        return
    lines = text.splitlines()
    say(f"    last {len(lines)} log lines of {container['name']}" + (" (previous run)" if previous else "") + ":")
    for line in lines:
        say(f"      {line}")
