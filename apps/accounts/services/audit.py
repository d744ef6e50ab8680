"""Writing the audit log. Every service calls :func:`audit_record` inside its own transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model

from ansflow.logging import request_id_var

from ..masking import mask, mask_data
from ..models import ApiToken, AuditEvent, Project
from ..permissions import ProjectPolicy, policy_for, token_of


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None:
        return {"actor_user": None, "actor_token": None, "actor_repr": "system"}
    if isinstance(actor, ApiToken):
        return {
            "actor_user_id": actor.user_id,
            "actor_token": actor,
            "actor_repr": f"{actor.user} (token {actor.name})",
        }
    if isinstance(actor, AbstractBaseUser):
        token = token_of(actor)
        if token is not None:
            return {"actor_user": actor, "actor_token": token, "actor_repr": f"{actor} (token {token.name})"}
        return {"actor_user": actor if actor.pk else None, "actor_token": None, "actor_repr": str(actor) or "anonymous"}
    raise TypeError(f"audit actor must be a user, an API token or None, not {type(actor).__name__}")


def _project_of(target: Model | None) -> Project | None:
    if target is None:
        return None
    if isinstance(target, Project):
        return target
    policy = policy_for(target.__class__)
    if isinstance(policy, ProjectPolicy):
        project_id = policy.project_id_of(target)
        return Project.objects.filter(pk=project_id).first() if project_id else None
    return None


def _client_ip(request: Any) -> str | None:
    ip = request.META.get("REMOTE_ADDR") or None
    return ip if ip and len(ip) <= 45 else None


def audit_record(
    *,
    actor: Any,
    verb: str,
    target: Model | None = None,
    project: Project | None = None,
    changes: dict[str, Any] | None = None,
    request: Any = None,
    secrets: Iterable[str] = (),
) -> AuditEvent:
    """Appends one audit event. ``actor`` is a user (its API token is recorded when it acts through
    one), an ApiToken, or None for the system. Every string in ``changes`` and the target's text
    are masked with ``secrets``."""
    secrets = [secret for secret in secrets if secret]
    project = project if project is not None else _project_of(target)
    event = AuditEvent(
        **_actor_fields(actor),
        verb=verb,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        target_repr=mask(str(target), secrets)[:300] if target is not None else "",
        project=project,
        project_slug=project.slug if project is not None else "",
        changes=mask_data(changes or {}, secrets),
        request_id=(getattr(request, "request_id", "") if request is not None else "") or request_id_var.get(),
    )
    if request is not None:
        event.ip = _client_ip(request)
        event.user_agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    event.save()
    return event
