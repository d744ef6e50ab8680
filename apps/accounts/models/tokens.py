"""API tokens: per user, stored hashed, optionally scoped to one project, read-only or expiring."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from .projects import Project

TOKEN_PREFIX = "afk_"  # noqa: S105  (a recognisable prefix, not a secret)
# How many leading characters of a key are stored in clear for the indexed lookup.
LOOKUP_LENGTH = 12


class ApiToken(models.Model):
    """A named API key of one user. Only its sha256 is stored; the key itself is shown once at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ansflow_tokens")
    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=LOOKUP_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_tokens",
        help_text="When set, the token sees and acts on this project only.",
    )
    read_only = models.BooleanField(default=False, help_text="A read-only token may only view.")
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.lookup}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"
