"""API tokens: creation (the key is returned once), revocation and authentication."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import ApiToken, Project
from ..models.tokens import LOOKUP_LENGTH, TOKEN_PREFIX
from .audit import audit_record

# last_used_at is refreshed at most this often, so a busy token does not write on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def token_create(
    *,
    actor: Any,
    user: Any,
    name: str,
    project: Project | None = None,
    read_only: bool = False,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Creates a token for ``user``; returns it and its key, which is never retrievable again."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A token needs a name."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if not user.is_active:
        raise ValidationError({"user": "Tokens can only be created for active users."})
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name,
        lookup=key[:LOOKUP_LENGTH],
        key_hash=_hash(key),
        project=project,
        read_only=read_only,
        expires_at=expires_at,
    )
    token.full_clean()
    token.save()
    audit_record(
        actor=actor,
        verb="token.create",
        target=token,
        project=project,
        changes={
            "user": str(user),
            "name": name,
            "project": project.slug if project else None,
            "read_only": read_only,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, key


@transaction.atomic
def token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    """Revokes ``token`` at once; revoking a revoked token changes nothing."""
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(actor=actor, verb="token.revoke", target=locked, project=locked.project)
    token.revoked_at = locked.revoked_at
    return locked


def token_authenticate(*, key: str) -> ApiToken | None:
    """The active token whose key is ``key`` (with its user), or None. Refreshes its last-used time."""
    if not key or not key.startswith(TOKEN_PREFIX) or len(key) > 200:
        return None
    digest = _hash(key)
    candidates = ApiToken.objects.select_related("user", "project").filter(lookup=key[:LOOKUP_LENGTH])
    token = next((c for c in candidates if hmac.compare_digest(c.key_hash, digest)), None)
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
