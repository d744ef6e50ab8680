"""Step executors, one module per step kind."""

import importlib

MODULES = ["shell", "python", "http", "git", "ansible", "docker"]


def load_all() -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
