"""Tenancy: projects, teams and the memberships that give users and teams a role in a project."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ..choices import Role


class TimeStampedModel(models.Model):
    """Abstract base giving every model ``created_at`` and ``updated_at``."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Project(TimeStampedModel):
    """A tenant: pipelines, credentials, clusters and runs all belong to exactly one project."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug


class Team(TimeStampedModel):
    """A named group of users; a team can be a member of many projects with one role in each."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="ansflow_teams", blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug


class Membership(TimeStampedModel):
    """One user or one team in a project, with one role. A user's effective role is the highest of theirs."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="ansflow_memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        ordering = ["project", "role", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, team__isnull=True) | models.Q(user__isnull=True, team__isnull=False)
                ),
                name="accounts_membership_user_xor_team",
            ),
            models.UniqueConstraint(fields=["project", "user"], name="accounts_membership_unique_user"),
            models.UniqueConstraint(fields=["project", "team"], name="accounts_membership_unique_team"),
        ]
        indexes = [models.Index(fields=["user", "role"]), models.Index(fields=["team", "role"])]

    def __str__(self) -> str:
        who = f"user {self.user}" if self.user_id else f"team {self.team}"
        return f"{who} is {self.role} of {self.project}"

    @property
    def member(self) -> object:
        return self.user if self.user_id else self.team
