from django.urls import path
from rest_framework.routers import SimpleRouter

from . import notifications, views

router = SimpleRouter()
router.register("executions", views.ExecutionViewSet, basename="execution")
router.register("steps", views.StepViewSet, basename="step")
router.register("notification-targets", notifications.NotificationTargetViewSet, basename="notificationtarget")
router.register("notification-rules", notifications.NotificationRuleViewSet, basename="notificationrule")
router.register("notification-deliveries", notifications.NotificationDeliveryViewSet, basename="notificationdelivery")

urlpatterns = [
    path("pipelines/<int:pk>/run/", views.RunPipelineView.as_view(), name="pipeline-run"),
    # A file name, so no trailing slash (the router adds one to its own route).
    path(
        "executions/<int:pk>/logs.txt", views.ExecutionViewSet.as_view({"get": "logs_txt"}), name="execution-logs-txt"
    ),
    *router.urls,
]
