"""`manage.py seed_demo` (run by `make run` on every start) is idempotent and complete."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.accounts.models import Credential
from apps.k8s_integration.models import Inventory
from apps.pipelines.models import Pipeline, PipelineVersion

pytestmark = pytest.mark.django_db


def test_seed_demo_twice_creates_everything_once():
    outputs = []
    for _ in range(2):
        out = StringIO()
        call_command("seed_demo", stdout=out)
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    assert "sign in at http://127.0.0.1:8000/ as admin / " in outputs[0]
    names = set(Pipeline.objects.filter(project__slug="demo").values_list("name", flat=True))
    assert names == {"hello", "build-test-deploy", "health-check", "build-and-ship", "deploy-with-ansible"}
    assert PipelineVersion.objects.count() == 5
    assert Credential.objects.filter(project__slug="demo", name="deploy-key", kind="ssh_key").count() == 1
    assert Inventory.objects.filter(project__slug="demo", name="web").count() == 1
    spec = Pipeline.objects.get(name="deploy-with-ansible").current_version.spec
    assert spec["inputs"]["repository"]["default"].startswith("file://")
