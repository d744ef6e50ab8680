"""Page URLs: ``/accounts/…`` (included under the "accounts" namespace) and the project members page."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]

project_urlpatterns = [
    path("projects/<slug:slug>/members/", views.project_members, name="project-members"),
]
