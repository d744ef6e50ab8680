"""``manage.py create_api_token USERNAME [--name NAME] [--project SLUG] [--read-only] [--expires-in DAYS]``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.accounts.models import Project
from apps.accounts.services import token_create


class Command(BaseCommand):
    help = "Creates an API token for a user and prints its key (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A name to recognise the token by.")
        parser.add_argument("--project", help="Limit the token to this project (slug).")
        parser.add_argument("--read-only", action="store_true", help="The token may only view.")
        parser.add_argument("--expires-in", type=int, metavar="DAYS", help="Expire after this many days.")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(options["username"])
        except user_model.DoesNotExist as exc:
            raise CommandError(f"No user {options['username']!r}.") from exc
        project = None
        if options["project"]:
            project = Project.objects.filter(slug=options["project"]).first()
            if project is None:
                raise CommandError(f"No project {options['project']!r}.")
        days = options["expires_in"]
        if days is not None and days <= 0:
            raise CommandError("--expires-in must be a positive number of days.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            _, key = token_create(
                actor=None,
                user=user,
                name=options["name"],
                project=project,
                read_only=options["read_only"],
                expires_at=expires_at,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(key)
