"""The ``ansflow`` command line run as a subprocess against the live test server and a real worker."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ansflow.testing import free_port, wait_until
from apps.accounts.choices import Role
from apps.accounts.tests.factories import make_token, make_user_with_role
from apps.executions.models import Execution, StepExecution

from .helpers import pipeline_yaml, project, superuser, wait_done

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = pipeline_yaml(
    "cli-demo",
    """
    - id: greet
      type: shell
      run: 'for i in 1 2 3; do echo "hello $INPUT_WHO $i"; done'
    """,
    extra="inputs: {who: {type: string, required: true}}\n",
    project_slug="cli",
)
FAILING = pipeline_yaml("cli-fails", "- {id: boom, type: shell, run: 'echo before; exit 4'}", project_slug="cli")
GATED = pipeline_yaml(
    "cli-gated",
    """
    - {id: first, type: shell, run: echo first}
    - {id: gate, type: approval, needs: [first], with: {approvers: {roles: [operator]}}}
    - {id: after, type: shell, needs: [gate], run: echo after the gate}
    """,
    project_slug="cli",
)
BROKEN = """apiVersion: ansflow/v1
kind: Pipeline
metadata: {name: cli-broken, project: cli}
spec:
  steps:
    - id: a
      type: shell
      run: echo a
      needs: [nowhere]
"""


def cli_binary() -> list[str]:
    """The installed console script when there is one, else the module (same code)."""
    script = Path(sys.executable).with_name("ansflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ansflow_cli"]


@pytest.fixture
def cli(asgi_server, tmp_path):
    project("cli")
    token = make_token(superuser(), name="cli")
    home = tmp_path / "home"

    def call(*args: str, token: str | None = token, url: str | None = None, stdin: str | None = None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSFLOW_")}
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), ANSFLOW_URL=url or asgi_server.url)
        if token:
            env["ANSFLOW_TOKEN"] = token
        return subprocess.run(
            [*cli_binary(), *args], env=env, capture_output=True, text=True, timeout=120, input=stdin, cwd=tmp_path
        )

    call.tmp = tmp_path
    call.home = home
    return call


def write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def test_validate_reports_errors_with_line_and_column(cli) -> None:
    bad = write(cli.tmp, "broken.yaml", BROKEN)
    result = cli("validate", bad)
    assert result.returncode == 2, result.stderr
    assert f"{bad}:9:" in result.stderr
    assert "unknown step 'nowhere'" in result.stderr
    ok = cli("validate", write(cli.tmp, "good.yaml", GOOD))
    assert ok.returncode == 0, ok.stderr
    assert "valid (1 steps)" in ok.stdout
    as_json = cli("--json", "validate", bad)
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["errors"][0]["line"] == 9


def test_import_run_follow_and_logs(cli, celery_worker) -> None:
    path = write(cli.tmp, "good.yaml", GOOD)
    imported = cli("--json", "import", path)
    assert imported.returncode == 0, imported.stderr
    pipeline_id = json.loads(imported.stdout)["id"]
    assert "unchanged" in cli("import", path).stdout

    followed = cli("run", "cli/cli-demo", "--input", "who=Ada", "--follow")
    assert followed.returncode == 0, followed.stderr
    assert [line for line in followed.stdout.splitlines() if "hello" in line] == [
        f"[greet] hello Ada {i}" for i in (1, 2, 3)
    ]
    assert ": success" in followed.stderr
    execution = Execution.objects.filter(pipeline_id=pipeline_id).latest("pk")
    assert (execution.status, execution.trigger, execution.inputs) == ("success", "api", {"who": "Ada"})

    logs = cli("logs", str(execution.pk), "--after", "1")
    assert logs.returncode == 0, logs.stderr
    seq_two = execution.log_lines.get(seq=2).text
    assert logs.stdout.splitlines()[0].endswith(seq_two)
    as_json = [json.loads(line) for line in cli("--json", "logs", str(execution.pk)).stdout.splitlines()]
    assert [m["seq"] for m in as_json] == list(range(1, execution.log_seq + 1))

    missing_input = cli("run", str(pipeline_id))
    assert missing_input.returncode == 2
    assert "--input who:" in missing_input.stderr

    cli("import", write(cli.tmp, "fails.yaml", FAILING))
    failed = cli("run", "cli-fails", "--follow")
    assert failed.returncode == 1, failed.stderr
    assert "[boom] before" in failed.stdout
    assert ": failed" in failed.stderr

    table = cli("ls", "executions", "--project", "cli")
    assert table.stdout.splitlines()[0].split()[:5] == ["ID", "PROJECT", "PIPELINE", "#", "STATUS"]
    assert "cli-fails" in table.stdout
    listed = json.loads(cli("--json", "ls", "pipelines", "--project", "cli").stdout)
    assert {"cli-demo", "cli-fails"} <= {p["name"] for p in listed}


def test_cancel_retry_and_approve(cli, celery_worker) -> None:
    cli("import", write(cli.tmp, "gated.yaml", GATED))
    started = json.loads(cli("--json", "run", "cli-gated").stdout)
    gate = wait_until(
        lambda: StepExecution.objects.filter(execution_id=started["id"], step_id="gate", status="waiting").first(),
        timeout=60,
        message="the gate waits",
    )
    approved = cli("approve", str(gate.pk), "--comment", "ship it")
    assert approved.returncode == 0, approved.stderr
    assert wait_done(Execution.objects.get(pk=started["id"])).status == "success"
    assert gate.approvals.get().comment == "ship it"

    second = json.loads(cli("--json", "run", "cli-gated").stdout)
    wait_until(lambda: StepExecution.objects.filter(execution_id=second["id"], status="waiting").exists(), timeout=60)
    canceled = cli("cancel", str(second["id"]))
    assert canceled.returncode == 0, canceled.stderr
    assert "canceled" in canceled.stdout
    assert wait_done(Execution.objects.get(pk=second["id"])).status == "canceled"

    retried = json.loads(cli("--json", "retry", str(second["id"]), "--failed-only").stdout)
    assert retried["trigger"] == "retry-failed"
    first_step = StepExecution.objects.get(execution_id=retried["id"], step_id="first")
    assert first_step.reused_from is not None


def test_clear_errors_for_network_auth_and_permission(cli, celery_worker) -> None:
    unreachable = cli("ls", "pipelines", url=f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 3
    assert "cannot reach" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr

    refused = cli("ls", "pipelines", token="not-a-real-token")
    assert refused.returncode == 4
    assert "not authenticated" in refused.stderr

    cli("import", write(cli.tmp, "good.yaml", GOOD))
    viewer = make_user_with_role(project("cli"), Role.VIEWER)
    denied = cli("run", "cli/cli-demo", "-i", "who=x", token=make_token(viewer))
    assert denied.returncode == 4
    assert "permission denied" in denied.stderr

    missing = cli("logs", "999999")
    assert missing.returncode == 5
    assert "not found" in missing.stderr


def test_login_saves_the_token_in_a_private_file(cli) -> None:
    key = make_token(superuser(), name="login")
    bad = cli("login", token=None, stdin="wrong-token\n")
    assert bad.returncode == 4
    assert not (cli.home / ".config" / "ansflow" / "config.json").exists()
    done = cli("login", token=None, stdin=key + "\n")
    assert done.returncode == 0, done.stderr
    config = cli.home / ".config" / "ansflow" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text())["token"] == key
    listed = cli("--json", "ls", "pipelines", token=None)
    assert listed.returncode == 0, listed.stderr


def test_console_script_is_installed() -> None:
    assert shutil.which("ansflow", path=str(Path(sys.executable).parent)), "pip install -e . installs `ansflow`"
