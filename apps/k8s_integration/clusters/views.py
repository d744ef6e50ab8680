"""Pages of clusters: a project's clusters (with their last check and a "check now" button), a cluster's resource
browser (one tab per kind, filters, paging by the cluster's continue token), a pod's log, and the maintainers'
actions (scale, restart a rollout, delete a pod) as POST forms. A cluster that fails shows its error message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Project
from apps.accounts.permissions import get_for_user_or_404, has_perm, restrict

from ..models import Cluster
from . import services
from .kube import ClusterError
from .logs import TAIL_DEFAULT, TAIL_MAX, pod_log_tail
from .selectors import KINDS, MAX_CONTINUE, MAX_SELECTOR, PAGE_SIZE, cluster_list, pod_get, resource_page

DEFAULT_KIND = "deployments"


def _cluster(request: HttpRequest, slug: str, name: str, action: str) -> Cluster:
    """The cluster: 404 when the user cannot see it, 403 when they may not do ``action`` on it."""
    project = get_for_user_or_404(Project, request.user, "view", slug=slug)
    return get_for_user_or_404(cluster_list(project=project), request.user, action, name=name)  # type: ignore[no-any-return]


def _messages(exc: ValidationError | ClusterError) -> str:
    return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


def _back(request: HttpRequest, cluster: Cluster, **query: str) -> HttpResponse:
    """Back where the form was (a page of this site), else to the cluster's page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    url = reverse("k8s_integration:cluster", args=[cluster.project.slug, cluster.name])
    return redirect(f"{url}?{urlencode(query)}" if query else url)


@require_GET
@login_required
def cluster_list_page(request: HttpRequest, slug: str) -> HttpResponse:
    """A project's clusters: environment, server, the last check's result and time; operators check them."""
    project = get_for_user_or_404(Project, request.user, "view", slug=slug)
    clusters = restrict(cluster_list(project=project), request.user, "view")
    sample = Cluster(project=project)
    context = {
        "project": project,
        "page": Paginator(clusters, 50).get_page(request.GET.get("page")),
        "can_check": has_perm(request.user, "check", sample),
        "can_add": has_perm(request.user, "add", sample),
    }
    return render(request, "k8s_integration/clusters.html", context)


class ResourceFilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[(key, spec.label) for key, spec in KINDS.items()], required=False)
    namespace = forms.RegexField(regex=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", required=False, max_length=63)
    all_namespaces = forms.BooleanField(required=False)
    label_selector = forms.CharField(required=False, max_length=MAX_SELECTOR)
    cont = forms.CharField(required=False, max_length=MAX_CONTINUE)


@require_GET
@login_required
def cluster_page(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """The resource browser: ``?kind=&namespace=&all_namespaces=&label_selector=&cont=``."""
    cluster = _cluster(request, slug, name, "view")
    form = ResourceFilterForm(request.GET)
    page: dict[str, Any] = {"items": [], "continue": None, "remaining": None}
    error = ""
    data: dict[str, Any] = {"kind": DEFAULT_KIND, "namespace": "", "all_namespaces": False, "label_selector": "",
                            "cont": ""}  # fmt: skip
    if form.is_valid():
        data.update({key: value for key, value in form.cleaned_data.items() if value})
    else:
        error = "; ".join(f"{field}: {' '.join(str(e) for e in errors)}" for field, errors in form.errors.items())
    namespace = None if data["all_namespaces"] else data["namespace"] or cluster.default_namespace
    kind: str = data["kind"]
    if not error:
        try:
            page = resource_page(cluster, kind=kind, namespace=namespace, label_selector=data["label_selector"],
                                 limit=PAGE_SIZE, continue_token=data["cont"])  # fmt: skip
        except (ValidationError, ClusterError) as exc:
            error = _messages(exc)
    filters = {"namespace": data["namespace"], "label_selector": data["label_selector"]}
    if data["all_namespaces"]:
        filters["all_namespaces"] = "on"
    filters = {key: value for key, value in filters.items() if value}
    context = {
        "cluster": cluster,
        "project": cluster.project,
        "kinds": [(key, spec.label) for key, spec in KINDS.items()],
        "kind": kind,
        "namespaced": bool(KINDS[kind].namespaced),
        "namespace": namespace,
        "filters": data,
        "query": urlencode(filters),
        "next_query": urlencode({"kind": kind, **filters, "cont": page["continue"]}) if page["continue"] else "",
        "first_query": urlencode({"kind": kind, **filters}) if data["cont"] else "",
        "page": page,
        "error": error,
        "can_act": has_perm(request.user, "change", cluster),
        "can_check": has_perm(request.user, "check", cluster),
    }
    template = "k8s_integration/_resources.html" if request.headers.get("HX-Request") == "true" else None
    return render(request, template or "k8s_integration/cluster.html", context)


@require_POST
@login_required
def cluster_check_view(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    cluster = _cluster(request, slug, name, "check")
    ok, message = services.cluster_check(actor=request.user, cluster=cluster)
    messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, f"{cluster.name}: {message}")
    return _back(request, cluster)


def _act(request: HttpRequest, cluster: Cluster, kind: str, namespace: str, act: Callable[[], str]) -> HttpResponse:
    """Runs one maintainer action, flashes what it did (or why it failed) and goes back to the page."""
    try:
        messages.success(request, act())
    except (ValidationError, ClusterError) as exc:
        messages.error(request, _messages(exc))
    return _back(request, cluster, kind=kind, namespace=namespace)


@require_POST
@login_required
def deployment_scale_view(request: HttpRequest, slug: str, name: str, namespace: str, deployment: str) -> HttpResponse:
    cluster = _cluster(request, slug, name, "change")

    def scale() -> str:
        try:
            replicas = int(request.POST.get("replicas", ""))
        except ValueError:
            raise ValidationError("Replicas: a whole number from 0 to 1000.") from None
        row = services.deployment_scale(actor=request.user, cluster=cluster, namespace=namespace, name=deployment,
                                        replicas=replicas, request=request)  # fmt: skip
        return f"Scaled {namespace}/{deployment} to {row['replicas']} replicas."

    return _act(request, cluster, "deployments", namespace, scale)


@require_POST
@login_required
def deployment_restart_view(
    request: HttpRequest, slug: str, name: str, namespace: str, deployment: str
) -> HttpResponse:
    cluster = _cluster(request, slug, name, "change")

    def restart() -> str:
        services.deployment_restart(
            actor=request.user, cluster=cluster, namespace=namespace, name=deployment, request=request
        )
        return f"Restarted the rollout of {namespace}/{deployment}."

    return _act(request, cluster, "deployments", namespace, restart)


@require_POST
@login_required
def pod_delete_view(request: HttpRequest, slug: str, name: str, namespace: str, pod: str) -> HttpResponse:
    cluster = _cluster(request, slug, name, "change")

    def delete() -> str:
        services.pod_delete(actor=request.user, cluster=cluster, namespace=namespace, name=pod, request=request)
        return f"Deleted pod {namespace}/{pod}."

    return _act(request, cluster, "pods", namespace, delete)


@require_GET
@login_required
def pod_log_page(request: HttpRequest, slug: str, name: str, namespace: str, pod: str) -> HttpResponse:
    """The last lines of a pod's container, then followed live over the log socket."""
    cluster = _cluster(request, slug, name, "view")
    container = request.GET.get("container", "")
    try:
        tail = min(max(int(request.GET.get("tail", TAIL_DEFAULT)), 0), TAIL_MAX)
    except ValueError:
        tail = TAIL_DEFAULT
    details: dict[str, Any] = {}
    lines: list[dict[str, str]] = []
    error = ""
    try:
        details = pod_get(cluster, namespace=namespace, name=pod)
        container = container or (details["containers"] or [""])[0]
        lines = pod_log_tail(cluster, namespace=namespace, name=pod, container=container, tail=tail)
    except (ValidationError, ClusterError) as exc:
        error = _messages(exc)
    socket_query = urlencode({"container": container, "tail": tail})
    context = {
        "cluster": cluster,
        "project": cluster.project,
        "namespace": namespace,
        "pod": pod,
        "details": details,
        "container": container,
        "tail": tail,
        "lines": lines,
        "last_time": lines[-1]["time"] if lines else "",
        "error": error,
        "ws_path": f"/ws/clusters/{cluster.pk}/pods/{namespace}/{pod}/logs/?{socket_query}",
        "can_act": has_perm(request.user, "change", cluster),
    }
    return render(request, "k8s_integration/pod_log.html", context)
