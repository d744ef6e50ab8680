"""Choices of the deploy targets."""

from __future__ import annotations

from django.db import models


class InventorySource(models.TextChoices):
    """Where an inventory's hosts come from."""

    INI = "ini", "INI text"  # the classic ansible hosts file
    YAML = "yaml", "YAML text"  # the YAML inventory format
    MANAGED = "managed", "Hosts and groups edited here"  # InventoryHost / InventoryGroup rows


class ClusterEnvironment(models.TextChoices):
    """What a cluster is for; shown beside its name so nobody deploys to prod by mistake."""

    DEV = "dev", "Development"
    STAGING = "staging", "Staging"
    PROD = "prod", "Production"
