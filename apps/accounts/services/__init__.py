"""Every write of the accounts app. Keyword-only, atomic, audited in the same transaction."""

from .audit import audit_record
from .credentials import (
    credential_create,
    credential_delete,
    credential_rotate_keys,
    credential_secret_values,
    credential_secrets,
    credential_secrets_only,
    credential_update,
    credential_use_record,
    credential_validate_fields,
)
from .projects import (
    membership_check_keeps_an_owner,
    membership_remove,
    membership_set,
    project_create,
    project_delete,
    project_update,
    team_create,
    team_delete,
    team_update,
)
from .tokens import token_authenticate, token_create, token_revoke

__all__ = [
    "audit_record",
    "credential_create",
    "credential_delete",
    "credential_rotate_keys",
    "credential_secret_values",
    "credential_secrets",
    "credential_secrets_only",
    "credential_update",
    "credential_use_record",
    "credential_validate_fields",
    "membership_check_keeps_an_owner",
    "membership_remove",
    "membership_set",
    "project_create",
    "project_delete",
    "project_update",
    "team_create",
    "team_delete",
    "team_update",
    "token_authenticate",
    "token_create",
    "token_revoke",
]
