"""The operators' console for runs: executions, steps, attempts, log lines and approvals, all read-only
and linked to each other. Admin actions run, cancel, retry and approve through the services; every
object is checked with the permission API first (a non-superuser staff member acts on their projects).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts.admin import PermissionAdmin
from apps.accounts.permissions import has_perm
from apps.pipelines.admin import PipelineAdmin, ReadOnlyInline, admin_link
from apps.pipelines.models import Pipeline
from apps.pipelines.spec import InputError

from .choices import Decision
from .models import Approval, Execution, LogLine, StepAttempt, StepExecution
from .services import (
    RunError,
    approval_decide,
    execution_cancel,
    execution_rerun,
    execution_retry_failed,
    execution_start,
)


def _each(
    admin_obj: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    queryset: QuerySet[Any],
    action: str,
    call: Callable[[Any], Any],
    done: str,
) -> None:
    """Call ``call`` for each selected object the user may ``action``; report what happened."""
    ok, refused, failed = 0, 0, []
    for obj in queryset:
        if not has_perm(request.user, action, obj):
            refused += 1
            continue
        try:
            call(obj)
        except (RunError, InputError, PermissionDenied) as exc:
            failed.append(f"{obj}: {exc}")
        else:
            ok += 1
    if ok:
        admin_obj.message_user(request, f"{done}: {ok}.", messages.SUCCESS)
    if refused:
        admin_obj.message_user(request, f"Not allowed for {refused} selected object(s).", messages.WARNING)
    for line in failed:
        admin_obj.message_user(request, line, messages.ERROR)


class ReadOnlyAdmin(PermissionAdmin):
    """Runs, steps, logs and approvals are written by the engine and services only."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def _logs_link(filter_name: str, pk: int, text: str = "log lines") -> str:
    url = reverse("admin:executions_logline_changelist")
    return format_html('<a href="{}?{}={}">{}</a>', url, filter_name, pk, text)


# --- pipelines get a "run" action here, the layer that can start executions ------------------------

admin.site.unregister(Pipeline)


@admin.register(Pipeline)
class RunnablePipelineAdmin(PipelineAdmin):
    actions = ["run"]

    @admin.action(description="Run selected pipelines (default inputs)")
    def run(self, request: HttpRequest, queryset: QuerySet[Pipeline]) -> None:
        def start(pipeline: Pipeline) -> None:
            execution_start(actor=request.user, pipeline=pipeline, trigger="admin", request=request)

        _each(self, request, queryset, "run", start, "Started")


# --- executions ------------------------------------------------------------------------------------


class StepInline(ReadOnlyInline):
    model = StepExecution
    readonly_fields = ("step_link", "kind", "status", "attempt", "exit_code", "started_at", "finished_at", "logs")
    fields = readonly_fields
    ordering = ["position"]

    @admin.display(description="step")
    def step_link(self, obj: StepExecution) -> str:
        return admin_link(obj, obj.step_id)

    @admin.display(description="log")
    def logs(self, obj: StepExecution) -> str:
        return _logs_link("step__id__exact", obj.pk)


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "pipeline_link", "project", "status", "trigger", "actor", "created_at", "started_at",
                    "finished_at", "took"]  # fmt: skip
    list_select_related = ["pipeline__project", "project", "actor"]
    list_filter = ["status", "trigger", "project"]
    search_fields = ["pipeline__name", "project__slug", "actor__username"]
    date_hierarchy = "created_at"
    readonly_fields = ("pipeline_link", "version_link", "number", "project", "status", "trigger", "actor", "inputs",
                        "concurrency_group", "rerun_of_link", "cancel_requested", "error", "created_at",
                        "started_at", "finished_at", "took", "log_seq", "logs", "page")  # fmt: skip
    fields = readonly_fields
    inlines = [StepInline]
    actions = ["cancel", "rerun", "retry_failed"]

    @admin.display(description="pipeline", ordering="pipeline__name")
    def pipeline_link(self, obj: Execution) -> str:
        return admin_link(obj.pipeline)

    @admin.display(description="version")
    def version_link(self, obj: Execution) -> str:
        return admin_link(obj.version)

    @admin.display(description="re-run of")
    def rerun_of_link(self, obj: Execution) -> str:
        return admin_link(obj.rerun_of)

    @admin.display(description="duration")
    def took(self, obj: Execution) -> str:
        return f"{obj.duration:.1f}s" if obj.duration is not None else "—"

    @admin.display(description="log")
    def logs(self, obj: Execution) -> str:
        return _logs_link("execution__id__exact", obj.pk, f"{obj.log_seq} log lines")

    @admin.display(description="live page")
    def page(self, obj: Execution) -> str:
        return format_html('<a href="{}">open the execution page</a>', reverse("executions:detail", args=[obj.pk]))

    @admin.action(description="Cancel selected executions")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        call = lambda e: execution_cancel(actor=request.user, execution=e, request=request)  # noqa: E731
        _each(self, request, queryset, "cancel", call, "Canceled")

    @admin.action(description="Retry: run selected executions again")
    def rerun(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        call = lambda e: execution_rerun(actor=request.user, execution=e, request=request)  # noqa: E731
        _each(self, request, queryset, "retry", call, "Started again")

    @admin.action(description="Re-run the failed steps of selected executions")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        call = lambda e: execution_retry_failed(actor=request.user, execution=e, request=request)  # noqa: E731
        _each(self, request, queryset, "retry", call, "Re-running failed steps")


class AttemptInline(ReadOnlyInline):
    model = StepAttempt
    readonly_fields = ("number", "status", "exit_code", "worker", "started_at", "finished_at", "error")
    fields = readonly_fields


@admin.register(StepExecution)
class StepExecutionAdmin(ReadOnlyAdmin):
    list_display = ["step_id", "execution_link", "kind", "status", "attempt", "exit_code", "started_at",
                    "finished_at"]  # fmt: skip
    list_select_related = ["execution__pipeline__project"]
    list_filter = ["status", "kind"]
    search_fields = ["step_id", "execution__pipeline__name"]
    date_hierarchy = "created_at"
    readonly_fields = ("execution_link", "step_id", "kind", "status", "attempt", "matrix", "needs", "exit_code",
                        "outputs", "error", "worker", "queued_at", "started_at", "finished_at", "heartbeat_at",
                        "deadline_at", "logs")  # fmt: skip
    fields = readonly_fields
    inlines = [AttemptInline]
    actions = ["approve"]

    @admin.display(description="execution", ordering="execution_id")
    def execution_link(self, obj: StepExecution) -> str:
        return admin_link(obj.execution)

    @admin.display(description="log")
    def logs(self, obj: StepExecution) -> str:
        return _logs_link("step__id__exact", obj.pk)

    @admin.action(description="Approve selected approval gates")
    def approve(self, request: HttpRequest, queryset: QuerySet[StepExecution]) -> None:
        def decide(step: StepExecution) -> None:
            approval_decide(actor=request.user, step=step, decision=Decision.APPROVE, request=request)

        _each(self, request, queryset, "approve", decide, "Approved")


@admin.register(StepAttempt)
class StepAttemptAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "step_link", "number", "status", "exit_code", "worker", "started_at", "finished_at"]
    list_select_related = ["step__execution__pipeline__project"]
    list_filter = ["status"]
    search_fields = ["step__step_id", "worker"]
    readonly_fields = ("step_link", "number", "status", "exit_code", "worker", "error", "started_at", "finished_at")
    fields = readonly_fields

    @admin.display(description="step")
    def step_link(self, obj: StepAttempt) -> str:
        return admin_link(obj.step)


@admin.register(LogLine)
class LogLineAdmin(ReadOnlyAdmin):
    list_display = ["seq", "execution_link", "step_link", "stream", "time", "short_text"]
    list_select_related = ["execution__pipeline__project", "step"]
    list_filter = ["stream"]
    search_fields = ["text"]
    ordering = ["-execution_id", "seq"]
    show_full_result_count = False  # counting millions of lines on every page is not worth it
    readonly_fields = ("execution_link", "step_link", "seq", "stream", "time", "text")
    fields = readonly_fields

    @admin.display(description="execution", ordering="execution_id")
    def execution_link(self, obj: LogLine) -> str:
        return admin_link(obj.execution)

    @admin.display(description="step")
    def step_link(self, obj: LogLine) -> str:
        return admin_link(obj.step, obj.step.step_id if obj.step else None)

    @admin.display(description="text")
    def short_text(self, obj: LogLine) -> str:
        return obj.text if len(obj.text) <= 160 else obj.text[:159] + "…"


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ["step_link", "user", "decision", "comment", "created_at"]
    list_select_related = ["step__execution__pipeline__project", "user"]
    list_filter = ["decision"]
    search_fields = ["step__step_id", "user__username", "comment"]
    date_hierarchy = "created_at"
    readonly_fields = ("step_link", "user", "decision", "comment", "created_at")
    fields = readonly_fields

    @admin.display(description="gate")
    def step_link(self, obj: Approval) -> str:
        return admin_link(obj.step)


from .notifications import admin as _notifications_admin  # noqa: E402, F401  (registers the notification admins)
