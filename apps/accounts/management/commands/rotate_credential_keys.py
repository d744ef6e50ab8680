"""``manage.py rotate_credential_keys``: re-wrap every credential under the first master key.

Rotation without downtime: (1) put a new ``id:key`` first in ANSFLOW_CREDENTIAL_KEYS and keep
the old keys after it, restart; (2) run this command (readers keep working, every row changes in
one statement); (3) when it reports nothing left under old keys, drop them from the setting.
``--generate-key`` prints a fresh key to put first.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from apps.accounts import crypto
from apps.accounts.models import Credential
from apps.accounts.services import credential_rotate_keys


class Command(BaseCommand):
    help = "Re-encrypts every credential's data key under the first key of ANSFLOW_CREDENTIAL_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--generate-key", action="store_true", help="Only print a new random key and exit.")
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate_key"]:
            self.stdout.write(crypto.generate_key())
            return
        try:
            counts = credential_rotate_keys(batch_size=max(1, options["batch_size"]))
        except crypto.CredentialKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"rotated {counts['rotated']}, already current {counts['already_current']}, "
            f"changed meanwhile {counts['changed_meanwhile']} (primary key {crypto.primary_key_id()})"
        )
        for row in Credential.objects.values("key_id").annotate(n=Count("id")).order_by("key_id"):
            self.stdout.write(f"key {row['key_id']}: {row['n']} credential(s)")
