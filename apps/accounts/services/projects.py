"""Projects, teams and memberships."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from ..choices import Role
from ..models import Membership, Project, Team
from .audit import audit_record


def _real_user(actor: Any) -> Any:
    return actor if isinstance(actor, AbstractBaseUser) and actor.pk else None


@transaction.atomic
def project_create(*, actor: Any, slug: str, name: str, description: str = "") -> Project:
    """Creates a project; the acting user (if any) becomes its owner."""
    project = Project(slug=slug, name=name, description=description)
    project.full_clean()
    project.save()
    audit_record(actor=actor, verb="project.create", target=project, changes={"slug": slug, "name": name})
    if (user := _real_user(actor)) is not None:
        membership_set(actor=actor, project=project, role=Role.OWNER, user=user)
    return project


@transaction.atomic
def project_update(*, actor: Any, project: Project, name: str | None = None, description: str | None = None) -> Project:
    before = {"name": project.name, "description": project.description}
    if name is not None:
        project.name = name
    if description is not None:
        project.description = description
    project.full_clean()
    project.save()
    after = {"name": project.name, "description": project.description}
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    audit_record(actor=actor, verb="project.update", target=project, changes=changes)
    return project


@transaction.atomic
def project_delete(*, actor: Any, project: Project) -> None:
    audit_record(actor=actor, verb="project.delete", target=project, changes={"slug": project.slug})
    project.delete()


@transaction.atomic
def team_create(*, actor: Any, slug: str, name: str, description: str = "", members: Iterable[Any] = ()) -> Team:
    team = Team(slug=slug, name=name, description=description)
    team.full_clean()
    team.save()
    members = list(members)
    team.members.set(members)
    audit_record(
        actor=actor, verb="team.create", target=team, changes={"slug": slug, "members": [str(u) for u in members]}
    )
    return team


@transaction.atomic
def team_update(
    *,
    actor: Any,
    team: Team,
    name: str | None = None,
    description: str | None = None,
    members: Iterable[Any] | None = None,
) -> Team:
    changes: dict[str, Any] = {}
    if name is not None and name != team.name:
        changes["name"] = [team.name, name]
        team.name = name
    if description is not None and description != team.description:
        changes["description"] = [team.description, description]
        team.description = description
    team.full_clean()
    team.save()
    if members is not None:
        before = sorted(str(u) for u in team.members.all())
        members = list(members)
        team.members.set(members)
        after = sorted(str(u) for u in members)
        if before != after:
            changes["members"] = [before, after]
    audit_record(actor=actor, verb="team.update", target=team, changes=changes)
    return team


@transaction.atomic
def team_delete(*, actor: Any, team: Team) -> None:
    audit_record(actor=actor, verb="team.delete", target=team, changes={"slug": team.slug})
    team.delete()


def membership_check_keeps_an_owner(*, membership: Membership, new_role: str | None) -> None:
    """Raises ValidationError when giving ``membership`` ``new_role`` (None: removing it) would leave its
    project without an owner. For forms that validate before saving; the services check it again."""
    if membership.pk and Role.rank_of(new_role) < Role.rank_of(membership.role):
        _check_keeps_an_owner(membership.project, membership)


def _check_keeps_an_owner(project: Project, leaving: Membership) -> None:
    if leaving.role == Role.OWNER and not project.memberships.filter(role=Role.OWNER).exclude(pk=leaving.pk).exists():
        raise ValidationError("A project needs at least one owner: add another owner first.", code="last_owner")


@transaction.atomic
def membership_set(
    *, actor: Any, project: Project, role: str, user: Any = None, team: Team | None = None
) -> Membership:
    """Gives ``user`` or ``team`` (exactly one) ``role`` in ``project``, creating or changing the membership."""
    if (user is None) == (team is None):
        raise ValidationError("Give exactly one of a user or a team.", code="member")
    if role not in Role.values:
        raise ValidationError(f"Unknown role {role!r}: one of {', '.join(Role.values)}.", code="role")
    # Lock the project's membership rows so two owners leaving at once cannot both pass the check.
    list(Membership.objects.select_for_update().filter(project=project))
    membership = Membership.objects.filter(project=project, user=user, team=team).first()
    before = membership.role if membership else None
    if membership is None:
        membership = Membership(project=project, user=user, team=team, role=role)
    elif role != membership.role:
        if Role.rank_of(role) < Role.rank_of(membership.role):
            _check_keeps_an_owner(project, membership)
        membership.role = role
    membership.full_clean()
    membership.save()
    verb = "membership.create" if before is None else "membership.update"
    audit_record(actor=actor, verb=verb, target=membership, project=project, changes={"role": [before, role]})
    return membership


@transaction.atomic
def membership_remove(*, actor: Any, membership: Membership) -> None:
    list(Membership.objects.select_for_update().filter(project_id=membership.project_id))
    _check_keeps_an_owner(membership.project, membership)
    audit_record(
        actor=actor,
        verb="membership.delete",
        target=membership,
        project=membership.project,
        changes={"role": [membership.role, None]},
    )
    membership.delete()
