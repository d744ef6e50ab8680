"""Serializers of the clusters API. The credential is written as the id of a credential of the cluster's project
and read back as its id, name and kind: never a secret."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.api.serializers import CapabilitiesMixin
from apps.accounts.models import Credential, Project
from apps.accounts.permissions import restrict

from ..choices import ClusterEnvironment
from ..models import Cluster
from .logs import TAIL_DEFAULT, TAIL_MAX
from .selectors import KINDS, MAX_CONTINUE, MAX_PAGE_SIZE, MAX_SELECTOR, PAGE_SIZE


class ClusterSerializer(CapabilitiesMixin, serializers.ModelSerializer[Cluster]):
    project = serializers.CharField(source="project.slug", read_only=True)
    credential_name = serializers.CharField(source="credential.name", read_only=True)
    credential_kind = serializers.CharField(source="credential.kind", read_only=True)
    last_check_details = serializers.JSONField(read_only=True)

    class Meta:
        model = Cluster
        fields = [
            "id", "project", "name", "description", "environment", "server", "ca_bundle", "credential",
            "credential_name", "credential_kind", "default_namespace", "last_checked_at", "last_check_ok",
            "last_check_message", "last_check_details", "created_at", "updated_at", "user_capabilities",
        ]  # fmt: skip
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class CredentialField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A credential id among those the caller can see (any other id does not exist, as far as they know)."""

    def get_queryset(self) -> Any:
        request = self.context.get("request")
        queryset = Credential.objects.select_related("project")
        return restrict(queryset, request.user, "view") if request is not None else queryset.none()


class ClusterWriteSerializer(serializers.Serializer[Any]):
    """The editable fields; on update every field is optional and the project cannot change."""

    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all())
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    environment = serializers.ChoiceField(choices=ClusterEnvironment.choices, required=False)
    server = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text="API server URL; empty = the kubeconfig's."
    )
    ca_bundle = serializers.CharField(required=False, allow_blank=True, help_text="PEM CA certificate(s).")
    credential = CredentialField(help_text="Id of a bearer-token, client-certificate or kubeconfig credential of "
                                           "the same project.")  # fmt: skip
    default_namespace = serializers.CharField(max_length=63, required=False)


class ResourceQuerySerializer(serializers.Serializer[Any]):
    namespace = serializers.CharField(
        required=False, max_length=63, help_text="Only this namespace (default: the cluster's default namespace)."
    )
    all_namespaces = serializers.BooleanField(required=False, default=False, help_text="Every namespace (like -A).")
    label_selector = serializers.CharField(required=False, allow_blank=True, max_length=MAX_SELECTOR, default="")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=PAGE_SIZE)
    # "continue" is a Python keyword: the field is declared in get_fields().

    def get_fields(self) -> dict[str, Any]:
        declared = super().get_fields()
        declared["continue"] = serializers.CharField(
            required=False, allow_blank=True, max_length=MAX_CONTINUE, default="",
            help_text="The token of the previous page's answer, for the next page.",
        )  # fmt: skip
        return declared


class ResourcePageSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=list(KINDS))
    namespace = serializers.CharField(allow_null=True, help_text="null: every namespace, or a cluster-wide kind.")
    label_selector = serializers.CharField(allow_blank=True)
    items = serializers.ListField(child=serializers.DictField(), help_text="One object per resource, by kind.")
    remaining = serializers.IntegerField(allow_null=True, help_text="How many more the server holds, if it says.")

    def get_fields(self) -> dict[str, Any]:
        declared = super().get_fields()
        declared["continue"] = serializers.CharField(allow_null=True, help_text="Pass back for the next page.")
        return declared


class ScaleSerializer(serializers.Serializer[Any]):
    replicas = serializers.IntegerField(min_value=0, max_value=1000)


class DeploymentSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    namespace = serializers.CharField()
    replicas = serializers.IntegerField()
    ready = serializers.IntegerField()
    updated = serializers.IntegerField()
    available = serializers.IntegerField()
    images = serializers.ListField(child=serializers.CharField())
    rollout = serializers.ChoiceField(choices=["complete", "progressing", "failed"])
    rollout_message = serializers.CharField()


class LogQuerySerializer(serializers.Serializer[Any]):
    container = serializers.CharField(required=False, allow_blank=True, max_length=63, default="")
    tail = serializers.IntegerField(required=False, min_value=0, max_value=TAIL_MAX, default=TAIL_DEFAULT)


class LogLineSerializer(serializers.Serializer[Any]):
    time = serializers.CharField(help_text="The kubelet's RFC 3339 timestamp of the line.")
    text = serializers.CharField(allow_blank=True)


class PodLogSerializer(serializers.Serializer[Any]):
    namespace = serializers.CharField()
    pod = serializers.CharField()
    container = serializers.CharField(allow_blank=True)
    lines = LogLineSerializer(many=True)


class CheckResultSerializer(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    cluster = ClusterSerializer()


class ClusterErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(help_text="What the cluster said or why it could not be reached.")
    cluster_status = serializers.IntegerField(allow_null=True, help_text="The cluster's HTTP status, if it answered.")
