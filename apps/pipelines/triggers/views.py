"""The triggers page of a project (for maintainers): every trigger of its pipelines, what it listens to,
its webhook URL, its last firing and why a firing started nothing; and switching one on or off."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts.models import Project
from apps.accounts.permissions import get_for_user_or_404, has_perm, restrict

from ..models import Pipeline
from ..views import paginate
from .models import Trigger, TriggerKind
from .selectors import trigger_list
from .services import trigger_set_enabled

# The status badge each outcome wears (the classes of inc/status.html).
OUTCOME_CLASS = {"started": "success", "skipped": "skipped", "failed": "failed"}


@login_required
def trigger_list_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Every trigger of the project's pipelines with its last firing, for maintainers."""
    project = get_for_user_or_404(Project, request.user, "view", slug=slug)
    if not has_perm(request.user, "change", Trigger(pipeline=Pipeline(project=project))):
        raise PermissionDenied("The triggers page is for maintainers.")
    page = paginate(request, restrict(trigger_list().filter(pipeline__project=project), request.user, "view"), 50)
    rows = [
        {
            "trigger": trigger,
            "outcome_class": OUTCOME_CLASS.get(trigger.last_outcome, "never"),
            "webhook_url": request.build_absolute_uri(reverse("webhook", args=[trigger.public_id]))
            if trigger.kind == TriggerKind.WEBHOOK
            else "",
        }
        for trigger in page.object_list
    ]
    return render(request, "pipelines/triggers.html", {"project": project, "page": page, "rows": rows})


@require_POST
@login_required
def trigger_switch(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """``enabled=1`` switches the trigger on, ``enabled=0`` off."""
    triggers = trigger_list().filter(pipeline__project__slug=slug)
    trigger = get_for_user_or_404(triggers, request.user, "change", pk=pk)
    wanted = request.POST.get("enabled")
    if wanted not in ("0", "1"):
        return HttpResponseBadRequest("enabled: give 1 to switch the trigger on or 0 to switch it off.")
    trigger_set_enabled(actor=request.user, trigger=trigger, enabled=wanted == "1", request=request)
    messages.success(request, f"{trigger.pipeline.name} {trigger.key} switched {'on' if wanted == '1' else 'off'}.")
    return redirect("pipelines:triggers", slug=slug)
