"""Admin for clusters, inventories (with their hosts and groups), registries and Docker hosts.

Objects are filtered and checked through the permission API (``PermissionAdmin``); every save goes
through a service, which audits it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet, URLField
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts.admin import PermissionAdmin
from apps.accounts.permissions import restrict

from . import services
from .clusters import services as cluster_services
from .models import Cluster, DockerHost, Inventory, InventoryGroup, InventoryHost, Registry


class TargetAdmin(PermissionAdmin):
    add_role = "maintainer"
    list_select_related = ["project"]
    list_filter = ["project"]
    search_fields = ["name", "project__slug", "description"]
    autocomplete_fields = ["project"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self.check_allowed(request, "change" if change else "add", obj)
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in services._FIELDS[type(obj)]}
        if change:
            services.target_update(actor=request.user, obj=obj, **fields)
        else:
            fields = {name: getattr(obj, name) for name in services._FIELDS[type(obj)]}
            obj.pk = services.target_create(actor=request.user, model=type(obj), project=obj.project, **fields).pk

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.check_allowed(request, "delete", obj)
        services.target_delete(actor=request.user, obj=obj)


class GroupInline(admin.TabularInline):  # type: ignore[type-arg]
    model = InventoryGroup
    extra = 0
    fields = ["name", "variables", "children"]
    filter_horizontal = ["children"]


class HostInline(admin.TabularInline):  # type: ignore[type-arg]
    model = InventoryHost
    extra = 0
    fields = ["name", "groups", "variables"]


@admin.register(Inventory)
class InventoryAdmin(TargetAdmin):
    list_display = ["name", "project", "source", "updated_at"]
    list_filter = ["source", "project"]
    inlines = [GroupInline, HostInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Hosts and groups are saved through the services, one row at a time."""
        inventory: Inventory = form.instance
        self.check_allowed(request, "change", inventory)
        for row in formset.deleted_objects if hasattr(formset, "deleted_objects") else []:
            row.delete()
        for row_form in formset.forms:
            data = row_form.cleaned_data
            if not data or data.get("DELETE"):
                if data.get("DELETE") and row_form.instance.pk:
                    row_form.instance.delete()
                continue
            if formset.model is InventoryGroup:
                services.inventory_group_set(
                    actor=request.user,
                    inventory=inventory,
                    name=data["name"],
                    variables=data.get("variables") or {},
                    children=[group.name for group in data.get("children") or []],
                )
            else:
                services.inventory_host_set(
                    actor=request.user,
                    inventory=inventory,
                    name=data["name"],
                    groups=[group.name for group in data.get("groups") or []],
                    variables=data.get("variables") or {},
                )


@admin.register(Registry)
class RegistryAdmin(TargetAdmin):
    list_display = ["name", "project", "url", "credential", "updated_at"]
    list_select_related = ["project", "credential"]
    autocomplete_fields = ["project", "credential"]


@admin.register(DockerHost)
class DockerHostAdmin(TargetAdmin):
    list_display = ["name", "project", "url", "tls", "last_check_ok", "last_checked_at"]
    readonly_fields = ["last_checked_at", "last_check_ok", "last_check_message", "created_at", "updated_at"]
    autocomplete_fields = ["project", "tls_client_key"]
    actions = ["check_connectivity"]

    @admin.action(description="Check connectivity of the selected Docker hosts")
    def check_connectivity(self, request: HttpRequest, queryset: QuerySet[DockerHost]) -> None:
        for host in restrict(queryset, request.user, "check"):
            ok, message = services.docker_host_check(actor=request.user, host=host)
            messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, f"{host.name}: {message}")


@admin.register(Cluster)
class ClusterAdmin(PermissionAdmin):
    add_role = "maintainer"
    list_display = ["name", "project", "environment", "server", "default_namespace", "last_check_ok", "last_checked_at"]
    list_select_related = ["project", "credential"]
    list_filter = ["environment", "last_check_ok", "project"]
    formfield_overrides = {URLField: {"assume_scheme": "https"}}  # an API server is spoken to over https
    search_fields = ["name", "project__slug", "server", "description"]
    autocomplete_fields = ["project", "credential"]
    readonly_fields = [
        "resource_browser",
        "last_checked_at",
        "last_check_ok",
        "last_check_message",
        "last_check_details",
        "created_at",
        "updated_at",
    ]
    actions = ["check_connectivity"]

    @admin.display(description="Resource browser")
    def resource_browser(self, obj: Cluster) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("k8s_integration:cluster", args=[obj.project.slug, obj.name])
        return format_html('<a href="{}" id="cluster-browser">Open the resource browser of {}</a>', url, obj.name)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self.check_allowed(request, "change" if change else "add", obj)
        names = cluster_services.CLUSTER_FIELDS
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data if name in names}
            cluster_services.cluster_update(actor=request.user, cluster=obj, **fields)
        else:
            fields = {name: getattr(obj, name) for name in names}
            obj.pk = cluster_services.cluster_create(actor=request.user, project=obj.project, **fields).pk

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.check_allowed(request, "delete", obj)
        cluster_services.cluster_delete(actor=request.user, cluster=obj)

    @admin.action(description="Check connectivity of the selected clusters")
    def check_connectivity(self, request: HttpRequest, queryset: QuerySet[Cluster]) -> None:
        for cluster in restrict(queryset, request.user, "check").select_related("credential"):
            ok, message = cluster_services.cluster_check(actor=request.user, cluster=cluster)
            messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, f"{cluster.name}: {message}")
