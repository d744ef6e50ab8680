"""Credentials: encrypted at rest, validated, write-only, audited; master-key rotation round trip."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection

from apps.accounts import crypto
from apps.accounts.choices import CredentialKind
from apps.accounts.models import AuditEvent, Credential
from apps.accounts.services import (
    credential_create,
    credential_secret_values,
    credential_secrets,
    credential_update,
    credential_use_record,
)

from .factories import CredentialFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

OLD_KEY = ("old", crypto.generate_key())
NEW_KEY = ("new", crypto.generate_key())


def raw_row(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_credential WHERE id = %s", [pk])
        return repr(cursor.fetchone())


def test_secret_fields_are_encrypted_at_rest_and_plain_fields_are_not(project):
    credential = credential_create(
        actor=UserFactory(),
        project=project,
        name="registry",
        kind=CredentialKind.REGISTRY,
        fields={"url": "registry.local:5000", "username": "ci", "password": "Sup3r-Secret-Pw"},
    )
    row = raw_row(credential.pk)
    assert "Sup3r-Secret-Pw" not in row
    assert "registry.local:5000" in row
    assert credential.secret_field_names == ["password"]
    assert credential.key_id == crypto.primary_key_id()
    fresh = Credential.objects.get(pk=credential.pk)
    assert credential_secrets(credential=fresh) == {
        "url": "registry.local:5000",
        "username": "ci",
        "password": "Sup3r-Secret-Pw",
    }
    assert credential_secret_values(credential=fresh) == ["Sup3r-Secret-Pw"]


@pytest.mark.parametrize(
    ("kind", "fields", "error_field"),
    [
        ("nope", {"secret": "x"}, "kind"),
        (CredentialKind.SECRET_TEXT, {}, "secret"),
        (CredentialKind.SECRET_TEXT, {"secret": "x", "colour": "red"}, "colour"),
        (CredentialKind.USERNAME_PASSWORD, {"username": "u", "password": 5}, "password"),
        (CredentialKind.REGISTRY, {"username": "u", "password": "p"}, "url"),
    ],
)
def test_bad_fields_are_refused_with_nothing_written(project, kind, fields, error_field):
    with pytest.raises(ValidationError) as excinfo:
        credential_create(actor=None, project=project, name="c", kind=kind, fields=fields)
    assert error_field in excinfo.value.message_dict
    assert not Credential.objects.exists()
    assert not AuditEvent.objects.filter(verb="credential.create").exists()


def test_names_are_unique_per_project(project):
    CredentialFactory(project=project, name="kube")
    with pytest.raises(ValidationError):
        CredentialFactory(project=project, name="kube")
    CredentialFactory(project=ProjectFactory(slug="other"), name="kube")
    assert Credential.objects.filter(name="kube").count() == 2


def test_update_merges_fields_and_the_audit_never_holds_a_secret(project):
    credential = CredentialFactory(
        project=project,
        kind=CredentialKind.SSH_KEY,
        fields={"username": "git", "private_key": "-----KEY-ONE-----", "passphrase": "old-phrase"},
    )
    credential_update(actor=None, credential=credential, fields={"private_key": "-----KEY-TWO-----"})
    assert credential_secrets(credential=Credential.objects.get(pk=credential.pk)) == {
        "username": "git",
        "private_key": "-----KEY-TWO-----",
        "passphrase": "old-phrase",
    }
    credential_update(actor=None, credential=credential, fields={"passphrase": ""})
    assert "passphrase" not in credential_secrets(credential=Credential.objects.get(pk=credential.pk))
    event = AuditEvent.objects.filter(verb="credential.update").first()
    assert event.changes == {"secret_fields_changed": ["passphrase"]}
    dump = repr(list(AuditEvent.objects.values()))
    for secret in ("-----KEY-ONE-----", "-----KEY-TWO-----", "old-phrase"):
        assert secret not in dump


def test_use_by_a_run_is_audited(project):
    credential = CredentialFactory(project=project)
    runner = UserFactory(username="runner")
    credential_use_record(credential=credential, actor=runner, target=project)
    event = AuditEvent.objects.get(verb="credential.use")
    assert event.actor_user == runner
    assert event.project == project
    assert event.target_id == str(credential.pk)
    assert event.changes["used_by"]["type"] == "accounts.project"


def test_key_rotation_round_trip(settings, project):
    settings.CREDENTIAL_KEYS = [OLD_KEY]
    secrets = {}
    for n in range(5):
        credential = CredentialFactory(project=project, kind=CredentialKind.BEARER_TOKEN, fields={"token": f"tok-{n}"})
        secrets[credential.pk] = f"tok-{n}"
    ciphertexts = dict(Credential.objects.values_list("pk", "ciphertext"))
    assert set(Credential.objects.values_list("key_id", flat=True)) == {"old"}

    # New key first, old key still known: everything readable before, during and after rotation.
    settings.CREDENTIAL_KEYS = [NEW_KEY, OLD_KEY]
    fresh = CredentialFactory(project=project, kind=CredentialKind.BEARER_TOKEN, fields={"token": "tok-new"})
    secrets[fresh.pk] = "tok-new"
    out = io.StringIO()
    call_command("rotate_credential_keys", "--batch-size", "2", stdout=out)
    assert "rotated 5, already current 1" in out.getvalue()
    assert set(Credential.objects.values_list("key_id", flat=True)) == {"new"}
    # Envelope encryption: only the data keys were re-wrapped, the ciphertexts are untouched.
    for pk, ciphertext in ciphertexts.items():
        assert Credential.objects.get(pk=pk).ciphertext == ciphertext

    # The old key can now go; every secret still decrypts. A second run has nothing to do.
    settings.CREDENTIAL_KEYS = [NEW_KEY]
    for credential in Credential.objects.all():
        assert credential_secrets(credential=credential)["token"] == secrets[credential.pk]
    out = io.StringIO()
    call_command("rotate_credential_keys", stdout=out)
    assert "rotated 0, already current 6" in out.getvalue()
    assert AuditEvent.objects.filter(verb="credential.keys_rotate").count() == 1

    # Without the right key nothing decrypts, and the error says so.
    settings.CREDENTIAL_KEYS = [OLD_KEY]
    with pytest.raises(crypto.CredentialKeyError):
        credential_secrets(credential=Credential.objects.first())


def test_rotation_refuses_rows_no_key_can_open(settings, project):
    settings.CREDENTIAL_KEYS = [OLD_KEY]
    CredentialFactory(project=project)
    settings.CREDENTIAL_KEYS = [NEW_KEY]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no configured master key"):
        call_command("rotate_credential_keys", stdout=io.StringIO())
    assert set(Credential.objects.values_list("key_id", flat=True)) == {"old"}


def test_generate_key_prints_a_usable_key(settings):
    out = io.StringIO()
    call_command("rotate_credential_keys", "--generate-key", stdout=out)
    settings.CREDENTIAL_KEYS = [("generated", out.getvalue().strip())]
    assert crypto.decrypt(*crypto.encrypt({"a": "b"})) == {"a": "b"}
