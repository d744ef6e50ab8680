"""The policy of the admin's standard per-model views: for every registered model, who sees, adds and deletes."""

from __future__ import annotations

from dataclasses import dataclass

from ..matrix import MEMBERS, NOBODY, SIGNED_IN, at_least
from .cases import IMPORTERS


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
