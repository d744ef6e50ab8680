"""Reads of the deploy targets, shared by the admin and the executors."""

from __future__ import annotations

from typing import Any

import yaml
from django.db.models import QuerySet

from .choices import InventorySource
from .models import DockerHost, Inventory, Registry


def inventory_list(*, project_id: int) -> QuerySet[Inventory]:
    return Inventory.objects.filter(project_id=project_id).select_related("project")


def registry_list(*, project_id: int) -> QuerySet[Registry]:
    return Registry.objects.filter(project_id=project_id).select_related("project", "credential")


def docker_host_list(*, project_id: int) -> QuerySet[DockerHost]:
    return DockerHost.objects.filter(project_id=project_id).select_related("project", "tls_client_key")


def inventory_document(inventory: Inventory) -> tuple[str, str]:
    """``(suffix, text)`` of the inventory file ansible reads: ``.ini`` or ``.yml``.

    A managed inventory becomes the YAML format: ``all`` carries the inventory's variables, each group
    its hosts, variables and children. For INI and YAML text the inventory's variables are not in the text:
    write them as ``group_vars/all.yml`` beside the file.
    """
    if inventory.source == InventorySource.INI:
        return ".ini", inventory.content
    if inventory.source == InventorySource.YAML:
        return ".yml", inventory.content
    groups = list(inventory.groups.prefetch_related("children", "hosts"))
    hosts = list(inventory.hosts.prefetch_related("groups"))
    children: dict[str, Any] = {}
    for group in groups:
        entry: dict[str, Any] = {}
        if group.variables:
            entry["vars"] = group.variables
        members: dict[str, Any] = {host.name: {} for host in group.hosts.all()}
        if members:
            entry["hosts"] = members
        if group.children.exists():
            entry["children"] = {child.name: {} for child in group.children.all()}
        children[group.name] = entry
    root: dict[str, Any] = {}
    if inventory.variables:
        root["vars"] = inventory.variables
    root["hosts"] = {host.name: dict(host.variables) for host in hosts}
    if children:
        root["children"] = children
    return ".yml", yaml.safe_dump({"all": root}, sort_keys=True)


def docker_resources(host: DockerHost) -> dict[str, Any]:
    """Images and containers of a Docker host, for its page (raises DockerUnavailable when it does not answer)."""
    from .docker_client import docker_client

    with docker_client(host, timeout=15) as client:
        images = [
            {
                "id": image.id,
                "short_id": image.short_id.removeprefix("sha256:"),
                "tags": image.tags,
                "size_mb": round((image.attrs.get("Size") or 0) / 2**20, 1),
                "created": image.attrs.get("Created", ""),
            }
            for image in client.images.list()
        ]
        containers = [
            {
                "id": container.id,
                "short_id": container.short_id,
                "name": container.name,
                "image": (container.attrs.get("Config") or {}).get("Image", ""),
                "status": container.status,
            }
            for container in client.containers.list(all=True)
        ]
    return {"images": images, "containers": containers}
