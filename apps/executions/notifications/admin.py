"""Admin for notification targets and rules (edited through the services) and deliveries (read-only).

Objects are filtered and checked through the permission API (``PermissionAdmin``): maintainers edit their
projects' targets and rules; viewers see them and every delivery attempt.
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from apps.accounts.admin import PermissionAdmin, ReadOnlyPermissionAdmin
from apps.accounts.models import Credential
from apps.accounts.permissions import restrict
from apps.pipelines.admin import admin_link
from apps.pipelines.models import Pipeline

from ..models import NotificationDelivery, NotificationRule, NotificationTarget
from . import services


class TargetForm(forms.ModelForm):  # type: ignore[type-arg]
    """Checks a target as the service will, so a bad field is shown on the form, not raised."""

    class Meta:
        model = NotificationTarget
        fields = ["project", *services.TARGET_FIELDS]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not self.errors:
            candidate = copy.copy(self.instance)
            for name in services.TARGET_FIELDS:
                if name in cleaned:
                    setattr(candidate, name, cleaned[name])
            if cleaned.get("project") is not None:
                candidate.project = cleaned["project"]
            services.notification_target_validate(candidate)
        return cleaned


class RuleForm(forms.ModelForm):  # type: ignore[type-arg]
    """Checks a rule and its targets as the service will."""

    class Meta:
        model = NotificationRule
        fields = ["project", *services.RULE_FIELDS, "targets"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not self.errors:
            candidate = copy.copy(self.instance)
            for name in (*services.RULE_FIELDS, "project"):
                if name in cleaned:
                    setattr(candidate, name, cleaned[name])
            services.notification_rule_validate(candidate, list(cleaned.get("targets") or []))
        return cleaned


class _ProjectObjectAdmin(PermissionAdmin):
    add_role = "maintainer"
    list_select_related = ["project"]
    search_fields = ["name", "project__slug"]
    autocomplete_fields = ["project"]
    readonly_fields = ["created_at", "updated_at"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model in (Credential, Pipeline):
            kwargs["queryset"] = restrict(db_field.related_model.objects.all(), request.user, "view")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(NotificationTarget)
class NotificationTargetAdmin(_ProjectObjectAdmin):
    form = TargetForm
    list_display = ["name", "project", "kind", "updated_at"]
    list_filter = ["kind", "project"]
    fields = ["project", "name", "kind", "description", "recipients", "url", "credential", "secret_header",
              "body_template", "created_at", "updated_at"]  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return ["project", "created_at", "updated_at"] if obj else ["created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: NotificationTarget, form: Any, change: bool) -> None:
        self.check_allowed(request, "change" if change else "add", obj)
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in services.TARGET_FIELDS}
            services.notification_target_update(actor=request.user, target=obj, **fields)
        else:
            fields = {name: getattr(obj, name) for name in services.TARGET_FIELDS}
            obj.pk = services.notification_target_create(actor=request.user, project=obj.project, **fields).pk

    def delete_model(self, request: HttpRequest, obj: NotificationTarget) -> None:
        self.check_allowed(request, "delete", obj)
        services.notification_target_delete(actor=request.user, target=obj)


@admin.register(NotificationRule)
class NotificationRuleAdmin(_ProjectObjectAdmin):
    form = RuleForm
    list_display = ["name", "project", "pipeline", "event", "minutes", "enabled", "updated_at"]
    list_filter = ["event", "enabled", "project"]
    list_select_related = ["project", "pipeline"]
    filter_horizontal = ["targets"]
    fields = ["project", "name", "pipeline", "event", "minutes", "targets", "enabled", "created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return ["project", "created_at", "updated_at"] if obj else ["created_at", "updated_at"]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "targets":
            kwargs["queryset"] = restrict(NotificationTarget.objects.select_related("project"), request.user, "view")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: NotificationRule, form: Any, change: bool) -> None:
        self.check_allowed(request, "change" if change else "add", obj)
        targets = list(form.cleaned_data.get("targets") or [])
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in services.RULE_FIELDS}
            services.notification_rule_update(actor=request.user, rule=obj, targets=targets, **fields)
        else:
            obj.pk = services.notification_rule_create(
                actor=request.user, project=obj.project, name=obj.name, event=obj.event, targets=targets,
                pipeline=obj.pipeline, minutes=obj.minutes, enabled=obj.enabled,
            ).pk  # fmt: skip

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The targets were set by the service."""

    def delete_model(self, request: HttpRequest, obj: NotificationRule) -> None:
        self.check_allowed(request, "delete", obj)
        services.notification_rule_delete(actor=request.user, rule=obj)


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyPermissionAdmin):
    """Every attempt, as the worker recorded it; nobody edits the record."""

    list_display = ["created_at", "event", "execution_link", "target_name", "attempt", "status", "response_code",
                    "finished_at"]  # fmt: skip
    list_filter = ["status", "event", "project"]
    list_select_related = ["execution__pipeline__project", "project"]
    search_fields = ["target_name", "execution__pipeline__name", "project__slug", "error"]
    date_hierarchy = "created_at"
    readonly_fields = (
        "project",
        "execution_link",
        "rule_link",
        "target_link",
        "target_name",
        "event",
        "subject",
        "attempt",
        "status",
        "response_code",
        "error",
        "message",
        "not_before",
        "created_at",
        "finished_at",
    )
    fields = readonly_fields  # fmt: skip

    @admin.display(description="execution", ordering="execution_id")
    def execution_link(self, obj: NotificationDelivery) -> str:
        return admin_link(obj.execution)

    @admin.display(description="rule")
    def rule_link(self, obj: NotificationDelivery) -> str:
        return admin_link(obj.rule)

    @admin.display(description="target")
    def target_link(self, obj: NotificationDelivery) -> str:
        return admin_link(obj.target)
