"""``manage.py seed_demo``: the demo superuser, project and pipelines. Safe to run again."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.accounts.models import Project
from apps.accounts.services import project_create
from apps.pipelines.services import pipeline_import

EXAMPLES = Path(settings.BASE_DIR) / "examples"
DEMO_PIPELINES = ["hello.yaml", "build-test-deploy.yaml", "health-check.yaml"]


class Command(BaseCommand):
    help = "Create (once) the demo superuser, the demo project and its three pipelines; print the sign-in."

    def handle(self, *args: Any, **options: Any) -> None:
        password_file = Path(settings.DATA_DIR) / "demo-admin-password"
        User = get_user_model()
        user = User.objects.filter(username="admin").first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser("admin", email="admin@example.com", password=password)
            password_file.write_text(password)
            password_file.chmod(0o600)
        project = Project.objects.filter(slug="demo").first() or project_create(
            actor=user, slug="demo", name="Demo", description="Example pipelines to try AnsFlow with."
        )
        for name in DEMO_PIPELINES:
            pipeline_import(actor=user, project=project, yaml_text=(EXAMPLES / name).read_text(), message="demo data")
        shown = password_file.read_text().strip() if password_file.exists() else "(changed by you)"
        url = f"http://{settings.SERVE_HOST}:{settings.SERVE_PORT}"
        self.stdout.write(f"AnsFlow demo: sign in at {url}/ as admin / {shown}")
