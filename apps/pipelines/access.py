"""Pipelines' permission policies, registered with accounts."""

from apps.accounts.permissions import register_policy

from .models import Pipeline, PipelineVersion, Trigger, TriggerEvent

PIPELINE_ACTIONS = {
    "view": "viewer",
    "run": "operator",
    "change": "maintainer",
    "delete": "maintainer",
}


def register() -> None:
    register_policy(Pipeline, project="project", actions=PIPELINE_ACTIONS)
    register_policy(PipelineVersion, project="pipeline__project", actions={"view": "viewer"})
    register_policy(
        Trigger,
        project="pipeline__project",
        actions={"view": "viewer", "add": "maintainer", "change": "maintainer", "delete": "maintainer"},
    )
    register_policy(TriggerEvent, project="trigger__pipeline__project", actions={"view": "viewer"})
