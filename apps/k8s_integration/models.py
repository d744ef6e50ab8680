"""Deploy targets that pipelines reference by name: Kubernetes clusters, Ansible inventories, container
registries, Docker hosts.

They live here, beside the Kubernetes clusters, because they are project objects that exist without any
pipeline: ``pipelines`` and ``executions`` sit above this app and point down at them, never the reverse.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from apps.accounts.models import Credential, Project, TimeStampedModel

from .choices import ClusterEnvironment, InventorySource

DOCKER_URL = RegexValidator(
    r"^(unix://(/[^\s]+)|(tcp|https?)://[^\s/:]+(:\d{1,5})?/?)$",
    "An Engine API endpoint: unix:///path/to/docker.sock or tcp://host:port.",
)


class Inventory(TimeStampedModel):
    """An Ansible inventory: static INI or YAML text, or hosts and groups managed here (``source=managed``)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="inventories")
    name = models.SlugField(max_length=100, help_text="How ansible steps refer to it (`inventory: name`).")
    description = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=InventorySource.choices, default=InventorySource.INI)
    content = models.TextField(blank=True, help_text="The inventory text, for the INI and YAML sources.")
    variables = models.JSONField(default=dict, blank=True, help_text="Variables of every host (group `all`).")

    class Meta:
        ordering = ["project", "name"]
        verbose_name_plural = "inventories"
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="k8s_inventory_unique_name")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}" if self.project_id else self.name


class InventoryGroup(TimeStampedModel):
    """A group of a managed inventory, with its variables and child groups."""

    inventory = models.ForeignKey(Inventory, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100, validators=[RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$")])
    variables = models.JSONField(default=dict, blank=True)
    children = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="parents")

    class Meta:
        ordering = ["inventory", "name"]
        constraints = [models.UniqueConstraint(fields=["inventory", "name"], name="k8s_inventory_group_unique")]

    def __str__(self) -> str:
        return self.name


class InventoryHost(TimeStampedModel):
    """A host of a managed inventory (name or address), its groups and its variables (``ansible_host``...)."""

    inventory = models.ForeignKey(Inventory, on_delete=models.CASCADE, related_name="hosts")
    name = models.CharField(max_length=255, validators=[RegexValidator(r"^[A-Za-z0-9_.:\-\[\]]+$")])
    groups = models.ManyToManyField(InventoryGroup, blank=True, related_name="hosts")
    variables = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["inventory", "name"]
        constraints = [models.UniqueConstraint(fields=["inventory", "name"], name="k8s_inventory_host_unique")]

    def __str__(self) -> str:
        return self.name


class Registry(TimeStampedModel):
    """A container registry (``127.0.0.1:5000``, ``registry.example.com``) and the credential to push with."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="registries")
    name = models.SlugField(max_length=100, help_text="How docker steps refer to it (`registry: name`).")
    description = models.TextField(blank=True)
    url = models.CharField(max_length=255, help_text="Registry host[:port], optionally with https://.")
    credential = models.ForeignKey(
        Credential,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A registry or username/password credential of the same project; empty for anonymous push.",
    )

    class Meta:
        ordering = ["project", "name"]
        verbose_name_plural = "registries"
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="k8s_registry_unique_name")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}" if self.project_id else self.name

    @property
    def host(self) -> str:
        """The registry's host[:port], as image references name it."""
        return self.url.split("://", 1)[-1].rstrip("/")


class DockerHost(TimeStampedModel):
    """A Docker Engine API endpoint (dockerd or podman): a unix socket, or TCP with TLS client certificates."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="docker_hosts")
    name = models.SlugField(max_length=100, help_text="How docker steps refer to it (`host: name`).")
    description = models.TextField(blank=True)
    url = models.CharField(max_length=255, validators=[DOCKER_URL])
    tls = models.BooleanField(default=False, help_text="Speak TLS to a tcp:// endpoint.")
    tls_verify = models.BooleanField(default=True, help_text="Check the server certificate against the CA.")
    tls_ca_cert = models.TextField(blank=True, help_text="PEM CA certificate of the server.")
    tls_client_cert = models.TextField(blank=True, help_text="PEM client certificate.")
    tls_client_key = models.ForeignKey(
        Credential,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A secret-text credential holding the PEM client key.",
    )
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_check_ok = models.BooleanField(null=True, editable=False)
    last_check_message = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="k8s_docker_host_unique_name")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}" if self.project_id else self.name


class Cluster(TimeStampedModel):
    """A Kubernetes cluster a project deploys to: its API server, CA bundle and the credential to act with.

    The credential is a bearer token, a client certificate or a whole kubeconfig (whose current context then
    gives the server and CA unless they are set here). Clients are built from these and nothing else.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="clusters")
    name = models.SlugField(max_length=100, help_text="How k8s and helm steps refer to it (`cluster: name`).")
    description = models.TextField(blank=True)
    environment = models.CharField(max_length=16, choices=ClusterEnvironment.choices, default=ClusterEnvironment.DEV)
    server = models.URLField(
        max_length=255, blank=True, help_text="API server URL (https://host:6443); empty = the kubeconfig's."
    )
    ca_bundle = models.TextField(blank=True, help_text="PEM CA certificate(s) of the API server.")
    credential = models.ForeignKey(
        Credential,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A bearer-token, client-certificate or kubeconfig credential of the same project.",
    )
    default_namespace = models.CharField(
        max_length=63,
        default="default",
        validators=[RegexValidator(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "A Kubernetes namespace name.")],
    )
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_check_ok = models.BooleanField(null=True, editable=False)
    last_check_message = models.TextField(blank=True, editable=False)
    last_check_details = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="k8s_cluster_unique_name")]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}" if self.project_id else self.name
