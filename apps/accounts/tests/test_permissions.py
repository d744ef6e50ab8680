"""The permission API: a matrix over every registered model x action x role, then its edges."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404

from apps.accounts import permissions
from apps.accounts.choices import Role
from apps.accounts.models import ApiToken, AuditEvent, Credential, Membership, Project, Team
from apps.accounts.permissions import (
    ProjectPolicy,
    attach_token,
    effective_role,
    get_for_user_or_404,
    has_perm,
    register_policy,
    registered_policies,
    restrict,
    user_capabilities,
)
from apps.accounts.services import audit_record, token_create

from .conftest import ROLES
from .factories import CredentialFactory, MembershipFactory, ProjectFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def expected(role_name: str, required: str) -> bool:
    if role_name == "superuser":
        return True
    if role_name in ("anonymous", "outsider") or required == permissions.SUPERUSER:
        return False
    return Role.rank_of(role_name) >= Role.rank_of(required)


def unsaved_instance(model: type[Model], path: str, project: Project) -> Any:
    """An unsaved ``model`` object whose chain of foreign keys along ``path`` ends at ``project``."""
    if not path:
        return project
    obj = model()
    current: Any = obj
    *hops, last = path.split("__")
    for hop in hops:
        related = current._meta.get_field(hop).related_model()
        setattr(current, hop, related)
        current = related
    setattr(current, last, project)
    return obj


PROJECT_POLICIES = [
    (policy, action)
    for policy in registered_policies().values()
    if isinstance(policy, ProjectPolicy)
    for action in policy.actions
]


def test_every_accounts_model_is_registered():
    assert {Project, Membership, Credential, AuditEvent, Team, ApiToken} <= set(registered_policies())


@pytest.mark.parametrize("role_name", ROLES)
@pytest.mark.parametrize(
    ("policy", "action"), PROJECT_POLICIES, ids=[f"{p.model._meta.label}.{a}" for p, a in PROJECT_POLICIES]
)
def test_matrix_has_perm(people, project, policy, action, role_name):
    obj = unsaved_instance(policy.model, policy.path, project)
    allowed = expected(role_name, policy.actions[action])
    assert has_perm(people[role_name], action, obj) is allowed
    # The same user has no rights at all in another project.
    other = unsaved_instance(policy.model, policy.path, ProjectFactory(slug="elsewhere"))
    assert has_perm(people[role_name], action, other) is (role_name == "superuser")


def saved_objects(project: Project, people: dict[str, Any]) -> dict[type[Model], Any]:
    return {
        Project: project,
        Membership: Membership.objects.get(project=project, user=people["viewer"]),
        Credential: CredentialFactory(project=project, name="registry"),
        AuditEvent: audit_record(actor=None, verb="test.event", project=project),
    }


@pytest.mark.parametrize("role_name", ROLES)
def test_matrix_restrict_and_get_for_user_or_404(people, project, role_name):
    user = people[role_name]
    for model, obj in saved_objects(project, people).items():
        policy = registered_policies()[model]
        for action, required in policy.actions.items():
            allowed = expected(role_name, required)
            found = restrict(model._default_manager.filter(pk=obj.pk), user, action).exists()
            assert found is allowed, (model, action, role_name)
            assert user_capabilities(user, obj)[action] is allowed
            if not expected(role_name, policy.actions["view"]):
                with pytest.raises(Http404):
                    get_for_user_or_404(model, user, action, pk=obj.pk)
            elif allowed:
                assert get_for_user_or_404(model, user, action, pk=obj.pk) == obj
            else:
                with pytest.raises(PermissionDenied):
                    get_for_user_or_404(model, user, action, pk=obj.pk)


def test_team_membership_gives_its_role_and_the_highest_role_wins(project):
    user = UserFactory()
    team = TeamFactory(members=[user])
    MembershipFactory(project=project, user=None, team=team, role=Role.MAINTAINER)
    assert effective_role(user, project) == Role.MAINTAINER
    assert has_perm(user, "change", Credential(project=project))
    assert not has_perm(user, "delete", project)
    MembershipFactory(project=project, user=user, role=Role.OPERATOR)
    assert effective_role(user, project) == Role.MAINTAINER
    MembershipFactory(project=project, user=None, team=TeamFactory(members=[user]), role=Role.OWNER)
    assert effective_role(user, project) == Role.OWNER
    assert list(restrict(Project.objects.all(), user, "delete")) == [project]


def test_restrict_is_two_queries_whatever_the_number_of_projects(django_assert_num_queries):
    # The member project ids, then the rows filtered by that list (no subquery for MariaDB to mis-plan).
    user = UserFactory()
    team = TeamFactory(members=[user])
    for n in range(6):
        project = ProjectFactory(slug=f"p{n}")
        MembershipFactory(project=project, user=user if n % 2 else None, team=None if n % 2 else team, role="viewer")
        CredentialFactory(project=project)
    with django_assert_num_queries(2):
        names = [c.project.slug for c in restrict(Credential.objects.select_related("project"), user, "view")]
    assert sorted(names) == [f"p{n}" for n in range(6)]


def test_unregistered_models_and_actions_are_denied_even_to_superusers(people, project):
    root = people["superuser"]
    assert not has_perm(root, "view", Group(name="x"))
    assert restrict(Group.objects.all(), root, "view").query.is_empty()
    assert not has_perm(root, "fly", project)
    assert not restrict(Project.objects.all(), root, "fly").exists()


def test_staff_without_membership_see_nothing(people, project):
    staff = people["outsider"]
    assert staff.is_staff
    assert not restrict(Project.objects.all(), staff, "view").exists()
    assert effective_role(staff, project) is None


def test_inactive_users_are_denied(people, project):
    owner = people["owner"]
    owner.is_active = False
    assert not has_perm(owner, "view", project)
    assert not restrict(Project.objects.all(), owner, "view").exists()


def test_read_only_token_may_only_view(people, project):
    token, _ = token_create(actor=None, user=people["owner"], name="ro", read_only=True)
    user = attach_token(people["owner"], token)
    assert has_perm(user, "view", project)
    assert not has_perm(user, "change", project)
    assert not restrict(Project.objects.all(), user, "change").exists()
    assert effective_role(user, project) == Role.VIEWER
    assert user_capabilities(user, project) == {
        "view": True, "add": False, "change": False, "delete": False, "manage_members": False
    }  # fmt: skip


def test_project_scoped_token_sees_only_its_project(people, project):
    other = ProjectFactory(slug="other")
    MembershipFactory(project=other, user=people["superuser"], role="owner")
    token, _ = token_create(actor=None, user=people["superuser"], name="scoped", project=project)
    user = attach_token(people["superuser"], token)
    assert has_perm(user, "delete", project)
    assert not has_perm(user, "view", other)
    assert list(restrict(Project.objects.all(), user, "view")) == [project]
    assert effective_role(user, other) is None
    # Objects outside any project (teams, tokens) are out of a scoped token's reach.
    assert not has_perm(user, "view", token)
    assert not has_perm(user, "view", TeamFactory(members=[user]))


def test_team_policy(people):
    member, outsider, root = people["viewer"], people["outsider"], people["superuser"]
    team = TeamFactory(members=[member])
    assert has_perm(member, "view", team)
    assert not has_perm(member, "change", team)
    assert not has_perm(outsider, "view", team)
    assert not has_perm(people["anonymous"], "view", team)
    assert all(has_perm(root, action, team) for action in ("view", "add", "change", "delete"))
    assert list(restrict(Team.objects.all(), member, "view")) == [team]
    assert not restrict(Team.objects.all(), outsider, "view").exists()
    assert not restrict(Team.objects.all(), member, "change").exists()


def test_token_policy_owner_only_and_tokens_cannot_mint_tokens(people):
    alice, bob = people["viewer"], people["operator"]
    token, _ = token_create(actor=None, user=alice, name="a")
    assert has_perm(alice, "view", token)
    assert has_perm(alice, "revoke", token)
    assert has_perm(alice, "add", ApiToken(user=alice))
    assert not has_perm(bob, "view", token)
    assert not has_perm(bob, "revoke", token)
    assert not has_perm(bob, "add", ApiToken(user=alice))
    assert has_perm(people["superuser"], "revoke", token)
    assert list(restrict(ApiToken.objects.all(), bob, "view")) == []
    through_token = attach_token(alice, token)
    assert has_perm(through_token, "view", token)
    assert not has_perm(through_token, "add", ApiToken(user=alice))
    assert not has_perm(through_token, "revoke", token)


def test_register_policy_checks_its_arguments():
    with pytest.raises(ValueError, match="unknown role"):
        register_policy(Credential, project="project", actions={"view": "god"})
    with pytest.raises(ValueError, match="does not lead to Project"):
        register_policy(Membership, project="user", actions={"view": "viewer"})
    assert registered_policies()[Credential].actions["view"] == "viewer"
