"""Credentials a step uses: decrypted on the worker just before it runs, audited, masked in output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.accounts.models import Credential
from apps.accounts.services import credential_secret_values, credential_secrets, credential_use_record

from ..models import Execution, StepExecution


class SecretError(Exception):
    """A credential or field the step asks for is not there."""


@dataclass
class StepSecrets:
    env: dict[str, str] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)  # every secret of the pipeline's credentials, for masking


def resolve_secrets(
    execution: Execution, step: StepExecution, spec: dict[str, Any], credential_names: list[str]
) -> StepSecrets:
    names = list(credential_names)
    result = StepSecrets()
    if not names:
        return result
    credentials = {c.name: c for c in Credential.objects.filter(project_id=execution.project_id, name__in=names)}
    for credential in credentials.values():
        result.values.extend(credential_secret_values(credential=credential))
    used: set[str] = set()
    for env_name, value in (spec.get("env") or {}).items():
        if not isinstance(value, dict):
            continue
        cred_name, _, field_name = str(value.get("secret", "")).partition(".")
        found = credentials.get(cred_name)
        if found is None:
            raise SecretError(f"env {env_name}: credential {cred_name!r} does not exist in project {execution.project}")
        fields = credential_secrets(credential=found)
        if field_name not in fields:
            raise SecretError(f"env {env_name}: credential {cred_name!r} has no field {field_name!r}")
        result.env[env_name] = str(fields[field_name])
        used.add(cred_name)
    for cred_name in sorted(used):
        credential_use_record(credential=credentials[cred_name], actor=execution.actor, target=step)
    return result
