"""``ansible``: a playbook run by ansible-runner; its events become log lines as they happen.

ansible-runner starts ``ansible-playbook`` in a session of its own and, when the cancel callback says so
(or the step's timeout passes), SIGKILLs that whole process group: forks and module processes included.
Everything the run needs — inventory, inline playbook, the unlocked SSH key, artifacts — lives in a private
directory outside the workspace that is removed when the step ends; the workspace is the project directory,
so a playbook checked out by a ``git`` step runs with its roles and files.

Passwords (an SSH login's, a become password) are never written anywhere: ansible-playbook is started with
``--ask-pass`` / ``--ask-become-pass`` and ansible-runner types them in at its prompts, as AWX does; ssh gets
the login password from sshpass through a pipe (``sshpass -d<fd>``), never in a command line or a file.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import ansible_runner
import psutil
import yaml

from apps.accounts.choices import CredentialKind
from apps.k8s_integration.choices import InventorySource
from apps.k8s_integration.models import Inventory
from apps.k8s_integration.selectors import inventory_document

from ..choices import LogStream, StepStatus
from ..engine.logsink import LogSink
from .ansible_events import event_lines, recap, recap_outputs
from .base import StepContext, StepResult, StoppableStep, register
from .git import inside, ssh_command
from .process import INHERITED
from .targets import PrivateDir, StepCredential, project_target, step_credential

SSH_KINDS = (CredentialKind.SSH_KEY, CredentialKind.USERNAME_PASSWORD)
BECOME_KINDS = (CredentialKind.USERNAME_PASSWORD, CredentialKind.SECRET_TEXT)
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CANCEL_POLL = 0.2  # seconds between two looks at the cancel flag


def _local_inventory() -> str:
    return f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"


@register
class AnsibleExecutor(StoppableStep):
    kind = "ansible"

    def __init__(self) -> None:
        super().__init__()
        self.credential: StepCredential | None = None
        self.become: StepCredential | None = None
        self.inventory: Inventory | None = None

    def prepare(self, ctx: StepContext) -> None:
        p = ctx.params
        if p.get("playbook"):
            playbook = inside(ctx.workspace, str(p["playbook"]))
            if not playbook.is_file():
                raise ValueError(f"playbook {p['playbook']!r} is not in the workspace (check it out with a git step)")
        if p.get("inventory"):
            self.inventory = project_target(
                ctx, Inventory, str(p["inventory"]), "inventory", "add it in the admin under Inventories"
            )
        if p.get("credential"):
            self.credential = step_credential(ctx, str(p["credential"]), SSH_KINDS, "ansible")
        if p.get("become_credential"):
            self.become = step_credential(ctx, str(p["become_credential"]), BECOME_KINDS, "ansible become")
        if self._login_password() and shutil.which("sshpass", path=SYSTEM_PATH) is None:
            raise ValueError(
                f"ansible: credential {p['credential']!r} logs in with a password, which needs sshpass on the "
                "worker (Debian: apt-get install sshpass)"
            )

    def _login_password(self) -> str:
        if self.credential is None or self.credential.kind != CredentialKind.USERNAME_PASSWORD:
            return ""
        return self.credential.get("password")

    def _become_password(self) -> str:
        if self.become is None:
            return ""
        return self.become.get("password") or self.become.get("secret")

    def _prompt_answers(self) -> tuple[list[str], dict[str, str]]:
        """The ``--ask-*`` flags and what ansible-runner answers at those prompts."""
        flags: list[str] = []
        answers: dict[str, str] = {}
        if self._login_password():
            flags.append("--ask-pass")
            answers[r"^SSH password:\s*?$"] = self._login_password()
        if self._become_password():
            flags.append("--ask-become-pass")
            answers[r"^BECOME password.*:\s*?$"] = self._become_password()
        return flags, answers

    # --- files ---------------------------------------------------------------

    def _playbook(self, ctx: StepContext, private: PrivateDir) -> str:
        if ctx.params.get("playbook"):
            return str(inside(ctx.workspace, str(ctx.params["playbook"])))
        plays = (ctx.spec.get("with") or {}).get("plays")  # the literal text, never rendered
        text = plays if isinstance(plays, str) else yaml.safe_dump(plays, sort_keys=False)
        return str(private.write("project/inline-playbook.yml", text))

    def _inventory(self, ctx: StepContext, private: PrivateDir) -> str:
        if self.inventory is not None:
            suffix, text = inventory_document(self.inventory)
            path = private.write(f"inventory/hosts{suffix}", text)
            if self.inventory.variables and self.inventory.source != InventorySource.MANAGED:
                private.write("inventory/group_vars/all.yml", yaml.safe_dump(self.inventory.variables))
            return str(path.parent)
        inline = (ctx.spec.get("with") or {}).get("inventory_inline")
        return str(private.write("inventory/hosts", inline if isinstance(inline, str) else _local_inventory()).parent)

    def _environment(self, ctx: StepContext, private: PrivateDir) -> dict[str, str]:
        env = dict(ctx.env)
        bin_dir = os.path.dirname(sys.executable)
        env.update(
            # ansible-playbook and the controller's Python first, then the system's: interpreter discovery
            # on local hosts must not land on a shim of the worker's PATH.
            PATH=f"{bin_dir}:{SYSTEM_PATH}",
            HOME=str(private.path),
            ANSIBLE_LOCAL_TEMP=str(private.path / "tmp"),
            ANSIBLE_SSH_CONTROL_PATH_DIR=str(private.path / "cp"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_PYTHON_INTERPRETER="auto_silent",
            ANSIBLE_WORKSPACE=str(ctx.workspace),
            ANSFLOW_WORKSPACE=str(ctx.workspace),
        )
        ssh = shlex.split(ssh_command(private, self.credential, None, batch=not self._login_password()))[1:]
        env["ANSIBLE_SSH_ARGS"] = shlex.join([*ssh, "-o", "ControlMaster=auto", "-o", "ControlPersist=60s"])
        if self._login_password():
            # ansible's default (SSH_ASKPASS) keeps the password in a shared-memory file that a killed run leaves
            # behind in /dev/shm; sshpass reads it from a pipe.
            env["ANSIBLE_SSH_PASSWORD_MECHANISM"] = "sshpass"  # noqa: S105 (a mechanism's name)
        if self.credential is not None and self.credential.get("username"):
            env["ANSIBLE_REMOTE_USER"] = self.credential.get("username")
        p = ctx.params
        if p.get("become"):
            env["ANSIBLE_BECOME"] = "True"
        if p.get("become_user"):
            env["ANSIBLE_BECOME_USER"] = str(p["become_user"])
        if p.get("become_method"):
            env["ANSIBLE_BECOME_METHOD"] = str(p["become_method"])
        if p.get("diff"):
            env["ANSIBLE_DIFF_ALWAYS"] = "True"
        return env

    # --- run -----------------------------------------------------------------

    def run(self, ctx: StepContext, sink: LogSink) -> StepResult:
        private = PrivateDir()
        try:
            return self._run(ctx, sink, private)
        finally:
            _close_ssh_masters(private.path / "cp")
            private.remove()

    def _run(self, ctx: StepContext, sink: LogSink, private: PrivateDir) -> StepResult:
        p = ctx.params
        stats: dict[str, Any] = {}

        def on_event(event: dict[str, Any]) -> bool:
            for stream, line in event_lines(event):
                sink.write(stream, line)
            if event.get("event") == "playbook_on_stats":
                stats.update(event.get("event_data") or {})
            return False  # nothing kept on disk: the log is the record

        flags, answers = self._prompt_answers()
        cmdline = (["--check"] if p.get("check") else []) + (["--diff"] if p.get("diff") else []) + flags
        runner = ansible_runner.interface.init_runner(
            private_data_dir=str(private.path),
            project_dir=str(ctx.workspace),
            playbook=self._playbook(ctx, private),
            inventory=self._inventory(ctx, private),
            envvars=self._environment(ctx, private),
            extravars=dict(p.get("extra_vars") or {}),
            passwords=answers or None,
            limit=p.get("limit") or None,
            tags=",".join(p.get("tags") or []) or None,
            skip_tags=",".join(p.get("skip_tags") or []) or None,
            forks=int(p.get("forks") or 5),
            verbosity=int(p.get("verbosity") or 0) or None,
            cmdline=shlex.join(cmdline) if cmdline else None,
            settings={"pexpect_timeout": CANCEL_POLL, "suppress_ansible_output": True},
            event_handler=on_event,
            cancel_callback=self.stop.is_set,
            quiet=True,
        )
        runner.config.env = _without_worker_environment(runner.config.env)
        sink.write(LogStream.SYSTEM, "ansible-playbook " + Path(runner.config.command[-1]).name)

        def play() -> StepResult:
            runner.run()
            return _result(runner, stats)

        return self.until_stopped(ctx, play)

    def on_stop(self) -> None:
        _kill_playbook_tree()


def _result(runner: Any, stats: dict[str, Any]) -> StepResult:
    """What the play's end and its recap say. ansible-runner reports "canceled" only once ``stop`` is set, and
    then ``until_stopped`` answers canceled or timed out whatever this returns."""
    table = recap(stats)
    outputs = recap_outputs(table) if table else {}
    if runner.status == "successful":
        return StepResult(StepStatus.SUCCESS, exit_code=0, outputs=outputs)
    failed = [host for host, counts in table.items() if counts["failed"]]
    unreachable = [host for host, counts in table.items() if counts["unreachable"]]
    reason = "; ".join(
        part
        for part in (
            f"failed on {', '.join(failed)}" if failed else "",
            f"unreachable: {', '.join(unreachable)}" if unreachable else "",
        )
        if part
    )
    return StepResult(
        StepStatus.FAILED,
        exit_code=runner.rc,
        outputs=outputs,
        error=f"ansible-playbook exited with code {runner.rc}" + (f" ({reason})" if reason else ""),
    )


def _kill_playbook_tree() -> None:
    """SIGKILL ansible-playbook and everything below it. ansible-runner kills only the playbook's process
    group, but each ansible fork calls setsid(), so module processes (a long ``command``) would survive."""
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if not any("ansible-playbook" in part for part in child.cmdline()):
                continue
            tree = [child, *child.children(recursive=True)]
            for process in tree:
                with contextlib.suppress(psutil.Error):
                    process.kill()


def _close_ssh_masters(control_dir: Path) -> None:
    """ControlPersist masters detach from the run and would keep their logins open after the step: end them."""
    if not control_dir.is_dir():
        return
    for control in control_dir.iterdir():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["ssh", "-F", "/dev/null", "-o", f"ControlPath={control}", "-O", "exit", "ansflow-step"],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False,
            )  # fmt: skip


def _without_worker_environment(env: dict[str, str]) -> dict[str, str]:
    """ansible-runner seeds the job with the worker's whole environment; keep only what a step may see
    (as for shell steps) plus what the runner and we set."""
    return {
        key: value
        for key, value in env.items()
        if key in INHERITED or key not in os.environ or os.environ[key] != value or key.startswith("ANSIBLE_")
    }
