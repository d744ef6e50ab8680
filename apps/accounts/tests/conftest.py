"""Fixtures for the accounts tests: one project with a user per role."""

from __future__ import annotations

from typing import Any

import pytest

from apps.accounts.choices import Role

from .factories import ProjectFactory, UserFactory, make_user_with_role

ROLES = ["anonymous", "outsider", "viewer", "operator", "maintainer", "owner", "superuser"]


@pytest.fixture
def project() -> Any:
    return ProjectFactory(slug="shop")


@pytest.fixture
def people(project: Any) -> dict[str, Any]:
    """One user per role name in ``ROLES`` (``None`` for anonymous)."""
    from django.contrib.auth.models import AnonymousUser

    users: dict[str, Any] = {
        "anonymous": AnonymousUser(),
        "outsider": make_user_with_role(project, None, username="outsider", is_staff=True),
        "superuser": UserFactory(username="root", is_superuser=True, is_staff=True),
    }
    for role in Role:
        users[role.value] = make_user_with_role(project, role.value, username=role.value)
    return users
