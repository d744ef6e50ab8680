"""API views: thin, each write is one service call; reads come from selectors via the permission API."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from .. import selectors, services
from ..filters import AuditEventFilter
from ..models import ApiToken, Credential, Membership, Project, Team
from ..permissions import ProjectPermission, has_perm, project_roles
from . import serializers as s


class ServiceErrorsMixin:
    """Answers a service's ValidationError with 400 and its messages (never a 500)."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DjangoValidationError):
            detail: Any = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            exc = exceptions.ValidationError(detail)
        return super().handle_exception(exc)  # type: ignore[misc, no-any-return]


class ServiceAnswersMixin:
    """For viewsets whose writes are service calls: input checked by a serializer of its own (``valid``),
    the written object answered as reads show it (``answer``), and PATCH the same as PUT (only the
    fields given change)."""

    @staticmethod
    def valid(serializer_class: type[BaseSerializer[Any]], data: Any, partial: bool = False) -> dict[str, Any]:
        serializer = serializer_class(data=data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def answer(self, obj: Any, code: int = status.HTTP_200_OK) -> Response:
        view: Any = self
        return Response(view.get_serializer(view.get_queryset().get(pk=obj.pk)).data, status=code)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, **kwargs)  # type: ignore[attr-defined, no-any-return]


def require(allowed: bool, message: str = "You do not have permission to perform this action.") -> None:
    if not allowed:
        raise exceptions.PermissionDenied(message)


def visible_project(user: Any, project: Project) -> Project:
    """``project`` if ``user`` can see it; otherwise the same answer as for a project that does not exist."""
    if not has_perm(user, "view", project):
        raise exceptions.ValidationError({"project": [f'Object with slug="{project.slug}" does not exist.']})
    return project


class ProjectViewSet(ServiceErrorsMixin, viewsets.ModelViewSet[Project]):
    """Projects the caller can see, with the caller's role in each."""

    serializer_class = s.ProjectSerializer
    permission_classes = [ProjectPermission]
    permission_action_map = {"members": "view"}
    lookup_field = "slug"
    filterset_fields = ["slug"]

    def get_queryset(self) -> QuerySet[Project]:
        return selectors.project_list(user=self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["roles"] = project_roles(self.request.user)
        return context

    def perform_create(self, serializer: BaseSerializer[Project]) -> None:
        require(has_perm(self.request.user, "add", Project()), "Only superusers create projects.")
        data = serializer.validated_data
        serializer.instance = services.project_create(
            actor=self.request.user, slug=data["slug"], name=data["name"], description=data.get("description", "")
        )

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_object()
        data = _valid(s.ProjectUpdateSerializer, request.data)
        project = services.project_update(actor=request.user, project=project, **data)
        return Response(self.get_serializer(project).data)

    def perform_destroy(self, instance: Project) -> None:
        services.project_delete(actor=self.request.user, project=instance)


def _valid(serializer_class: type[BaseSerializer[Any]], data: Any, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class TeamViewSet(ServiceErrorsMixin, viewsets.ModelViewSet[Team]):
    """Teams: members see theirs; superusers manage them."""

    serializer_class = s.TeamSerializer
    permission_classes = [ProjectPermission]
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Team]:
        return selectors.team_list(user=self.request.user)

    def perform_create(self, serializer: BaseSerializer[Team]) -> None:
        require(has_perm(self.request.user, "add", Team()))
        data = serializer.validated_data
        serializer.instance = services.team_create(
            actor=self.request.user,
            slug=data["slug"],
            name=data["name"],
            description=data.get("description", ""),
            members=data.get("members", []),
        )

    def perform_update(self, serializer: BaseSerializer[Team]) -> None:
        data = serializer.validated_data
        assert serializer.instance is not None
        serializer.instance = services.team_update(
            actor=self.request.user,
            team=serializer.instance,
            name=data.get("name"),
            description=data.get("description"),
            members=data.get("members"),
        )

    def perform_destroy(self, instance: Team) -> None:
        services.team_delete(actor=self.request.user, team=instance)


class MembershipViewSet(ServiceErrorsMixin, viewsets.ModelViewSet[Membership]):
    """Who has which role in which project. Filter with ``?project=<slug>``. Owners manage them."""

    serializer_class = s.MembershipSerializer
    permission_classes = [ProjectPermission]
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Membership]:
        queryset = selectors.membership_list(user=self.request.user)
        project = self.request.query_params.get("project")
        return queryset.filter(project__slug=project) if project else queryset

    def perform_create(self, serializer: BaseSerializer[Membership]) -> None:
        data = serializer.validated_data
        project = visible_project(self.request.user, data["project"])
        require(has_perm(self.request.user, "add", Membership(project=project)), "Only project owners add members.")
        serializer.instance = services.membership_set(
            actor=self.request.user, project=project, role=data["role"], user=data.get("user"), team=data.get("team")
        )

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = self.get_object()
        data = _valid(s.MembershipRoleSerializer, request.data)
        membership = services.membership_set(
            actor=request.user,
            project=membership.project,
            role=data["role"],
            user=membership.user,
            team=membership.team,
        )
        return Response(self.get_serializer(membership).data)

    def perform_destroy(self, instance: Membership) -> None:
        services.membership_remove(actor=self.request.user, membership=instance)


class ApiTokenViewSet(
    ServiceErrorsMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[ApiToken],
):
    """The caller's own API tokens. The key is in the create answer only; DELETE revokes."""

    serializer_class = s.ApiTokenSerializer
    permission_classes = [ProjectPermission]
    permission_action_map = {"destroy": "revoke", "revoke": "revoke"}
    filter_backends: list[Any] = []
    queryset = ApiToken.objects.none()  # for the schema generator, which has no signed-in user

    def get_queryset(self) -> QuerySet[ApiToken]:
        return selectors.token_list(user=self.request.user, owner=self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request.user
        allowed = has_perm(user, "add", ApiToken(user=user))  # type: ignore[misc]
        require(allowed, "Tokens cannot create tokens; sign in to create one.")
        data = _valid(s.ApiTokenSerializer, request.data)
        project = data.get("project")
        if project is not None:
            visible_project(user, project)
        token, key = services.token_create(
            actor=user,
            user=user,
            name=data["name"],
            project=project,
            read_only=data.get("read_only", False),
            expires_at=data.get("expires_at"),
        )
        token.key = key  # type: ignore[attr-defined]
        return Response(s.ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        services.token_revoke(actor=self.request.user, token=instance)

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        token = services.token_revoke(actor=request.user, token=self.get_object())
        return Response(self.get_serializer(token).data)


class CredentialViewSet(ServiceErrorsMixin, viewsets.ModelViewSet[Credential]):
    """Project credentials. Secret fields are write-only (``fields`` on create/update); answers list
    the plain fields and ``***`` for each secret field that is set."""

    serializer_class = s.CredentialSerializer
    permission_classes = [ProjectPermission]
    filterset_fields = {"project__slug": ["exact"], "kind": ["exact"], "name": ["exact"]}

    def get_queryset(self) -> QuerySet[Credential]:
        return selectors.credential_list(user=self.request.user)

    def perform_create(self, serializer: BaseSerializer[Credential]) -> None:
        data = serializer.validated_data
        project = visible_project(self.request.user, data["project"])
        require(has_perm(self.request.user, "add", Credential(project=project)))
        serializer.instance = services.credential_create(
            actor=self.request.user,
            project=project,
            name=data["name"],
            kind=data["kind"],
            fields=data.get("fields", {}),
            description=data.get("description", ""),
        )

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credential = self.get_object()
        data = _valid(s.CredentialUpdateSerializer, request.data)
        credential = services.credential_update(actor=request.user, credential=credential, **data)
        return Response(self.get_serializer(credential).data)

    def perform_destroy(self, instance: Credential) -> None:
        services.credential_delete(actor=self.request.user, credential=instance)


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """The audit log (read-only): ``?actor=&verb=&target_type=&project=&since=&until=``."""

    serializer_class = s.AuditEventSerializer
    permission_classes = [ProjectPermission]
    filter_backends = [DjangoFilterBackend]
    filterset_class = AuditEventFilter

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.audit_event_list(user=self.request.user)
