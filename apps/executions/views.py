"""Pages of the executions layer: dashboard, project, run form, run history, execution page, approvals.

Every view asks the permission API (404 for what the user cannot see, 403 for what they may not do);
every form posts with CSRF and calls one service.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.models import Project
from apps.accounts.permissions import (
    effective_role,
    get_for_user_or_404,
    has_perm,
    project_roles,
    restrict,
    user_capabilities,
)
from apps.accounts.selectors import project_list
from apps.k8s_integration.selectors import docker_host_list
from apps.pipelines import selectors as pipeline_selectors
from apps.pipelines.dag import layout
from apps.pipelines.models import Pipeline
from apps.pipelines.spec import InputError
from apps.pipelines.views import paginate

from . import charts, selectors
from .choices import ExecutionStatus, StepStatus
from .forms import DecisionForm, RunForm
from .models import Execution, StepExecution
from .services import (
    RunError,
    approval_decide,
    execution_cancel,
    execution_rerun,
    execution_retry_failed,
    execution_start,
)

ACTIVE = [ExecutionStatus.QUEUED, ExecutionStatus.RUNNING]
TREND_DAYS = (7, 30)


def visible_executions(user: Any) -> QuerySet[Execution]:
    return restrict(selectors.execution_list(), user, "view")


# --- dashboard --------------------------------------------------------------------------------


def _trends(user: Any, days: int) -> dict[str, Any]:
    rows = selectors.execution_trends(visible_executions(user), days, timezone.now())
    return {"days": days, "success": charts.success_chart(rows), "duration": charts.duration_chart(rows)}


def _trend_days(request: HttpRequest) -> int:
    raw = request.GET.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in TREND_DAYS else TREND_DAYS[0]


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """My projects, runs in progress, recent failures, gates waiting for me and the 7/30-day trends."""
    user = request.user
    runs = visible_executions(user)
    since = timezone.now() - timedelta(days=7)
    roles = project_roles(user)
    projects = list(project_list(user=user)[:50])
    context = {
        "projects": [(p, roles.get(p.pk) or ("owner" if user.is_superuser else None)) for p in projects],
        "running": list(runs.filter(status__in=ACTIVE)[:10]),
        "failures": list(runs.filter(status=ExecutionStatus.FAILED, created_at__gte=since)[:10]),
        "gates": selectors.approvals_waiting_for(user, limit=10),
        "trends": _trends(user, _trend_days(request)),
        "trend_choices": TREND_DAYS,
    }
    return render(request, "dashboard/index.html", context)


@login_required
def dashboard_trends(request: HttpRequest) -> HttpResponse:
    """The trend charts for 7 or 30 days (htmx swaps them in place)."""
    context = {"trends": _trends(request.user, _trend_days(request)), "trend_choices": TREND_DAYS}
    return render(request, "inc/trends.html", context)


# --- project ----------------------------------------------------------------------------------


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A project's pipelines with their last status, its recent runs and links to its other pages."""
    project: Project = get_for_user_or_404(Project, request.user, "view", slug=slug)
    pipelines = restrict(pipeline_selectors.pipeline_list().filter(project=project), request.user, "view")
    context = {
        "project": project,
        "role": effective_role(request.user, project),
        "pipelines": pipelines[:100],
        "page": paginate(request, visible_executions(request.user).filter(project=project)),
        "is_maintainer": has_perm(request.user, "change", Pipeline(project=project)),
        "docker_hosts": restrict(docker_host_list(project_id=project.pk), request.user, "view").order_by("name"),
    }
    return render(request, "dashboard/project.html", context)


# --- run history and run form -----------------------------------------------------------------


@login_required
def pipeline_runs(request: HttpRequest, pk: int) -> HttpResponse:
    """A pipeline's run history with durations, paginated (loaded into the pipeline page by htmx)."""
    pipeline = get_for_user_or_404(Pipeline, request.user, "view", pk=pk)
    runs = visible_executions(request.user).filter(pipeline=pipeline)
    return render(request, "executions/_runs.html", {"pipeline": pipeline, "page": paginate(request, runs)})


@require_http_methods(["GET", "POST"])
@login_required
def run_form(request: HttpRequest, pk: int) -> HttpResponse:
    """The form generated from the current version's inputs; errors of ``validate_inputs`` per field."""
    pipeline = get_for_user_or_404(pipeline_selectors.pipelines(), request.user, "run", pk=pk)
    version = pipeline.current_version
    if version is None:
        raise PermissionDenied("This pipeline has no version to run.")
    inputs = version.spec.get("inputs") or {}
    status = 200
    if request.method == "POST":
        form = RunForm(request.POST, inputs=inputs)
        form.is_valid()
        try:
            execution = execution_start(
                actor=request.user, pipeline=pipeline, inputs=form.given(), trigger="manual", request=request
            )
        except InputError as exc:
            for name, message in exc.errors.items():
                form.add_error(name if name in form.fields else None, message)
            status = 400
        except RunError as exc:
            form.add_error(None, str(exc))
            status = 409
        else:
            return redirect("executions:detail", pk=execution.pk)
    else:
        form = RunForm(inputs=inputs)
    return render(request, "executions/run.html", {"pipeline": pipeline, "form": form}, status=status)


# --- the execution page -----------------------------------------------------------------------


def _summary_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    user = request.user
    caps = user_capabilities(user, execution)
    steps = list(execution.steps.all())
    roles = project_roles(user)
    for step in steps:
        step.execution = execution  # the page's execution already holds the frozen spec
        step.can_decide = (  # type: ignore[attr-defined]
            caps["approve"] and step.status == StepStatus.WAITING and selectors.gate_open_to(user, step, roles)
        )
    terminal = execution.status in ExecutionStatus.terminal()
    return {
        "execution": execution,
        "steps": steps,
        "caps": caps,
        "can_cancel": caps["cancel"] and not terminal,
        "can_rerun": caps["retry"] and terminal,
        "can_retry_failed": caps["retry"] and execution.status in (ExecutionStatus.FAILED, ExecutionStatus.CANCELED),
        "terminal": terminal,
    }


@login_required
def execution_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The DAG with live states, the steps with durations and attempts, the live log and the actions."""
    get_for_user_or_404(Execution, request.user, "view", pk=pk)
    execution = selectors.execution_page(pk)
    context = _summary_context(request, execution)
    dag = layout([{"id": s.step_id, "needs": s.needs, "kind": s.kind, "status": s.status} for s in context["steps"]])
    context.update(
        {
            "dag": dag,
            "ws_path": f"/ws/executions/{execution.pk}/",
            "terminal_statuses": " ".join(sorted(ExecutionStatus.terminal())),
            "summary_url": reverse("executions:summary", args=[execution.pk]),
            "step_ids": [s.step_id for s in context["steps"]],
        }
    )
    return render(request, "executions/detail.html", context)


@login_required
def execution_summary(request: HttpRequest, pk: int) -> HttpResponse:
    """The status header, actions and steps table, re-fetched by the page when a status message arrives."""
    get_for_user_or_404(Execution, request.user, "view", pk=pk)
    execution = selectors.execution_page(pk)
    return render(request, "executions/_summary.html", _summary_context(request, execution))


def _back(request: HttpRequest, execution: Execution) -> HttpResponse:
    return redirect("executions:detail", pk=execution.pk)


@require_POST
@login_required
def execution_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    execution = get_for_user_or_404(Execution, request.user, "cancel", pk=pk)
    execution_cancel(actor=request.user, execution=execution, request=request)
    messages.success(request, f"Run #{execution.number} is being canceled.")
    return _back(request, execution)


def _start_again(request: HttpRequest, pk: int, service: Any, done: str) -> HttpResponse:
    """Run again or re-run the failed steps: one service call, back to the new run (or the old one on error)."""
    execution = get_for_user_or_404(selectors.executions(), request.user, "retry", pk=pk)
    try:
        new = service(actor=request.user, execution=execution, request=request)
    except (RunError, InputError) as exc:
        messages.error(request, str(exc))
        return _back(request, execution)
    messages.success(request, done.format(new=new.number, old=execution.number))
    return _back(request, new)


@require_POST
@login_required
def execution_rerun_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _start_again(request, pk, execution_rerun, "Started run #{new} again from scratch.")


@require_POST
@login_required
def execution_retry_failed_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _start_again(request, pk, execution_retry_failed, "Run #{new} re-runs the failed steps of #{old}.")


@require_POST
@login_required
def step_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject a waiting gate (the service checks the gate's approver rules: 403 otherwise)."""
    step: StepExecution = get_for_user_or_404(
        StepExecution.objects.select_related("execution"), request.user, "approve", pk=pk
    )
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("decision must be approve or reject")
    try:
        approval_decide(actor=request.user, step=step, request=request, **form.cleaned_data)
    except RunError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"You {form.cleaned_data['decision']}d {step.step_id}.")
    nxt = request.POST.get("next", "")
    if nxt == "approvals":
        return redirect("executions:approvals")
    return redirect("executions:detail", pk=step.execution_id)


# --- approvals inbox --------------------------------------------------------------------------


@login_required
def approvals_inbox(request: HttpRequest) -> HttpResponse:
    """Every gate the user may decide now, oldest deadline first."""
    return render(request, "executions/approvals.html", {"gates": selectors.approvals_waiting_for(request.user)})
