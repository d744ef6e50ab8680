"""The REST API root: every app's router is mounted here under ``/api/v1/``."""

from django.urls import URLPattern, URLResolver, include, path
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from apps.accounts.api import urls as accounts_api
from apps.executions.api import urls as executions_api
from apps.pipelines.api import urls as pipelines_api

from . import health


class ApiRootView(APIView):
    """Lists the API's top-level resources."""

    permission_classes = [permissions.AllowAny]
    schema = None  # a directory of links, not an operation

    def get(self, request: Request) -> Response:
        return Response(
            {
                "health-echo": reverse("api-health-echo", request=request),
                **{
                    name: reverse(f"{basename}-list", request=request)
                    for name, basename in (
                        ("projects", "project"),
                        ("teams", "team"),
                        ("memberships", "membership"),
                        ("tokens", "apitoken"),
                        ("credentials", "credential"),
                        ("audit-events", "auditevent"),
                        ("pipelines", "pipeline"),
                        ("executions", "execution"),
                        ("steps", "step"),
                    )
                },
                "pipeline-schema": reverse("pipeline-json-schema", request=request),
                "schema": reverse("api-schema", request=request),
                "docs": reverse("api-docs", request=request),
            }
        )


urlpatterns: list[URLPattern | URLResolver] = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("health/echo/", health.HealthEchoView.as_view(), name="api-health-echo"),
    path("", include(accounts_api.urlpatterns)),
    path("", include(pipelines_api.urlpatterns)),
    path("", include(executions_api.urlpatterns)),
]
