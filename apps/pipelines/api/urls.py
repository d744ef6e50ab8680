from django.urls import path
from rest_framework.routers import SimpleRouter

from . import triggers, views

router = SimpleRouter()
router.register("pipelines", views.PipelineViewSet, basename="pipeline")
router.register("triggers", triggers.TriggerViewSet, basename="trigger")

urlpatterns = [
    path("schema/pipeline.json", views.PipelineSchemaView.as_view(), name="pipeline-json-schema"),
    *router.urls,
]
