"""What a notification says: the template context of an event, its text, and the masking of both.

Every text and body leaves here masked with the secret values of every credential of the project, so no
secret reaches a target or a delivery record, whatever a log line, error or input carried.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from apps.accounts.masking import mask, mask_data
from apps.accounts.models import Credential
from apps.accounts.services import credential_secret_values
from apps.pipelines.spec import render_value

from ..choices import StepStatus
from ..models import Execution, LogLine, NotificationTarget, StepExecution
from .choices import NotificationEvent

LOG_TAIL = 5  # log lines of the failed step quoted in a failure message


def project_secrets(project_id: int) -> list[str]:
    """The secret values of every credential of the project: what no notification may contain."""
    values: list[str] = []
    for credential in Credential.objects.filter(project_id=project_id):
        values.extend(credential_secret_values(credential=credential))
    return values


def execution_url(execution_id: int) -> str:
    return settings.BASE_URL + reverse("executions:detail", args=[execution_id])


def _failed_step(execution: Execution) -> StepExecution | None:
    return (
        StepExecution.objects.filter(execution=execution, status__in=StepStatus.failures())
        .order_by("finished_at", "position")
        .first()
    )


def _log_tail(step: StepExecution) -> list[str]:
    lines = LogLine.objects.filter(execution_id=step.execution_id, step=step).order_by("-seq")[:LOG_TAIL]
    return [text for text in reversed(lines.values_list("text", flat=True))]


def event_context(execution: Execution, event: str, *, subject: str = "", minutes: int | None = None) -> dict[str, Any]:
    """The facts of one event: the template context of webhook bodies, and the source of the message text."""
    step: dict[str, Any] = {}
    if event == NotificationEvent.APPROVAL_WAITING and subject:
        step = {"id": subject, "status": StepStatus.WAITING}
    elif event == NotificationEvent.FAILURE:
        failed = _failed_step(execution)
        if failed is not None:
            step = {"id": failed.step_id, "status": failed.status, "error": failed.error, "log": _log_tail(failed)}
    return {
        "event": event,
        "status": execution.status,
        "url": execution_url(execution.pk),
        "minutes": minutes,
        "project": {"slug": execution.project.slug, "name": execution.project.name},
        "pipeline": {"id": execution.pipeline_id, "name": execution.pipeline.name},
        "execution": {
            "id": execution.pk,
            "number": execution.number,
            "status": execution.status,
            "trigger": execution.trigger,
            "inputs": execution.inputs,
            "error": execution.error,
            "started_at": execution.started_at.isoformat() if execution.started_at else None,
            "finished_at": execution.finished_at.isoformat() if execution.finished_at else None,
            "duration": execution.duration,
        },
        "step": step,
    }


def message_text(context: dict[str, Any]) -> str:
    """The human text of an event: a first line (an email's subject), details, and the link to the run."""
    run = f"{context['project']['slug']}/{context['pipeline']['name']} #{context['execution']['number']}"
    event, step = context["event"], context["step"]
    lines: list[str] = []
    if event == NotificationEvent.FAILURE:
        duration = context["execution"]["duration"]
        lines.append(f"{run} failed" + (f" after {duration:.0f} s" if duration is not None else ""))
        if context["execution"]["error"]:
            lines.append(context["execution"]["error"])
        if step:
            lines.append(f"Step {step['id']} {step['status']}" + (f": {step['error']}" if step.get("error") else ""))
            lines.extend(f"  {line}" for line in step.get("log") or [])
    elif event == NotificationEvent.RECOVERED:
        lines.append(f"{run} succeeded after a failure")
    elif event == NotificationEvent.APPROVAL_WAITING:
        lines.append(f"{run} waits for approval at step {step.get('id', '?')}")
    else:
        lines.append(f"{run} has been running for more than {context['minutes']} minutes")
    lines.append(context["url"])
    return "\n".join(lines)


def render(target: NotificationTarget, context: dict[str, Any], secrets: list[str]) -> tuple[str, Any]:
    """(masked message text, masked payload): the JSON body of a webhook or Slack target, None for email."""
    text = mask(message_text(context), secrets)
    context = {**context, "message": text}
    if target.kind == "webhook":
        return text, mask_data(render_value(target.body_template, context), secrets)
    if target.kind == "slack":
        return text, {"text": text}
    return text, None


def sample_context() -> dict[str, Any]:
    """A context of the right shape, to check a body template when a target is saved."""
    return {
        "event": NotificationEvent.FAILURE,
        "status": "failed",
        "url": "http://ansflow.example/executions/1/",
        "message": "shop/deploy #1 failed",
        "minutes": None,
        "project": {"slug": "shop", "name": "Shop"},
        "pipeline": {"id": 1, "name": "deploy"},
        "execution": {
            "id": 1,
            "number": 1,
            "status": "failed",
            "trigger": "manual",
            "inputs": {},
            "error": "",
            "started_at": None,
            "finished_at": None,
            "duration": 1.0,
        },
        "step": {"id": "build", "status": "failed", "error": "exited with code 1", "log": []},
    }
