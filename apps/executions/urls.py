"""Page URLs of the executions layer (namespace ``executions``): dashboard, project, runs, approvals."""

from django.urls import path

from . import views
from .notifications import views as notification_views

app_name = "executions"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/trends/", views.dashboard_trends, name="trends"),
    path("approvals/", views.approvals_inbox, name="approvals"),
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("projects/<slug:slug>/notifications/", notification_views.notifications_page, name="notifications"),
    path("pipelines/<int:pk>/run/", views.run_form, name="run"),
    path("pipelines/<int:pk>/runs/", views.pipeline_runs, name="pipeline-runs"),
    path("executions/<int:pk>/", views.execution_detail, name="detail"),
    path("executions/<int:pk>/summary/", views.execution_summary, name="summary"),
    path("executions/<int:pk>/cancel/", views.execution_cancel_view, name="cancel"),
    path("executions/<int:pk>/rerun/", views.execution_rerun_view, name="rerun"),
    path("executions/<int:pk>/retry-failed/", views.execution_retry_failed_view, name="retry-failed"),
    path("steps/<int:pk>/decide/", views.step_decide, name="decide"),
]
