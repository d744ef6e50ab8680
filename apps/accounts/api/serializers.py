"""Serializers. Secret credential fields are write-only: answers show ``***`` for each one set."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import get_user_model
from rest_framework import serializers

from ..choices import CredentialKind, Role
from ..masking import MASK
from ..models import ApiToken, AuditEvent, Credential, Membership, Project, Team
from ..permissions import user_capabilities


class CapabilitiesMixin(serializers.Serializer[Any]):
    """``user_capabilities``: what the caller may do with the object, from the permission API.

    Every row of a list shares one permission memo (kept in the serializer context), so a page costs one
    role lookup per project, not one per row.
    """

    user_capabilities = serializers.SerializerMethodField()

    def get_user_capabilities(self, obj: Any) -> dict[str, bool]:
        request = self.context.get("request")
        if request is None:
            return {}
        memo: dict[Any, Any] = cast(dict[str, Any], self.context).setdefault("permission_memo", {})
        return user_capabilities(request.user, obj, memo)


class ProjectSerializer(serializers.ModelSerializer[Project]):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "role", "created_at", "updated_at"]
        read_only_fields = ["id", "role", "created_at", "updated_at"]
        extra_kwargs: dict[str, Any] = {"slug": {"validators": []}}

    def get_role(self, project: Project) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(project.pk)


class ProjectUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class TeamSerializer(serializers.ModelSerializer[Team]):
    members = serializers.SlugRelatedField(
        many=True, slug_field="username", queryset=get_user_model().objects.all(), required=False
    )

    class Meta:
        model = Team
        fields = ["id", "slug", "name", "description", "members", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs: dict[str, Any] = {"slug": {"validators": []}}


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all())
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True)
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "project", "user", "team", "role", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and (attrs.get("user") is None) == (attrs.get("team") is None):
            raise serializers.ValidationError("Give exactly one of user or team.")
        return attrs


class MembershipRoleSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    project = serializers.SlugRelatedField(
        slug_field="slug", queryset=Project.objects.all(), required=False, allow_null=True
    )
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id", "name", "user", "project", "read_only", "expires_at", "status", "lookup",
            "last_used_at", "revoked_at", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "user", "status", "lookup", "last_used_at", "revoked_at", "created_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The token's key. Shown only in this answer.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


def _values_field(**kwargs: Any) -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text="Plain and secret fields of the kind. Secret fields are never returned.",
        **kwargs,
    )


class CredentialSerializer(serializers.ModelSerializer[Credential]):
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all())
    kind = serializers.ChoiceField(choices=CredentialKind.choices)
    public_fields = serializers.JSONField(read_only=True)
    secret_fields = serializers.SerializerMethodField()

    class Meta:
        model = Credential
        fields = [
            "id", "project", "name", "kind", "description", "public_fields", "secret_fields",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}

    def get_fields(self) -> dict[str, Any]:
        # "fields" cannot be a class attribute: Serializer.fields is the field mapping itself.
        declared = super().get_fields()
        declared["fields"] = _values_field(write_only=True)
        return declared

    def get_secret_fields(self, credential: Credential) -> dict[str, str]:
        return {name: MASK for name in credential.secret_field_names}


class CredentialUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.SlugField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)

    def get_fields(self) -> dict[str, Any]:
        declared = super().get_fields()
        declared["fields"] = _values_field()
        return declared


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.CharField(source="actor_repr", read_only=True)
    actor_user = serializers.CharField(source="actor_user.username", read_only=True, default=None)
    target_type = serializers.SerializerMethodField()
    project = serializers.CharField(source="project_slug", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id", "created_at", "actor", "actor_user", "actor_token", "verb", "target_type", "target_id",
            "target_repr", "project", "changes", "ip", "user_agent", "request_id",
        ]  # fmt: skip
        read_only_fields = fields

    def get_target_type(self, event: AuditEvent) -> str | None:
        return f"{event.target_type.app_label}.{event.target_type.model}" if event.target_type else None
