"""The one permission API: every page, API view, admin, consumer and task asks here.

Apps register a policy per model from ``AppConfig.ready()``::

    register_policy(Pipeline, project="project", actions={"view": "viewer", "change": "maintainer"})

``project`` is the ORM path from the model to its :class:`Project` ("" or "self" for Project
itself); ``actions`` maps each action to the lowest role allowed to do it (or ``"superuser"``).
Deny by default: an unregistered model or action is denied to everyone, superusers included.
Superusers may do every registered action. A request authenticated by an API token carries the
token on its user (:func:`token_of`): a read-only token may only ``view``, a project-scoped token
only sees its project.

To check whether a user may create an object, ask about an unsaved instance:
``has_perm(user, "add", Credential(project=project))``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .choices import Role
from .models import ApiToken, Membership, Project

SUPERUSER = "superuser"
TOKEN_ATTRIBUTE = "_ansflow_token"  # noqa: S105  (an attribute name)
WS_UNAUTHENTICATED = 4401
WS_FORBIDDEN = 4403
WS_NOT_FOUND = 4404


# --- tokens riding on users ---------------------------------------------------------


def token_of(user: Any) -> ApiToken | None:
    """The API token that authenticated this user object for the current request or socket, if any."""
    return getattr(user, TOKEN_ATTRIBUTE, None)


def attach_token(user: Any, token: ApiToken) -> Any:
    """Marks ``user`` as acting through ``token``; every permission check then honours the token's limits."""
    setattr(user, TOKEN_ATTRIBUTE, token)
    return user


def _authenticated(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


# --- policies ---------------------------------------------------------------------


@dataclass
class Policy:
    """How to decide one model's actions. Subclasses: project-scoped policies and custom ones."""

    model: type[Model]
    actions: dict[str, str]
    project_scoped: bool = field(default=False, init=False)

    def allows(self, user: Any, action: str, obj: Any, memo: dict[Any, Any]) -> bool:
        raise NotImplementedError

    def restrict(self, queryset: QuerySet[Any], user: Any, action: str) -> QuerySet[Any]:
        raise NotImplementedError


def _project_roles(user: Any, project_id: int, memo: dict[Any, Any]) -> list[str]:
    key = ("roles", project_id)
    if key not in memo:
        memo[key] = list(
            Membership.objects.filter(project_id=project_id)
            .filter(Q(user=user) | Q(team__members=user))
            .values_list("role", flat=True)
        )
    return memo[key]  # type: ignore[no-any-return]


def member_project_ids(user: Any, min_role: str) -> QuerySet[Any]:
    """A subquery of the ids of projects where ``user`` (directly or through a team) has at least ``min_role``."""
    return (
        Membership.objects.filter(Q(user=user) | Q(team__members=user), role__in=Role.at_least(min_role))
        .values("project_id")
        .distinct()
    )


@dataclass
class ProjectPolicy(Policy):
    """Objects that belong to a project through ``path``; roles in that project decide."""

    path: str = ""

    def __post_init__(self) -> None:
        self.project_scoped = True

    @property
    def lookup(self) -> str:
        return self.path or "pk"

    def project_id_of(self, obj: Any) -> int | None:
        if not self.path:
            return obj.pk  # type: ignore[no-any-return]
        current = obj
        *hops, last = self.path.split("__")
        for hop in hops:
            current = getattr(current, hop, None)
            if current is None:
                return None
        return getattr(current, current._meta.get_field(last).attname)  # type: ignore[no-any-return]

    def allows(self, user: Any, action: str, obj: Any, memo: dict[Any, Any]) -> bool:
        project_id = self.project_id_of(obj)
        token = token_of(user)
        if token is not None and token.project_id is not None and project_id != token.project_id:
            return False
        if user.is_superuser:
            return True
        required = self.actions[action]
        if required == SUPERUSER or project_id is None:
            return False
        best = Role.highest(_project_roles(user, project_id, memo))
        return best is not None and best.rank >= Role.rank_of(required)

    def restrict(self, queryset: QuerySet[Any], user: Any, action: str) -> QuerySet[Any]:
        token = token_of(user)
        if token is not None and token.project_id is not None:
            queryset = queryset.filter(**{self.lookup: token.project_id})
        if user.is_superuser:
            return queryset
        required = self.actions[action]
        if required == SUPERUSER:
            return queryset.none()
        # The ids as a list, not a subquery: MariaDB plans `IN (subquery)` as a semi-join that sorts the
        # whole table before LIMIT (1.5 s for a page of 100,000 executions); with the ids it walks the index.
        ids = list(member_project_ids(user, required).values_list("project_id", flat=True))
        return queryset.filter(**{f"{self.lookup}__in": ids})


_registry: dict[type[Model], Policy] = {}


def _check_actions(actions: Mapping[str, str]) -> dict[str, str]:
    checked = {}
    for action, role in actions.items():
        if role != SUPERUSER and role not in Role.values:
            raise ValueError(f"action {action!r}: unknown role {role!r} (one of {[*Role.values, SUPERUSER]})")
        checked[action] = str(role)
    return checked


def register_policy(model: type[Model], *, project: str, actions: dict[str, str]) -> None:
    """Registers which project ``model``'s objects belong to and which role each action needs."""
    path = "" if project in ("", "self") else project
    if path:
        # Fail at start-up, not at the first request, when the path is wrong.
        current: Any = model
        for hop in path.split("__"):
            current = current._meta.get_field(hop).related_model
        if current is not Project:
            raise ValueError(f"{model.__name__}: {project!r} does not lead to Project")
    elif model is not Project:
        raise ValueError(f"{model.__name__}: an empty project path is only valid for Project")
    register_custom_policy(ProjectPolicy(model, _check_actions(actions), path=path))


def register_custom_policy(policy: Policy) -> None:
    """Registers a policy for a model that does not belong to a project (tokens, teams)."""
    policy.actions = _check_actions(policy.actions)
    _registry[policy.model] = policy


def policy_for(model: type[Model]) -> Policy | None:
    return _registry.get(model._meta.concrete_model or model)  # type: ignore[arg-type]


def registered_policies() -> dict[type[Model], Policy]:
    return dict(_registry)


# --- the API -------------------------------------------------------------------------


def _decide(user: Any, action: str, obj: Any, memo: dict[Any, Any]) -> bool:
    if not _authenticated(user) or obj is None:
        return False
    policy = policy_for(obj.__class__)
    if policy is None or action not in policy.actions:
        return False
    token = token_of(user)
    if token is not None:
        if token.read_only and action != "view":
            return False
        if token.project_id is not None and not policy.project_scoped:
            return False
    return policy.allows(user, action, obj, memo)


def has_perm(user: Any, action: str, obj: Any) -> bool:
    """May ``user`` do ``action`` on ``obj``? (An unsaved instance stands for creating one.)"""
    return _decide(user, action, obj, {})


def user_capabilities(user: Any, obj: Any, memo: dict[Any, Any] | None = None) -> dict[str, bool]:
    """Every registered action of ``obj``'s model mapped to whether ``user`` may do it (one role lookup).

    Pass the same ``memo`` (a dict, for one user) for every row of a list: one role lookup per project.
    """
    policy = policy_for(obj.__class__)
    if policy is None:
        return {}
    memo = {} if memo is None else memo
    return {action: _decide(user, action, obj, memo) for action in policy.actions}


def restrict(queryset: QuerySet[Any], user: Any, action: str) -> QuerySet[Any]:
    """``queryset`` narrowed to the rows ``user`` may do ``action`` on (one query for the project ids)."""
    policy = policy_for(queryset.model)
    if not _authenticated(user) or policy is None or action not in policy.actions:
        return queryset.none()
    token = token_of(user)
    if token is not None:
        if token.read_only and action != "view":
            return queryset.none()
        if token.project_id is not None and not policy.project_scoped:
            return queryset.none()
    return policy.restrict(queryset, user, action)


def get_for_user_or_404(model_or_qs: type[Model] | QuerySet[Any], user: Any, action: str, **lookup: Any) -> Any:
    """The object matching ``lookup``: Http404 when ``user`` cannot see it, PermissionDenied when they
    can see it but not do ``action``."""
    queryset = model_or_qs if isinstance(model_or_qs, QuerySet) else model_or_qs._default_manager.all()
    try:
        obj = restrict(queryset, user, "view").get(**lookup)
    except (ObjectDoesNotExist, ValueError, TypeError) as exc:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from exc
    if action != "view" and not has_perm(user, action, obj):
        raise PermissionDenied(f"You may not {action} this {queryset.model._meta.verbose_name}.")
    return obj


def effective_role(user: Any, project: Project) -> Role | None:
    """The highest role ``user`` holds in ``project`` directly or through teams (owner for superusers),
    capped to viewer for a read-only token and None outside a token's project."""
    if not _authenticated(user) or project is None or project.pk is None:
        return None
    token = token_of(user)
    if token is not None and token.project_id is not None and token.project_id != project.pk:
        return None
    role = Role.OWNER if user.is_superuser else Role.highest(_project_roles(user, project.pk, {}))
    if role is not None and token is not None and token.read_only:
        return Role.VIEWER
    return role


def project_roles(user: Any) -> dict[int, Role]:
    """Every project id where ``user`` holds a role (directly or through a team) mapped to the
    highest one, in one query; capped like :func:`effective_role`. For showing roles in lists."""
    if not _authenticated(user):
        return {}
    roles: dict[int, set[str]] = {}
    rows = Membership.objects.filter(Q(user=user) | Q(team__members=user)).values_list("project_id", "role")
    token = token_of(user)
    if token is not None and token.project_id is not None:
        rows = rows.filter(project_id=token.project_id)
    for project_id, role in rows:
        roles.setdefault(project_id, set()).add(role)
    result = {project_id: Role.highest(values) for project_id, values in roles.items()}
    capped = token is not None and token.read_only
    return {project_id: Role.VIEWER if capped else role for project_id, role in result.items() if role is not None}


# --- DRF and Channels -------------------------------------------------------------


class ProjectPermission(BasePermission):
    """DRF permission built on :func:`has_perm`.

    The action comes from the view's ``permission_action_map`` (keys: viewset action names or HTTP
    methods), else from the standard viewset actions, else from the HTTP method. Objects the user
    cannot view answer 404; visible objects whose action is not allowed answer 403. Creation must
    be checked by the view with an unsaved instance (``has_perm(user, "add", Model(project=...))``).
    """

    view_actions = {
        "list": "view",
        "retrieve": "view",
        "create": "add",
        "update": "change",
        "partial_update": "change",
        "destroy": "delete",
    }
    method_actions = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "POST": "add", "PUT": "change",
                      "PATCH": "change", "DELETE": "delete"}  # fmt: skip

    def action_for(self, request: Request, view: Any) -> str | None:
        mapping: Mapping[str, str] = getattr(view, "permission_action_map", {}) or {}
        view_action = getattr(view, "action", None)
        if view_action and view_action in mapping:
            return mapping[view_action]
        if request.method in mapping:
            return mapping[request.method or ""]
        if view_action in self.view_actions:
            return self.view_actions[view_action]
        return self.method_actions.get(request.method or "")

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _authenticated(request.user):
            return False
        action = self.action_for(request, view)
        token = token_of(request.user)
        return action is not None and not (token is not None and token.read_only and action != "view")

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        action = self.action_for(request, view)
        if not has_perm(request.user, "view", obj):
            raise NotFound()
        return action is not None and has_perm(request.user, action, obj)


def _ws_decision(user: Any, action: str, obj: Any) -> int | None:
    if not _authenticated(user):
        return WS_UNAUTHENTICATED
    token = token_of(user)
    if token is not None:
        # A token revoked or expired since the handshake no longer authorises anything.
        token.refresh_from_db(fields=["revoked_at", "expires_at"])
        if not token.is_active:
            return WS_UNAUTHENTICATED
    if not has_perm(user, "view", obj):
        return WS_NOT_FOUND
    if not has_perm(user, action, obj):
        return WS_FORBIDDEN
    return None


async def authorize_ws(scope: Mapping[str, Any], action: str, lookup: Callable[[], Any]) -> tuple[Any, int | None]:
    """The socket's object and None when its user may do ``action`` on it; else None and the close code:
    4401 anonymous (or a dead token), 4403 forbidden, 4404 not there or not visible.

    ``lookup`` finds the object (None when there is none); it runs with the decision on one database
    connection, as a socket's handshake opens one per call under ASGI.
    """
    user = scope.get("user")

    def decide() -> tuple[Any, int | None]:
        obj = lookup()
        if obj is None:
            return None, WS_NOT_FOUND
        refused = _ws_decision(user, action, obj)
        return (None, refused) if refused is not None else (obj, None)

    return await database_sync_to_async(decide)()  # type: ignore[no-any-return]
