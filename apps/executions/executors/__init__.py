"""Step executors, one module per step kind."""

import functools
import importlib

MODULES = [
    "shell",
    "python",
    "http",
    "git",
    "ansible",
    "docker",
    "k8s_apply",
    "k8s_delete",
    "k8s_rollout",
    "k8s_job",
    "helm",
]


@functools.cache
def load_all() -> None:
    """Import every executor module once (each registers its kind)."""
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
