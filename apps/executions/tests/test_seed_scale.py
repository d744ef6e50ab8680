"""`manage.py seed_scale` writes consistent rows that the pages and API can read."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.executions.models import Execution, LogLine, StepExecution

pytestmark = pytest.mark.django_db


def test_seed_scale_writes_runs_steps_and_numbered_logs(admin_user):
    call_command("seed_scale", executions=30, pipelines=3, steps=4, lines=5, stdout=StringIO())
    assert Execution.objects.filter(project__slug="scale").count() == 30
    assert StepExecution.objects.filter(execution__project__slug="scale").count() == 120
    assert LogLine.objects.filter(execution__project__slug="scale").count() == 150
    for execution in Execution.objects.filter(project__slug="scale"):
        assert list(execution.log_lines.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
        assert execution.finished_at > execution.started_at
    numbers = Execution.objects.filter(pipeline__name="service-00").order_by("number").values_list("number", flat=True)
    assert list(numbers) == list(range(1, len(numbers) + 1))
