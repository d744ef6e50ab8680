"""The REST API root: every app's router is mounted here under ``/api/v1/``."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views import csrf
from django.views.decorators.csrf import csrf_exempt
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from apps.accounts.api import urls as accounts_api
from apps.executions.api import urls as executions_api
from apps.k8s_integration.clusters import api as clusters_api
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
                        ("clusters", "cluster"),
                        ("pipelines", "pipeline"),
                        ("triggers", "trigger"),
                        ("executions", "execution"),
                        ("steps", "step"),
                        ("notification-targets", "notificationtarget"),
                        ("notification-rules", "notificationrule"),
                        ("notification-deliveries", "notificationdelivery"),
                    )
                },
                "pipeline-schema": reverse("pipeline-json-schema", request=request),
                "schema": reverse("api-schema", request=request),
                "docs": reverse("api-docs", request=request),
            }
        )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF refusals under /api/ answer JSON like every other API error."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": f"CSRF Failed: {reason}"}, status=403)
    return csrf.csrf_failure(request, reason=reason)


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under /api/ answers a JSON 404, never an HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns: list[URLPattern | URLResolver] = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("health/echo/", health.HealthEchoView.as_view(), name="api-health-echo"),
    path("", include(accounts_api.urlpatterns)),
    path("", include(clusters_api.urlpatterns)),
    path("", include(pipelines_api.urlpatterns)),
    path("", include(executions_api.urlpatterns)),
    re_path(r"^(?P<rest>[\s\S]*)$", not_found),  # any character, newlines included
]
