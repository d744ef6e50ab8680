"""Every write of the pipelines app: import/update from YAML as immutable versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from apps.accounts.models import Credential, Project
from apps.accounts.services import audit_record

from .models import Pipeline, PipelineVersion
from .spec import loader, parse_pipeline
from .spec.report import Issues
from .triggers.services import triggers_sync


@dataclass
class ImportResult:
    pipeline: Pipeline
    version: PipelineVersion
    created: bool  # the pipeline is new
    changed: bool  # a new version was made (False when the text is unchanged)


def declared_project(yaml_text: str | bytes) -> str | None:
    """``metadata.project`` of a document, even one that is otherwise invalid (None when absent)."""
    document = loader.load(yaml_text, Issues())
    metadata = document.get("metadata") if isinstance(document, dict) else None
    project = metadata.get("project") if isinstance(metadata, dict) else None
    return project if isinstance(project, str) and project else None


def project_credential_names(project: Project) -> list[str]:
    return list(Credential.objects.filter(project=project).values_list("name", flat=True))


def pipeline_validate(*, project: Project, yaml_text: str | bytes) -> dict[str, Any]:
    """Parse and validate against the project (its credentials); raises SpecError with every issue."""
    return parse_pipeline(yaml_text, credentials=project_credential_names(project))


@transaction.atomic
def pipeline_import(
    *, actor: Any, project: Project, yaml_text: str | bytes, message: str = "", request: Any = None
) -> ImportResult:
    """Create or update the pipeline named in the document; a new version only when the text changed."""
    spec = pipeline_validate(project=project, yaml_text=yaml_text)
    text = yaml_text.decode("utf-8") if isinstance(yaml_text, bytes) else yaml_text
    pipeline, created = Pipeline.objects.select_for_update().get_or_create(
        project=project,
        name=spec["name"],
        defaults={"description": spec.get("description", ""), "labels": spec.get("labels") or {}},
    )
    current = pipeline.current_version
    if current is not None and current.yaml_text == text:
        return ImportResult(pipeline, current, created=False, changed=False)
    number = (current.number if current else 0) + 1
    author = actor if getattr(actor, "is_authenticated", False) and hasattr(actor, "get_username") else None
    version = PipelineVersion.objects.create(
        pipeline=pipeline, number=number, yaml_text=text, spec=spec, author=author, message=message[:500]
    )
    pipeline.current_version = version
    pipeline.description = spec.get("description", "")
    pipeline.labels = spec.get("labels") or {}
    pipeline.save(update_fields=["current_version", "description", "labels", "updated_at"])
    triggers_sync(pipeline=pipeline, spec=spec)
    audit_record(
        actor=actor,
        verb="pipeline.create" if created else "pipeline.update",
        target=pipeline,
        project=project,
        changes={"version": [current.number if current else None, number], "message": message},
        request=request,
    )
    return ImportResult(pipeline, version, created=created, changed=True)


@transaction.atomic
def pipeline_delete(*, actor: Any, pipeline: Pipeline, request: Any = None) -> None:
    audit_record(actor=actor, verb="pipeline.delete", target=pipeline, project=pipeline.project, request=request)
    pipeline.delete()
