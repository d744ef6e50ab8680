"""The policy of the routes outside the REST API: operations, the admin site's own views, the pages."""

from __future__ import annotations

import uuid

from apps.executions.observability.metrics import _allowed_address

from ..matrix import (
    ADMIN_LOGIN,
    EVERYONE,
    LOGIN,
    MEMBERS,
    NOBODY,
    READY,
    SIGNED_IN,
    at_least,
    expect,
    scoped,
)
from .cases import (
    CHECKED,
    DECISIONS,
    DOCKER_HOST,
    FINISHED,
    FRESH_YAML,
    HOOK,
    HOOK_ENABLED,
    HOOK_PAGE,
    IMPORTERS,
    KUBE,
    KUBE_DEPLOYMENT,
    KUBE_POD,
    MEMBERSHIPS,
    OPERATORS,
    PIPELINE,
    PIPELINES,
    REVOKED,
    RUN_STATUS,
    RUNS,
    SLUG,
    TOKENS,
    UNREACHABLE,
    WAITING,
    Case,
    obj,
    page,
)

METRICS = 200 if _allowed_address("127.0.0.1") else 403
STAFF = expect(SIGNED_IN, 200, anonymous=ADMIN_LOGIN)


PAGE_ROUTES: dict[str, list[Case]] = {
    # --- operations: no session involved ---
    "healthz": [page("GET", expect(EVERYONE, 200), 200)],
    "readyz": [page("GET", expect(EVERYONE, READY), READY)],
    "metrics": [page("GET", expect(EVERYONE, METRICS), METRICS)],
    "webhook": [page("POST", expect(EVERYONE, 404), 404, kwargs=lambda w: {"public_id": uuid.uuid4()})],
    # --- the admin site's own views ---
    "admin:index": [page("GET", STAFF, 200)],
    "admin:login": [page("GET", expect(SIGNED_IN, 302, anonymous=200), 200)],
    "admin:logout": [page("POST", expect(SIGNED_IN, LOGIN, anonymous=302), LOGIN)],
    "admin:password_change": [page("GET", STAFF, 200)],
    "admin:password_change_done": [page("GET", STAFF, 200)],
    "admin:jsi18n": [page("GET", STAFF, 200)],
    "admin:app_list": [page("GET", STAFF, 200, kwargs=lambda w: {"app_label": "accounts"})],
    "admin:view_on_site": [
        page(
            "GET",
            expect(NOBODY, 200, anonymous=ADMIN_LOGIN),
            200,
            kwargs=lambda w: {"content_type_id": 1, "object_id": w.project.pk},
        ),
    ],
    "admin/(?P<url>.*)$": [page("GET", expect(NOBODY, 200, anonymous=ADMIN_LOGIN), 200, path="/admin/nothing-here/")],
    "admin:autocomplete": [
        page(
            "GET",
            STAFF,
            200,
            shows=(lambda w: "Orchard Works", MEMBERS),
            query="?app_label=accounts&model_name=membership&field_name=project&term=orch",
        ),
    ],
    "admin:auth_user_password_change": [
        page(
            "GET",
            expect({"superuser"}, 200, visible=SIGNED_IN, anonymous=ADMIN_LOGIN),
            200,
            kwargs=lambda w: {"id": w.users["viewer"].pk},
        ),
    ],
    "admin:pipelines_pipeline_import": [
        page("GET", expect(IMPORTERS, 200, visible=SIGNED_IN, anonymous=ADMIN_LOGIN), 200),
        page(
            "POST",
            expect(at_least("maintainer"), 302, visible=SIGNED_IN, anonymous=ADMIN_LOGIN, outsider=200),
            302,
            data=lambda w: {"project": "orchard", "yaml_text": FRESH_YAML},
            state=PIPELINES,
        ),
    ],
    # --- pages: accounts ---
    "accounts:login": [page("GET", expect(SIGNED_IN, 302, anonymous=200), 200)],
    "accounts:logout": [page("POST", expect(EVERYONE, LOGIN), LOGIN)],
    "accounts:tokens": [
        page("GET", expect(SIGNED_IN, 200), 200),
        page("POST", expect(SIGNED_IN, 201), 201, data=lambda w: {"name": "new"}, state=TOKENS),
    ],
    "accounts:token-revoke": [page("POST", expect({"viewer"}, 302), 302, kwargs=obj("token"), state=REVOKED)],
    "project-members": [
        page("GET", scoped("viewer", 200), 200, kwargs=SLUG),
        page(
            "POST",
            scoped("owner", 302),
            302,
            kwargs=SLUG,
            data=lambda w: {"remove": w.membership.pk},
            state=MEMBERSHIPS,
        ),
    ],
    # --- pages: pipelines ---
    "pipelines:list": [page("GET", expect(SIGNED_IN, 200), 200, shows=(lambda w: "deploy-orchard", MEMBERS))],
    "pipelines:import": [
        page("GET", expect(IMPORTERS, 200, visible=SIGNED_IN), 200),
        page(
            "POST",
            expect(at_least("maintainer"), 302, visible=SIGNED_IN, outsider=400),
            302,
            data=lambda w: {"project": "orchard", "yaml_text": FRESH_YAML},
            state=PIPELINES,
        ),
    ],
    "pipelines:detail": [page("GET", scoped("viewer", 200), 200, kwargs=PIPELINE)],
    "pipelines:audit": [page("GET", expect(IMPORTERS, 200, visible=SIGNED_IN), 200)],
    "pipelines:credentials": [
        page("GET", scoped("maintainer", 200), 200, kwargs=SLUG, shows=(lambda w: w.credential.name, MEMBERS))
    ],
    "pipelines:triggers": [
        page("GET", scoped("maintainer", 200), 200, kwargs=SLUG, shows=(lambda w: str(HOOK(w).public_id), MEMBERS))
    ],
    "pipelines:trigger-switch": [
        page(
            "POST",
            scoped("maintainer", 302),
            302,
            kwargs=HOOK_PAGE,
            data=lambda w: {"enabled": "0"},
            state=HOOK_ENABLED,
        ),
    ],
    # --- pages: executions ---
    "executions:dashboard": [page("GET", expect(SIGNED_IN, 200), 200, shows=(lambda w: "Orchard Works", MEMBERS))],
    "executions:trends": [page("GET", expect(SIGNED_IN, 200), 200, query="?days=30")],
    "executions:approvals": [
        page("GET", expect(SIGNED_IN, 200), 200, shows=(lambda w: 'data-approve="gate"', at_least("operator")))
    ],
    "executions:project": [page("GET", scoped("viewer", 200), 200, kwargs=SLUG)],
    "executions:notifications": [
        page("GET", scoped("maintainer", 200), 200, kwargs=SLUG, shows=(lambda w: "127.0.0.1:9/hook", MEMBERS))
    ],
    "executions:run": [
        page("GET", scoped("operator", 200), 200, kwargs=PIPELINE),
        page("POST", scoped("operator", 302), 302, kwargs=PIPELINE, data=lambda w: {"version": "v2"}, state=RUNS),
    ],
    "executions:pipeline-runs": [page("GET", scoped("viewer", 200), 200, kwargs=PIPELINE)],
    "executions:detail": [
        page(
            "GET",
            scoped("viewer", 200),
            200,
            kwargs=WAITING,
            shows=(lambda w: 'id="cancel-button"', at_least("operator")),
        )
    ],
    "executions:summary": [page("GET", scoped("viewer", 200), 200, kwargs=FINISHED)],
    "executions:cancel": [page("POST", scoped("operator", 302), 302, kwargs=WAITING, state=RUN_STATUS)],
    "executions:rerun": [page("POST", scoped("operator", 302), 302, kwargs=FINISHED, state=RUNS)],
    "executions:retry-failed": [page("POST", scoped("operator", 302), 302, kwargs=FINISHED, state=RUNS)],
    "executions:decide": [
        page(
            "POST",
            scoped("operator", 302),
            302,
            kwargs=obj("gate"),
            data=lambda w: {"decision": "approve"},
            state=DECISIONS,
        ),
    ],
    # --- pages: deploy targets (the host does not answer: the page says so, a removal reports it) ---
    "k8s_integration:docker-host": [page("GET", scoped("viewer", 200), 200, kwargs=DOCKER_HOST)],
    "k8s_integration:docker-remove": [
        page(
            "POST",
            scoped("maintainer", 302),
            302,
            kwargs=lambda w: {**DOCKER_HOST(w), "kind": "image", "resource_id": "sha256-0123"},
        ),
    ],
    # --- pages: clusters (the cluster refuses: pages show why, actions report it and go back) ---
    "k8s_integration:clusters": [
        page("GET", scoped("viewer", 200), 200, kwargs=SLUG, shows=(lambda w: 'data-check="kube"', OPERATORS))
    ],
    "k8s_integration:cluster": [page("GET", scoped("viewer", 200), 200, kwargs=KUBE, shows=UNREACHABLE)],
    "k8s_integration:cluster-check": [page("POST", scoped("operator", 302), 302, kwargs=KUBE, state=CHECKED)],
    "k8s_integration:deployment-scale": [
        page("POST", scoped("maintainer", 302), 302, kwargs=KUBE_DEPLOYMENT, data=lambda w: {"replicas": "2"})
    ],
    "k8s_integration:deployment-restart": [page("POST", scoped("maintainer", 302), 302, kwargs=KUBE_DEPLOYMENT)],
    "k8s_integration:pod-delete": [page("POST", scoped("maintainer", 302), 302, kwargs=KUBE_POD)],
    "k8s_integration:pod-log": [page("GET", scoped("viewer", 200), 200, kwargs=KUBE_POD, shows=UNREACHABLE)],
}
