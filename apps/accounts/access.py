"""Accounts' permission policies: projects, memberships, credentials and audit by project role;
teams and API tokens by their own rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from .models import ApiToken, AuditEvent, Credential, Membership, Project, Team
from .permissions import Policy, register_custom_policy, register_policy, token_of


@dataclass
class TeamPolicy(Policy):
    """Teams are global: their members see them; only superusers create, change or delete them."""

    def allows(self, user: Any, action: str, obj: Any, memo: dict[Any, Any]) -> bool:
        if user.is_superuser:
            return True
        return action == "view" and obj.pk is not None and obj.members.filter(pk=user.pk).exists()

    def restrict(self, queryset: QuerySet[Any], user: Any, action: str) -> QuerySet[Any]:
        if user.is_superuser:
            return queryset
        return queryset.filter(members=user).distinct() if action == "view" else queryset.none()


@dataclass
class ApiTokenPolicy(Policy):
    """A user sees, creates and revokes their own tokens (superusers: anyone's). A token cannot mint or
    revoke tokens, so a leaked key cannot outlive its own revocation."""

    def allows(self, user: Any, action: str, obj: Any, memo: dict[Any, Any]) -> bool:
        if action != "view" and token_of(user) is not None:
            return False
        return bool(user.is_superuser or obj.user_id == user.pk)

    def restrict(self, queryset: QuerySet[Any], user: Any, action: str) -> QuerySet[Any]:
        if action != "view" and token_of(user) is not None:
            return queryset.none()
        return queryset if user.is_superuser else queryset.filter(user=user)


def register() -> None:
    register_policy(
        Project,
        project="self",
        actions={"view": "viewer", "add": "superuser", "change": "owner", "delete": "owner", "manage_members": "owner"},
    )
    register_policy(
        Membership, project="project", actions={"view": "viewer", "add": "owner", "change": "owner", "delete": "owner"}
    )
    register_policy(
        Credential,
        project="project",
        actions={
            "view": "viewer",
            "use": "operator",
            "add": "maintainer",
            "change": "maintainer",
            "delete": "maintainer",
        },
    )
    register_policy(AuditEvent, project="project", actions={"view": "maintainer"})
    register_custom_policy(
        TeamPolicy(Team, {"view": "viewer", "add": "superuser", "change": "superuser", "delete": "superuser"})
    )
    register_custom_policy(ApiTokenPolicy(ApiToken, {"view": "viewer", "add": "viewer", "revoke": "viewer"}))
