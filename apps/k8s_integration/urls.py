from django.urls import path

from . import views

app_name = "k8s_integration"

urlpatterns = [
    path("projects/<slug:slug>/docker-hosts/<slug:name>/", views.docker_host_page, name="docker-host"),
    path(
        "projects/<slug:slug>/docker-hosts/<slug:name>/<str:kind>/<str:resource_id>/remove/",
        views.docker_resource_remove_view,
        name="docker-remove",
    ),
]
