"""``docker.build``, ``docker.run`` and ``docker.push``: images and containers on a project's Docker host."""

from __future__ import annotations

from typing import Any

from .base import StepKind, WithCheck

_STRINGS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
_HOST = {
    "type": "string",
    "minLength": 1,
    "description": "A Docker host of the project; default: the one named `default`.",
}


def _relative(value: Any, path: tuple[str | int, ...], check: WithCheck) -> None:
    if isinstance(value, str) and (value.startswith("/") or ".." in value.split("/")):
        check.error(path, "must be a relative path inside the workspace")


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in (value or {}).items()}


BUILD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["tags"],
    "additionalProperties": False,
    "properties": {
        "host": _HOST,
        "context": {"type": "string", "default": ".", "description": "Build context directory in the workspace."},
        "dockerfile": {"type": "string", "default": "Dockerfile", "description": "Relative to the context."},
        "tags": {"type": ["string", "array"], "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "build_args": _STRINGS,
        "labels": _STRINGS,
        "target": {"type": "string", "minLength": 1},
        "no_cache": {"type": "boolean", "default": False},
        "pull": {"type": "boolean", "default": False},
    },
}


def normalise_build(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    _relative(with_.get("context"), ("context",), check)
    _relative(with_.get("dockerfile"), ("dockerfile",), check)
    tags = with_.get("tags")
    return {
        "host": with_.get("host"),
        "context": with_.get("context", "."),
        "dockerfile": with_.get("dockerfile", "Dockerfile"),
        "tags": [tags] if isinstance(tags, str) else list(tags) if isinstance(tags, list) else [],
        "build_args": _strings(with_.get("build_args") if isinstance(with_.get("build_args"), dict) else {}),
        "labels": _strings(with_.get("labels") if isinstance(with_.get("labels"), dict) else {}),
        "target": with_.get("target"),
        "no_cache": with_.get("no_cache", False),
        "pull": with_.get("pull", False),
    }


RUN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["image"],
    "additionalProperties": False,
    "properties": {
        "host": _HOST,
        "image": {"type": "string", "minLength": 1},
        "command": {"type": ["string", "array"], "items": {"type": "string"}},
        "entrypoint": {"type": ["string", "array"], "items": {"type": "string"}},
        "environment": _STRINGS,
        "volumes": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^[^:]+:/[^:]*(:(ro|rw))?$"},
            "description": "`workspace/path:/container/path[:ro]`; sources are inside the workspace.",
        },
        "workdir": {"type": "string", "pattern": "^/"},
        "user": {"type": "string", "minLength": 1},
        "network": {"type": "string", "minLength": 1},
    },
}


def normalise_run(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    volumes: list[Any] = with_["volumes"] if isinstance(with_.get("volumes"), list) else []
    for index, volume in enumerate(volumes):
        if isinstance(volume, str):
            _relative(volume.split(":", 1)[0], ("volumes", index), check)
    return {
        "host": with_.get("host"),
        "image": with_.get("image"),
        "command": with_.get("command"),
        "entrypoint": with_.get("entrypoint"),
        "environment": _strings(with_.get("environment") if isinstance(with_.get("environment"), dict) else {}),
        "volumes": list(volumes),
        "workdir": with_.get("workdir"),
        "user": with_.get("user"),
        "network": with_.get("network"),
    }


PUSH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["image"],
    "additionalProperties": False,
    "properties": {
        "host": _HOST,
        "image": {"type": "string", "minLength": 1, "description": "A local image reference (name:tag)."},
        "registry": {
            "type": "string",
            "minLength": 1,
            "description": "A project registry: the image is tagged <registry>/<name:tag> and pushed with its "
            "credential. Without it, `image` must already name its registry.",
        },
    },
}


def normalise_push(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    return {"host": with_.get("host"), "image": with_.get("image"), "registry": with_.get("registry")}


KINDS = [
    StepKind(
        name="docker.build",
        description="Builds an image from a workspace context on a Docker host; outputs `image_id`, `tag`, `digest`.",
        run="forbidden",
        with_schema=BUILD_SCHEMA,
        normalise=normalise_build,
        outputs=lambda with_: ["image_id", "tag", "digest"],
    ),
    StepKind(
        name="docker.run",
        description="Runs a container to completion, streaming its logs; its exit code decides the step.",
        run="forbidden",
        with_schema=RUN_SCHEMA,
        normalise=normalise_run,
        outputs=lambda with_: ["exit_code"],
    ),
    StepKind(
        name="docker.push",
        description="Pushes an image to a registry with the registry's credential; outputs `image` and `digest`.",
        run="forbidden",
        with_schema=PUSH_SCHEMA,
        normalise=normalise_push,
        outputs=lambda with_: ["image", "digest"],
    ),
]
