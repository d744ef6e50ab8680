"""The objects a ``k8s.apply`` or ``k8s.delete`` step works on: inline manifests (YAML text with several
documents, one mapping or a list of them) or the YAML/JSON files of a workspace path, optionally rendered
with the run's expressions first. Each object is checked for what applying needs before any request is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apps.pipelines.spec import render_template
from apps.pipelines.spec.steps.k8s import ManifestError, expand_manifest, parse_manifests

from .base import StepContext
from .git import inside

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Applied first, deleted last: what other objects live in or are made of.
FIRST_KINDS = ("Namespace", "CustomResourceDefinition")


def load_objects(ctx: StepContext) -> list[dict[str, Any]]:
    """Every object of the step's ``manifests`` or ``path``, checked, namespaces and CRDs first."""
    params = ctx.params
    objects: list[dict[str, Any]] = []
    if params.get("path"):
        for file in _files(ctx.workspace, str(params["path"])):
            text = file.read_text(errors="replace")
            where = str(file.relative_to(ctx.workspace.resolve()))
            if params.get("template"):
                text = render_template(text, ctx.expressions)
            objects += parse_manifests(text, where)
    else:
        inline = params.get("manifests")
        if isinstance(inline, str):
            objects += parse_manifests(inline, "manifests")
        else:
            for index, item in enumerate(inline if isinstance(inline, list) else [inline]):
                objects += expand_manifest(item, f"manifests[{index}]")
    if not objects:
        raise ManifestError("no Kubernetes objects in " + (str(params.get("path") or "") or "manifests"))
    return sorted(objects, key=lambda obj: FIRST_KINDS.index(obj["kind"]) if obj["kind"] in FIRST_KINDS else 9)


def _files(workspace: Path, relative: str) -> list[Path]:
    target = inside(workspace, relative)
    if target.is_file():
        return [target]
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
        if not files:
            raise ManifestError(f"no {', '.join(MANIFEST_SUFFIXES)} files in {relative}/")
        return files
    raise ManifestError(f"{relative} does not exist in the workspace")
