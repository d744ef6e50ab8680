from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.accounts import urls as accounts_urls
from apps.executions import urls as execution_pages
from apps.executions.observability.metrics import metrics_view
from apps.executions.triggers.webhooks import webhook_receive
from apps.k8s_integration import urls as target_pages
from apps.pipelines import urls as pipeline_pages

from . import api, health, openapi  # noqa: F401  (openapi registers schema extensions)

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("hooks/<uuid:public_id>/", webhook_receive, name="webhook"),
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts_urls)),
    *accounts_urls.project_urlpatterns,
    path("api/v1/", include(api.urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Server-rendered pages; the dashboard is at /.
    path("", include(pipeline_pages)),
    path("", include(execution_pages)),
    path("", include(target_pages)),
]
