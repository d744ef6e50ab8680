"""Sign in and out: throttling of failed logins, audit of each, password validators."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError

from apps.accounts.models import AuditEvent

from .factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def test_sign_in_and_out_are_audited(client):
    user = UserFactory(username="dora")
    response = sign_in(client, "dora", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == settings.LOGIN_REDIRECT_URL
    assert client.get("/accounts/tokens/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/accounts/tokens/").status_code == 302
    events = list(AuditEvent.objects.order_by("id").values_list("verb", "actor_user_id"))
    assert events == [("auth.login", user.pk), ("auth.logout", user.pk)]
    login = AuditEvent.objects.get(verb="auth.login")
    assert login.ip == "127.0.0.1"


def test_failed_sign_in_is_audited_without_the_password(client):
    UserFactory(username="erin")
    response = sign_in(client, "erin", "wrong-password-123")
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    event = AuditEvent.objects.get(verb="auth.login_failed")
    assert event.changes == {"username": "erin"}
    assert event.actor_repr == "system"
    assert "wrong-password-123" not in repr(AuditEvent.objects.values())


def test_repeated_failures_lock_the_account_out_even_with_the_right_password(client):
    UserFactory(username="frank")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "frank", "nope-nope-nope").status_code == 200
    locked = sign_in(client, "frank", "nope-nope-nope")
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert sign_in(client, "frank", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # Another user from the same address is not affected.
    UserFactory(username="gina")
    assert sign_in(client, "gina", PASSWORD).status_code == 302


def test_a_success_resets_the_failure_count(client):
    UserFactory(username="hank")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "hank", "bad-bad-bad")
    assert sign_in(client, "hank", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "hank", "bad-bad-bad").status_code == 200
    assert sign_in(client, "hank", PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too(client):
    UserFactory(username="ivy", is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "ivy", "password": "wrong-wrong"})
    response = client.post("/admin/login/", {"username": "ivy", "password": PASSWORD})
    assert response.status_code == 429


@pytest.mark.parametrize("password", ["short", "password123", "12345678901", "ivy-the-user"])
def test_password_validators_refuse_weak_passwords(password):
    user = UserFactory(username="ivy-the-user")
    with pytest.raises(ValidationError):
        password_validation.validate_password(password, user)
    password_validation.validate_password("a-much-Better-passphrase-42", user)


def test_login_page_renders_and_keeps_next(client):
    response = client.get(LOGIN + "?next=/accounts/tokens/")
    assert response.status_code == 200
    assert b'name="next" value="/accounts/tokens/"' in response.content
    assert b"csrfmiddlewaretoken" in response.content
