"""Credentials: encrypted writes, decryption for the engine, use records and master-key rotation."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from .. import crypto
from ..choices import CREDENTIAL_FIELDS, CredentialKind
from ..models import Credential, Project
from .audit import audit_record


def _split_fields(kind: str, fields: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    if kind not in CredentialKind.values:
        raise ValidationError({"kind": f"Unknown kind {kind!r}: one of {', '.join(CredentialKind.values)}."})
    if not isinstance(fields, dict):
        raise ValidationError({"fields": "Fields must be an object of names to strings."})
    plain_names, secret_names, required = CREDENTIAL_FIELDS[kind]
    errors: dict[str, str] = {}
    for name, value in fields.items():
        if name not in plain_names and name not in secret_names:
            errors[name] = f"Not a field of a {kind} credential (fields: {', '.join(plain_names + secret_names)})."
        elif value is not None and not isinstance(value, str):
            errors[name] = "Must be a string."
    if errors:
        raise ValidationError(errors)
    plain = {name: fields[name] for name in plain_names if fields.get(name)}
    secret = {name: fields[name] for name in secret_names if fields.get(name)}
    missing = [name for name in required if name not in plain and name not in secret]
    if missing:
        raise ValidationError({name: "This field is required." for name in missing})
    return plain, secret


def credential_validate_fields(
    *, kind: str, fields: dict[str, Any], credential: Credential | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """(plain, secret) fields as a create, or an update of ``credential``, would store them; raises
    ValidationError naming each bad field. For forms that validate before saving."""
    if credential is not None:
        fields = {**credential.public_fields, **credential_secrets_only(credential=credential), **fields}
    return _split_fields(kind, fields)


def _store(credential: Credential, plain: dict[str, str], secret: dict[str, str]) -> None:
    credential.public_fields = plain
    credential.secret_field_names = sorted(secret)
    credential.key_id, credential.wrapped_key, credential.ciphertext = crypto.encrypt(secret)


@transaction.atomic
def credential_create(
    *, actor: Any, project: Project, name: str, kind: str, fields: dict[str, Any], description: str = ""
) -> Credential:
    """Creates a credential; its secret fields are encrypted and never shown again."""
    plain, secret = _split_fields(kind, fields)
    credential = Credential(project=project, name=name, kind=kind, description=description)
    _store(credential, plain, secret)
    credential.full_clean()
    credential.save()
    audit_record(
        actor=actor,
        verb="credential.create",
        target=credential,
        project=project,
        changes={"name": name, "kind": kind, "fields": plain, "secret_fields": sorted(secret)},
        secrets=secret.values(),
    )
    return credential


@transaction.atomic
def credential_update(
    *,
    actor: Any,
    credential: Credential,
    name: str | None = None,
    description: str | None = None,
    fields: dict[str, Any] | None = None,
) -> Credential:
    """Changes a credential. ``fields`` are merged: a field left out keeps its value, an empty one is
    cleared (if it is optional). Secret values are re-encrypted under a fresh data key."""
    credential = Credential.objects.select_for_update().get(pk=credential.pk)
    changes: dict[str, Any] = {}
    old_secret = credential_secrets_only(credential=credential)
    new_secret = dict(old_secret)
    if name is not None and name != credential.name:
        changes["name"] = [credential.name, name]
        credential.name = name
    if description is not None and description != credential.description:
        changes["description"] = [credential.description, description]
        credential.description = description
    if fields is not None:
        merged = {**credential.public_fields, **old_secret, **fields}
        plain, new_secret = _split_fields(credential.kind, merged)
        if plain != credential.public_fields:
            changes["fields"] = [credential.public_fields, plain]
        changed = sorted(k for k in set(old_secret) | set(new_secret) if old_secret.get(k) != new_secret.get(k))
        if changed:
            changes["secret_fields_changed"] = changed
        _store(credential, plain, new_secret)
    credential.full_clean()
    credential.save()
    audit_record(
        actor=actor,
        verb="credential.update",
        target=credential,
        project=credential.project,
        changes=changes,
        secrets=[*old_secret.values(), *new_secret.values()],
    )
    return credential


@transaction.atomic
def credential_delete(*, actor: Any, credential: Credential) -> None:
    audit_record(actor=actor, verb="credential.delete", target=credential, project=credential.project)
    credential.delete()


def credential_secrets_only(*, credential: Credential) -> dict[str, str]:
    """The decrypted secret fields alone."""
    return crypto.decrypt(credential.key_id, credential.wrapped_key, credential.ciphertext)


def credential_secrets(*, credential: Credential) -> dict[str, str]:
    """Every field of the credential, plain and decrypted, for the engine (``registry.password`` ...).
    Mask with :func:`credential_secret_values`, not with these, so usernames stay readable."""
    return {**credential.public_fields, **credential_secrets_only(credential=credential)}


def credential_secret_values(*, credential: Credential) -> list[str]:
    """The secret values to mask wherever output of a step that used this credential goes."""
    return [value for value in credential_secrets_only(credential=credential).values() if value]


@transaction.atomic
def credential_use_record(*, credential: Credential, actor: Any, target: Any, request: Any = None) -> None:
    """Audits that ``target`` (a run, a step) used ``credential`` on behalf of ``actor``."""
    used_by = {
        "type": target._meta.label_lower if hasattr(target, "_meta") else type(target).__name__,
        "id": str(getattr(target, "pk", "")),
        "repr": str(target)[:200],
    }
    audit_record(
        actor=actor,
        verb="credential.use",
        target=credential,
        project=credential.project,
        changes={"used_by": used_by},
        request=request,
        secrets=credential_secret_values(credential=credential),
    )


def credential_rotate_keys(*, batch_size: int = 200) -> dict[str, int]:
    """Re-wraps every credential's data key under the primary master key, row by row.

    Each row changes in one conditional UPDATE (key id and wrapped key together), so readers
    never see a half-rotated row and a concurrent edit simply wins. Returns counts.
    """
    primary = crypto.primary_key_id()
    counts = {"rotated": 0, "already_current": 0, "changed_meanwhile": 0}
    last_pk = 0
    while True:
        rows = list(
            Credential.objects.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "key_id", "wrapped_key")[:batch_size]
        )
        if not rows:
            break
        for pk, key_id, wrapped in rows:
            last_pk = pk
            if key_id == primary:
                counts["already_current"] += 1
                continue
            new_id, new_wrapped = crypto.rewrap(key_id, wrapped)
            updated = Credential.objects.filter(pk=pk, key_id=key_id, wrapped_key=wrapped).update(
                key_id=new_id, wrapped_key=new_wrapped
            )
            counts["rotated" if updated else "changed_meanwhile"] += 1
    if counts["rotated"]:
        audit_record(actor=None, verb="credential.keys_rotate", changes={**counts, "key_id": primary})
    return counts
