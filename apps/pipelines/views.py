"""Pages of the pipelines layer: the pipeline list, a pipeline (versions, diff, YAML, DAG), YAML import,
and the project-level lists that need nothing above accounts (audit log, credentials).

Every view asks the permission API: 404 for what the user cannot see, 403 for what they may not do.
Run history and the run form live in the executions app's views (it sits above this one).
"""

from __future__ import annotations

import difflib
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.accounts.filters import AuditEventFilter
from apps.accounts.models import Credential, Project
from apps.accounts.permissions import get_for_user_or_404, has_perm, member_project_ids, restrict
from apps.accounts.selectors import audit_event_list, credential_list, project_list

from . import selectors
from .api.views import PipelineFilter
from .dag import spec_layout
from .forms import AuditFilterForm, ImportForm, PipelineFilterForm
from .models import Pipeline, PipelineVersion
from .services import pipeline_import
from .spec import SpecError

PAGE_SIZE = 25
MAX_DIFF_LINES = 4000


def paginate(request: HttpRequest, queryset: Any, per_page: int = PAGE_SIZE) -> Page[Any]:
    """One page of ``queryset`` (a count and a slice: two queries whatever the number of rows)."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def project_choices(user: Any) -> list[tuple[str, str]]:
    return [(p.slug, str(p)) for p in project_list(user=user).only("slug", "name")]


def projects_where(user: Any, role: str) -> QuerySet[Project]:
    """Projects where ``user`` holds at least ``role`` (every project for superusers)."""
    projects = project_list(user=user)
    return projects if user.is_superuser else projects.filter(pk__in=member_project_ids(user, role))


# --- pipeline list ------------------------------------------------------------------------


@login_required
def pipeline_list(request: HttpRequest) -> HttpResponse:
    """Every visible pipeline with its last status; search by name, filter by project and last status."""
    form = PipelineFilterForm(request.GET or None, projects=project_choices(request.user))
    queryset = restrict(selectors.pipeline_list(), request.user, "view")
    filterset = PipelineFilter(request.GET, queryset=queryset)
    rows = filterset.qs if filterset.is_valid() else queryset.none()
    context = {
        "form": form,
        "page": paginate(request, rows),
        "can_import": projects_where(request.user, "maintainer").exists(),
        "filtered": any(request.GET.get(k) for k in ("name", "project", "last_status")),
    }
    template = "pipelines/_table.html" if is_htmx(request) else "pipelines/list.html"
    return render(request, template, context)


# --- one pipeline -------------------------------------------------------------------------


def _diff(older: PipelineVersion, newer: PipelineVersion) -> list[tuple[str, str]]:
    """Unified diff lines of two versions' YAML, each with a CSS class (add, del, hunk, head)."""
    lines = difflib.unified_diff(
        older.yaml_text.splitlines(),
        newer.yaml_text.splitlines(),
        fromfile=f"v{older.number}",
        tofile=f"v{newer.number}",
        lineterm="",
    )
    out = []
    for line in lines:
        if line.startswith(("+++", "---")):
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        out.append((kind, line))
        if len(out) >= MAX_DIFF_LINES:
            out.append(("hunk", "… diff truncated"))
            break
    return out


def _version_number(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() else None


@login_required
def pipeline_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Versions (with a diff between any two), the YAML of one version, its DAG and the run history."""
    pipeline: Pipeline = get_for_user_or_404(selectors.pipelines(), request.user, "view", pk=pk)
    versions = list(selectors.pipeline_versions(pipeline))
    by_number = {v.number: v for v in versions}
    shown = by_number.get(_version_number(request, "version") or 0) or pipeline.current_version
    diff = None
    a, b = by_number.get(_version_number(request, "a") or 0), by_number.get(_version_number(request, "b") or 0)
    if a is not None and b is not None:
        older, newer = (a, b) if a.number <= b.number else (b, a)
        diff = {"older": older, "newer": newer, "lines": _diff(older, newer)}
    context = {
        "pipeline": pipeline,
        "versions": versions,
        "shown": shown,
        "yaml_lines": shown.yaml_text.splitlines() if shown else [],
        "dag": spec_layout(shown.spec) if shown else None,
        "inputs": (shown.spec.get("inputs") or {}) if shown else {},
        "diff": diff,
        "diff_a": a.number if a else (versions[1].number if len(versions) > 1 else None),
        "diff_b": b.number if b else (versions[0].number if versions else None),
        "can_run": has_perm(request.user, "run", pipeline),
        "can_change": has_perm(request.user, "change", pipeline),
    }
    return render(request, "pipelines/detail.html", context)


# --- import -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def pipeline_import_page(request: HttpRequest) -> HttpResponse:
    """Paste a YAML document; errors are listed with their line and column, next to the numbered text."""
    projects = projects_where(request.user, "maintainer")
    if not projects.exists():
        raise PermissionDenied("Importing pipelines needs the maintainer role in a project.")
    status, errors = 200, []
    if request.method == "POST":
        form = ImportForm(request.POST, projects=projects)
        if form.is_valid():
            project = form.cleaned_data["project"]
            if not has_perm(request.user, "change", Pipeline(project=project)):
                raise PermissionDenied("Importing pipelines needs the maintainer role in this project.")
            try:
                result = pipeline_import(
                    actor=request.user, project=project, yaml_text=form.cleaned_data["yaml_text"],
                    message=form.cleaned_data["message"], request=request,
                )  # fmt: skip
            except SpecError as exc:
                errors, status = exc.errors, 400
            else:
                return redirect("pipelines:detail", pk=result.pipeline.pk)
        else:
            status = 400
    else:
        initial = {"project": request.GET.get("project", "")}
        source = _version_number(request, "from")
        if source is not None:
            pipeline = get_for_user_or_404(selectors.pipelines(), request.user, "change", pk=source)
            initial = {"project": pipeline.project.slug, "yaml_text": pipeline.current_version.yaml_text}
        form = ImportForm(initial=initial, projects=projects)
    error_lines = {issue.line for issue in errors if issue.line}
    text = form["yaml_text"].value() or ""
    numbered = [(n, line, n in error_lines) for n, line in enumerate(str(text).splitlines(), 1)] if errors else []
    return render(
        request, "pipelines/import.html", {"form": form, "errors": errors, "numbered": numbered}, status=status
    )


# --- audit log and credentials ------------------------------------------------------------


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """Audit events of the projects where the user is a maintainer, filtered by actor, verb, target, time."""
    if not request.user.is_superuser and not has_role_somewhere(request.user, "maintainer"):
        raise PermissionDenied("The audit log is for maintainers.")
    form = AuditFilterForm(request.GET or None, projects=project_choices(request.user))
    events = audit_event_list(user=request.user)
    if form.is_bound and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if v and k not in ("since", "until")}
        if form.cleaned_data.get("since"):
            data["since"] = f"{form.cleaned_data['since'].isoformat()}T00:00:00+00:00"
        if form.cleaned_data.get("until"):
            data["until"] = f"{(form.cleaned_data['until'] + timedelta(days=1)).isoformat()}T00:00:00+00:00"
        filterset = AuditEventFilter(data, queryset=events)
        events = filterset.qs if filterset.is_valid() else events.none()
    elif form.is_bound:
        events = events.none()
    context = {"form": form, "page": paginate(request, events, 50)}
    template = "dashboard/_audit_table.html" if is_htmx(request) else "dashboard/audit.html"
    return render(request, template, context)


def has_role_somewhere(user: Any, role: str) -> bool:
    """Whether ``user`` holds ``role`` in some project (so a project-wide list has something to show)."""
    return bool(user.is_superuser or member_project_ids(user, role).exists())


@login_required
def credential_list_page(request: HttpRequest, slug: str) -> HttpResponse:
    """A project's credentials (names, kinds, plain fields; never a secret), for maintainers."""
    project = get_for_user_or_404(Project, request.user, "view", slug=slug)
    if not has_perm(request.user, "change", Credential(project=project)):
        raise PermissionDenied("The credentials list is for maintainers.")
    credentials = credential_list(user=request.user, project=project).order_by("name")
    return render(
        request, "dashboard/credentials.html", {"project": project, "page": paginate(request, credentials, 50)}
    )
