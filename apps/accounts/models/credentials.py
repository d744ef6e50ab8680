"""Credentials: project-scoped secrets, encrypted at rest with a per-row data key (envelope encryption)."""

from __future__ import annotations

from django.db import models

from ..choices import CREDENTIAL_FIELDS, CredentialKind
from .projects import Project, TimeStampedModel


class Credential(TimeStampedModel):
    """A named secret of a project. Secret fields are write-only: stored encrypted, never shown after save.

    ``ciphertext`` holds the secret fields (JSON) encrypted with a random per-row data key;
    ``wrapped_key`` is that data key encrypted with the master key named by ``key_id``.
    Rotating master keys re-wraps the data key only.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="credentials")
    name = models.SlugField(max_length=100, help_text="How pipelines refer to it, e.g. registry or kube-prod.")
    kind = models.CharField(max_length=32, choices=CredentialKind.choices)
    description = models.TextField(blank=True)
    public_fields = models.JSONField(default=dict, blank=True, help_text="Non-secret fields, stored in clear.")
    secret_field_names = models.JSONField(default=list, blank=True, editable=False)
    key_id = models.CharField(max_length=64, editable=False, db_index=True)
    wrapped_key = models.TextField(editable=False)
    ciphertext = models.TextField(editable=False)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="accounts_credential_unique_name")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}" if self.project_id else self.name

    @property
    def plain_field_names(self) -> tuple[str, ...]:
        return CREDENTIAL_FIELDS[self.kind][0]

    @property
    def secret_field_choices(self) -> tuple[str, ...]:
        return CREDENTIAL_FIELDS[self.kind][1]
