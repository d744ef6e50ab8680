"""The expression context a step's templates see: its ancestors' states are read when a template needs them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.executions.engine.context import expression_context
from apps.executions.engine.plans import plan_for
from apps.executions.models import Execution, StepExecution
from apps.pipelines.spec import ExpressionError, render_template

from .helpers import pipeline_yaml, start

pytestmark = pytest.mark.django_db


def test_ancestor_states_are_read_once_and_only_when_a_template_is_rendered():
    started = start(
        pipeline_yaml(
            "context",
            """
            - {id: a, type: shell, run: 'true', outputs: [v]}
            - {id: b, type: shell, needs: [a], run: 'true'}
            """,
        )
    )
    StepExecution.objects.filter(execution=started, step_id="a").update(status="success", outputs={"v": "1"})
    execution = Execution.objects.select_related("pipeline", "project").get(pk=started.pk)
    spec = plan_for(execution).spec

    with CaptureQueriesContext(connection) as building:
        context = expression_context(execution, spec, None, ["a"])
        assert context["inputs"] == {}
    assert len(building) == 0

    with CaptureQueriesContext(connection) as rendering:
        assert render_template("{{ steps.a.outputs.v }}-{{ steps.a.status }}", context) == "1-success"
        assert render_template("{{ steps['a'].outputs.v }}", context) == "1"
        # A template sees a plain dict, so an unknown step reads as it always did.
        with pytest.raises(ExpressionError, match="'dict object' has no attribute 'nope'"):
            render_template("{{ steps.nope }}", context)
    assert len(rendering) == 1
    assert dict(context)["steps"] == {"a": {"status": "success", "outputs": {"v": "1"}}}
