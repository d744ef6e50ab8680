"""The log sink's masking: secrets an executor adds while the step runs are masked from then on."""

from __future__ import annotations

import base64

import pytest

from apps.accounts.masking import variants
from apps.executions.choices import LogStream
from apps.executions.engine.logsink import LogSink

from .helpers import log_text, pipeline_yaml, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _worker(celery_worker):
    return celery_worker


def test_secrets_added_to_a_sink_are_masked_from_then_on_even_split_across_chunks():
    execution = run(pipeline_yaml("sink-secrets", "- {id: one, type: shell, run: 'true'}\n"))
    step = execution.steps.get(step_id="one")
    listed, added = "listed-Secret-1", "regpass-XYZ987"
    sink = LogSink(execution.pk, step.pk, "one", secrets=[listed])
    sink.write(LogStream.STDOUT, f"early {added}")  # before it is known: nothing to mask it with
    # The tail of this chunk is held back (it might start a secret) and must be masked with the new secret.
    sink.write_chunk(LogStream.STDOUT, f"before {listed} and {added[:8]}".encode())
    sink.add_secrets([added, listed, ""])
    sink.write_chunk(LogStream.STDOUT, f"{added[8:]} end\n".encode())
    sink.write(LogStream.SYSTEM, "auth " + base64.b64encode(f"ci:{added}".encode()).decode())
    sink.close()
    lines = log_text(execution, "one")[-3:]
    assert lines[0] == f"early {added}"
    assert lines[1] == "before *** and *** end"
    assert lines[2].startswith("auth ")
    assert not [form for form in variants(added) if form in lines[2]]
    assert sink.secrets == [listed, added]
