"""Pages: sign in and out, "my tokens", and a project's members."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import MemberForm, TokenCreateForm
from .models import ApiToken, Membership, Project
from .permissions import effective_role, get_for_user_or_404, has_perm, member_project_ids


def _token_page(
    request: HttpRequest, form: TokenCreateForm, new_key: str | None = None, status: int = 200
) -> HttpResponse:
    tokens = selectors.token_list(user=request.user, owner=request.user)
    response = render(
        request, "accounts/tokens.html", {"tokens": tokens, "form": form, "new_key": new_key}, status=status
    )
    response["Cache-Control"] = "no-store"  # the new key must not linger in any cache
    return response


def _token_projects(request: HttpRequest) -> QuerySet[Project]:
    if request.user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(pk__in=member_project_ids(request.user, "viewer"))


@never_cache
@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """Lists the user's tokens; POST creates one and shows its key this once."""
    projects = _token_projects(request)
    if request.method != "POST":
        return _token_page(request, TokenCreateForm(projects=projects))
    if not has_perm(request.user, "add", ApiToken(user=request.user)):  # type: ignore[misc]
        raise PermissionDenied
    form = TokenCreateForm(request.POST, projects=projects)
    if not form.is_valid():
        return _token_page(request, form, status=400)
    try:
        _, key = services.token_create(
            actor=request.user,
            user=request.user,
            name=form.cleaned_data["name"],
            project=form.cleaned_data["project"],
            read_only=form.cleaned_data["read_only"],
            expires_at=form.expires_at(),
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _token_page(request, form, status=400)
    return _token_page(request, TokenCreateForm(projects=projects), new_key=key, status=201)


@require_POST
@login_required
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    mine = ApiToken.objects.filter(user_id=request.user.pk or 0)
    token = get_for_user_or_404(mine, request.user, "revoke", pk=pk)
    services.token_revoke(actor=request.user, token=token)
    return redirect("accounts:tokens")


@never_cache
@login_required
def project_members(request: HttpRequest, slug: str) -> HttpResponse:
    """A project's members and their roles; owners add, change and remove them here."""
    project = get_for_user_or_404(Project, request.user, "view", slug=slug)
    can_manage = has_perm(request.user, "manage_members", project)
    form = MemberForm()
    error = None
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        try:
            if "remove" in request.POST:
                membership = get_for_user_or_404(
                    Membership.objects.filter(project=project), request.user, "delete", pk=request.POST["remove"]
                )
                services.membership_remove(actor=request.user, membership=membership)
                return redirect("project-members", slug=project.slug)
            form = MemberForm(request.POST)
            if form.is_valid():
                kind, member = form.cleaned_data["member"]
                services.membership_set(
                    actor=request.user, project=project, role=form.cleaned_data["role"], **{kind: member}
                )
                return redirect("project-members", slug=project.slug)
            status = 400
        except ValidationError as exc:
            error, status = " ".join(exc.messages), 400
    context = {
        "project": project,
        "memberships": selectors.membership_list(user=request.user, project=project),
        "my_role": effective_role(request.user, project),
        "can_manage": can_manage,
        "form": form,
        "error": error,
    }
    return render(request, "accounts/members.html", context, status=status)
