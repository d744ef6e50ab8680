"""Triggers in the admin: what starts each pipeline, its webhook URL, and every firing.

Triggers are declared in the pipeline's YAML (``on:``), so they are not added or edited
here; operators switch them on or off and rotate webhook secrets, through the services.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts.admin import PermissionAdmin, ReadOnlyPermissionAdmin
from apps.accounts.permissions import has_perm

from ..admin import admin_link
from .models import Trigger, TriggerEvent, TriggerKind
from .services import trigger_rotate_secret, trigger_set_enabled


@admin.register(Trigger)
class TriggerAdmin(PermissionAdmin):
    list_display = ["__str__", "pipeline_link", "kind", "enabled", "declared", "last_fired_at", "last_outcome"]
    list_select_related = ["pipeline__project"]
    list_filter = ["kind", "enabled", "declared", "last_outcome"]
    search_fields = ["pipeline__name", "key", "pipeline__project__slug"]
    readonly_fields = ["pipeline", "kind", "key", "config", "declared", "enabled", "webhook_url", "last_fired_at",
                       "last_outcome", "last_reason", "last_execution_id"]  # fmt: skip
    fields = list(readonly_fields)
    actions = ["enable", "disable", "rotate_secret"]

    @admin.display(description="pipeline")
    def pipeline_link(self, obj: Trigger) -> str:
        return admin_link(obj.pipeline)

    @admin.display(description="webhook URL")
    def webhook_url(self, obj: Trigger) -> str:
        if obj.kind != TriggerKind.WEBHOOK:
            return "—"
        return format_html("<code>{}</code>", reverse("webhook", args=[obj.public_id]))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # declared in the pipeline's YAML

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # removed by a new version that no longer declares it

    def _each(self, request: HttpRequest, queryset: QuerySet[Trigger], act: Any) -> int:
        done = 0
        for trigger in queryset:
            if has_perm(request.user, "change", trigger):
                act(trigger)
                done += 1
            else:
                self.message_user(request, f"You may not change {trigger}.", messages.ERROR)
        return done

    @admin.action(description="Switch on")
    def enable(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        done = self._each(request, queryset, lambda t: trigger_set_enabled(actor=request.user, trigger=t, enabled=True))
        self.message_user(request, f"Switched on {done} trigger(s).")

    @admin.action(description="Switch off")
    def disable(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        done = self._each(
            request, queryset, lambda t: trigger_set_enabled(actor=request.user, trigger=t, enabled=False)
        )
        self.message_user(request, f"Switched off {done} trigger(s).")

    @admin.action(description="Rotate the webhook secret (shown once)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        def rotate(trigger: Trigger) -> None:
            if trigger.kind != TriggerKind.WEBHOOK:
                return
            secret = trigger_rotate_secret(actor=request.user, trigger=trigger, request=request)
            self.message_user(request, f"New secret for {trigger} (shown only now): {secret}", messages.WARNING)

        self._each(request, queryset, rotate)


@admin.register(TriggerEvent)
class TriggerEventAdmin(ReadOnlyPermissionAdmin):
    list_display = ["created_at", "trigger", "outcome", "reason", "execution_id", "delivery_id"]
    list_select_related = ["trigger__pipeline__project"]
    list_filter = ["outcome"]
    search_fields = ["trigger__pipeline__name", "delivery_id", "reason"]
    date_hierarchy = "created_at"
    readonly_fields = ["trigger", "outcome", "reason", "execution_id", "delivery_id", "info", "created_at"]
