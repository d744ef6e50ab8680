"""Admin for pipelines and their versions.

A pipeline is created or changed only by importing YAML (``pipeline_import``): the add button leads to
an import form that lists every validation error with its line and column. Versions are immutable and
read-only. Non-superuser staff see and act on their projects only (``restrict`` / ``has_perm``). The
"run" action is added by the executions app, which sits above this one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from apps.accounts.admin import PermissionAdmin, ReadOnlyPermissionAdmin
from apps.accounts.permissions import has_perm

from .forms import ImportForm
from .models import Pipeline, PipelineVersion
from .services import pipeline_delete, pipeline_import
from .spec import SpecError
from .views import projects_where


def admin_link(obj: Model | None, text: Any = None) -> str:
    """A link to ``obj``'s change page in the admin (empty for None)."""
    if obj is None:
        return "—"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    """Rows shown under their parent to whoever may view the parent (the permission API decides)."""

    extra = 0

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return has_perm(request.user, "view", obj) if obj is not None else bool(request.user.is_staff)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class VersionInline(ReadOnlyInline):
    model = PipelineVersion
    readonly_fields = ("version_link", "author", "message", "created_at")
    fields = readonly_fields
    ordering = ["-number"]

    @admin.display(description="version")
    def version_link(self, obj: PipelineVersion) -> str:
        return admin_link(obj, f"v{obj.number}")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PipelineVersion]:
        return super().get_queryset(request).select_related("author").defer("yaml_text", "spec")


@admin.register(Pipeline)
class PipelineAdmin(PermissionAdmin):
    add_role = "maintainer"
    list_display = ["name", "project", "version", "last_status", "last_run_at", "run_count", "updated_at"]
    list_select_related = ["project", "current_version"]
    list_filter = ["last_status", "project"]
    search_fields = ["name", "description", "project__slug"]
    date_hierarchy = "created_at"
    readonly_fields = ("name", "project", "description", "labels", "version", "last_status", "last_execution_id",
                        "last_run_at", "run_count", "created_at", "updated_at", "yaml")  # fmt: skip
    fields = readonly_fields
    inlines = [VersionInline]
    change_list_template = "pipelines/admin_change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pipeline]:
        return super().get_queryset(request).defer("current_version__yaml_text", "current_version__spec")

    @admin.display(description="version", ordering="current_version__number")
    def version(self, obj: Pipeline) -> str:
        return admin_link(obj.current_version, f"v{obj.current_version.number}") if obj.current_version else "—"

    @admin.display(description="current YAML")
    def yaml(self, obj: Pipeline) -> str:
        if obj.current_version is None:
            return "—"
        return format_html("<pre>{}</pre>", obj.current_version.yaml_text)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # changed only by importing a new version

    def get_urls(self) -> list[URLPattern]:
        custom = [path("import/", self.admin_site.admin_view(self.import_view), name="pipelines_pipeline_import")]
        return custom + super().get_urls()  # type: ignore[operator]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        return redirect("admin:pipelines_pipeline_import")

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Import YAML into a project; every validation error is listed with its line and column."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        projects = projects_where(request.user, "maintainer")
        form = ImportForm(request.POST or None, projects=projects)
        issues: list[Any] = []
        if request.method == "POST" and form.is_valid():
            project = form.cleaned_data["project"]
            if not has_perm(request.user, "change", Pipeline(project=project)):
                raise PermissionDenied
            try:
                result = pipeline_import(
                    actor=request.user, project=project, yaml_text=form.cleaned_data["yaml_text"],
                    message=form.cleaned_data["message"], request=request,
                )  # fmt: skip
            except SpecError as exc:
                issues = exc.errors
                self.message_user(request, f"The document has {len(issues)} error(s).", messages.ERROR)
            else:
                verb = "Imported" if result.changed else "Unchanged:"
                self.message_user(request, f"{verb} {result.pipeline} v{result.version.number}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:pipelines_pipeline_change", args=[result.pipeline.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import a pipeline from YAML",
            "form": form,
            "issues": issues,
            "issue_list": format_html_join(
                "",
                "<li><strong>line {}, column {}</strong> <code>{}</code>: {}</li>",
                ((i.line or "?", i.column or "?", i.path or "(document)", i.message) for i in issues),
            ),
        }
        return TemplateResponse(request, "pipelines/admin_import.html", context, status=400 if issues else 200)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        # Versions and runs go with their pipeline (the delete permission on the pipeline decides), even
        # though nobody may delete them on their own.
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request: HttpRequest, obj: Pipeline) -> None:
        self.check_allowed(request, "delete", obj)
        pipeline_delete(actor=request.user, pipeline=obj, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Pipeline]) -> None:
        for pipeline in queryset:
            self.delete_model(request, pipeline)


@admin.register(PipelineVersion)
class PipelineVersionAdmin(ReadOnlyPermissionAdmin):
    list_display = ["__str__", "pipeline_link", "number", "author", "message", "created_at"]
    list_select_related = ["pipeline__project", "author"]
    list_filter = ["pipeline__project"]
    search_fields = ["pipeline__name", "message", "author__username"]
    date_hierarchy = "created_at"
    readonly_fields = ("pipeline_link", "number", "author", "message", "created_at", "yaml_text")
    fields = readonly_fields

    @admin.display(description="pipeline", ordering="pipeline__name")
    def pipeline_link(self, obj: PipelineVersion) -> str:
        return admin_link(obj.pipeline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PipelineVersion]:
        return super().get_queryset(request).defer("spec")


from .triggers import admin as _triggers_admin  # noqa: E402, F401  (registers the trigger admins)
