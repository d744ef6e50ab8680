"""Accounts choices: project roles (ordered) and credential kinds."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    """A member's role in a project; each role includes everything the roles below it may do."""

    VIEWER = "viewer", "Viewer"  # sees the project's pipelines, runs, logs, credentials' names
    OPERATOR = "operator", "Operator"  # runs, cancels, retries and approves
    MAINTAINER = "maintainer", "Maintainer"  # edits pipelines, credentials, clusters, triggers
    OWNER = "owner", "Owner"  # manages members and settings, deletes the project

    @property
    def rank(self) -> int:
        return _RANKS[self.value]

    @classmethod
    def rank_of(cls, value: str | None) -> int:
        """The rank of a role value (0 for no role); unknown values rank 0 too."""
        return _RANKS.get(value or "", 0)

    @classmethod
    def at_least(cls, value: str) -> list[Role]:
        """Every role whose rank is at least that of ``value``, lowest first."""
        floor = cls.rank_of(value)
        return [role for role in cls if role.rank >= floor] if floor else []

    @classmethod
    def highest(cls, values: list[str] | tuple[str, ...] | set[str]) -> Role | None:
        best = max(values, key=cls.rank_of, default=None)
        return cls(best) if best and cls.rank_of(best) else None


_RANKS = {"viewer": 1, "operator": 2, "maintainer": 3, "owner": 4}


class CredentialKind(models.TextChoices):
    """What a credential holds; each kind has its own plain and secret fields (see ``CREDENTIAL_FIELDS``)."""

    SECRET_TEXT = "secret_text", "Secret text"
    USERNAME_PASSWORD = "username_password", "Username and password"
    SSH_KEY = "ssh_key", "SSH private key"
    KUBECONFIG = "kubeconfig", "Kubeconfig"
    BEARER_TOKEN = "bearer_token", "Bearer token"
    REGISTRY = "registry", "Container registry"
    CLIENT_CERTIFICATE = "client_certificate", "Client certificate"


# kind -> (plain fields, secret fields, required fields). Plain fields are stored as they are;
# secret fields are encrypted and never shown again after save.
CREDENTIAL_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    CredentialKind.SECRET_TEXT: ((), ("secret",), ("secret",)),
    CredentialKind.USERNAME_PASSWORD: (("username",), ("password",), ("username", "password")),
    CredentialKind.SSH_KEY: (("username",), ("private_key", "passphrase"), ("private_key",)),
    CredentialKind.KUBECONFIG: ((), ("kubeconfig",), ("kubeconfig",)),
    CredentialKind.BEARER_TOKEN: ((), ("token",), ("token",)),
    CredentialKind.REGISTRY: (("url", "username"), ("password",), ("url", "username", "password")),
    CredentialKind.CLIENT_CERTIFICATE: (("certificate",), ("key",), ("certificate", "key")),
}
