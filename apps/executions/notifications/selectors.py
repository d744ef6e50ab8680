"""Reads of notification targets, rules and delivery attempts (with their joins), shared by the API, the
pages and the admin; and the masked form in which a target is shown."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.db.models import Prefetch, QuerySet

from apps.accounts.masking import MASK, mask, mask_data

from ..models import NotificationDelivery, NotificationRule, NotificationTarget
from .messages import project_secrets


def target_list() -> QuerySet[NotificationTarget]:
    return NotificationTarget.objects.select_related("project", "credential").order_by("project__slug", "name")


def rule_list() -> QuerySet[NotificationRule]:
    targets = NotificationTarget.objects.only("id", "name").order_by("name")
    return (
        NotificationRule.objects.select_related("project", "pipeline")
        .prefetch_related(Prefetch("targets", queryset=targets))
        .order_by("project__slug", "name")
    )


def delivery_list() -> QuerySet[NotificationDelivery]:
    """Attempts, newest first, with the run, its pipeline, the project and the rule joined."""
    return NotificationDelivery.objects.select_related("project", "rule", "execution__pipeline").order_by("-id")


class TargetMasker:
    """Masks what a target shows (its URL and body template) with the secrets of its project's credentials,
    and any password written into the URL; each project's secrets are read once."""

    def __init__(self) -> None:
        self._secrets: dict[int, list[str]] = {}

    def _of(self, project_id: int) -> list[str]:
        if project_id not in self._secrets:
            self._secrets[project_id] = project_secrets(project_id)
        return self._secrets[project_id]

    def url(self, target: NotificationTarget) -> str:
        url = target.url
        try:
            parts = urlsplit(url)
            password = parts.password
        except ValueError:
            password = None
        if password:
            host = parts.netloc.rpartition("@")[2]
            url = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))
        return mask(url, self._of(target.project_id))

    def body(self, target: NotificationTarget) -> Any:
        return mask_data(target.body_template, self._of(target.project_id))
