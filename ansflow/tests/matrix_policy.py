"""The policy table of the permission matrix: for every route of the URL conf, the requests to try and the
answer each role must get; for every model in the admin, who sees, adds and deletes; for every socket route,
what each role is told. ``test_permission_matrix`` runs them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.accounts.models import ApiToken, Credential, Membership, Project, Team
from apps.executions.models import Approval, Execution, NotificationRule, NotificationTarget
from apps.executions.observability.metrics import _allowed_address
from apps.k8s_integration.models import Cluster
from apps.pipelines.models import Pipeline, Trigger

from .matrix import (
    ADMIN_LOGIN,
    EVERYONE,
    LOGIN,
    MEMBERS,
    NOBODY,
    PIPELINE_YAML,
    READY,
    ROLES,
    SIGNED_IN,
    World,
    at_least,
    expect,
    scoped,
)

W = World
METRICS = 200 if _allowed_address("127.0.0.1") else 403
FRESH_YAML = PIPELINE_YAML.format(name="fresh")
IMPORTERS = at_least("maintainer") | {"outsider"}  # a maintainer somewhere may open the import forms


@dataclass(frozen=True)
class Case:
    """One request to try as every role. ``ok`` is the allowed answer; ``state`` reads what a write changes."""

    method: str
    expect: dict[str, Any]
    ok: Any
    kwargs: Callable[[W], dict[str, Any]] = lambda w: {}
    query: str = ""
    data: Callable[[W], Any] | None = None
    fmt: str = "form"  # form | json | yaml
    auth: str = "session"  # session | token
    state: Callable[[W], Any] | None = None
    shows: tuple[Callable[[W], str], frozenset[str]] | None = None  # text in a 200 body iff the role is listed
    writes: bool = True  # whether the allowed answer changes ``state``
    path: str | None = None  # for unnamed routes


def page(method: str, expected: dict[str, Any], ok: Any, **kw: Any) -> Case:
    return Case(method, expected, ok, **kw)


def api(method: str, expected: dict[str, Any], ok: Any, **kw: Any) -> Case:
    kw.setdefault("auth", "token")
    kw.setdefault("fmt", "json")
    return Case(method, expected, ok, **kw)


def obj(attr: str, name: str = "pk") -> Callable[[W], dict[str, Any]]:
    return lambda w: {name: getattr(w, attr).pk}


SLUG = lambda w: {"slug": w.project.slug}  # noqa: E731
TEAM = lambda w: {"slug": w.team.slug}  # noqa: E731
DOCKER_HOST = lambda w: {"slug": w.project.slug, "name": w.docker_host.name}  # noqa: E731
# The world's cluster (https://127.0.0.1:9) refuses connections: allowed roles get the error, never a 500.
KUBE = lambda w: {"slug": w.project.slug, "name": w.cluster.name}  # noqa: E731
KUBE_DEPLOYMENT = lambda w: {**KUBE(w), "namespace": "default", "deployment": "web"}  # noqa: E731
KUBE_POD = lambda w: {**KUBE(w), "namespace": "default", "pod": "web-0"}  # noqa: E731
KUBE_API_OBJECT = lambda w: {"pk": w.cluster.pk, "namespace": "default", "name": "web"}  # noqa: E731
CLUSTERS = lambda w: Cluster.objects.count()  # noqa: E731
CHECKED = lambda w: Cluster.objects.filter(pk=w.cluster.pk).values_list("last_checked_at", flat=True).first()  # noqa: E731
CLUSTER_TEXT = lambda w: Cluster.objects.filter(pk=w.cluster.pk).values_list("description", flat=True).first()  # noqa: E731
UNREACHABLE = (lambda w: "is unreachable", MEMBERS)
OPERATORS = at_least("operator")
PIPELINE = obj("pipeline")
FINISHED = obj("finished")
WAITING = obj("waiting")

# How many rows, or the field a write touches; a denied write leaves it, an allowed one changes it.
PIPELINES = lambda w: Pipeline.objects.count()  # noqa: E731
RUNS = lambda w: Execution.objects.count()  # noqa: E731
RUN_STATUS = lambda w: Execution.objects.get(pk=w.waiting.pk).status  # noqa: E731
DECISIONS = lambda w: Approval.objects.filter(step=w.gate).count()  # noqa: E731
MEMBERSHIPS = lambda w: Membership.objects.count()  # noqa: E731
TOKENS = lambda w: ApiToken.objects.count()  # noqa: E731
REVOKED = lambda w: ApiToken.objects.get(pk=w.token.pk).revoked_at  # noqa: E731
PROJECT_NAME = lambda w: Project.objects.filter(pk=w.project.pk).values_list("name", flat=True).first()  # noqa: E731
ROLE_OF_VIEWER = lambda w: Membership.objects.filter(pk=w.membership.pk).values_list("role", flat=True).first()  # noqa: E731
TEAM_NAME = lambda w: Team.objects.filter(pk=w.team.pk).values_list("name", flat=True).first()  # noqa: E731
CREDENTIAL = lambda w: Credential.objects.filter(pk=w.credential.pk).values_list("description", flat=True).first()  # noqa: E731

HOOK = lambda w: Trigger.objects.get(pipeline=w.pipeline, key="webhook")  # noqa: E731
HOOK_PK = lambda w: {"pk": HOOK(w).pk}  # noqa: E731
HOOK_PAGE = lambda w: {"slug": w.project.slug, "pk": HOOK(w).pk}  # noqa: E731
HOOK_ENABLED = lambda w: HOOK(w).enabled  # noqa: E731
HOOK_TOUCHED = lambda w: HOOK(w).updated_at  # noqa: E731
TRIGGERS = lambda w: Trigger.objects.count()  # noqa: E731
NOTIFY_TARGETS = lambda w: NotificationTarget.objects.count()  # noqa: E731
NOTIFY_RULES = lambda w: NotificationRule.objects.count()  # noqa: E731
TARGET_TEXT = lambda w: NotificationTarget.objects.get(pk=w.notification_target.pk).description  # noqa: E731
RULE_ON = lambda w: NotificationRule.objects.get(pk=w.notification_rule.pk).enabled  # noqa: E731

API_OPEN = expect(EVERYONE, 200, api=True)
API_SIGNED_IN = expect(SIGNED_IN, 200, api=True)
STAFF = expect(SIGNED_IN, 200, anonymous=ADMIN_LOGIN)


def api_scoped(action_role: str, ok: Any, **overrides: Any) -> dict[str, Any]:
    return scoped(action_role, ok, api=True, **overrides)


TABLE: dict[str, list[Case]] = {
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
    # --- REST API (token authentication, as other systems call it) ---
    "api-root": [api("GET", API_OPEN, 200)],
    "api-health-echo": [api("POST", expect(SIGNED_IN, 202, api=True), 202, data=lambda w: {"token": "0" * 32})],
    "project-list": [
        api("GET", API_SIGNED_IN, 200, shows=(lambda w: '"orchard"', MEMBERS)),
        api(
            "POST",
            expect({"superuser"}, 201, visible=SIGNED_IN, api=True),
            201,
            data=lambda w: {"slug": "new-project", "name": "New"},
            state=lambda w: Project.objects.count(),
        ),
    ],
    "project-detail": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=SLUG),
        *(
            api(m, api_scoped("owner", 200), 200, kwargs=SLUG, data=lambda w: {"name": "Renamed"}, state=PROJECT_NAME)
            for m in ("PUT", "PATCH")
        ),
        # Its pipelines have runs, which keep their versions: a conflict for those allowed, nothing deleted.
        api(
            "DELETE", api_scoped("owner", 409), 409, kwargs=SLUG, state=lambda w: Project.objects.count(), writes=False
        ),
    ],
    "team-list": [
        api("GET", API_SIGNED_IN, 200, shows=(lambda w: '"orchard-team"', MEMBERS)),
        api(
            "POST",
            expect({"superuser"}, 201, visible=SIGNED_IN, api=True),
            201,
            data=lambda w: {"slug": "new-team", "name": "New"},
            state=lambda w: Team.objects.count(),
        ),
    ],
    "team-detail": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=TEAM),
        *(
            api(
                m,
                expect({"superuser"}, 200, visible=MEMBERS, api=True),
                200,
                kwargs=TEAM,
                data=lambda w: {"slug": w.team.slug, "name": "Renamed"},
                state=TEAM_NAME,
            )
            for m in ("PUT", "PATCH")
        ),
        api(
            "DELETE",
            expect({"superuser"}, 204, visible=MEMBERS, api=True),
            204,
            kwargs=TEAM,
            state=lambda w: Team.objects.count(),
        ),
    ],
    "membership-list": [
        api("GET", API_SIGNED_IN, 200),
        api(
            "POST",
            api_scoped("owner", 201, outsider=400),
            201,
            state=MEMBERSHIPS,
            data=lambda w: {"project": "orchard", "user": "outsider", "role": "viewer"},
        ),
    ],
    "membership-detail": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=obj("membership")),
        *(
            api(
                m,
                api_scoped("owner", 200),
                200,
                kwargs=obj("membership"),
                data=lambda w: {"role": "operator"},
                state=ROLE_OF_VIEWER,
            )
            for m in ("PUT", "PATCH")
        ),
        api("DELETE", api_scoped("owner", 204), 204, kwargs=obj("membership"), state=MEMBERSHIPS),
    ],
    "apitoken-list": [
        api("GET", API_SIGNED_IN, 200, shows=(lambda w: '"target"', frozenset({"viewer"}))),
        # A token cannot mint tokens; a signed-in session can (for its own user).
        api("POST", expect(NOBODY, 201, visible=SIGNED_IN, api=True), 201, data=lambda w: {"name": "n"}, state=TOKENS),
        api("POST", expect(SIGNED_IN, 201, api=True), 201, data=lambda w: {"name": "n"}, state=TOKENS, auth="session"),
    ],
    "apitoken-detail": [
        api("GET", expect({"viewer"}, 200, api=True), 200, kwargs=obj("token")),
        api("DELETE", expect(NOBODY, 204, visible={"viewer"}, api=True), 204, kwargs=obj("token"), state=REVOKED),
        api("DELETE", expect({"viewer"}, 204, api=True), 204, kwargs=obj("token"), state=REVOKED, auth="session"),
    ],
    "apitoken-revoke": [
        api("POST", expect(NOBODY, 200, visible={"viewer"}, api=True), 200, kwargs=obj("token"), state=REVOKED),
        api("POST", expect({"viewer"}, 200, api=True), 200, kwargs=obj("token"), state=REVOKED, auth="session"),
    ],
    "credential-list": [
        api("GET", API_SIGNED_IN, 200, shows=(lambda w: w.credential.name, MEMBERS)),
        api(
            "POST",
            api_scoped("maintainer", 201, outsider=400),
            201,
            state=lambda w: Credential.objects.count(),
            data=lambda w: {
                "project": "orchard",
                "name": "new-cred",
                "kind": "username_password",
                "fields": {"username": "u", "password": "p"},
            },
        ),
    ],
    "credential-detail": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=obj("credential")),
        *(
            api(
                m,
                api_scoped("maintainer", 200),
                200,
                kwargs=obj("credential"),
                data=lambda w: {"description": "d"},
                state=CREDENTIAL,
            )
            for m in ("PUT", "PATCH")
        ),
        api(
            "DELETE",
            api_scoped("maintainer", 204),
            204,
            kwargs=obj("credential"),
            state=lambda w: Credential.objects.count(),
        ),
    ],
    "auditevent-list": [api("GET", API_SIGNED_IN, 200)],
    "auditevent-detail": [api("GET", expect(at_least("maintainer"), 200, api=True), 200, kwargs=obj("audit"))],
    "cluster-list": [
        api("GET", API_SIGNED_IN, 200, shows=(lambda w: '"kube"', MEMBERS)),
        api(
            "POST",
            api_scoped("maintainer", 201, outsider=400),
            201,
            data=lambda w: {
                "project": "orchard",
                "name": "new-kube",
                "server": "https://127.0.0.1:9",
                "credential": w.cluster.credential_id,
            },
            state=CLUSTERS,
        ),
    ],
    "cluster-detail": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=obj("cluster")),
        *(
            api(
                m,
                api_scoped("maintainer", 200),
                200,
                kwargs=obj("cluster"),
                data=lambda w: {"description": "d"},
                state=CLUSTER_TEXT,
            )
            for m in ("PUT", "PATCH")
        ),
        api("DELETE", api_scoped("maintainer", 204), 204, kwargs=obj("cluster"), state=CLUSTERS),
    ],
    "cluster-check": [api("POST", api_scoped("operator", 200), 200, kwargs=obj("cluster"), state=CHECKED)],
    "cluster-resources": [
        api("GET", api_scoped("viewer", 503), 503, kwargs=lambda w: {"pk": w.cluster.pk, "kind": "pods"})
    ],
    "cluster-scale": [
        api("POST", api_scoped("maintainer", 503), 503, kwargs=KUBE_API_OBJECT, data=lambda w: {"replicas": 2})
    ],
    "cluster-restart": [api("POST", api_scoped("maintainer", 503), 503, kwargs=KUBE_API_OBJECT)],
    "cluster-delete-pod": [api("DELETE", api_scoped("maintainer", 503), 503, kwargs=KUBE_API_OBJECT)],
    "cluster-pod-logs": [api("GET", api_scoped("viewer", 503), 503, kwargs=KUBE_API_OBJECT)],
    "pipeline-json-schema": [api("GET", API_OPEN, 200)],
    "pipeline-list": [api("GET", API_SIGNED_IN, 200, shows=(lambda w: "deploy-orchard", MEMBERS))],
    "pipeline-import-yaml": [
        api(
            "POST",
            api_scoped("maintainer", 201, outsider=400),
            201,
            data=lambda w: FRESH_YAML,
            fmt="yaml",
            state=PIPELINES,
        ),
    ],
    "pipeline-validate": [
        api("POST", api_scoped("viewer", 200, outsider=400), 200, data=lambda w: FRESH_YAML, fmt="yaml")
    ],
    "pipeline-detail": [api("GET", api_scoped("viewer", 200), 200, kwargs=PIPELINE)],
    "pipeline-export": [api("GET", api_scoped("viewer", 200), 200, kwargs=PIPELINE)],
    "pipeline-versions": [api("GET", api_scoped("viewer", 200), 200, kwargs=PIPELINE)],
    "pipeline-run": [
        api("POST", api_scoped("operator", 201), 201, kwargs=PIPELINE, data=lambda w: {"inputs": {}}, state=RUNS)
    ],
    "execution-logs-txt": [api("GET", api_scoped("viewer", 200), 200, kwargs=FINISHED)],
    "execution-list": [api("GET", API_SIGNED_IN, 200)],
    "execution-detail": [api("GET", api_scoped("viewer", 200), 200, kwargs=FINISHED)],
    "execution-cancel": [api("POST", api_scoped("operator", 200), 200, kwargs=WAITING, state=RUN_STATUS)],
    "execution-logs": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=FINISHED, shows=(lambda w: "disk full", MEMBERS))
    ],
    "execution-retry": [api("POST", api_scoped("operator", 201), 201, kwargs=FINISHED, state=RUNS)],
    "execution-retry-failed": [api("POST", api_scoped("operator", 201), 201, kwargs=FINISHED, state=RUNS)],
    "execution-search": [api("GET", api_scoped("viewer", 200), 200, kwargs=FINISHED, query="?q=disk")],
    "step-list": [api("GET", API_SIGNED_IN, 200)],
    "step-detail": [api("GET", api_scoped("viewer", 200), 200, kwargs=obj("gate"))],
    "step-approve": [
        api(
            "POST",
            api_scoped("operator", 200),
            200,
            kwargs=obj("gate"),
            data=lambda w: {"decision": "approve"},
            state=DECISIONS,
        ),
    ],
    "trigger-list": [
        api("GET", API_SIGNED_IN, 200, shows=(lambda w: str(HOOK(w).public_id), MEMBERS)),
        api(
            "POST",
            api_scoped("maintainer", 201, outsider=400),
            201,
            data=lambda w: {
                "pipeline": w.pipeline.pk,
                "kind": "schedule",
                "name": "nightly",
                "config": {"cron": "0 3 * * *", "timezone": "Europe/Paris"},
            },
            state=TRIGGERS,
        ),
    ],
    "trigger-detail": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=HOOK_PK),
        *(
            api(
                m,
                api_scoped("maintainer", 200),
                200,
                kwargs=HOOK_PK,
                data=lambda w: {"enabled": False},
                state=HOOK_ENABLED,
            )
            for m in ("PUT", "PATCH")
        ),
        # Declared in the pipeline's YAML: a conflict for those allowed, nothing deleted.
        api("DELETE", api_scoped("maintainer", 409), 409, kwargs=HOOK_PK, state=TRIGGERS, writes=False),
    ],
    "trigger-enable": [api("POST", api_scoped("maintainer", 200), 200, kwargs=HOOK_PK, state=HOOK_TOUCHED)],
    "trigger-disable": [api("POST", api_scoped("maintainer", 200), 200, kwargs=HOOK_PK, state=HOOK_ENABLED)],
    "trigger-events": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=HOOK_PK, shows=(lambda w: '"started"', MEMBERS))
    ],
    "notificationtarget-list": [
        api("GET", API_SIGNED_IN, 200, shows=(lambda w: "127.0.0.1:9/hook", MEMBERS)),
        api(
            "POST",
            api_scoped("maintainer", 201, outsider=400),
            201,
            data=lambda w: {"project": "orchard", "name": "ops-mail", "kind": "email", "recipients": ["ops@a.example"]},
            state=NOTIFY_TARGETS,
        ),
    ],
    "notificationtarget-detail": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=obj("notification_target")),
        *(
            api(
                m,
                api_scoped("maintainer", 200),
                200,
                kwargs=obj("notification_target"),
                data=lambda w: {"description": "pager"},
                state=TARGET_TEXT,
            )
            for m in ("PUT", "PATCH")
        ),
        api("DELETE", api_scoped("maintainer", 204), 204, kwargs=obj("notification_target"), state=NOTIFY_TARGETS),
    ],
    "notificationrule-list": [
        api("GET", API_SIGNED_IN, 200, shows=(lambda w: '"fail"', MEMBERS)),
        api(
            "POST",
            api_scoped("maintainer", 201, outsider=400),
            201,
            data=lambda w: {"project": "orchard", "name": "gates", "event": "approval_waiting", "targets": ["hook"]},
            state=NOTIFY_RULES,
        ),
    ],
    "notificationrule-detail": [
        api("GET", api_scoped("viewer", 200), 200, kwargs=obj("notification_rule")),
        *(
            api(
                m,
                api_scoped("maintainer", 200),
                200,
                kwargs=obj("notification_rule"),
                data=lambda w: {"enabled": False},
                state=RULE_ON,
            )
            for m in ("PUT", "PATCH")
        ),
        api("DELETE", api_scoped("maintainer", 204), 204, kwargs=obj("notification_rule"), state=NOTIFY_RULES),
    ],
    "notificationdelivery-list": [api("GET", API_SIGNED_IN, 200, shows=(lambda w: "orchard failed", MEMBERS))],
    "notificationdelivery-detail": [api("GET", api_scoped("viewer", 200), 200, kwargs=obj("notification_delivery"))],
    r"api/v1/^(?P<rest>[\s\S]*)$": [api("GET", expect(EVERYONE, 404), 404, path="/api/v1/no-such-thing/")],
    "api-schema": [api("GET", API_OPEN, 200)],
    "api-docs": [api("GET", API_OPEN, 200)],
}


@dataclass(frozen=True)
class AdminPolicy:
    """Who sees the object in the admin, who may open the add page, who may delete the object.
    ``django``: a framework admin guarded by Django's model permissions (only superusers here)."""

    view: frozenset[str] = NOBODY
    add: frozenset[str] = NOBODY
    delete: frozenset[str] = NOBODY
    add_ok: int = 200
    protected: bool = False  # has runs that keep its versions: the admin shows why it cannot be deleted
    hidden_delete: int = 403  # 302 (back to the index) when the user may delete such objects somewhere
    django: bool = False


READ_ONLY = AdminPolicy(view=MEMBERS)
TARGET = AdminPolicy(view=MEMBERS, add=IMPORTERS, delete=at_least("maintainer"), hidden_delete=302)
FRAMEWORK = AdminPolicy(django=True)
ADMIN_MODELS: dict[str, AdminPolicy] = {
    "auth.group": FRAMEWORK,
    "auth.user": FRAMEWORK,
    "axes.accessattempt": FRAMEWORK,
    "axes.accesslog": FRAMEWORK,
    "axes.accessfailurelog": FRAMEWORK,
    "django_celery_beat.periodictask": FRAMEWORK,
    "django_celery_beat.clockedschedule": FRAMEWORK,
    "django_celery_beat.crontabschedule": FRAMEWORK,
    "django_celery_beat.solarschedule": FRAMEWORK,
    "django_celery_beat.intervalschedule": FRAMEWORK,
    "accounts.project": AdminPolicy(
        view=MEMBERS, add=frozenset({"superuser"}), delete=at_least("owner"), protected=True
    ),
    "accounts.team": AdminPolicy(view=MEMBERS, add=frozenset({"superuser"}), delete=frozenset({"superuser"})),
    "accounts.membership": AdminPolicy(
        view=MEMBERS, add=at_least("owner") | {"outsider"}, delete=at_least("owner"), hidden_delete=302
    ),
    "accounts.apitoken": AdminPolicy(view=frozenset({"viewer", "superuser"})),
    "accounts.credential": TARGET,
    "accounts.auditevent": AdminPolicy(view=at_least("maintainer")),
    "k8s_integration.inventory": TARGET,
    "k8s_integration.registry": TARGET,
    "k8s_integration.dockerhost": TARGET,
    "k8s_integration.cluster": TARGET,
    # Adding a pipeline means importing YAML: the add page sends everyone to the import page, which decides.
    "pipelines.pipeline": AdminPolicy(
        view=MEMBERS, add=SIGNED_IN, add_ok=302, delete=at_least("maintainer"), protected=True, hidden_delete=302
    ),
    "pipelines.pipelineversion": READ_ONLY,
    "pipelines.trigger": READ_ONLY,  # declared in YAML: switched on/off and re-keyed by admin actions
    "pipelines.triggerevent": READ_ONLY,
    "executions.execution": READ_ONLY,
    "executions.stepexecution": READ_ONLY,
    "executions.stepattempt": READ_ONLY,
    "executions.logline": READ_ONLY,
    "executions.approval": READ_ONLY,
    "executions.notificationtarget": TARGET,
    "executions.notificationrule": TARGET,
    "executions.notificationdelivery": READ_ONLY,
}


PERMISSION_ADMINS = [label for label, policy in ADMIN_MODELS.items() if not policy.django]
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


HELLO, SNAPSHOT, REFUSED = "hello", "snapshot", "HTTP 403"
SOCKETS: dict[str, tuple[Callable[[Execution], str], dict[str, Any]]] = {
    "ws/health/": (lambda run: "/ws/health/", dict.fromkeys(ROLES, HELLO)),
    "ws/executions/<int:execution_id>/": (
        lambda run: f"/ws/executions/{run.pk}/?after=0",
        expect(MEMBERS, SNAPSHOT, anonymous=4401, outsider=4404),
    ),
    "ws/projects/<slug:slug>/": (
        lambda run: f"/ws/projects/{run.project.slug}/",
        expect(MEMBERS, HELLO, anonymous=4401, outsider=4404),
    ),
    # The project's cluster refuses connections: members are told why ({"type": "status", "kind": "error"}).
    "ws/clusters/<int:cluster_id>/pods/<str:namespace>/<str:name>/logs/": (
        lambda run: f"/ws/clusters/{Cluster.objects.get(project=run.project).pk}/pods/default/web-0/logs/?tail=10",
        expect(MEMBERS, "error", anonymous=4401, outsider=4404),
    ),
}
