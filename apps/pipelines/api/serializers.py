"""Pipeline API serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.accounts.api.serializers import CapabilitiesMixin

from ..models import Pipeline, PipelineVersion
from ..spec import SpecIssue


def issue_dict(issue: SpecIssue) -> dict[str, Any]:
    return {"path": issue.path, "line": issue.line, "column": issue.column, "message": issue.message}


class PipelineVersionSerializer(serializers.ModelSerializer[PipelineVersion]):
    author: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PipelineVersion
        fields = ["id", "number", "message", "author", "created_at"]


class PipelineSerializer(CapabilitiesMixin, serializers.ModelSerializer[Pipeline]):
    project: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    version = serializers.SerializerMethodField()

    class Meta:
        model = Pipeline
        fields = [
            "id", "project", "name", "description", "labels", "version", "last_status", "last_execution_id",
            "last_run_at", "run_count", "created_at", "updated_at", "user_capabilities",
        ]  # fmt: skip

    def get_version(self, obj: Pipeline) -> int | None:
        return obj.current_version.number if obj.current_version else None


class PipelineDetailSerializer(PipelineSerializer):
    inputs = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()

    class Meta(PipelineSerializer.Meta):
        fields = [*PipelineSerializer.Meta.fields, "inputs", "steps"]

    def get_inputs(self, obj: Pipeline) -> dict[str, Any]:
        return obj.current_version.spec.get("inputs", {}) if obj.current_version else {}

    def get_steps(self, obj: Pipeline) -> list[dict[str, Any]]:
        if not obj.current_version:
            return []
        return [
            {"id": s["id"], "type": s["type"], "needs": s["needs"]} for s in obj.current_version.spec.get("steps", [])
        ]


class ImportSerializer(serializers.Serializer[Any]):
    yaml = serializers.CharField(
        help_text="The pipeline document (ansflow/v1).", trim_whitespace=False, allow_blank=True, default=""
    )
    project = serializers.SlugField(required=False, help_text="Project slug; default: metadata.project.")
    message = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class RunSerializer(serializers.Serializer[Any]):
    inputs = serializers.DictField(required=False, default=dict)
