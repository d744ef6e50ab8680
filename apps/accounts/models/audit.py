"""The audit log: append-only rows written by services in the same transaction as the change."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models

from .projects import Project
from .tokens import ApiToken


class AuditEventImmutable(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditEventImmutable("audit events are append-only")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AuditEventImmutable("audit events are append-only")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        raise AuditEventImmutable("audit events are append-only")

    def _update(self, values: Any) -> NoReturn:
        raise AuditEventImmutable("audit events are append-only")

    def _raw_delete(self, using: Any) -> NoReturn:
        raise AuditEventImmutable("audit events are append-only")


class AuditEvent(models.Model):
    """Who did what to which object, from where and when. Append-only: rows are never updated or deleted.

    References to users, tokens, projects and content types are kept without database
    constraints (and never cascade), so deleting those keeps the record; ``actor_repr``,
    ``target_repr`` and ``project_slug`` keep their names.
    """

    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    actor_token = models.ForeignKey(
        ApiToken, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    actor_repr = models.CharField(max_length=200)
    verb = models.CharField(max_length=64, db_index=True)
    target_type = models.ForeignKey(
        ContentType, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    project_slug = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"]), models.Index(fields=["project", "created_at"])]

    def __str__(self) -> str:
        return f"{self.actor_repr} {self.verb} {self.target_repr}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditEventImmutable("audit events are append-only")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        raise AuditEventImmutable("audit events are append-only")
