"""Read querysets of the accounts app, with their joins, shared by pages, API and admin."""

from __future__ import annotations

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


def audit_event_list(*, user: Any) -> QuerySet[AuditEvent]:
    """Audit events ``user`` may see, newest first (filter with ``filters.AuditEventFilter``)."""
    return restrict(AuditEvent.objects.select_related("actor_user", "actor_token", "target_type"), user, "view")
