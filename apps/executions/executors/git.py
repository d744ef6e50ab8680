"""``git``: init (or reuse) a repository in the workspace, fetch one ref shallowly, check it out detached.

Every git command runs as its own process group (cancel and timeout kill it). Credentials never reach a
command line or the checkout's ``.git/config``: an SSH key is a file in a private directory named by
``GIT_SSH_COMMAND``; a token or password is handed to git by a credential helper (set in ``GIT_CONFIG_*``
variables) that reads it from git's environment and answers only for the repository's own host, so git
sends it only to that server and only once it asked for it (401), never to a host it is redirected to.
The user's and the workspace's git and ssh configuration are ignored, so a checked-out file cannot change
how the next fetch runs.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from apps.accounts.choices import CredentialKind

from ..choices import LogStream, StepStatus
from ..engine.logsink import LogSink
from .base import Executor, StepContext, StepResult, register
from .process import ProcessRun, step_environment
from .targets import PrivateDir, StepCredential, step_credential, unlocked_private_key

CREDENTIAL_KINDS = (CredentialKind.SSH_KEY, CredentialKind.USERNAME_PASSWORD, CredentialKind.BEARER_TOKEN)
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"


def inside(workspace: Path, relative: str) -> Path:
    """``workspace/relative``, refusing anything that resolves outside the workspace."""
    target = (workspace / relative).resolve()
    if not target.is_relative_to(workspace.resolve()):
        raise ValueError(f"path {relative!r} leaves the workspace")
    return target


def ssh_command(
    private: PrivateDir, credential: StepCredential | None, known_hosts: str | None, batch: bool = True
) -> str:
    """The ``ssh`` invocation for git and ansible: no user config, our key and known_hosts; batch mode (never a
    prompt) unless a password is to be typed in by sshpass."""
    hosts_file = private.write("known_hosts", known_hosts or "")
    argv = ["ssh", "-F", "/dev/null", *(["-o", "BatchMode=yes"] if batch else []),
            "-o", f"UserKnownHostsFile={hosts_file}",
            "-o", "StrictHostKeyChecking=" + ("yes" if known_hosts else "accept-new")]  # fmt: skip
    if credential is not None and credential.kind == CredentialKind.SSH_KEY:
        key = private.write("id_key", unlocked_private_key(credential.get("private_key"), credential.get("passphrase")))
        argv += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
        if credential.get("username"):
            argv += ["-o", f"User={credential.get('username')}"]
    return shlex.join(argv)


# Answers git's ``get`` for the repository's own host (git writes ``host=<name[:port]>`` on stdin) with the
# login from the environment; other hosts, ``store`` and ``erase`` get nothing.
CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || return 0; while read -r line; do case "$line" in host=*) host="${line#host=}";; '
    'esac; done; test "$host" = "$ANSFLOW_GIT_HOST" || return 0; '
    'printf "username=%s\\npassword=%s\\n" "$ANSFLOW_GIT_USERNAME" "$ANSFLOW_GIT_PASSWORD"; }; f'
)


def _http_login(credential: StepCredential) -> tuple[str, str]:
    if credential.kind == CredentialKind.BEARER_TOKEN:
        return "x-access-token", credential.get("token")  # the user name GitHub asks for; others ignore it
    return credential.get("username"), credential.get("password")


@register
class GitExecutor(Executor):
    kind = "git"

    def __init__(self) -> None:
        self.proc: ProcessRun | None = None
        self.canceled = False
        self.private: PrivateDir | None = None
        self.credential: StepCredential | None = None

    def prepare(self, ctx: StepContext) -> None:
        p = ctx.params
        inside(ctx.workspace, str(p.get("path") or "."))
        if str(p["repository"]).startswith("-"):
            raise ValueError("repository must not start with '-'")
        ref = str(p.get("ref") or "")
        if ref.startswith("-") or any(ch.isspace() for ch in ref):
            raise ValueError(f"ref {ref!r} must not start with '-' or contain spaces")
        if p.get("credential"):
            self.credential = step_credential(ctx, p["credential"], CREDENTIAL_KINDS, "git")

    def _env(self, ctx: StepContext, private: PrivateDir) -> dict[str, str]:
        env = step_environment(ctx, ctx.output_file)
        env.update(
            HOME=str(private.path),
            GIT_TERMINAL_PROMPT="0",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL="/dev/null",
            GIT_ALLOW_PROTOCOL=ALLOWED_PROTOCOLS,
            GIT_SSH_COMMAND=ssh_command(private, self.credential, ctx.params.get("known_hosts")),
        )
        config = [("advice.detachedHead", "false"), ("init.defaultBranch", "main")]
        if self.credential is not None and self.credential.kind != CredentialKind.SSH_KEY:
            env["ANSFLOW_GIT_USERNAME"], env["ANSFLOW_GIT_PASSWORD"] = _http_login(self.credential)
            env["ANSFLOW_GIT_HOST"] = urlsplit(str(ctx.params["repository"])).netloc.rpartition("@")[2]
            # The empty value drops any helper configured before ours (the checkout's own config included).
            config += [("credential.helper", ""), ("credential.helper", CREDENTIAL_HELPER)]
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
        return env

    def _git(
        self, argv: list[str], ctx: StepContext, sink: LogSink, env: dict[str, str], deadline: float | None
    ) -> StepResult:
        if self.canceled:
            return StepResult(StepStatus.CANCELED, error="canceled")
        sink.write(LogStream.SYSTEM, "$ " + shlex.join(["git", *argv]))
        self.proc = ProcessRun()
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.1)
        return self.proc.run(["git", *argv], replace(ctx, timeout=remaining), sink, env)

    def run(self, ctx: StepContext, sink: LogSink) -> StepResult:
        p = ctx.params
        target = inside(ctx.workspace, str(p.get("path") or "."))
        target.mkdir(parents=True, exist_ok=True)
        private = self.private = PrivateDir()
        deadline = None if ctx.timeout is None else time.monotonic() + ctx.timeout
        try:
            env = self._env(ctx, private)
            here = ["-C", str(target)]
            ref = str(p.get("ref") or "HEAD")
            depth = int(p.get("depth", 1))
            fetch = [*here, "fetch", "--no-tags", "--prune", "--no-recurse-submodules"]
            fetch += [f"--depth={depth}"] if depth else []
            has_origin = (target / ".git").is_dir() and _quiet(["git", *here, "remote"], env).split().count("origin")
            steps: list[list[str]] = []
            if not (target / ".git").is_dir():
                steps.append(["init", "-q", str(target)])
            steps.append([*here, "remote", "set-url" if has_origin else "add", "origin", str(p["repository"])])
            steps.append([*fetch, "origin", ref])
            steps.append([*here, "checkout", "-q", "--force", "--detach", "FETCH_HEAD"])
            if p.get("submodules"):
                steps.append([*here, "submodule", "update", "--init", "--recursive", f"--depth={depth or 1}"])
            for index, argv in enumerate(steps):
                result = self._git(argv, ctx, sink, env, deadline)
                if result.status != StepStatus.SUCCESS:
                    if result.status == StepStatus.FAILED:
                        result.error = f"git {argv[2] if argv[0] == '-C' else argv[0]} failed (exit {result.exit_code})"
                    return result
                if index == 0 and target == ctx.workspace.resolve():
                    _exclude_engine_files(target)
            commit = _quiet(["git", *here, "rev-parse", "HEAD"], env).strip()
            sink.write(
                LogStream.SYSTEM, f"checked out {ref} at {commit} into {target.relative_to(ctx.workspace.resolve())}"
            )
            return StepResult(StepStatus.SUCCESS, exit_code=0, outputs={"commit": commit, "ref": ref})
        finally:
            private.remove()

    def cancel(self) -> None:
        self.canceled = True
        if self.proc is not None:
            self.proc.kill()


def _quiet(argv: list[str], env: dict[str, str]) -> str:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False).stdout


def _exclude_engine_files(target: Path) -> None:
    exclude = target / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    if "/.ansflow/" not in lines:
        exclude.write_text("\n".join([*lines, "/.ansflow/"]) + "\n")
