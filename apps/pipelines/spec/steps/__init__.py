"""Step kinds: one module per kind, each exposing ``KIND``; ``STEP_KINDS`` maps the type name to it."""

from __future__ import annotations

from . import ansible, approval, docker, git, helm, http, k8s, k8s_job, python, shell
from .base import StepKind, WithCheck

STEP_KINDS: dict[str, StepKind] = {}


def register(kind: StepKind) -> StepKind:
    """Add a step kind to the registry (a new kind is one module calling this)."""
    if kind.name in STEP_KINDS:
        raise ValueError(f"step kind {kind.name!r} is already registered")
    STEP_KINDS[kind.name] = kind
    return kind


for _module in (shell, python, http, approval, git, ansible, k8s_job, helm):
    register(_module.KIND)
for _kind in [*docker.KINDS, *k8s.KINDS]:
    register(_kind)

__all__ = ["STEP_KINDS", "StepKind", "WithCheck", "register"]
