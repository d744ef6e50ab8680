"""Step executors, one module per step kind."""

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


def load_all() -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
