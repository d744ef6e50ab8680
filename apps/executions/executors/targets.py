"""What the git, ansible and docker executors look up before they run: credentials and deploy targets
named in a step's ``with``, and private files (keys) that live only while the step runs."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from django.db.models import Model

from apps.accounts.models import Credential
from apps.accounts.services import credential_secret_values, credential_secrets, credential_use_record

from ..models import Execution, StepExecution
from .base import StepContext

M = TypeVar("M", bound=Model)


@dataclass
class StepCredential:
    """A credential's fields, decrypted for one step; its secret values are already in ``ctx.secrets``."""

    name: str
    kind: str
    fields: dict[str, str]

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name) or default


def _execution(ctx: StepContext) -> Execution:
    return Execution.objects.select_related("version", "project", "actor").get(pk=ctx.execution_id)


def step_credential(ctx: StepContext, name: str, kinds: tuple[str, ...], what: str) -> StepCredential:
    """The credential ``name`` of the run's project, decrypted, audited as used by this step and masked.

    Like env secrets, it must be listed in the pipeline's ``spec.credentials``: that list is what the
    log masking of the whole run covers.
    """
    execution = _execution(ctx)
    if name not in (execution.version.spec.get("credentials") or []):
        raise ValueError(f"{what}: credential {name!r} is not listed in spec.credentials")
    credential = Credential.objects.filter(project_id=execution.project_id, name=name).first()
    if credential is None:
        raise ValueError(f"{what}: credential {name!r} does not exist in project {execution.project.slug}")
    if credential.kind not in kinds:
        raise ValueError(f"{what}: credential {name!r} is a {credential.kind}; this needs one of {', '.join(kinds)}")
    fields = credential_secrets(credential=credential)
    ctx.secrets.extend(value for value in credential_secret_values(credential=credential) if value not in ctx.secrets)
    credential_use_record(
        credential=credential, actor=execution.actor, target=StepExecution.objects.get(pk=ctx.step_pk)
    )
    return StepCredential(name=name, kind=credential.kind, fields=fields)


def project_target(ctx: StepContext, model: type[M], name: str, what: str, hint: str) -> M:
    """The project's ``model`` row called ``name``; a clear error naming what is missing otherwise."""
    execution = _execution(ctx)
    found = model._default_manager.filter(project_id=execution.project_id, name=name).first()  # type: ignore[misc]
    if found is None:
        raise ValueError(f"{what} {name!r} is not configured in project {execution.project.slug} ({hint})")
    return found


class PrivateDir:
    """A 0700 directory outside the workspace for keys and inventories; removed when the step ends."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="ansflow-step-"))

    def write(self, name: str, text: str, mode: int = 0o600) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=mode)
        path.write_text(text)
        return path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def unlocked_private_key(private_key: str, passphrase: str = "") -> str:
    """The key in OpenSSH format without a passphrase, so ssh never prompts; it only ever lands in a PrivateDir."""
    data = private_key.strip().encode() + b"\n"
    if not passphrase:
        return data.decode()
    password = passphrase.encode()
    key: Any
    try:
        key = serialization.load_ssh_private_key(data, password=password)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as exc:
            raise ValueError("the SSH private key cannot be opened with its passphrase") from exc
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


def target_credential(ctx: StepContext, credential: Credential, what: str) -> StepCredential:
    """A credential a deploy target carries (a registry's, a Docker host's key): decrypted, audited as used by
    this step, and its secret values added to ``ctx.secrets``, which the runner has the step's log sink mask."""
    execution = _execution(ctx)
    if credential.project_id != execution.project_id:
        raise ValueError(f"{what}: its credential belongs to another project")
    fields = credential_secrets(credential=credential)
    ctx.secrets.extend(value for value in credential_secret_values(credential=credential) if value not in ctx.secrets)
    credential_use_record(
        credential=credential, actor=execution.actor, target=StepExecution.objects.get(pk=ctx.step_pk)
    )
    return StepCredential(name=credential.name, kind=credential.kind, fields=fields)
