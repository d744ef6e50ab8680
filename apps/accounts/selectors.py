"""Read querysets of the accounts app, with their joins, shared by pages, API and admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from .models import ApiToken, AuditEvent, Credential, Membership, Project, Team
from .permissions import restrict


def project_list(*, user: Any, action: str = "view") -> QuerySet[Project]:
    return restrict(Project.objects.all(), user, action)


def team_list(*, user: Any) -> QuerySet[Team]:
    return restrict(Team.objects.prefetch_related("members"), user, "view")


def membership_list(*, user: Any, project: Project | None = None) -> QuerySet[Membership]:
    queryset = Membership.objects.select_related("project", "user", "team")
    if project is not None:
        queryset = queryset.filter(project=project)
    return restrict(queryset, user, "view").order_by("project__slug", "-role", "user__username", "team__slug")


def token_list(*, user: Any, owner: Any = None) -> QuerySet[ApiToken]:
    """Tokens ``user`` may see; ``owner`` narrows to one user's tokens (the "my tokens" page)."""
    queryset = ApiToken.objects.select_related("user", "project")
    if owner is not None:
        queryset = queryset.filter(user=owner)
    return restrict(queryset, user, "view")


def credential_list(*, user: Any, project: Project | None = None) -> QuerySet[Credential]:
    queryset = Credential.objects.select_related("project")
    if project is not None:
        queryset = queryset.filter(project=project)
    return restrict(queryset, user, "view")


def audit_event_list(
    *,
    user: Any,
    actor: str | None = None,
    verb: str | None = None,
    target_type: str | None = None,
    project: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events ``user`` may see, newest first, filtered by actor (username or user id), verb
    (exact, or a prefix ending in "."), target type ("app_label.model"), project slug and time range."""
    queryset = restrict(AuditEvent.objects.select_related("actor_user", "target_type"), user, "view")
    if actor:
        queryset = (
            queryset.filter(actor_user_id=int(actor))
            if actor.isdigit()
            else queryset.filter(actor_user__username=actor)
        )
    if verb:
        queryset = queryset.filter(verb__startswith=verb) if verb.endswith(".") else queryset.filter(verb=verb)
    if target_type:
        app_label, _, model = target_type.lower().partition(".")
        queryset = queryset.filter(target_type__app_label=app_label, target_type__model=model)
    if project:
        queryset = queryset.filter(project_slug=project)
    if since:
        queryset = queryset.filter(created_at__gte=since)
    if until:
        queryset = queryset.filter(created_at__lt=until)
    return queryset
