"""factory_boy factories and role helpers shared by every app's tests."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from apps.accounts.choices import CredentialKind, Role
from apps.accounts.models import Credential, Membership, Project, Team
from apps.accounts.services import credential_create, token_create

PASSWORD = "correct-horse-battery-staple"


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    # Hashed once per process: hashing per user would dominate the suite's run time.
    password = factory.LazyFunction(lambda: _password_hash())


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda p: p.slug.replace("-", " ").title())


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda t: t.slug.title())

    @factory.post_generation
    def members(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            self.members.set(extracted)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    team = None
    role = Role.VIEWER


class CredentialFactory(factory.django.DjangoModelFactory):
    """Created through the service, so the secret fields are really encrypted."""

    class Meta:
        model = Credential

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"cred-{n}")
    kind = CredentialKind.USERNAME_PASSWORD
    fields = factory.LazyFunction(lambda: {"username": "deploy", "password": "s3cret-Passw0rd"})
    description = ""

    @classmethod
    def _create(cls, model_class: type[Credential], *args: Any, **kwargs: Any) -> Credential:
        return credential_create(actor=None, **kwargs)


def make_user_with_role(project: Project, role: str | None, **user_fields: Any) -> Any:
    """A new user with ``role`` in ``project`` (no membership when ``role`` is None)."""
    user = UserFactory(**user_fields)
    if role is not None:
        MembershipFactory(project=project, user=user, role=role)
    return user


def make_token(user: Any, **options: Any) -> str:
    """A new API token key for ``user`` (options as for ``token_create``)."""
    options.setdefault("name", "test")
    return token_create(actor=None, user=user, **options)[1]
