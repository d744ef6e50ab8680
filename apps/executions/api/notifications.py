"""Notifications API: a project's targets and rules (maintainers write, viewers read) and every delivery
attempt (read-only). Each write is one service call, audited.

A target's secret lives in a project credential, named by ``credential`` and never shown: answers say
only ``has_secret``, and its URL and body template are masked with the secrets of every credential of
the project (and a password written into the URL).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.serializers import CapabilitiesMixin
from apps.accounts.api.views import ServiceAnswersMixin, ServiceErrorsMixin, require, visible_project
from apps.accounts.filters import IdFilter
from apps.accounts.models import Credential, Project
from apps.accounts.permissions import ProjectPermission, has_perm, restrict
from apps.pipelines.models import Pipeline

from ..models import NotificationDelivery, NotificationRule, NotificationTarget
from ..notifications import services
from ..notifications.choices import DeliveryStatus, NotificationEvent, TargetKind
from ..notifications.selectors import TargetMasker, delivery_list, rule_list, target_list

# --- serializers --------------------------------------------------------------------------------


class NotificationTargetSerializer(CapabilitiesMixin, serializers.ModelSerializer[NotificationTarget]):
    project = serializers.CharField(source="project.slug", read_only=True)
    credential = serializers.CharField(source="credential.name", read_only=True, allow_null=True, default=None)
    has_secret = serializers.SerializerMethodField(help_text="Whether a credential holds the target's secret.")
    url = serializers.SerializerMethodField(help_text="Webhook URL, masked.")
    body_template = serializers.SerializerMethodField(help_text="Webhook JSON body template, masked.")

    class Meta:
        model = NotificationTarget
        fields = [
            "id", "project", "name", "kind", "description", "recipients", "url", "credential", "has_secret",
            "secret_header", "body_template", "created_at", "updated_at", "user_capabilities",
        ]  # fmt: skip
        read_only_fields = fields

    def _masker(self) -> TargetMasker:
        masker: TargetMasker = self.context.setdefault("masker", TargetMasker())  # type: ignore[attr-defined]
        return masker

    def get_has_secret(self, obj: NotificationTarget) -> bool:
        return obj.credential_id is not None

    def get_url(self, obj: NotificationTarget) -> str:
        return self._masker().url(obj)

    def get_body_template(self, obj: NotificationTarget) -> dict[str, Any]:
        body = self._masker().body(obj)
        return body if isinstance(body, dict) else {}


class TargetWriteSerializer(serializers.Serializer[Any]):
    """The fields of a target; which are needed depends on ``kind`` (the service says which are missing)."""

    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=TargetKind.choices)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    recipients = serializers.ListField(child=serializers.CharField(max_length=254), required=False, max_length=100)
    url = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    credential = serializers.CharField(
        required=False, allow_null=True, max_length=100, help_text="A credential of the project, by name (write-only "
        "secret: a bearer token or secret for a webhook, the incoming-webhook URL for Slack)."
    )  # fmt: skip
    secret_header = serializers.CharField(required=False, allow_blank=True, max_length=100)
    body_template = serializers.DictField(required=False)


class TargetCreateSerializer(TargetWriteSerializer):
    project = serializers.SlugField(help_text="The project's slug.")


class TargetUpdateSerializer(TargetWriteSerializer):
    """Only the fields given change."""

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class NotificationRuleSerializer(CapabilitiesMixin, serializers.ModelSerializer[NotificationRule]):
    project = serializers.CharField(source="project.slug", read_only=True)
    pipeline_name = serializers.CharField(source="pipeline.name", read_only=True, allow_null=True, default=None)
    targets = serializers.SerializerMethodField(help_text="The targets' names.")

    class Meta:
        model = NotificationRule
        fields = ["id", "project", "name", "pipeline", "pipeline_name", "event", "minutes", "targets", "enabled",
                  "created_at", "updated_at", "user_capabilities"]  # fmt: skip
        read_only_fields = fields

    def get_targets(self, obj: NotificationRule) -> list[str]:
        return [target.name for target in obj.targets.all()]


class RuleWriteSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    event = serializers.ChoiceField(choices=NotificationEvent.choices)
    pipeline = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1,
        help_text="Only runs of this pipeline (its id); null for every pipeline.",
    )  # fmt: skip
    minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=10**6,
        help_text="For long_running: how many minutes a run may take.",
    )  # fmt: skip
    targets = serializers.ListField(child=serializers.CharField(max_length=100), max_length=100,
                                    help_text="Names of targets of the project.")  # fmt: skip
    enabled = serializers.BooleanField(required=False)


class RuleCreateSerializer(RuleWriteSerializer):
    project = serializers.SlugField(help_text="The project's slug.")
    enabled = serializers.BooleanField(default=True)


class RuleUpdateSerializer(RuleWriteSerializer):
    """Only the fields given change."""

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class NotificationDeliverySerializer(serializers.ModelSerializer[NotificationDelivery]):
    project = serializers.CharField(source="project.slug", read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True, allow_null=True, default=None)
    pipeline_name = serializers.CharField(source="execution.pipeline.name", read_only=True)
    execution_number = serializers.IntegerField(source="execution.number", read_only=True)

    class Meta:
        model = NotificationDelivery
        fields = [
            "id", "project", "rule", "rule_name", "target", "target_name", "execution", "pipeline_name",
            "execution_number", "event", "subject", "attempt", "status", "response_code", "error", "message",
            "not_before", "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


# --- views --------------------------------------------------------------------------------------


def _project(user: Any, slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise exceptions.ValidationError({"project": [f'Object with slug="{slug}" does not exist.']})
    return visible_project(user, project)


def _credential(project: Project, name: str | None) -> Credential | None:
    if name is None or name == "":
        return None
    credential = Credential.objects.filter(project=project, name=name).first()
    if credential is None:
        raise exceptions.ValidationError({"credential": [f"No credential {name!r} in project {project.slug}."]})
    return credential


@extend_schema_view(
    partial_update=extend_schema(request=TargetUpdateSerializer, responses={200: NotificationTargetSerializer})
)
class NotificationTargetViewSet(ServiceAnswersMixin, ServiceErrorsMixin, viewsets.ModelViewSet[NotificationTarget]):
    """Notification targets of the projects the caller can see. PUT and PATCH change only the fields given."""

    serializer_class = NotificationTargetSerializer
    permission_classes = [ProjectPermission]
    filterset_fields = {"project__slug": ["exact"], "kind": ["exact"], "name": ["exact"]}
    ordering_fields = ["id", "name", "kind", "created_at", "updated_at"]
    search_fields = ["name", "description"]

    def get_queryset(self) -> QuerySet[NotificationTarget]:
        return restrict(target_list(), self.request.user, "view")

    @extend_schema(request=TargetCreateSerializer, responses={201: NotificationTargetSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.valid(TargetCreateSerializer, request.data)
        project = _project(request.user, data.pop("project"))
        require(has_perm(request.user, "add", NotificationTarget(project=project)), "Needs the maintainer role.")
        if "credential" in data:
            data["credential"] = _credential(project, data["credential"])
        target = services.notification_target_create(actor=request.user, project=project, **data)
        return self.answer(target, status.HTTP_201_CREATED)

    @extend_schema(request=TargetUpdateSerializer, responses={200: NotificationTargetSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        target = self.get_object()
        data = self.valid(TargetUpdateSerializer, request.data, partial=True)
        if "credential" in data:
            data["credential"] = _credential(target.project, data["credential"])
        return self.answer(services.notification_target_update(actor=request.user, target=target, **data))

    def perform_destroy(self, instance: NotificationTarget) -> None:
        services.notification_target_delete(actor=self.request.user, target=instance)


def _rule_refs(user: Any, project: Project, data: dict[str, Any]) -> dict[str, Any]:
    """Pipeline id and target names resolved within ``project`` (each unknown one named)."""
    if data.get("pipeline") is not None:
        pipeline = restrict(Pipeline.objects.filter(project=project), user, "view").filter(pk=data["pipeline"]).first()
        if pipeline is None:
            raise exceptions.ValidationError({"pipeline": [f"No pipeline {data['pipeline']} in {project.slug}."]})
        data["pipeline"] = pipeline
    if "targets" in data:
        names = list(dict.fromkeys(data["targets"]))
        found = {t.name: t for t in NotificationTarget.objects.filter(project=project, name__in=names)}
        missing = [name for name in names if name not in found]
        if missing:
            raise exceptions.ValidationError({"targets": [f"No target {', '.join(missing)} in {project.slug}."]})
        data["targets"] = [found[name] for name in names]
    return data


@extend_schema_view(
    partial_update=extend_schema(request=RuleUpdateSerializer, responses={200: NotificationRuleSerializer})
)
class NotificationRuleViewSet(ServiceAnswersMixin, ServiceErrorsMixin, viewsets.ModelViewSet[NotificationRule]):
    """Notification rules of the projects the caller can see. PUT and PATCH change only the fields given."""

    serializer_class = NotificationRuleSerializer
    permission_classes = [ProjectPermission]
    filterset_fields = {"project__slug": ["exact"], "event": ["exact"], "enabled": ["exact"]}
    ordering_fields = ["id", "name", "event", "created_at", "updated_at"]
    search_fields = ["name"]

    def get_queryset(self) -> QuerySet[NotificationRule]:
        return restrict(rule_list(), self.request.user, "view")

    @extend_schema(request=RuleCreateSerializer, responses={201: NotificationRuleSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.valid(RuleCreateSerializer, request.data)
        project = _project(request.user, data.pop("project"))
        require(has_perm(request.user, "add", NotificationRule(project=project)), "Needs the maintainer role.")
        rule = services.notification_rule_create(actor=request.user, project=project,
                                                 **_rule_refs(request.user, project, data))  # fmt: skip
        return self.answer(rule, status.HTTP_201_CREATED)

    @extend_schema(request=RuleUpdateSerializer, responses={200: NotificationRuleSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = self.get_object()
        data = _rule_refs(request.user, rule.project, self.valid(RuleUpdateSerializer, request.data, partial=True))
        return self.answer(services.notification_rule_update(actor=request.user, rule=rule, **data))

    def perform_destroy(self, instance: NotificationRule) -> None:
        services.notification_rule_delete(actor=self.request.user, rule=instance)


class DeliveryFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")
    target = IdFilter(field_name="target_id")
    target_name = filters.CharFilter()
    rule = IdFilter(field_name="rule_id")
    execution = IdFilter(field_name="execution_id")
    status = filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event = filters.ChoiceFilter(choices=NotificationEvent.choices)

    class Meta:
        model = NotificationDelivery
        fields = ["project", "target", "target_name", "rule", "execution", "status", "event"]


class NotificationDeliveryViewSet(viewsets.ReadOnlyModelViewSet[NotificationDelivery]):
    """Every delivery attempt the caller can see, newest first: status, response code, error, message
    (all masked). Filter by ``target``, ``status``, ``event``, ``execution``, ``rule`` or ``project``."""

    serializer_class = NotificationDeliverySerializer
    permission_classes = [ProjectPermission]
    filterset_class = DeliveryFilter
    ordering_fields = ["id", "created_at", "finished_at", "attempt", "status"]

    def get_queryset(self) -> QuerySet[NotificationDelivery]:
        return restrict(delivery_list(), self.request.user, "view")
