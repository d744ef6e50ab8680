"""Admin for projects, teams, memberships, tokens, credentials and audit.

Non-superuser staff see and change only what the permission API allows them (querysets through
``restrict``, each object through ``has_perm``). Every save goes through a service. Credential
secrets are write-only; the audit log is read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from . import services
from .choices import CREDENTIAL_FIELDS
from .models import ApiToken, AuditEvent, Credential, Membership, Project, Team
from .permissions import has_perm, member_project_ids, restrict


class PermissionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Asks the permission API about every object; ``add_role`` is the role needed in some project to add."""

    add_role: str | None = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return restrict(super().get_queryset(request), request.user, "view")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return has_perm(request.user, "view", obj) if obj is not None else self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return has_perm(request.user, "change", obj) if obj is not None else self._can_act_somewhere(request, "change")

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return has_perm(request.user, "delete", obj) if obj is not None else self._can_act_somewhere(request, "delete")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._can_act_somewhere(request, "add")

    def _can_act_somewhere(self, request: HttpRequest, action: str) -> bool:
        user = request.user
        if not self.has_module_permission(request):
            return False
        if user.is_superuser:
            return True
        return self.add_role is not None and member_project_ids(user, self.add_role).exists()

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Project and self.add_role:
            # Only projects where the user may add such objects.
            kwargs["queryset"] = restrict(Project.objects.all(), request.user, "view").filter(
                pk__in=member_project_ids(request.user, self.add_role)
            ) if not request.user.is_superuser else Project.objects.all()  # fmt: skip
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete would bypass the services
        return actions

    def check_allowed(self, request: HttpRequest, action: str, obj: Model) -> None:
        if not has_perm(request.user, action, obj):
            raise PermissionDenied


class ReadOnlyPermissionAdmin(PermissionAdmin):
    """Records people read but never add, edit or delete here (audit, runs, deliveries...)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(PermissionAdmin):
    list_display = ["slug", "name", "created_at", "updated_at"]
    search_fields = ["slug", "name"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> list[str]:
        return ["slug", "created_at", "updated_at"] if obj else ["created_at", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return has_perm(request.user, "add", Project())

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        if change:
            self.check_allowed(request, "change", obj)
            services.project_update(actor=request.user, project=obj, name=obj.name, description=obj.description)
        else:
            self.check_allowed(request, "add", Project())
            created = services.project_create(
                actor=request.user, slug=obj.slug, name=obj.name, description=obj.description
            )
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        self.check_allowed(request, "delete", obj)
        services.project_delete(actor=request.user, project=obj)


@admin.register(Team)
class TeamAdmin(PermissionAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["members"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return has_perm(request.user, "add", Team())

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        members = form.cleaned_data.get("members", [])
        if change:
            self.check_allowed(request, "change", obj)
            services.team_update(
                actor=request.user, team=obj, name=obj.name, description=obj.description, members=members
            )
        else:
            self.check_allowed(request, "add", Team())
            obj.pk = services.team_create(
                actor=request.user, slug=obj.slug, name=obj.name, description=obj.description, members=members
            ).pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Members were set by the service."""

    def delete_model(self, request: HttpRequest, obj: Team) -> None:
        self.check_allowed(request, "delete", obj)
        services.team_delete(actor=request.user, team=obj)


class MembershipForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Membership
        fields = ["project", "user", "team", "role"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.instance.pk and "role" in cleaned:
            services.membership_check_keeps_an_owner(membership=self.instance, new_role=cleaned["role"])
        return cleaned


@admin.register(Membership)
class MembershipAdmin(PermissionAdmin):
    form = MembershipForm
    add_role = "owner"
    list_display = ["project", "user", "team", "role", "updated_at"]
    list_filter = ["role"]
    list_select_related = ["project", "user", "team"]
    search_fields = ["project__slug", "user__username", "team__slug"]
    autocomplete_fields = ["project", "user", "team"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        return ["project", "user", "team"] if obj else []

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        self.check_allowed(request, "change" if change else "add", obj)
        saved = services.membership_set(
            actor=request.user, project=obj.project, role=obj.role, user=obj.user, team=obj.team
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        self.check_allowed(request, "delete", obj)
        try:
            services.membership_remove(actor=request.user, membership=obj)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyPermissionAdmin):
    """Tokens are created on the "my tokens" page, by the API or by ``create_api_token``; here they are
    inspected and revoked."""

    list_display = ["name", "user", "project", "read_only", "status", "last_used_at", "expires_at", "created_at"]
    list_filter = ["read_only", "project"]
    list_select_related = ["user", "project"]
    search_fields = ["name", "user__username", "lookup"]
    readonly_fields = ["user", "name", "lookup", "project", "read_only", "expires_at", "last_used_at", "revoked_at",
                       "created_at"]  # fmt: skip
    exclude = ["key_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in restrict(queryset, request.user, "revoke"):
            services.token_revoke(actor=request.user, token=token)
            revoked += 1
        messages.success(request, f"Revoked {revoked} token(s).")


SECRET_WIDGETS = {"private_key", "kubeconfig"}


class CredentialForm(forms.ModelForm):  # type: ignore[type-arg]
    """Plain fields show their values; secret fields are always empty (write-only): leave one empty to
    keep its stored value."""

    username = forms.CharField(required=False)
    url = forms.CharField(required=False, label="Registry URL")
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    token = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    passphrase = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    private_key = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), strip=False)
    kubeconfig = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), strip=False)

    class Meta:
        model = Credential
        fields = ["project", "name", "kind", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name, value in self.instance.public_fields.items():
                self.fields[name].initial = value
            # A view-only user's form has no model fields at all (the admin shows them read-only).
            for name in ("kind", "project"):
                if name in self.fields:
                    self.fields[name].disabled = True

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        kind = cleaned.get("kind") or self.instance.kind
        if kind not in CREDENTIAL_FIELDS:
            return cleaned
        plain_names, secret_names, _ = CREDENTIAL_FIELDS[kind]
        values = {name: cleaned.get(name) or "" for name in plain_names}
        values |= {name: cleaned[name] for name in secret_names if cleaned.get(name)}
        try:
            services.credential_validate_fields(kind=kind, fields=values, credential=self.instance.pk and self.instance)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        self.field_values = values
        return cleaned


@admin.register(Credential)
class CredentialAdmin(PermissionAdmin):
    form = CredentialForm
    add_role = "maintainer"
    list_display = ["name", "project", "kind", "key_id", "updated_at"]
    list_filter = ["kind", "project"]
    list_select_related = ["project"]
    search_fields = ["name", "project__slug", "description"]
    autocomplete_fields = ["project"]

    def save_model(self, request: HttpRequest, obj: Credential, form: Any, change: bool) -> None:
        self.check_allowed(request, "change" if change else "add", obj)
        if change:
            services.credential_update(
                actor=request.user, credential=obj, name=obj.name, description=obj.description, fields=form.field_values
            )
        else:
            obj.pk = services.credential_create(
                actor=request.user,
                project=obj.project,
                name=obj.name,
                kind=obj.kind,
                fields=form.field_values,
                description=obj.description,
            ).pk

    def delete_model(self, request: HttpRequest, obj: Credential) -> None:
        self.check_allowed(request, "delete", obj)
        services.credential_delete(actor=request.user, credential=obj)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyPermissionAdmin):
    """Read-only: the audit log cannot be added to, changed or deleted here."""

    list_display = ["created_at", "actor_repr", "verb", "target_repr", "project_slug", "ip", "request_id"]
    list_filter = ["verb", "target_type"]
    list_select_related = ["target_type"]
    search_fields = ["actor_repr", "verb", "target_repr", "project_slug", "request_id"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
