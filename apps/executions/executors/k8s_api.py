"""Requests of the k8s steps to one cluster, by kind: discovery, server-side apply, get, list, patch, delete.

Objects are plain dicts as the API server sends them, so any kind the cluster serves (CRDs included) is handled
the same way. A kind is found through the discovery document of its apiVersion only (one request per
apiVersion and step), never through a cluster-wide discovery cache on disk. Every failure is a
:class:`ClusterError` naming its cause, with the server's own message for an answer such as 422.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from apps.k8s_integration.clusters.kube import ClusterError, describe
from apps.k8s_integration.models import Cluster

FIELD_MANAGER = "ansflow"
# What k8s.rollout changes (restart, undo) is recorded under its own manager, as kubectl's "kubectl-rollout".
ROLLOUT_MANAGER = "ansflow-rollout"
REQUEST_TIMEOUT = 30


@dataclass(frozen=True)
class Resource:
    """One kind as the cluster serves it: where its objects live and whether they are namespaced."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def path(self, namespace: str | None, name: str | None = None, subresource: str = "") -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        return base + (f"/{subresource}" if subresource else "")

    def describe(self, name: str) -> str:
        """``deployment.apps/web``, as kubectl names objects."""
        kind = self.kind.lower()
        return f"{kind}.{self.group}/{name}" if self.group else f"{kind}/{name}"


class Kube:
    """One ApiClient and what the step found out about the cluster's kinds."""

    def __init__(self, api: k8s.ApiClient, cluster: Cluster) -> None:
        self.api = api
        self.cluster = cluster
        self._kinds: dict[str, dict[str, Resource]] = {}

    # -- transport --------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, Any]] | None = None,
        content_type: str = "application/json",
        text: bool = False,
    ) -> tuple[int, Any]:
        """The status and the decoded answer (JSON, or text with ``text=True``) of one request."""
        headers = {"Accept": "*/*" if text else "application/json", "Content-Type": content_type}
        try:
            serialized = self.api.param_serialize(
                method, path, query_params=query or [], header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            answer = self.api.call_api(*serialized, _request_timeout=REQUEST_TIMEOUT)
            data = answer.read()
            if not 200 <= answer.status <= 299:
                raise ApiException(http_resp=answer, body=data.decode("utf-8", "replace"))
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise describe(exc, self.cluster) from exc
        if text:
            return answer.status, data.decode("utf-8", "replace")
        return answer.status, json.loads(data) if data else {}

    # -- kinds ------------------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        """The kind ``kind`` of ``api_version``; a clear error when the cluster does not serve it."""
        if api_version not in self._kinds:
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            try:
                _, document = self.request("GET", path)
            except ClusterError as exc:
                if exc.status == 404:
                    raise ClusterError(
                        f"cluster {self.cluster.name} does not serve apiVersion {api_version}", status=404
                    ) from exc
                raise
            self._kinds[api_version] = {
                item["kind"]: Resource(api_version, item["kind"], item["name"], bool(item.get("namespaced")))
                for item in document.get("resources") or []
                if "/" not in item["name"]
            }
        found = self._kinds[api_version].get(kind)
        if found is None:
            raise ClusterError(f"cluster {self.cluster.name} has no kind {kind} in apiVersion {api_version}")
        return found

    # -- objects ----------------------------------------------------------------------------------------

    def apply(self, resource: Resource, obj: dict[str, Any], namespace: str, *, force: bool) -> tuple[bool, Any]:
        """Server-side apply of ``obj``; answers (created, the object as the server stored it)."""
        query = [("fieldManager", FIELD_MANAGER)] + ([("force", "true")] if force else [])
        status, stored = self.request(
            "PATCH",
            resource.path(namespace, obj["metadata"]["name"]),
            body=obj,
            query=query,
            content_type="application/apply-patch+yaml",
        )
        return status == 201, stored

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", resource.path(namespace, name))[1]
        except ClusterError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, resource: Resource, namespace: str | None, selector: str = "", fields: str = "") -> list[Any]:
        query = [("labelSelector", selector)] if selector else []
        query += [("fieldSelector", fields)] if fields else []
        return list(self.request("GET", resource.path(namespace), query=query)[1].get("items") or [])

    def patch(
        self, resource: Resource, namespace: str | None, name: str, body: Any, content_type: str, manager: str
    ) -> Any:
        path, query = resource.path(namespace, name), [("fieldManager", manager)]
        return self.request("PATCH", path, body=body, query=query, content_type=content_type)[1]

    def delete(self, resource: Resource, namespace: str | None, name: str, propagation: str) -> bool:
        """Asks for the deletion; False when the object was not there."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            self.request("DELETE", resource.path(namespace, name), body=body)
        except ClusterError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def pod_log(self, namespace: str, pod: str, container: str, tail: int, previous: bool = False) -> str:
        query: list[tuple[str, Any]] = [("container", container), ("tailLines", tail)]
        if previous:
            query.append(("previous", "true"))
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"
        return str(self.request("GET", path, query=query, text=True)[1])


def selector_text(selector: dict[str, Any] | None) -> str:
    """A LabelSelector object as the ``labelSelector`` query string (``app=web,tier in (a,b)``)."""
    selector = selector or {}
    parts = [f"{key}={value}" for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
