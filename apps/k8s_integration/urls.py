from django.urls import path

from . import views
from .clusters import views as clusters

app_name = "k8s_integration"

CLUSTER = "projects/<slug:slug>/clusters/<slug:name>/"

urlpatterns = [
    path("projects/<slug:slug>/docker-hosts/<slug:name>/", views.docker_host_page, name="docker-host"),
    path(
        "projects/<slug:slug>/docker-hosts/<slug:name>/<str:kind>/<str:resource_id>/remove/",
        views.docker_resource_remove_view,
        name="docker-remove",
    ),
    path("projects/<slug:slug>/clusters/", clusters.cluster_list_page, name="clusters"),
    path(CLUSTER, clusters.cluster_page, name="cluster"),
    path(f"{CLUSTER}check/", clusters.cluster_check_view, name="cluster-check"),
    path(
        f"{CLUSTER}deployments/<str:namespace>/<str:deployment>/scale/",
        clusters.deployment_scale_view,
        name="deployment-scale",
    ),
    path(
        f"{CLUSTER}deployments/<str:namespace>/<str:deployment>/restart/",
        clusters.deployment_restart_view,
        name="deployment-restart",
    ),
    path(f"{CLUSTER}pods/<str:namespace>/<str:pod>/delete/", clusters.pod_delete_view, name="pod-delete"),
    path(f"{CLUSTER}pods/<str:namespace>/<str:pod>/logs/", clusters.pod_log_page, name="pod-log"),
]
