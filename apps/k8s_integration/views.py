"""Pages of the deploy targets: a Docker host's images and containers."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.models import Project
from apps.accounts.permissions import get_for_user_or_404, has_perm

from .docker_client import DockerUnavailable
from .models import DockerHost
from .selectors import docker_resources
from .services import docker_resource_remove


def _host(request: HttpRequest, slug: str, name: str, action: str) -> DockerHost:
    project = get_for_user_or_404(Project, request.user, "view", slug=slug)
    return get_for_user_or_404(
        DockerHost.objects.select_related("project"), request.user, action, project=project, name=name
    )


@login_required
def docker_host_page(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """Images and containers of one Docker host; maintainers may remove them."""
    host = _host(request, slug, name, "view")
    try:
        resources, error = docker_resources(host), ""
    except DockerUnavailable as exc:
        resources, error = {"images": [], "containers": []}, str(exc)
    context = {"host": host, "error": error, "can_remove": has_perm(request.user, "change", host), **resources}
    return render(request, "k8s_integration/docker_host.html", context)


@require_POST
@login_required
def docker_resource_remove_view(
    request: HttpRequest, slug: str, name: str, kind: str, resource_id: str
) -> HttpResponse:
    host = _host(request, slug, name, "view")
    if not has_perm(request.user, "change", host):
        raise PermissionDenied("Removing images and containers needs the maintainer role.")
    try:
        docker_resource_remove(actor=request.user, host=host, kind=kind, resource_id=resource_id)
        messages.success(request, f"Removed {kind} {resource_id[:19]}.")
    except (ValidationError, DockerUnavailable) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
    return redirect("k8s_integration:docker-host", slug=host.project.slug, name=host.name)
