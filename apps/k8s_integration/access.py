"""Permission policies of the deploy targets: viewers see them, operators use them in runs, maintainers edit."""

from __future__ import annotations

from apps.accounts.permissions import register_policy

from .models import DockerHost, Inventory, Registry

TARGET_ACTIONS = {"view": "viewer", "use": "operator", "add": "maintainer", "change": "maintainer",
                  "delete": "maintainer", "check": "operator"}  # fmt: skip


def register() -> None:
    for model in (Inventory, Registry, DockerHost):
        register_policy(model, project="project", actions=dict(TARGET_ACTIONS))
