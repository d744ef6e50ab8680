"""What the policy tables are written in: ``Case`` and its builders, the role sets and expected answers they
share, and the world readers (URL kwargs, and the state a write changes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.accounts.models import ApiToken, Credential, Membership, Project, Team
from apps.executions.models import Approval, Execution, NotificationRule, NotificationTarget
from apps.k8s_integration.models import Cluster
from apps.pipelines.models import Pipeline, Trigger

from ..matrix import MEMBERS, PIPELINE_YAML, World, at_least

W = World
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
