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
