"""``manage.py seed_demo``: the demo superuser, project and pipelines. Safe to run again."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.accounts.models import Credential, Project
from apps.accounts.services import credential_create, project_create
from apps.k8s_integration.choices import InventorySource
from apps.k8s_integration.models import Inventory
from apps.k8s_integration.services import target_create
from apps.pipelines.services import pipeline_import

EXAMPLES = Path(settings.BASE_DIR) / "examples"
DEMO_PIPELINES = ["hello.yaml", "build-test-deploy.yaml", "health-check.yaml", "build-and-ship.yaml"]
PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.command: echo "deploying {{ release | default('dev') }} to {{ inventory_hostname }}"
    - name: Write the release file
      ansible.builtin.copy:
        dest: "{{ lookup('env', 'ANSFLOW_WORKSPACE') }}/release.txt"
        content: "{{ release | default('dev') }}\n"
"""


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
        self.ansible_demo(user, project)
        shown = password_file.read_text().strip() if password_file.exists() else "(changed by you)"
        url = f"http://{settings.SERVE_HOST}:{settings.SERVE_PORT}"
        self.stdout.write(f"AnsFlow demo: sign in at {url}/ as admin / {shown}")

    def ansible_demo(self, user: Any, project: Project) -> None:
        """'deploy-with-ansible' against a local playbook repository and an inventory of this machine."""
        if not Credential.objects.filter(project=project, name="deploy-key").exists():
            key = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
            credential_create(
                actor=user, project=project, name="deploy-key", kind="ssh_key",
                fields={"private_key": key.decode()}, description="Demo key; the demo inventory connects locally.",
            )  # fmt: skip
        if not Inventory.objects.filter(project=project, name="web").exists():
            target_create(
                actor=user, model=Inventory, project=project, name="web", source=InventorySource.INI,
                content=f"[web]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n",
                description="This machine, over a local connection.",
            )  # fmt: skip
        repository = self.playbook_repository()
        text = (EXAMPLES / "deploy-with-ansible.yaml").read_text()
        text = text.replace(
            "repository: {type: string, required: true,", f'repository: {{type: string, default: "{repository}",'
        )
        pipeline_import(actor=user, project=project, yaml_text=text, message="demo data")

    def playbook_repository(self) -> str:
        """A bare git repository under the data dir holding site.yml, made once."""
        bare = Path(settings.DATA_DIR) / "demo" / "playbooks.git"
        if not bare.exists():
            work = Path(tempfile.mkdtemp())
            (work / "site.yml").write_text(PLAYBOOK)
            git = ["git", "-c", "user.name=AnsFlow demo", "-c", "user.email=demo@example.com"]
            subprocess.run([*git, "init", "-q", "-b", "main", str(work)], check=True)
            subprocess.run([*git, "-C", str(work), "add", "site.yml"], check=True)
            subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "Demo playbook"], check=True)
            bare.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
            shutil.rmtree(work, ignore_errors=True)
        return f"file://{bare}"
