"""Helpers of the permission matrix: the routes of the URL conf, the objects every role is tried on, and
the shorthand for expected answers.

The world is one project ("orchard") holding a pipeline (an approval gate before a shell step), a run
waiting at its gate, a failed run with an attempt, log lines and an approval, a credential, deploy targets,
a team and a token; plus a second project ("elsewhere") whose owner is the outsider. Runs are made through
the services and the engine's own step bookkeeping, with no worker: nothing is ever sent to Celery because
the data lives in a transaction that is rolled back, never committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db.models import Model
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from ansflow.testing import session_cookie
from apps.accounts.choices import Role
from apps.accounts.models import ApiToken, AuditEvent, Credential, Membership, Project, Team
from apps.accounts.services import project_create, team_create, token_create
from apps.accounts.tests.factories import CredentialFactory, UserFactory, make_user_with_role
from apps.executions.choices import Decision, LogStream
from apps.executions.engine.runner import claim, finish_step
from apps.executions.executors.base import StepResult
from apps.executions.models import (
    Approval,
    Execution,
    LogLine,
    NotificationDelivery,
    NotificationRule,
    NotificationTarget,
    StepAttempt,
    StepExecution,
)
from apps.executions.notifications.services import notification_rule_create, notification_target_create
from apps.executions.services import approval_decide, execution_start
from apps.k8s_integration.clusters.services import cluster_create
from apps.k8s_integration.models import Cluster, DockerHost, Inventory, Registry
from apps.k8s_integration.services import target_create
from apps.pipelines.models import Pipeline, PipelineVersion
from apps.pipelines.services import pipeline_import
from apps.pipelines.triggers.models import EventOutcome, Trigger, TriggerEvent, TriggerKind

ROLES = ["anonymous", "outsider", "viewer", "operator", "maintainer", "owner", "superuser"]
PROJECT_ROLES = ["viewer", "operator", "maintainer", "owner"]
EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
NOBODY: frozenset[str] = frozenset()

# Expected answers other than a plain status code.
LOGIN = "302 to the sign-in page"
ADMIN_LOGIN = "302 to the admin sign-in page"
ADMIN_GONE = "302 to the admin index (the object is not in the user's queryset)"
READY = "200 or 503 with the readiness report"


def at_least(role: str) -> frozenset[str]:
    """Project members with ``role`` or higher, and superusers."""
    return frozenset(r for r in PROJECT_ROLES if Role.rank_of(r) >= Role.rank_of(role)) | {"superuser"}


MEMBERS = at_least("viewer")


def expect(
    allowed: Set[str], ok: Any, *, visible: Set[str] = NOBODY, api: bool = False, **overrides: Any
) -> dict[str, Any]:
    """``ok`` for ``allowed`` roles; 403 for roles that see the object but may not act; 404 for the rest;
    anonymous callers are sent to sign in (pages) or answered 401 (API)."""
    answers: dict[str, Any] = {}
    for role in ROLES:
        if role in allowed:
            answers[role] = ok
        elif role == "anonymous":
            answers[role] = 401 if api else LOGIN
        else:
            answers[role] = 403 if role in visible else 404
    answers.update(overrides)
    return answers


def scoped(action_role: str, ok: Any, *, api: bool = False, **overrides: Any) -> dict[str, Any]:
    """An object of the project: members see it, ``action_role`` and above may act, others get 404."""
    return expect(at_least(action_role), ok, visible=MEMBERS, api=api, **overrides)


# --- the URL conf -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern: its name (namespaced) or, when unnamed, its full pattern as the key."""

    key: str
    pattern: str
    name: str | None
    callback: Any = field(compare=False, repr=False)

    @property
    def api_methods(self) -> set[str] | None:
        """The HTTP methods a DRF view answers (besides OPTIONS/HEAD); None for other views."""
        actions = getattr(self.callback, "actions", None)
        if actions:
            return {method.upper() for method in actions} - {"OPTIONS", "HEAD"}
        cls = getattr(self.callback, "cls", None)
        if cls is None:
            return None
        methods = {m.upper() for m in cls.http_method_names if hasattr(cls, m)}
        return methods - {"OPTIONS", "HEAD"}


def _walk(patterns: list[Any], prefix: str, namespace: str | None) -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield Route(name or pattern, pattern, name, entry.callback)


ADMIN_MODEL_VIEWS = ("changelist", "add", "history", "delete", "change")


def admin_model_route(route: Route) -> type[Model] | None:
    """The model whose standard admin view this route is (changelist, add, change, delete, history and the
    bare ``<id>/`` redirect), or None. Those are checked once per registered model instead."""
    for model in admin.site._registry:
        meta = model._meta
        if not route.pattern.startswith(f"admin/{meta.app_label}/{meta.model_name}/"):
            continue
        standard = {f"admin:{meta.app_label}_{meta.model_name}_{view}" for view in ADMIN_MODEL_VIEWS}
        if route.name in standard or (route.name is None and route.pattern.endswith("/<path:object_id>/")):
            return model
    return None


def framework_internal(route: Route) -> bool:
    """Static files and debug tooling: not part of the product's surface."""
    static = (settings.STATIC_URL or "/static/").lstrip("/")
    return route.pattern.startswith((static, "__debug__", "media/"))


def http_routes() -> list[Route]:
    """Every route of the URL conf that needs a policy in the matrix."""
    routes = _walk(get_resolver().url_patterns, "", None)
    return [r for r in routes if admin_model_route(r) is None and not framework_internal(r)]


# --- the world --------------------------------------------------------------------------------

PIPELINE_YAML = """apiVersion: ansflow/v1
kind: Pipeline
metadata: {{name: {name}, project: orchard}}
spec:
  inputs:
    version: {{type: string, default: v1}}
  steps:
    - id: gate
      type: approval
      with: {{approvers: {{roles: [operator]}}}}
    - {{id: build, type: shell, needs: [gate], run: 'echo "building $INPUT_VERSION"'}}
"""


@dataclass
class World:
    project: Project
    elsewhere: Project
    users: dict[str, Any]
    keys: dict[str, str]  # an API token key per signed-in role
    sessions: dict[str, str]  # a session cookie per signed-in role
    pipeline: Pipeline
    waiting: Execution  # running, its gate waiting for approval
    finished: Execution  # failed: gate approved, the shell step failed with log lines
    gate: StepExecution
    credential: Credential
    membership: Membership  # the viewer's
    team: Team  # every project member is in it
    token: ApiToken  # the viewer's
    audit: AuditEvent
    inventory: Inventory
    registry: Registry
    docker_host: DockerHost
    cluster: Cluster
    notification_target: NotificationTarget
    notification_rule: NotificationRule
    notification_delivery: NotificationDelivery

    def admin_objects(self) -> dict[type[Model], Model | None]:
        """One object of the project per model registered in the admin with a permission policy."""
        build = self.finished.steps.get(step_id="build")
        trigger = Trigger.objects.get(pipeline=self.pipeline, key="webhook")
        event = TriggerEvent.objects.get(trigger=trigger)
        return {
            Project: self.project, Team: self.team, Membership: self.membership, ApiToken: self.token,
            Credential: self.credential, AuditEvent: self.audit, Inventory: self.inventory,
            Registry: self.registry, DockerHost: self.docker_host, Cluster: self.cluster, Pipeline: self.pipeline,
            PipelineVersion: self.pipeline.current_version, Execution: self.finished, StepExecution: build,
            StepAttempt: build.attempts.get(), LogLine: self.finished.log_lines.first(),
            Approval: Approval.objects.get(step__execution=self.finished),
            NotificationTarget: self.notification_target, NotificationRule: self.notification_rule,
            NotificationDelivery: self.notification_delivery, Trigger: trigger, TriggerEvent: event,
        }  # fmt: skip


def fail_with_logs(execution: Execution, root: Any) -> Execution:
    """Approve the gate, then play the worker's part for the shell step: claim, log, fail."""
    approval_decide(actor=root, step=execution.steps.get(step_id="gate"), decision=Decision.APPROVE)
    build = execution.steps.get(step_id="build")
    assert claim(build.pk, build.attempt)
    LogLine.objects.bulk_create(
        LogLine(execution=execution, step=build, seq=n, stream=LogStream.STDOUT, time=timezone.now(), text=text)
        for n, text in enumerate(["building v1", "compiling", "error: disk full"], 1)
    )
    Execution.objects.filter(pk=execution.pk).update(log_seq=3)
    finish_step(execution.pk, build.pk, build.attempt, StepResult(status="failed", exit_code=1))
    return Execution.objects.get(pk=execution.pk)


def build_world() -> World:
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    project = project_create(actor=root, slug="orchard", name="Orchard Works")
    elsewhere = project_create(actor=root, slug="elsewhere", name="Elsewhere")
    # Everyone is staff, so the admin's own answers come from the permission API, not from is_staff.
    users: dict[str, Any] = {"superuser": root}
    users["outsider"] = make_user_with_role(elsewhere, Role.OWNER, username="outsider", is_staff=True)
    for role in PROJECT_ROLES:
        users[role] = make_user_with_role(project, role, username=role, is_staff=True)
    keys = {role: token_create(actor=user, user=user, name=f"{role}-key")[1] for role, user in users.items()}
    token, _ = token_create(actor=users["viewer"], user=users["viewer"], name="target")
    pipeline = pipeline_import(actor=root, project=project, yaml_text=PIPELINE_YAML.format(name="deploy-orchard"))
    # A webhook trigger and one firing, as the webhook view would record them (for the trigger admins).
    hook = Trigger.objects.create(pipeline=pipeline.pipeline, key="webhook", kind=TriggerKind.WEBHOOK, config={})
    TriggerEvent.objects.create(trigger=hook, outcome=EventOutcome.STARTED)
    finished = fail_with_logs(execution_start(actor=root, pipeline=pipeline.pipeline), root)
    waiting = execution_start(actor=root, pipeline=pipeline.pipeline)
    members = [users[role] for role in PROJECT_ROLES]
    inventory = target_create(actor=root, model=Inventory, project=project, name="hosts", content="web1\n")
    credential: Credential = CredentialFactory(project=project, name="orchard-registry-login")  # type: ignore[assignment]
    audit = AuditEvent.objects.filter(project=project).order_by("pk").first()
    assert audit is not None
    rule, delivery = notify(root, project, finished, "")
    return World(
        project=project,
        elsewhere=elsewhere,
        users=users,
        keys=keys,
        sessions={role: session_cookie(user) for role, user in users.items()},
        pipeline=Pipeline.objects.get(pk=pipeline.pipeline.pk),
        waiting=waiting,
        finished=finished,
        gate=waiting.steps.get(step_id="gate"),
        credential=credential,
        membership=Membership.objects.get(project=project, user=users["viewer"]),
        team=team_create(actor=root, slug="orchard-team", name="Orchard team", members=members),
        token=token,
        audit=audit,
        inventory=inventory,
        registry=target_create(actor=root, model=Registry, project=project, name="orchard-reg", url="127.0.0.1:5000"),
        docker_host=target_create(actor=root, model=DockerHost, project=project, name="d", url="unix:///run/d.sock"),
        cluster=make_cluster(root, project, "kube"),
        notification_target=delivery.target,
        notification_rule=rule,
        notification_delivery=delivery,
    )


def make_cluster(root: Any, project: Project, name: str) -> Cluster:
    """A cluster (never contacted by the matrix) acting with a bearer-token credential."""
    token = CredentialFactory(project=project, name=f"{name}-token", kind="bearer_token", fields={"token": "t0ken"})
    return cluster_create(actor=root, project=project, name=name, server="https://127.0.0.1:9", credential=token)


def notify(root: Any, project: Project, execution: Execution, suffix: str) -> tuple[Any, NotificationDelivery]:
    """A webhook target, a failure rule and a recorded (sent) delivery of ``execution`` to it."""
    target = notification_target_create(actor=root, project=project, name=f"hook{suffix}", kind="webhook",
                                        url="http://127.0.0.1:9/hook")  # fmt: skip
    rule = notification_rule_create(actor=root, project=project, name=f"fail{suffix}", event="failure",
                                    targets=[target])  # fmt: skip
    delivery = NotificationDelivery.objects.create(project=project, rule=rule, target=target, target_name=target.name,
                                                   execution=execution, event="failure", status="sent",
                                                   response_code=200, message="orchard failed")  # fmt: skip
    return rule, delivery


def grow(world: World, count: int) -> None:
    """``count`` more rows of everything the lists show: members, credentials, tokens, versions, runs (with
    steps, attempts, log lines and approvals), deploy targets, teams and their audit events."""
    root, owner = world.users["superuser"], world.users["owner"]
    for n in range(count):
        make_user_with_role(world.project, Role.VIEWER, username=f"extra-{n}", is_staff=True)
        CredentialFactory(project=world.project, name=f"extra-cred-{n}")
        token_create(actor=owner, user=owner, name=f"extra-{n}")
        text = PIPELINE_YAML.format(name="deploy-orchard").replace("default: v1", f"default: v{n + 2}")
        pipeline_import(actor=root, project=world.project, yaml_text=text)
        notify(root, world.project, fail_with_logs(execution_start(actor=root, pipeline=world.pipeline), root), f"-{n}")
        target_create(actor=root, model=Inventory, project=world.project, name=f"hosts-{n}", content="web1\n")
        target_create(actor=root, model=Registry, project=world.project, name=f"reg-{n}", url="127.0.0.1:5000")
        target_create(actor=root, model=DockerHost, project=world.project, name=f"d-{n}", url="unix:///run/d.sock")
        make_cluster(root, world.project, f"kube-{n}")
        team_create(actor=root, slug=f"extra-team-{n}", name=f"Extra {n}", members=[owner])
