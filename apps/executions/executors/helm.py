"""``helm``: install / upgrade / rollback / uninstall / status / history of a release, with the helm binary.

helm acts as the cluster's credential through a kubeconfig written for the step into a private directory
(0700, the file 0600) that also holds helm's cache, config and data homes; the directory goes when the step
ends. helm runs from an argv list in its own process group, with a clean environment: no ambient kubeconfig,
no token on its command line (only the kubeconfig's path), and ``values``/``set`` reach it in a values file,
so a value taken from a secret never shows in a process list. Its output is masked like every step line.

``--wait`` gets what is left of the step timeout (minus a moment, so helm reports before it is stopped); when
a wait runs out the step is ``timed_out`` and the log shows why the release's workloads are not ready (their
events, pods and the last lines of their logs). After the action the release history is printed and the
latest revision and status become the outputs ``revision`` and ``status``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from typing import IO, Any

import yaml
from django.conf import settings
from kubernetes import client as k8s

from apps.k8s_integration.clusters.kube import ClusterError
from apps.pipelines.spec.steps.helm import RELEASE_NAME, WAIT_ACTIONS
from apps.pipelines.spec.steps.k8s import ManifestError, parse_manifests

from ..choices import LogStream, StepStatus
from .base import StepContext, StepResult, Stopped, register
from .git import inside
from .k8s_api import Kube
from .k8s_common import KubeStep, kubeconfig_yaml
from .k8s_wait import WAITED_KINDS, diagnose, progress
from .process import CANCEL_GRACE, INHERITED
from .targets import PrivateDir

# helm gets the step's remaining time minus this, so its own error (and ours) is written before the timeout.
WAIT_MARGIN = 3.0
HISTORY_SHOWN = 10
_KEY_PART = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")


def set_path(values: dict[str, Any], key: str, value: Any) -> None:
    """``values`` with ``a.b[1].c`` set to ``value``, as helm's ``--set`` addresses it."""
    steps: list[str | int] = []
    for part in key.split("."):
        found = _KEY_PART.match(part)
        if found is None:
            raise ValueError(f"set: {key!r} is not a dotted key (a.b[0].c)")
        steps.append(found.group(1))
        steps.extend(int(index) for index in re.findall(r"\[(\d+)\]", found.group(2)))
    node: Any = values
    for here, after in zip(steps, [*steps[1:], None], strict=True):
        if after is None:
            _put(node, here, value)
            return
        child = _get(node, here)
        if not isinstance(child, dict if isinstance(after, str) else list):
            child = {} if isinstance(after, str) else []
            _put(node, here, child)
        node = child


def _get(node: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return node[step] if step < len(node) else None
    return node.get(step)


def _put(node: Any, step: str | int, value: Any) -> None:
    if isinstance(step, int):
        node.extend([None] * (step + 1 - len(node)))
    node[step] = value


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in extra.items():
        result[key] = (
            merged(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) else value
        )
    return result


@register
class HelmExecutor(KubeStep):
    kind = "helm"

    def __init__(self) -> None:
        super().__init__()
        self.binary = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}
        self.flags: list[str] = []
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=5)

    def prepare(self, ctx: StepContext) -> None:
        super().prepare(ctx)
        found = shutil.which(settings.HELM_BINARY)
        if found is None:
            raise ValueError(
                f"helm steps need the helm binary: {settings.HELM_BINARY!r} was not found on this worker "
                "(set ANSFLOW_HELM_BINARY to its path)"
            )
        self.binary = found
        release = str(ctx.params.get("release") or "")
        if not RELEASE_NAME.match(release) or len(release) > 53:
            raise ValueError(f"helm: release {release!r} is not a release name (lower-case letters, digits, '-')")
        for name in [ctx.params.get("chart"), *(ctx.params.get("values_files") or [])]:
            if name and not inside(ctx.workspace, str(name)).exists():
                raise ValueError(f"helm: {name!r} is not in the workspace")

    # -- the run ----------------------------------------------------------------------------------------

    def perform(self, ctx: StepContext, api: k8s.ApiClient) -> StepResult:
        assert self.target is not None
        private = PrivateDir()
        try:
            kubeconfig = private.write("kubeconfig", kubeconfig_yaml(self.target))
            homes = {name: private.path / name.lower() for name in ("CACHE", "CONFIG", "DATA")}
            self.env = {name: os.environ[name] for name in INHERITED if name in os.environ}
            self.env.update({f"HELM_{name}_HOME": str(path) for name, path in homes.items()})
            self.env.update(HOME=str(private.path), LANG=self.env.get("LANG", "C.UTF-8"))
            self.env["ANSFLOW_WORKER"] = ctx.env.get("ANSFLOW_WORKER", "")  # see engine.orphans
            self.flags = ["--namespace", self.target.namespace, "--kubeconfig", str(kubeconfig)]
            return self._act(ctx, api, private)
        finally:
            private.remove()

    def _act(self, ctx: StepContext, api: k8s.ApiClient, private: PrivateDir) -> StepResult:
        p = ctx.params
        action, release = str(p["action"]), str(p["release"])
        # helm's --timeout, in whole seconds: what is left of the step's timeout (helm's default without one).
        budget = max(int(self.remaining() - WAIT_MARGIN), 1) if self.deadline is not None else None
        if action != "history":
            argv = self._action_argv(ctx, private, budget)
            self.say(f"helm {' '.join(argv)}")
            started = time.monotonic()
            code, _ = self.helm(argv)
            if code != 0:
                waited = budget is not None and p.get("wait") and time.monotonic() - started >= budget
                return self._failed(ctx, api, f"helm {action} {release}", code, bool(waited), budget)
        if action == "uninstall":
            return StepResult(StepStatus.SUCCESS, exit_code=0)
        history = self.history(release)
        if history is None:
            return StepResult(StepStatus.FAILED, exit_code=1, error=self._helm_error(f"helm history {release}", 1))
        latest = history[-1] if history else {}
        outputs = {"revision": str(latest.get("revision", "")), "status": str(latest.get("status", ""))}
        return StepResult(StepStatus.SUCCESS, exit_code=0, outputs=outputs)

    def _action_argv(self, ctx: StepContext, private: PrivateDir, budget: int | None) -> list[str]:
        p = ctx.params
        action, release = str(p["action"]), str(p["release"])
        argv = [action, release]
        if action in ("install", "upgrade"):
            argv.append(str(inside(ctx.workspace, str(p["chart"]))))
            for name in p.get("values_files") or []:
                argv += ["--values", str(inside(ctx.workspace, str(name)))]
            values = dict(p.get("values") or {})
            for key, value in (p.get("set") or {}).items():
                set_path(values, str(key), value)
            if values:
                argv += ["--values", str(private.write("values.yaml", yaml.safe_dump(values)))]
            if action == "upgrade" and p.get("install"):
                argv.append("--install")
            if p.get("create_namespace") and (action == "install" or p.get("install")):
                argv.append("--create-namespace")
            if p.get("atomic"):
                argv.append("--atomic")
        if action == "rollback" and p.get("revision"):
            argv.append(str(int(p["revision"])))
        if action in WAIT_ACTIONS:
            if p.get("wait"):
                argv.append("--wait")
            if budget is not None:
                argv += ["--timeout", f"{budget}s"]
        return argv

    def _failed(
        self, ctx: StepContext, api: k8s.ApiClient, what: str, code: int, waited: bool, budget: int | None
    ) -> StepResult:
        error = self._helm_error(what, code)
        reasons: list[str] = []
        if ctx.params.get("action") in ("install", "upgrade", "rollback"):
            self.say(f"why {ctx.params['release']} is not ready:")
            reasons = self._diagnose(api, str(ctx.params["release"]))
            self.history(str(ctx.params["release"]))
        why = f" ({reasons[0]})" if reasons else ""
        if waited:
            return StepResult(
                StepStatus.TIMED_OUT,
                exit_code=code,
                error=f"{what}: not ready within the step timeout ({budget} s of waiting){why}",
            )
        return StepResult(StepStatus.FAILED, exit_code=code, error=f"{error}{why}")

    def _helm_error(self, what: str, code: int) -> str:
        last = self.stderr_tail[-1] if self.stderr_tail else ""
        return f"{what} failed with exit code {code}" + (f": {last}" if last else "")

    def _diagnose(self, api: k8s.ApiClient, release: str) -> list[str]:
        """What the cluster says about the release's workloads that are not ready; the pods' problems."""
        assert self.target is not None
        code, manifest = self.helm(["get", "manifest", release], capture=True, quiet=True)
        if code != 0:
            return []
        try:
            objects = parse_manifests(manifest, f"release {release}")
        except ManifestError:
            return []
        kube = Kube(api, self.target.cluster)
        problems: list[str] = []

        def say(line: str) -> None:
            self.say(line)
            if line.strip().startswith("pod "):
                problems.append(line.strip())

        for obj in objects:
            if obj["kind"] not in WAITED_KINDS:
                continue
            namespace = obj["metadata"].get("namespace") or self.target.namespace
            try:
                found = kube.get(kube.resource(obj["apiVersion"], obj["kind"]), namespace, obj["metadata"]["name"])
            except ClusterError as exc:
                self.say(f"  {obj['kind']} {obj['metadata']['name']}: {exc}")
                continue
            if found is not None and not progress(found).done:
                self.say(f"  {obj['kind']} {obj['metadata']['name']}: {progress(found).message}")
                diagnose(kube, namespace, found, say)
        return problems

    # -- release history --------------------------------------------------------------------------------

    def history(self, release: str) -> list[dict[str, Any]] | None:
        """Print the release's latest revisions; None when helm cannot tell (no such release, say)."""
        code, text = self.helm(["history", release, "--max", str(HISTORY_SHOWN), "--output", "json"], capture=True)
        if code != 0:
            return None
        try:
            rows = json.loads(text or "[]")
        except ValueError:
            self.say("helm history answered something that is not JSON")
            return None
        self.say(f"history of release {release}:")
        self.say(f"  {'REVISION':<9} {'UPDATED':<20} {'STATUS':<16} {'CHART':<24} {'APP VERSION':<12} DESCRIPTION")
        for row in rows:
            self.say(
                f"  {row.get('revision', ''):<9} {str(row.get('updated', ''))[:19]:<20} {row.get('status', ''):<16} "
                f"{row.get('chart', ''):<24} {row.get('app_version', '') or '-':<12} {row.get('description', '')}"
            )
        return list(rows)

    # -- the helm process -------------------------------------------------------------------------------

    def helm(self, argv: list[str], *, capture: bool = False, quiet: bool = False) -> tuple[int, str]:
        """Run ``helm argv`` to its end; stderr (and stdout unless captured) goes to the log, masked."""
        if self.stop.is_set():
            raise Stopped
        assert self.target is not None
        process = subprocess.Popen(
            [self.binary, *argv, *self.flags],
            env=self.env,
            cwd=self.env.get("HOME"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.process = process
        if self.stop.is_set():
            self.kill()
        captured: list[bytes] = []
        assert process.stdout is not None
        assert process.stderr is not None
        readers = [
            threading.Thread(target=self._pump, args=(process.stderr, LogStream.STDERR, None, quiet), daemon=True),
            threading.Thread(
                target=self._pump, args=(process.stdout, LogStream.STDOUT, captured if capture else None, quiet),
                daemon=True,
            ),
        ]  # fmt: skip
        for reader in readers:
            reader.start()
        process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # nothing it started outlives it
        for reader in readers:
            reader.join()
        self.process = None
        if self.stop.is_set():
            raise Stopped
        return process.returncode, b"".join(captured).decode("utf-8", errors="replace")

    def _pump(self, pipe: IO[bytes], stream: str, captured: list[bytes] | None, quiet: bool) -> None:
        with pipe:
            for line in iter(pipe.readline, b""):
                if captured is not None:
                    captured.append(line)
                    continue
                text = line.decode("utf-8", errors="replace").rstrip("\n")
                if stream == LogStream.STDERR:
                    self.stderr_tail.append(text.removeprefix("Error: "))
                if not quiet:
                    self.say(text, stream)

    def on_stop(self) -> None:
        self.kill()

    def kill(self) -> None:
        """helm's whole process group: SIGTERM, then SIGKILL after a grace period."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=CANCEL_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
