"""The policy of the REST API's routes (token authentication, as other systems call it)."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import Credential, Project, Team

from ..matrix import (
    EVERYONE,
    MEMBERS,
    NOBODY,
    SIGNED_IN,
    at_least,
    expect,
    scoped,
)
from .cases import (
    CHECKED,
    CLUSTER_TEXT,
    CLUSTERS,
    CREDENTIAL,
    DECISIONS,
    FINISHED,
    FRESH_YAML,
    HOOK,
    HOOK_ENABLED,
    HOOK_PK,
    HOOK_TOUCHED,
    KUBE_API_OBJECT,
    MEMBERSHIPS,
    NOTIFY_RULES,
    NOTIFY_TARGETS,
    PIPELINE,
    PIPELINES,
    PROJECT_NAME,
    REVOKED,
    ROLE_OF_VIEWER,
    RULE_ON,
    RUN_STATUS,
    RUNS,
    SLUG,
    TARGET_TEXT,
    TEAM,
    TEAM_NAME,
    TOKENS,
    TRIGGERS,
    WAITING,
    Case,
    api,
    obj,
)

API_OPEN = expect(EVERYONE, 200, api=True)
API_SIGNED_IN = expect(SIGNED_IN, 200, api=True)


def api_scoped(action_role: str, ok: Any, **overrides: Any) -> dict[str, Any]:
    return scoped(action_role, ok, api=True, **overrides)


API_ROUTES: dict[str, list[Case]] = {
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
