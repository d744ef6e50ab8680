from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("pipelines", views.PipelineViewSet, basename="pipeline")

urlpatterns = [
    path("schema/pipeline.json", views.PipelineSchemaView.as_view(), name="pipeline-json-schema"),
    *router.urls,
]
