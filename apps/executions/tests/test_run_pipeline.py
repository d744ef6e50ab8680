"""`manage.py run_pipeline` as a user runs it: a subprocess against the real worker."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ansflow.testing import subprocess_env

from .helpers import pipeline_yaml

pytestmark = pytest.mark.django_db(transaction=True)


def run_command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "run_pipeline", *args],
        env=subprocess_env(LOG_LEVEL="WARNING"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_success_streams_the_log_and_exits_0(celery_worker, tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        pipeline_yaml(
            "cli-ok",
            """
            - {id: hello, type: shell, run: 'echo "hi $INPUT_WHO"'}
            - {id: bye, type: shell, needs: [hello], run: echo bye}
            """,
            extra="inputs: {who: {type: string, required: true}}\n",
            project_slug="cli-project",
        )
    )
    result = run_command(str(path), "--follow", "--input", "who=Ada")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[hello] hi Ada", "[bye] bye"]
    assert "success" in result.stderr


def test_failure_exits_1_and_continue_counts_as_success(celery_worker, tmp_path):
    failing = tmp_path / "fail.yaml"
    failing.write_text(pipeline_yaml("cli-fail", "- {id: a, type: shell, run: exit 7}"))
    assert run_command(str(failing)).returncode == 1
    tolerated = tmp_path / "tolerated.yaml"
    tolerated.write_text(pipeline_yaml("cli-tolerated", "- {id: a, type: shell, run: exit 7, on_failure: continue}"))
    assert run_command(str(tolerated)).returncode == 0


def test_invalid_file_exits_2_with_every_error_located(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        pipeline_yaml(
            "cli-bad",
            """
            - {id: a, type: shell, run: "true", needs: [nope]}
            - {id: b, type: teleport}
            """,
        )
    )
    result = run_command(str(path))
    assert result.returncode == 2
    assert "2 error(s)" in result.stderr
    assert "spec.steps[0].needs[0] (line 7, column 49)" in result.stderr
    assert "spec.steps[1].type (line 8, column 21)" in result.stderr


def test_invalid_input_exits_2(tmp_path):
    path = tmp_path / "typed.yaml"
    path.write_text(
        pipeline_yaml("cli-typed", "- {id: a, type: shell, run: 'true'}", extra="inputs: {n: {type: integer}}\n")
    )
    result = run_command(str(path), "--input", "n=many")
    assert result.returncode == 2
    assert "input n:" in result.stderr


def test_timeout_cancels_and_exits_1(celery_worker, tmp_path):
    path = tmp_path / "slow.yaml"
    path.write_text(pipeline_yaml("cli-slow", "- {id: a, type: shell, run: sleep 60}"))
    result = run_command(str(path), "--timeout", "1")
    assert result.returncode == 1
    assert "canceled" in result.stderr
