"""Pipeline API: list and detail, import (YAML body or JSON), validate-only, versions, export, run."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Project
from apps.accounts.permissions import ProjectPermission, has_perm, restrict

from ..models import Pipeline
from ..selectors import pipelines
from ..services import declared_project, pipeline_import, pipeline_validate
from ..spec import SpecError, pipeline_json_schema
from . import serializers as s


class YamlParser(BaseParser):
    """A pipeline document as the request body, kept as text (parsed by the spec module)."""

    media_type = "application/x-yaml"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> dict[str, Any]:
        raw = stream.read()
        try:
            return {"yaml": raw.decode("utf-8")}
        except UnicodeDecodeError:
            # Kept as bytes, so the spec parser reports where the bad byte is.
            return {"yaml": "", "yaml_bytes": raw}


class YamlAliasParser(YamlParser):
    media_type = "application/yaml"


class TextYamlParser(YamlParser):
    media_type = "text/yaml"


class PlainTextParser(YamlParser):
    media_type = "text/plain"


YAML_PARSERS = [YamlParser, YamlAliasParser, TextYamlParser, PlainTextParser, JSONParser]


class PipelineFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")
    name = filters.CharFilter(lookup_expr="icontains")
    last_status = filters.CharFilter()

    class Meta:
        model = Pipeline
        fields = ["project", "name", "last_status"]


def spec_error_response(exc: SpecError) -> Response:
    return Response(
        {"detail": str(exc).splitlines()[0], "errors": [s.issue_dict(issue) for issue in exc.errors]},
        status=status.HTTP_400_BAD_REQUEST,
    )


class PipelineViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Pipeline]):
    """Pipelines the caller can see. ``import`` creates or updates one from YAML."""

    permission_classes = [ProjectPermission]
    # POST /pipelines/{id}/run/ is served by the executions app (it sits above this one).
    permission_action_map = {"import_yaml": "view", "validate": "view", "versions": "view", "export": "view"}
    filterset_class = PipelineFilter
    ordering = ["project__slug", "name"]
    ordering_fields = ["name", "created_at", "updated_at", "last_run_at", "last_status", "run_count"]
    search_fields = ["name", "description"]

    def get_queryset(self) -> QuerySet[Pipeline]:
        return restrict(pipelines(), self.request.user, "view")

    def get_serializer_class(self) -> Any:
        return s.PipelineDetailSerializer if self.action == "retrieve" else s.PipelineSerializer

    def _document(self, request: Request) -> tuple[str | bytes, Project]:
        data: Any = request.data
        # The document itself is the spec parser's to judge (control characters included, with
        # their line and column); the serializer checks only the other fields.
        text = data.get("yaml_bytes") or data.get("yaml") or ""
        if not isinstance(text, str | bytes):
            raise exceptions.ValidationError({"yaml": ["Expected the pipeline document as text."]})
        serializer = s.ImportSerializer(data={k: v for k, v in data.items() if k not in ("yaml", "yaml_bytes")})
        serializer.is_valid(raise_exception=True)
        slug = request.query_params.get("project") or serializer.validated_data.get("project")
        slug = slug or declared_project(text)
        if not slug:
            raise exceptions.ValidationError({"project": ["Give ?project=<slug> or set metadata.project."]})
        project = Project.objects.filter(slug=slug).first()
        if project is None or not has_perm(request.user, "view", project):
            raise exceptions.ValidationError({"project": [f"No project {slug!r}."]})
        return text, project

    @extend_schema(
        request={"application/x-yaml": OpenApiTypes.STR, "application/json": s.ImportSerializer},
        parameters=[OpenApiParameter("project", str, description="Project slug (default: metadata.project).")],
        responses={200: s.PipelineDetailSerializer, 201: s.PipelineDetailSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=YAML_PARSERS)
    def import_yaml(self, request: Request) -> Response:
        text, project = self._document(request)
        if not has_perm(request.user, "change", Pipeline(project=project)):
            raise exceptions.PermissionDenied("Importing pipelines needs the maintainer role in this project.")
        try:
            result = pipeline_import(
                actor=request.user, project=project, yaml_text=text,
                message=str(request.data.get("message", "")) if isinstance(request.data, dict) else "",
                request=request,
            )  # fmt: skip
        except SpecError as exc:
            return spec_error_response(exc)
        body = s.PipelineDetailSerializer(result.pipeline, context={"request": request}).data
        body["changed"] = result.changed
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    @extend_schema(
        request={"application/x-yaml": OpenApiTypes.STR, "application/json": s.ImportSerializer},
        parameters=[OpenApiParameter("project", str, description="Project slug (default: metadata.project).")],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["post"], parser_classes=YAML_PARSERS)
    def validate(self, request: Request) -> Response:
        text, project = self._document(request)
        try:
            spec = pipeline_validate(project=project, yaml_text=text)
        except SpecError as exc:
            return spec_error_response(exc)
        return Response({"valid": True, "errors": [], "spec": spec})

    @extend_schema(responses={200: s.PipelineVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        pipeline = self.get_object()
        versions = pipeline.versions.select_related("author").order_by("-number")
        page: Any = self.paginate_queryset(versions)  # type: ignore[arg-type]
        return self.get_paginated_response(s.PipelineVersionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("version", int, description="A version number (default: the current one).")],
        responses={(200, "application/x-yaml"): OpenApiResponse(description="The version's YAML text.")},
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str | None = None) -> HttpResponse:
        pipeline = self.get_object()
        number = request.query_params.get("version")
        version = pipeline.versions.filter(number=number).first() if number else pipeline.current_version
        if version is None:
            raise exceptions.NotFound("No such version.")
        return HttpResponse(version.yaml_text, content_type="application/x-yaml; charset=utf-8")


class PipelineSchemaView(APIView):
    """The JSON Schema of the ``ansflow/v1`` pipeline language."""

    permission_classes = [permissions.AllowAny]
    schema = None

    def get(self, request: Request) -> Response:
        return Response(pipeline_json_schema())
