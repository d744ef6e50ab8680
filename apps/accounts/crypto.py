"""Envelope encryption of credential secrets.

Each credential row gets a random data key (a Fernet key) that encrypts its secret fields; the
data key is stored encrypted ("wrapped") by a master key, whose id is stored on the row. Master
keys come from ``settings.CREDENTIAL_KEYS`` (id, key) pairs, the first being the one new rows
use. Rotation: put a new key first, keep the old ones, run ``manage.py rotate_credential_keys``
(re-wraps every data key under the first key; readers keep working throughout), then drop the
old keys.
"""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialKeyError(Exception):
    """A credential cannot be decrypted with the configured master keys."""


@lru_cache(maxsize=4)
def _keyring(keys: tuple[tuple[str, str], ...]) -> tuple[tuple[str, Fernet], ...]:
    if not keys:
        raise ImproperlyConfigured("CREDENTIAL_KEYS is empty: credentials cannot be encrypted.")
    try:
        return tuple((key_id, Fernet(key.encode())) for key_id, key in keys)
    except ValueError as exc:
        raise ImproperlyConfigured(f"CREDENTIAL_KEYS holds an invalid Fernet key: {exc}") from exc


def keyring() -> tuple[tuple[str, Fernet], ...]:
    return _keyring(tuple((str(k), str(v)) for k, v in settings.CREDENTIAL_KEYS))


def primary_key_id() -> str:
    return keyring()[0][0]


def _unwrap(key_id: str, wrapped_key: str) -> bytes:
    ring = keyring()
    by_id = dict(ring)
    try:
        if key_id in by_id:
            return by_id[key_id].decrypt(wrapped_key.encode())
        # The id is unknown (renamed?): any configured key may still open it.
        return MultiFernet([fernet for _, fernet in ring]).decrypt(wrapped_key.encode())
    except InvalidToken as exc:
        raise CredentialKeyError(f"no configured master key opens this credential (key id {key_id!r})") from exc


def encrypt(payload: dict[str, str]) -> tuple[str, str, str]:
    """Encrypts ``payload`` under a fresh data key; returns (key id, wrapped data key, ciphertext)."""
    key_id, master = keyring()[0]
    data_key = Fernet.generate_key()
    ciphertext = Fernet(data_key).encrypt(json.dumps(payload, sort_keys=True).encode())
    return key_id, master.encrypt(data_key).decode(), ciphertext.decode()


def decrypt(key_id: str, wrapped_key: str, ciphertext: str) -> dict[str, str]:
    data_key = _unwrap(key_id, wrapped_key)
    try:
        return json.loads(Fernet(data_key).decrypt(ciphertext.encode()))  # type: ignore[no-any-return]
    except InvalidToken as exc:
        raise CredentialKeyError("credential ciphertext does not match its data key") from exc


def rewrap(key_id: str, wrapped_key: str) -> tuple[str, str]:
    """The same data key wrapped by the primary master key: (new key id, new wrapped key)."""
    new_id, master = keyring()[0]
    return new_id, master.encrypt(_unwrap(key_id, wrapped_key)).decode()


def generate_key() -> str:
    return Fernet.generate_key().decode()
