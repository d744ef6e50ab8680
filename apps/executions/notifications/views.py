"""The notifications page of a project (for maintainers): its targets and rules, and the recent delivery
attempts with their status and error, filtered by status or target."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.models import Project
from apps.accounts.permissions import get_for_user_or_404, has_perm, restrict
from apps.pipelines.views import paginate

from ..api.notifications import DeliveryFilter
from ..models import NotificationTarget
from .choices import DeliveryStatus
from .selectors import TargetMasker, delivery_list, rule_list, target_list

# The status badge each delivery status wears (the classes of inc/status.html).
STATUS_CLASS = {"pending": "queued", "sending": "running", "sent": "success", "retrying": "waiting", "failed": "failed"}


@login_required
def notifications_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_for_user_or_404(Project, request.user, "view", slug=slug)
    if not has_perm(request.user, "change", NotificationTarget(project=project)):
        raise PermissionDenied("The notifications page is for maintainers.")
    masker = TargetMasker()
    targets = [
        {"target": target, "url": masker.url(target)}
        for target in restrict(target_list().filter(project=project), request.user, "view")
    ]
    rules = restrict(rule_list().filter(project=project), request.user, "view")
    deliveries = restrict(delivery_list().filter(project=project), request.user, "view")
    filterset = DeliveryFilter({k: v for k, v in request.GET.items() if k in ("status", "target")}, queryset=deliveries)
    page = paginate(request, filterset.qs if filterset.is_valid() else deliveries.none(), 50)
    context = {
        "project": project,
        "targets": targets,
        "rules": rules,
        "page": page,
        "deliveries": [{"delivery": d, "status_class": STATUS_CLASS.get(d.status, "never")} for d in page.object_list],
        "statuses": DeliveryStatus.choices,
        "status": request.GET.get("status", ""),
        "target": request.GET.get("target", ""),
        "filter_errors": filterset.errors,
    }
    return render(request, "executions/notifications.html", context)
