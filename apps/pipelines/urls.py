"""Page URLs of the pipelines layer (namespace ``pipelines``)."""

from django.urls import path

from . import views
from .triggers import views as trigger_views

app_name = "pipelines"

urlpatterns = [
    path("pipelines/", views.pipeline_list, name="list"),
    path("pipelines/import/", views.pipeline_import_page, name="import"),
    path("pipelines/<int:pk>/", views.pipeline_detail, name="detail"),
    path("audit/", views.audit_log, name="audit"),
    path("projects/<slug:slug>/credentials/", views.credential_list_page, name="credentials"),
    path("projects/<slug:slug>/triggers/", trigger_views.trigger_list_page, name="triggers"),
    path("projects/<slug:slug>/triggers/<int:pk>/switch/", trigger_views.trigger_switch, name="trigger-switch"),
]
