"""Execution API: runs, their steps and logs; cancel, retry, retry-failed, approve. Each write is one service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.filters import IdFilter
from apps.accounts.permissions import ProjectPermission, get_for_user_or_404, restrict
from apps.pipelines.models import Pipeline
from apps.pipelines.spec import InputError

from .. import selectors
from ..models import Approval, Execution, StepExecution
from ..services import (
    RunError,
    approval_decide,
    execution_cancel,
    execution_rerun,
    execution_retry_failed,
    execution_start,
)
from . import serializers as s

MAX_LOG_PAGE = 5000
SEARCH_LIMIT = 200


class ExecutionFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")
    pipeline = IdFilter(field_name="pipeline_id")
    status = filters.CharFilter()
    trigger = filters.CharFilter()
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Execution
        fields = ["project", "pipeline", "status", "trigger"]


def _run_error(exc: RunError) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


class RunPipelineView(APIView):
    """``POST /api/v1/pipelines/{id}/run/`` with ``{"inputs": {...}}``: answers the new execution."""

    permission_classes = [ProjectPermission]
    permission_action_map = {"POST": "run"}
    serializer_class = s.RunSerializer

    @extend_schema(request=s.RunSerializer, responses={201: s.ExecutionDetailSerializer})
    def post(self, request: Request, pk: int) -> Response:
        pipeline = get_for_user_or_404(Pipeline.objects.select_related("project"), request.user, "run", pk=pk)
        serializer = s.RunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            execution = execution_start(
                actor=request.user, pipeline=pipeline, inputs=serializer.validated_data["inputs"],
                trigger="api", request=request,
            )  # fmt: skip
        except InputError as exc:
            first = next(iter(exc.errors.items()), ("", ""))
            return Response(
                {"detail": f"inputs.{first[0]}: {first[1]}", "errors": {"inputs": exc.errors}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        except RunError as exc:
            return _run_error(exc)
        body = s.ExecutionDetailSerializer(selectors.execution_detail(execution.pk), context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Execution]):
    """Executions the caller can see, newest first."""

    permission_classes = [ProjectPermission]
    permission_action_map = {
        "cancel": "cancel", "retry": "retry", "retry_failed": "retry",
        "logs": "view", "logs_txt": "view", "search": "view",
    }  # fmt: skip
    filterset_class = ExecutionFilter
    ordering_fields = ["id", "number", "created_at", "started_at", "finished_at", "status"]

    def get_queryset(self) -> QuerySet[Execution]:
        queryset = selectors.execution_list() if self.action == "list" else selectors.executions()
        if self.action == "retrieve":
            steps = StepExecution.objects.order_by("position").prefetch_related(
                Prefetch("approvals", queryset=Approval.objects.select_related("user"))
            )
            queryset = queryset.prefetch_related(Prefetch("steps", queryset=steps))
        return restrict(queryset, self.request.user, "view")

    def get_serializer_class(self) -> Any:
        return s.ExecutionDetailSerializer if self.action == "retrieve" else s.ExecutionSerializer

    def _answer(self, execution: Execution, code: int = status.HTTP_200_OK) -> Response:
        detail = selectors.execution_detail(execution.pk)
        return Response(s.ExecutionDetailSerializer(detail, context={"request": self.request}).data, status=code)

    @extend_schema(request=None, responses={200: s.ExecutionDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(execution_cancel(actor=request.user, execution=self.get_object(), request=request))

    @extend_schema(request=None, responses={201: s.ExecutionDetailSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Run the same version with the same inputs again (a new execution)."""
        try:
            execution = execution_rerun(actor=request.user, execution=self.get_object(), request=request)
        except RunError as exc:
            return _run_error(exc)
        return self._answer(execution, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: s.ExecutionDetailSerializer})
    @action(detail=True, methods=["post"], url_path="retry-failed")
    def retry_failed(self, request: Request, pk: str | None = None) -> Response:
        """A new execution that keeps the successful steps and runs the others."""
        try:
            execution = execution_retry_failed(actor=request.user, execution=self.get_object(), request=request)
        except RunError as exc:
            return _run_error(exc)
        return self._answer(execution, status.HTTP_201_CREATED)

    def _int_param(self, name: str, default: int, maximum: int | None = None) -> int:
        raw = self.request.query_params.get(name, "")
        if raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise exceptions.ValidationError({name: ["Expected an integer."]}) from None
        if value < 0:
            raise exceptions.ValidationError({name: ["Must be 0 or more."]})
        return min(value, maximum) if maximum else value

    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Only lines after this sequence number."),
            OpenApiParameter("limit", int, description=f"At most this many lines (up to {MAX_LOG_PAGE})."),
            OpenApiParameter("step", str, description="Only this step's lines."),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def logs(self, request: Request, pk: str | None = None) -> Response:
        """Lines after ``after`` (a sequence number), at most ``limit``, optionally of one ``step``."""
        execution = self.get_object()
        after = self._int_param("after", 0)
        limit = self._int_param("limit", 1000, MAX_LOG_PAGE) or 1000
        step = request.query_params.get("step") or None
        lines = selectors.log_page(execution.pk, after, limit + 1, step)
        more = len(lines) > limit
        lines = lines[:limit]
        return Response(
            {
                "execution": execution.pk,
                "status": execution.status,
                "last_seq": execution.log_seq,
                "lines": lines,
                "next_after": lines[-1]["seq"] if lines else after,
                "has_more": more,
            }
        )

    # Routed explicitly in urls.py as ``logs.txt`` (a file name: no trailing slash).
    @extend_schema(
        parameters=[OpenApiParameter("step", str, description="Only this step's lines.")],
        responses={(200, "text/plain"): OpenApiResponse(description="The log as plain text, one line each.")},
    )
    def logs_txt(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        """The whole log (or one step's) as plain text, streamed."""
        execution = self.get_object()
        step = request.query_params.get("step") or None

        def lines() -> Iterator[str]:
            after = 0
            while True:
                page = selectors.log_page(execution.pk, after, MAX_LOG_PAGE, step)
                if not page:
                    return
                yield "".join(f"{line['text']}\n" for line in page)
                after = page[-1]["seq"]

        response = StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")
        name = f"{execution.pipeline.name}-{execution.number}" + (f"-{step}" if step else "")
        response["Content-Disposition"] = f'attachment; filename="{name}.log"'
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description="Text to find (case-insensitive)."),
            OpenApiParameter("step", str, description="Only this step's lines."),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def search(self, request: Request, pk: str | None = None) -> Response:
        """Lines containing ``q`` (case-insensitive), to jump to by sequence number."""
        execution = self.get_object()
        query = request.query_params.get("q", "")
        if not query or len(query) > 200:
            raise exceptions.ValidationError({"q": ["Give 1 to 200 characters to search for."]})
        matches = selectors.log_search(execution.pk, query, request.query_params.get("step") or None, SEARCH_LIMIT)
        return Response({"query": query, "matches": matches, "truncated": len(matches) == SEARCH_LIMIT})


class StepFilter(filters.FilterSet):
    execution = IdFilter(field_name="execution_id")
    status = filters.CharFilter()
    kind = filters.CharFilter()

    class Meta:
        model = StepExecution
        fields = ["execution", "status", "kind"]


class StepViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[StepExecution]):
    """Step executions the caller can see; ``approve`` decides an approval gate."""

    serializer_class = s.StepSerializer
    permission_classes = [ProjectPermission]
    permission_action_map = {"approve": "approve"}
    filterset_class = StepFilter
    ordering_fields = ["id", "position", "started_at", "finished_at", "status"]

    def get_queryset(self) -> QuerySet[StepExecution]:
        queryset = StepExecution.objects.select_related("execution").prefetch_related(
            Prefetch("approvals", queryset=Approval.objects.select_related("user"))
        )
        return restrict(queryset.order_by("-execution_id", "position"), self.request.user, "view")

    @extend_schema(request=s.DecisionSerializer, responses={200: s.StepSerializer})
    @action(detail=True, methods=["post"], serializer_class=s.DecisionSerializer)
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """``{"decision": "approve" | "reject", "comment": "..."}``."""
        step = self.get_object()
        serializer = s.DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            step = approval_decide(actor=request.user, step=step, request=request, **serializer.validated_data)
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        except RunError as exc:
            return _run_error(exc)
        return Response(s.StepSerializer(self.get_queryset().get(pk=step.pk)).data)
