"""Reads of clusters: the rows (for pages, API and admin) and the resource browser's pages of Kubernetes objects.

Resource pages are plain dicts made from the API server's own JSON (never the typed models), one page at a time:
the server pages with ``limit`` and its opaque ``continue`` token, and filters by namespace and label selector.
Only APIs of Kubernetes 1.20 are used (core/v1, apps/v1, batch/v1). A Secret becomes its name, type and keys:
its values and annotations (``last-applied-configuration`` carries the values too) are dropped on arrival.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from kubernetes import client as k8s

from apps.accounts.models import Project

from ..models import Cluster
from .kube import call, kube_client

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
MAX_SELECTOR, MAX_CONTINUE = 1000, 4000


def cluster_list(*, project: Project | None = None) -> QuerySet[Cluster]:
    """Clusters with their project and credential, by project and name (narrow with ``restrict``)."""
    clusters = Cluster.objects.select_related("project", "credential").order_by("project__slug", "name")
    return clusters.filter(project=project) if project is not None else clusters


# --- rows: one plain dict per object ----------------------------------------------------------------------


def _meta(item: dict[str, Any]) -> dict[str, Any]:
    meta = item.get("metadata") or {}
    row = {"name": meta.get("name", ""), "created": meta.get("creationTimestamp"), "labels": meta.get("labels") or {}}
    if "namespace" in meta:
        row["namespace"] = meta["namespace"]
    return row


def _images(pod_spec: dict[str, Any]) -> list[str]:
    return [container.get("image", "") for container in pod_spec.get("containers") or []]


def rollout_status(item: dict[str, Any]) -> tuple[str, str]:
    """``(state, message)`` of a Deployment's rollout, judged as ``kubectl rollout status`` does."""
    meta, spec, status = item.get("metadata") or {}, item.get("spec") or {}, item.get("status") or {}
    wanted = spec.get("replicas", 1)
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return "failed", condition.get("message") or "progress deadline exceeded"
    if meta.get("generation", 0) > status.get("observedGeneration", 0):
        return "progressing", "waiting for the new spec to be observed"
    if updated < wanted:
        return "progressing", f"{updated} of {wanted} new replicas updated"
    if status.get("replicas", 0) > updated:
        return "progressing", f"{status.get('replicas', 0) - updated} old replicas pending termination"
    if available < updated:
        return "progressing", f"{available} of {updated} updated replicas available"
    return "complete", f"{available} of {wanted} replicas available"


def deployment_row(item: dict[str, Any]) -> dict[str, Any]:
    spec, status = item.get("spec") or {}, item.get("status") or {}
    state, message = rollout_status(item)
    return {
        **_meta(item),
        "replicas": spec.get("replicas", 1),
        "ready": status.get("readyReplicas", 0),
        "updated": status.get("updatedReplicas", 0),
        "available": status.get("availableReplicas", 0),
        "images": _images((spec.get("template") or {}).get("spec") or {}),
        "rollout": state,
        "rollout_message": message,
    }


def pod_row(item: dict[str, Any]) -> dict[str, Any]:
    spec, status = item.get("spec") or {}, item.get("status") or {}
    statuses = status.get("containerStatuses") or []
    waiting = [s["state"]["waiting"].get("reason", "") for s in statuses if (s.get("state") or {}).get("waiting")]
    return {
        **_meta(item),
        "phase": status.get("phase", "Unknown"),
        "reason": status.get("reason") or (waiting[0] if waiting else ""),
        "ready": f"{sum(1 for s in statuses if s.get('ready'))}/{len(spec.get('containers') or [])}",
        "restarts": sum(s.get("restartCount", 0) for s in statuses),
        "node": spec.get("nodeName", ""),
        "containers": [container.get("name", "") for container in spec.get("containers") or []],
        "images": _images(spec),
        "ip": status.get("podIP", ""),
    }


def _port(port: dict[str, Any]) -> str:
    """``80/TCP``, or ``80→8080/TCP`` when the target port differs."""
    target = port.get("targetPort")
    arrow = f"→{target}" if target not in (None, port.get("port")) else ""
    return f"{port.get('port')}{arrow}/{port.get('protocol', 'TCP')}"


def service_row(item: dict[str, Any]) -> dict[str, Any]:
    spec = item.get("spec") or {}
    ports = [_port(port) for port in spec.get("ports") or []]
    return {
        **_meta(item),
        "type": spec.get("type", "ClusterIP"),
        "cluster_ip": spec.get("clusterIP", ""),
        "ports": ports,
        "selector": spec.get("selector") or {},
    }


def config_map_row(item: dict[str, Any]) -> dict[str, Any]:
    return {**_meta(item), "keys": sorted({*(item.get("data") or {}), *(item.get("binaryData") or {})})}


def secret_row(item: dict[str, Any]) -> dict[str, Any]:
    """Name, type and keys: never a value, never an annotation."""
    return {**_meta(item), "type": item.get("type", ""), "keys": sorted(item.get("data") or {})}


def job_row(item: dict[str, Any]) -> dict[str, Any]:
    spec, status = item.get("spec") or {}, item.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    state = "complete" if "Complete" in conditions else "failed" if "Failed" in conditions else "running"
    return {
        **_meta(item),
        "completions": spec.get("completions", 1),
        "succeeded": status.get("succeeded", 0),
        "failed": status.get("failed", 0),
        "active": status.get("active", 0),
        "status": state,
        "message": (conditions.get("Failed") or {}).get("message", ""),
        "started": status.get("startTime"),
        "finished": status.get("completionTime"),
        "images": _images((spec.get("template") or {}).get("spec") or {}),
    }


def namespace_row(item: dict[str, Any]) -> dict[str, Any]:
    return {**_meta(item), "phase": (item.get("status") or {}).get("phase", "")}


def node_row(item: dict[str, Any]) -> dict[str, Any]:
    spec, status = item.get("spec") or {}, item.get("status") or {}
    labels = (item.get("metadata") or {}).get("labels") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "Unknown")
    info = status.get("nodeInfo") or {}
    return {
        **_meta(item),
        "ready": ready == "True",
        "schedulable": not spec.get("unschedulable", False),
        "roles": sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")),
        "version": info.get("kubeletVersion", ""),
        "os_image": info.get("osImage", ""),
        "runtime": info.get("containerRuntimeVersion", ""),
        "addresses": [f"{a.get('type')}: {a.get('address')}" for a in status.get("addresses") or []],
        "taints": [f"{t.get('key')}:{t.get('effect')}" for t in spec.get("taints") or []],
    }


def event_row(item: dict[str, Any]) -> dict[str, Any]:
    involved = item.get("involvedObject") or {}
    last = item.get("lastTimestamp") or item.get("eventTime") or (item.get("metadata") or {}).get("creationTimestamp")
    return {
        **_meta(item),
        "type": item.get("type", ""),
        "reason": item.get("reason", ""),
        "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
        "message": item.get("message", ""),
        "count": item.get("count") or 1,
        "last_seen": last,
    }


# --- kinds: how to list each, and its row -------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One browsable kind: its API class, its list calls (per namespace, and cluster-wide) and its row."""

    api: type
    namespaced: str  # method listing one namespace's objects; "" for cluster-scoped kinds
    everywhere: str  # method listing every namespace's objects (or the cluster-scoped list)
    row: Callable[[dict[str, Any]], dict[str, Any]]
    label: str


KINDS: dict[str, Kind] = {
    "namespaces": Kind(k8s.CoreV1Api, "", "list_namespace", namespace_row, "Namespaces"),
    "deployments": Kind(k8s.AppsV1Api, "list_namespaced_deployment", "list_deployment_for_all_namespaces",
                        deployment_row, "Deployments"),
    "pods": Kind(k8s.CoreV1Api, "list_namespaced_pod", "list_pod_for_all_namespaces", pod_row, "Pods"),
    "services": Kind(k8s.CoreV1Api, "list_namespaced_service", "list_service_for_all_namespaces", service_row,
                     "Services"),
    "configmaps": Kind(k8s.CoreV1Api, "list_namespaced_config_map", "list_config_map_for_all_namespaces",
                       config_map_row, "ConfigMaps"),
    "secrets": Kind(k8s.CoreV1Api, "list_namespaced_secret", "list_secret_for_all_namespaces", secret_row, "Secrets"),
    "jobs": Kind(k8s.BatchV1Api, "list_namespaced_job", "list_job_for_all_namespaces", job_row, "Jobs"),
    "nodes": Kind(k8s.CoreV1Api, "", "list_node", node_row, "Nodes"),
    "events": Kind(k8s.CoreV1Api, "list_namespaced_event", "list_event_for_all_namespaces", event_row, "Events"),
}  # fmt: skip


def check_name(value: str, what: str = "name", *, subdomain: bool = True) -> str:
    """``value`` if it is a valid Kubernetes object name (a DNS subdomain, or a DNS label for namespaces)."""
    pattern = DNS_SUBDOMAIN if subdomain else DNS_LABEL
    if not isinstance(value, str) or not pattern.match(value):
        raise ValidationError({what: f"{value!r} is not a valid Kubernetes {what}."})
    return value


def raw(cluster: Cluster, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The server's JSON answer to ``fn(*args, **kwargs)``, as plain Python data (errors: ClusterError)."""
    response = call(cluster, fn, *args, _preload_content=False, **kwargs)
    try:
        return json.loads(response.data or b"null")
    finally:
        response.release_conn()


def resource_page(
    cluster: Cluster,
    *,
    kind: str,
    namespace: str | None = None,
    label_selector: str = "",
    limit: int = PAGE_SIZE,
    continue_token: str = "",
) -> dict[str, Any]:
    """One page of ``kind`` objects: in ``namespace`` (None: every namespace), matching ``label_selector``.

    Answers ``{kind, namespace, label_selector, items, continue, remaining}``; pass ``continue`` back for the
    next page. Raises ValidationError for bad arguments and ClusterError when the cluster fails.
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise ValidationError({"kind": f"Unknown kind {kind!r}; one of {', '.join(KINDS)}."})
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError({"limit": f"Between 1 and {MAX_PAGE_SIZE}."})
    if len(label_selector) > MAX_SELECTOR or len(continue_token) > MAX_CONTINUE:
        raise ValidationError({"label_selector": "Too long."})
    if namespace is not None and spec.namespaced:
        check_name(namespace, "namespace", subdomain=False)
    options: dict[str, Any] = {"limit": limit}
    if label_selector:
        options["label_selector"] = label_selector
    if continue_token:
        options["_continue"] = continue_token
    with kube_client(cluster) as api:
        reader = spec.api(api)
        if namespace is not None and spec.namespaced:
            answer = raw(cluster, getattr(reader, spec.namespaced), namespace, **options)
        else:
            answer = raw(cluster, getattr(reader, spec.everywhere), **options)
    items = [spec.row(item) for item in (answer or {}).get("items") or []]
    if kind == "events":
        items.sort(key=lambda row: row["last_seen"] or "", reverse=True)
    meta = (answer or {}).get("metadata") or {}
    return {
        "kind": kind,
        "namespace": namespace if spec.namespaced else None,
        "label_selector": label_selector,
        "items": items,
        "continue": meta.get("continue") or None,
        "remaining": meta.get("remainingItemCount"),
    }


def deployment_get(cluster: Cluster, *, namespace: str, name: str) -> dict[str, Any]:
    """One Deployment's row (replicas, ready, images, rollout status)."""
    check_name(namespace, "namespace", subdomain=False)
    check_name(name)
    with kube_client(cluster) as api:
        return deployment_row(raw(cluster, k8s.AppsV1Api(api).read_namespaced_deployment, name, namespace))


def pod_get(cluster: Cluster, *, namespace: str, name: str) -> dict[str, Any]:
    """One Pod's row (phase, restarts, node, containers)."""
    check_name(namespace, "namespace", subdomain=False)
    check_name(name)
    with kube_client(cluster) as api:
        return pod_row(raw(cluster, k8s.CoreV1Api(api).read_namespaced_pod, name, namespace))
