"""Execution API serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.accounts.api.serializers import CapabilitiesMixin

from ..models import Approval, Execution, StepExecution


class StepSerializer(serializers.ModelSerializer[StepExecution]):
    duration = serializers.FloatField(read_only=True, allow_null=True)
    approvals = serializers.SerializerMethodField()

    class Meta:
        model = StepExecution
        fields = [
            "id", "step_id", "base_id", "kind", "matrix", "needs", "status", "attempt", "exit_code", "outputs",
            "error", "worker", "queued_at", "started_at", "finished_at", "duration", "approvals",
        ]  # fmt: skip

    def get_approvals(self, obj: StepExecution) -> list[dict[str, Any]]:
        if obj.kind != "approval":
            return []
        return [
            {"user": a.user.get_username(), "decision": a.decision, "comment": a.comment, "at": a.created_at}
            for a in obj.approvals.all()
        ]


class ExecutionSerializer(CapabilitiesMixin, serializers.ModelSerializer[Execution]):
    project: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    pipeline_name = serializers.CharField(source="pipeline.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    actor: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    duration = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Execution
        fields = [
            "id", "project", "pipeline", "pipeline_name", "version", "number", "status", "inputs", "trigger",
            "trigger_info", "actor", "concurrency_group", "rerun_of", "error", "created_at", "started_at",
            "finished_at", "duration", "log_seq", "user_capabilities",
        ]  # fmt: skip


class ExecutionDetailSerializer(ExecutionSerializer):
    steps = StepSerializer(many=True, read_only=True)

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "steps"]


class RunSerializer(serializers.Serializer[Any]):
    inputs = serializers.DictField(required=False, default=dict, help_text="Run inputs by name.")


class DecisionSerializer(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=["approve", "reject"], default="approve")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ApprovalSerializer(serializers.ModelSerializer[Approval]):
    user: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Approval
        fields = ["id", "step", "user", "decision", "comment", "created_at"]
