"""Writes of the deploy targets: inventories, registries and Docker hosts. Keyword-only, atomic, audited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import docker
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from apps.accounts.choices import CredentialKind
from apps.accounts.models import Credential, Project
from apps.accounts.services import audit_record

from .models import DockerHost, Inventory, InventoryGroup, InventoryHost, Registry

REGISTRY_CREDENTIAL_KINDS = (CredentialKind.REGISTRY, CredentialKind.USERNAME_PASSWORD)

_FIELDS: dict[type[Model], tuple[str, ...]] = {
    Inventory: ("name", "description", "source", "content", "variables"),
    Registry: ("name", "description", "url", "credential"),
    DockerHost: ("name", "description", "url", "tls", "tls_verify", "tls_ca_cert", "tls_client_cert", "tls_client_key"),
}
_VERB = {Inventory: "inventory", Registry: "registry", DockerHost: "docker_host"}


def _check_credential(project: Project, credential: Credential | None, kinds: tuple[str, ...], field: str) -> None:
    if credential is None:
        return
    if credential.project_id != project.pk:
        raise ValidationError({field: "The credential belongs to another project."})
    if credential.kind not in kinds:
        raise ValidationError({field: f"Needs a credential of kind {' or '.join(kinds)}, not {credential.kind}."})


def _validate(obj: Model) -> None:
    if isinstance(obj, Registry):
        _check_credential(obj.project, obj.credential, REGISTRY_CREDENTIAL_KINDS, "credential")
    if isinstance(obj, DockerHost):
        _check_credential(obj.project, obj.tls_client_key, (CredentialKind.SECRET_TEXT,), "tls_client_key")
        if obj.url.startswith("unix://") and obj.tls:
            raise ValidationError({"tls": "TLS applies to tcp:// endpoints only."})
    if isinstance(obj, Inventory) and not isinstance(obj.variables, dict):
        raise ValidationError({"variables": "Variables must be a mapping."})
    obj.full_clean()


def _changes(obj: Model, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: str(getattr(obj, name)) for name in fields}


@transaction.atomic
def target_create(
    *, actor: Any, model: type[Inventory | Registry | DockerHost], project: Project, **fields: Any
) -> Any:
    """Creates an inventory, registry or Docker host of ``project`` from the model's editable fields."""
    unknown = set(fields) - set(_FIELDS[model])
    if unknown:
        raise ValidationError({name: "Not a field of this object." for name in sorted(unknown)})
    obj = model(project=project, **fields)
    _validate(obj)
    obj.save()
    audit_record(
        actor=actor, verb=f"{_VERB[model]}.create", target=obj, project=project, changes=_changes(obj, tuple(fields))
    )
    return obj


@transaction.atomic
def target_update(*, actor: Any, obj: Inventory | Registry | DockerHost, **fields: Any) -> Any:
    """Changes the given fields of an inventory, registry or Docker host."""
    model = type(obj)
    locked = model.objects.select_for_update().get(pk=obj.pk)
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in _FIELDS[model]:
            raise ValidationError({name: "Not a field of this object."})
        before = getattr(locked, name)
        if before != value:
            changes[name] = [str(before), str(value)]
            setattr(locked, name, value)
    _validate(locked)
    locked.save()
    audit_record(actor=actor, verb=f"{_VERB[model]}.update", target=locked, project=locked.project, changes=changes)
    return locked


@transaction.atomic
def target_delete(*, actor: Any, obj: Inventory | Registry | DockerHost) -> None:
    audit_record(actor=actor, verb=f"{_VERB[type(obj)]}.delete", target=obj, project=obj.project)
    obj.delete()


@transaction.atomic
def inventory_group_set(
    *,
    actor: Any,
    inventory: Inventory,
    name: str,
    variables: dict[str, Any] | None = None,
    children: Sequence[str] = (),
) -> InventoryGroup:
    """Creates or replaces a group of a managed inventory (its variables and child groups)."""
    group = InventoryGroup.objects.filter(inventory=inventory, name=name).first() or InventoryGroup(
        inventory=inventory, name=name
    )
    group.variables = dict(variables or {})
    group.full_clean()
    group.save()
    group.children.set([InventoryGroup.objects.get_or_create(inventory=inventory, name=child)[0] for child in children])
    audit_record(
        actor=actor,
        verb="inventory.group_set",
        target=inventory,
        project=inventory.project,
        changes={"group": name, "variables": sorted(group.variables), "children": list(children)},
    )
    return group


@transaction.atomic
def inventory_host_set(
    *, actor: Any, inventory: Inventory, name: str, groups: Sequence[str] = (), variables: dict[str, Any] | None = None
) -> InventoryHost:
    """Creates or replaces a host of a managed inventory: its groups (created when missing) and variables."""
    host = InventoryHost.objects.filter(inventory=inventory, name=name).first() or InventoryHost(
        inventory=inventory, name=name
    )
    host.variables = dict(variables or {})
    host.full_clean()
    host.save()
    host.groups.set([InventoryGroup.objects.get_or_create(inventory=inventory, name=group)[0] for group in groups])
    audit_record(
        actor=actor,
        verb="inventory.host_set",
        target=inventory,
        project=inventory.project,
        changes={"host": name, "groups": list(groups), "variables": sorted(host.variables)},
    )
    return host


@transaction.atomic
def docker_host_check(*, actor: Any, host: DockerHost) -> tuple[bool, str]:
    """Asks the Engine API for its version; records and audits the answer (or the error)."""
    from .docker_client import DockerUnavailable, docker_client

    try:
        with docker_client(host, timeout=10) as client:
            version = client.version()
        ok, message = True, f"{version.get('Components', [{}])[0].get('Name', 'Engine')} {version.get('Version')}, "
        message += f"API {version.get('ApiVersion')}"
    except DockerUnavailable as exc:
        ok, message = False, str(exc)
    DockerHost.objects.filter(pk=host.pk).update(
        last_checked_at=timezone.now(), last_check_ok=ok, last_check_message=message[:2000]
    )
    audit_record(actor=actor, verb="docker_host.check", target=host, project=host.project, changes={"ok": ok})
    return ok, message


def docker_resource_remove(*, actor: Any, host: DockerHost, kind: str, resource_id: str) -> str:
    """Removes an image or a container from a Docker host (forced: a running container is stopped); audited."""
    from .docker_client import docker_client

    if kind not in ("image", "container"):
        raise ValidationError({"kind": "Expected image or container."})
    with docker_client(host, timeout=30) as client:
        try:
            if kind == "image":
                client.images.remove(resource_id, force=True)
            else:
                client.containers.get(resource_id).remove(force=True)
        except docker.errors.NotFound as exc:
            raise ValidationError({"id": f"No {kind} {resource_id} on {host.name}."}) from exc
        except docker.errors.APIError as exc:
            raise ValidationError({"id": f"The Docker host refused: {exc.explanation or exc}"}) from exc
    with transaction.atomic():
        audit_record(
            actor=actor,
            verb=f"docker_host.{kind}_remove",
            target=host,
            project=host.project,
            changes={kind: resource_id},
        )
    return resource_id
