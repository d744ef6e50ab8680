"""The policy table of the permission matrix: for every route of the URL conf, the requests to try and the
answer each role must get; for every model in the admin, who sees, adds and deletes; for every socket route,
what each role is told. ``test_permission_matrix`` runs them.

The tables live by surface: ``pages`` (operations, the admin site's own views, the pages), ``rest_api``,
``admin_models`` and ``sockets``; ``cases`` holds what they are written in. ``TABLE`` is every HTTP route's
entry, pages first, then the API."""

from __future__ import annotations

from .admin_models import ADMIN_MODELS, PERMISSION_ADMINS, AdminPolicy
from .cases import Case
from .pages import PAGE_ROUTES
from .rest_api import API_ROUTES
from .sockets import REFUSED, SOCKETS

TABLE: dict[str, list[Case]] = {**PAGE_ROUTES, **API_ROUTES}

LIST_URLS = [
    "/projects/{project}/members/",
    "/projects/{project}/clusters/",
    "/api/v1/clusters/",
    "/projects/{project}/credentials/",
    "/accounts/tokens/",
    "/api/v1/pipelines/{pipeline}/versions/",
    "/api/v1/triggers/",
    "/api/v1/notification-targets/",
    "/api/v1/notification-rules/",
    "/api/v1/notification-deliveries/",
    "/projects/{project}/triggers/",
    "/projects/{project}/notifications/",
    *(f"/admin/{label.replace('.', '/')}/" for label in PERMISSION_ADMINS),
]

__all__ = ["ADMIN_MODELS", "LIST_URLS", "REFUSED", "SOCKETS", "TABLE", "AdminPolicy", "Case"]
