"""``git``: fetch a repository into the workspace at a ref (shallow by default), with an SSH or token credential."""

from __future__ import annotations

import re
from typing import Any

from .base import StepKind, WithCheck

OUTPUTS = ["commit", "ref"]
_URL = re.compile(r"^(ssh|https?|git|file)://\S+$|^[\w.-]+@[\w.-]+:\S+$|^/\S*$")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["repository"],
    "additionalProperties": False,
    "properties": {
        "repository": {
            "type": "string",
            "minLength": 1,
            "description": "ssh://, user@host:path, https://, file:// or an absolute path on the worker.",
        },
        "ref": {"type": "string", "minLength": 1, "description": "Branch, tag or commit; default: the remote HEAD."},
        "path": {"type": "string", "default": ".", "description": "Directory inside the workspace."},
        "depth": {"type": "integer", "minimum": 0, "default": 1, "description": "History depth; 0 fetches it all."},
        "credential": {
            "type": "string",
            "minLength": 1,
            "description": "An ssh_key credential (SSH URLs) or a username_password / bearer_token one (https).",
        },
        "known_hosts": {
            "type": "string",
            "description": "known_hosts lines for SSH; without them the host key is accepted on first use.",
        },
        "submodules": {"type": "boolean", "default": False},
    },
}


def normalise(with_: dict[str, Any], check: WithCheck) -> dict[str, Any]:
    repository = with_.get("repository")
    if isinstance(repository, str) and "{{" not in repository and not _URL.match(repository):
        check.error(("repository",), "must be an ssh://, https://, git://, file:// URL, user@host:path or /path")
    ref = with_.get("ref")
    if isinstance(ref, str) and "{{" not in ref and (ref.startswith("-") or any(ch.isspace() for ch in ref)):
        check.error(("ref",), "must not start with '-' or contain spaces")
    path = with_.get("path", ".")
    if isinstance(path, str) and (path.startswith("/") or ".." in path.split("/")):
        check.error(("path",), "must be a relative path inside the workspace")
    return {
        "repository": repository,
        "ref": ref,
        "path": path,
        "depth": with_.get("depth", 1),
        "credential": with_.get("credential"),
        "known_hosts": with_.get("known_hosts"),
        "submodules": with_.get("submodules", False),
    }


KIND = StepKind(
    name="git",
    description="Fetches a repository into the workspace at `ref` (shallow by default); outputs `commit` and `ref`.",
    run="forbidden",
    with_schema=SCHEMA,
    normalise=normalise,
    outputs=lambda with_: list(OUTPUTS),
)
