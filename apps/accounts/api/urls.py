from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register("teams", views.TeamViewSet, basename="team")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("tokens", views.ApiTokenViewSet, basename="apitoken")
router.register("credentials", views.CredentialViewSet, basename="credential")
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")

urlpatterns = router.urls
