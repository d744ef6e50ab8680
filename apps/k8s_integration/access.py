"""Permission policies of the deploy targets: viewers see them, operators use them in runs and check them,
maintainers edit them (and act on cluster resources: scale, restart, delete a pod)."""

from __future__ import annotations

from apps.accounts.permissions import register_policy

from .models import Cluster, DockerHost, Inventory, Registry

TARGET_ACTIONS = {"view": "viewer", "use": "operator", "add": "maintainer", "change": "maintainer",
                  "delete": "maintainer", "check": "operator"}  # fmt: skip


def register() -> None:
    for model in (Cluster, Inventory, Registry, DockerHost):
        register_policy(model, project="project", actions=dict(TARGET_ACTIONS))
