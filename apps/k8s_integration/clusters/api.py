"""Clusters API: clusters of the caller's projects (CRUD and the connectivity check), the resource browser
(``/clusters/{id}/resources/{kind}/``), pod logs, and the maintainers' actions on deployments and pods.

What the cluster answers is passed on with its message: a cluster that cannot be reached (or fails TLS) is a
503, a cluster that refuses its own credential or fails is a 502, a missing object a 404, a request it
rejects a 400. Never a 500.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.serializers import BaseSerializer

from apps.accounts.api.views import ServiceErrorsMixin, require, visible_project
from apps.accounts.permissions import ProjectPermission, has_perm, restrict

from ..choices import ClusterEnvironment
from ..models import Cluster
from . import serializers as s
from . import services
from .kube import ClusterError
from .logs import pod_log_tail
from .selectors import KINDS, cluster_list, resource_page

CLUSTER_FAILED = {
    502: OpenApiResponse(s.ClusterErrorSerializer, description="The cluster refused its credential or failed"),
    503: OpenApiResponse(s.ClusterErrorSerializer, description="The cluster is unreachable or failed TLS"),
}
OBJECT = r"(?P<namespace>[a-z0-9]([-a-z0-9]*[a-z0-9])?)/(?P<name>[a-z0-9]([-.a-z0-9]*[a-z0-9])?)"
PATH_PARAMETERS = [
    OpenApiParameter("namespace", str, OpenApiParameter.PATH, description="The object's namespace."),
    OpenApiParameter("name", str, OpenApiParameter.PATH, description="The object's name."),
]


def cluster_error_response(exc: ClusterError) -> Response:
    """The API's answer to a failed cluster call, with the message naming the cause."""
    code: int
    if exc.status is None:
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif exc.status in (400, 410, 422):
        code = status.HTTP_400_BAD_REQUEST  # a selector, continue token or value the cluster rejected
    elif exc.status in (404, 409):
        code = exc.status
    else:
        code = status.HTTP_502_BAD_GATEWAY
    return Response({"detail": str(exc), "cluster_status": exc.status}, status=code)


class ClusterFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")
    environment = filters.ChoiceFilter(choices=ClusterEnvironment.choices)
    last_check_ok = filters.BooleanFilter()

    class Meta:
        model = Cluster
        fields = ["project", "environment", "name", "last_check_ok"]


def _valid(serializer_class: type[BaseSerializer[Any]], data: Any, request: Request, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data, context={"request": request}, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ClusterViewSet(ServiceErrorsMixin, viewsets.ModelViewSet[Cluster]):
    """Kubernetes clusters of the caller's projects. Viewers browse them, operators check them, maintainers
    add, change and delete them and scale, restart and delete workloads on them."""

    serializer_class = s.ClusterSerializer
    permission_classes = [ProjectPermission]
    permission_action_map = {
        "check": "check", "resources": "view", "pod_logs": "view",
        "scale": "change", "restart": "change", "delete_pod": "change",
    }  # fmt: skip
    filterset_class = ClusterFilter
    ordering_fields = ["name", "environment", "last_checked_at", "created_at"]
    search_fields = ["name", "server", "description"]
    queryset = Cluster.objects.none()  # for the schema generator, which has no signed-in user

    def get_queryset(self) -> QuerySet[Cluster]:
        return restrict(cluster_list(), self.request.user, "view")

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ClusterError):
            return cluster_error_response(exc)
        return super().handle_exception(exc)

    def _answer(self, cluster: Cluster, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(cluster_list().get(pk=cluster.pk)).data, status=code)

    @extend_schema(request=s.ClusterWriteSerializer, responses={201: s.ClusterSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _valid(s.ClusterWriteSerializer, request.data, request)
        project = visible_project(request.user, data.pop("project"))
        require(has_perm(request.user, "add", Cluster(project=project)), "Adding clusters needs the maintainer role.")
        cluster = services.cluster_create(actor=request.user, project=project, **data)
        return self._answer(cluster, status.HTTP_201_CREATED)

    @extend_schema(request=s.ClusterWriteSerializer, responses={200: s.ClusterSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        cluster = self.get_object()
        data = _valid(s.ClusterWriteSerializer, request.data, request, partial=True)
        if "project" in data and data.pop("project") != cluster.project:
            return Response({"detail": "project: A cluster stays in its project.",
                             "errors": {"project": ["A cluster stays in its project."]}}, status=400)  # fmt: skip
        return self._answer(services.cluster_update(actor=request.user, cluster=cluster, **data))

    @extend_schema(request=s.ClusterWriteSerializer, responses={200: s.ClusterSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, **kwargs)

    def perform_destroy(self, instance: Cluster) -> None:
        services.cluster_delete(actor=self.request.user, cluster=instance)

    @extend_schema(request=None, responses={200: s.CheckResultSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request: Request, pk: str | None = None) -> Response:
        """Runs the connectivity check now: server version, identity, and the verbs it may use in the default
        namespace. A failed check is still a 200: ``ok`` is false and ``message`` names the cause."""
        cluster = self.get_object()
        ok, message = services.cluster_check(actor=request.user, cluster=cluster)
        cluster = cluster_list().get(pk=cluster.pk)
        return Response({"ok": ok, "message": message, "cluster": self.get_serializer(cluster).data})

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(KINDS)),
            s.ResourceQuerySerializer,
        ],
        responses={200: s.ResourcePageSerializer, **CLUSTER_FAILED},
    )
    @action(detail=True, methods=["get"], url_path=r"resources/(?P<kind>[a-z]+)")
    def resources(self, request: Request, pk: str | None = None, kind: str = "") -> Response:
        """One page of a kind's objects, paged by the cluster (``limit``, ``continue``) and filtered by
        namespace and label selector. Secrets are listed with their keys only."""
        cluster = self.get_object()
        if kind not in KINDS:
            return Response({"detail": f"Unknown kind {kind!r}; one of {', '.join(KINDS)}."}, status=404)
        query = _valid(s.ResourceQuerySerializer, request.query_params, request)
        namespace = None if query["all_namespaces"] else query.get("namespace") or cluster.default_namespace
        page = resource_page(
            cluster, kind=kind, namespace=namespace, label_selector=query["label_selector"], limit=query["limit"],
            continue_token=query["continue"],
        )  # fmt: skip
        return Response(page)

    @extend_schema(
        parameters=PATH_PARAMETERS,
        request=s.ScaleSerializer,
        responses={200: s.DeploymentSerializer, **CLUSTER_FAILED},
    )
    @action(detail=True, methods=["post"], url_path=rf"deployments/{OBJECT}/scale")
    def scale(self, request: Request, pk: str | None = None, namespace: str = "", name: str = "") -> Response:
        """Sets a deployment's replicas (audited)."""
        cluster = self.get_object()
        replicas = _valid(s.ScaleSerializer, request.data, request)["replicas"]
        row = services.deployment_scale(
            actor=request.user, cluster=cluster, namespace=namespace, name=name, replicas=replicas, request=request
        )
        return Response(row)

    @extend_schema(parameters=PATH_PARAMETERS, request=None, responses={200: s.DeploymentSerializer, **CLUSTER_FAILED})
    @action(detail=True, methods=["post"], url_path=rf"deployments/{OBJECT}/restart")
    def restart(self, request: Request, pk: str | None = None, namespace: str = "", name: str = "") -> Response:
        """Restarts a deployment's rollout (new ``kubectl.kubernetes.io/restartedAt`` annotation; audited)."""
        cluster = self.get_object()
        row = services.deployment_restart(
            actor=request.user, cluster=cluster, namespace=namespace, name=name, request=request
        )
        return Response(row)

    @extend_schema(parameters=PATH_PARAMETERS, request=None, responses={204: None, **CLUSTER_FAILED})
    @action(detail=True, methods=["delete"], url_path=rf"pods/{OBJECT}", url_name="delete-pod")
    def delete_pod(self, request: Request, pk: str | None = None, namespace: str = "", name: str = "") -> Response:
        """Deletes a pod (audited); its controller, if any, starts a new one."""
        cluster = self.get_object()
        services.pod_delete(actor=request.user, cluster=cluster, namespace=namespace, name=name, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[*PATH_PARAMETERS, s.LogQuerySerializer],
        responses={200: s.PodLogSerializer, **CLUSTER_FAILED},
    )
    @action(detail=True, methods=["get"], url_path=rf"pods/{OBJECT}/logs", url_name="pod-logs")
    def pod_logs(self, request: Request, pk: str | None = None, namespace: str = "", name: str = "") -> Response:
        """The last ``tail`` lines of a pod's container, with the kubelet's timestamps. Follow them live over
        the WebSocket ``/ws/clusters/{id}/pods/{namespace}/{name}/logs/``."""
        cluster = self.get_object()
        query = _valid(s.LogQuerySerializer, request.query_params, request)
        lines = pod_log_tail(cluster, namespace=namespace, name=name, container=query["container"], tail=query["tail"])
        return Response({"namespace": namespace, "pod": name, "container": query["container"], "lines": lines})


router = SimpleRouter()
router.register("clusters", ClusterViewSet, basename="cluster")
urlpatterns = router.urls

__all__ = ["ClusterViewSet", "cluster_error_response", "urlpatterns"]
