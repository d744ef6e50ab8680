"""Accounts models: tenancy, tokens, credentials and the audit log."""

from .audit import AuditEvent, AuditEventImmutable
from .credentials import Credential
from .projects import Membership, Project, Team, TimeStampedModel
from .tokens import ApiToken

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuditEventImmutable",
    "Credential",
    "Membership",
    "Project",
    "Team",
    "TimeStampedModel",
]
