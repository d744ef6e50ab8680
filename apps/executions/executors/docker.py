"""``docker.build``, ``docker.run``, ``docker.push``: the Docker SDK against a project's Docker host.

The Engine API endpoint comes from a DockerHost row (``host:``, default: the host named ``default``); the
client is made by ``apps.k8s_integration.docker_client``. Build and push stream their progress line by line;
a run attaches to the container's stdout/stderr, waits for its exit code and always removes the container,
also on cancel and timeout. Workspace paths (build context, volumes) are paths on the worker, so they are
meaningful only for a Docker host on the same machine.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound
from docker.utils import parse_repository_tag

from apps.k8s_integration.docker_client import DockerUnavailable, docker_client
from apps.k8s_integration.models import DockerHost, Registry

from ..choices import LogStream, StepStatus
from ..engine.logsink import LogSink
from ..models import Execution
from .base import StepContext, StepResult, StoppableStep, register
from .git import inside
from .targets import StepCredential, project_target, target_credential

DEFAULT_HOST = "default"
_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


def _project_id(ctx: StepContext) -> int:
    return int(Execution.objects.values_list("project_id", flat=True).get(pk=ctx.execution_id))


class DockerStep(StoppableStep):
    """Shared by the three kinds: the Docker host, the client, cancel and timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.host: DockerHost | None = None
        self.client: docker.DockerClient | None = None
        self.sink: LogSink | None = None

    def prepare(self, ctx: StepContext) -> None:
        name = ctx.params.get("host")
        if name:
            self.host = project_target(
                ctx, DockerHost, str(name), "Docker host", "add it in the admin under Docker hosts"
            )
            return
        if not DockerHost.objects.filter(project_id=_project_id(ctx)).exists():
            # A project without any Docker host (the demo, say) skips docker steps, saying why.
            self.skip_reason = (
                f"skipped: no Docker host is configured in this project; add one called {DEFAULT_HOST!r} "
                "in the admin (Docker hosts) to run docker steps"
            )
            return
        try:
            self.host = project_target(ctx, DockerHost, DEFAULT_HOST, "Docker host", "")
        except ValueError:
            raise ValueError(
                f"{ctx.spec.get('type')} needs a Docker host: name one with `host:` or add a Docker host called "
                f"{DEFAULT_HOST!r} to the project in the admin"
            ) from None

    def say(self, stream: str, text: str) -> None:
        assert self.sink is not None
        self.sink.write(stream, text)  # the sink masks the step's credentials, the registry's included

    def connect(self, ctx: StepContext) -> AbstractContextManager[docker.DockerClient]:
        assert self.host is not None
        return docker_client(self.host, timeout=max(ctx.timeout or 0, 600))

    skip_reason = ""

    def run(self, ctx: StepContext, sink: LogSink) -> StepResult:
        self.sink = sink
        if self.skip_reason:
            sink.write(LogStream.SYSTEM, self.skip_reason)
            return StepResult(StepStatus.SKIPPED, error=self.skip_reason)
        return self.until_stopped(ctx, lambda: self._connected(ctx))

    def _connected(self, ctx: StepContext) -> StepResult:
        try:
            with self.connect(ctx) as client:
                self.client = client
                return self.perform(ctx, client)
        except DockerUnavailable as exc:
            return StepResult(StepStatus.FAILED, error=str(exc))
        except (DockerException, requests.RequestException) as exc:
            # A stream cut by cancel or timeout ends here too; the status then says which.
            return StepResult(StepStatus.FAILED, error=f"Docker API error: {exc}")

    def perform(self, ctx: StepContext, client: docker.DockerClient) -> StepResult:
        raise NotImplementedError

    def stream(self, chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for chunk in chunks:
            self.checkpoint()
            yield chunk

    def on_stop(self) -> None:
        """Closing the client's connections ends any open stream at once."""
        if self.client is not None:
            self.client.close()


@register
class DockerBuildExecutor(DockerStep):
    kind = "docker.build"

    def perform(self, ctx: StepContext, client: docker.DockerClient) -> StepResult:
        p = ctx.params
        context = inside(ctx.workspace, str(p.get("context") or "."))
        dockerfile = str(p.get("dockerfile") or "Dockerfile")
        if not (context / dockerfile).is_file():
            where = context.relative_to(ctx.workspace.resolve())
            return StepResult(StepStatus.FAILED, error=f"no {dockerfile} in the build context {where}/")
        tags = [str(tag) for tag in p.get("tags") or []]
        self.say(LogStream.SYSTEM, f"building {', '.join(tags)} on Docker host {self.host}")
        image_id = ""
        chunks = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tags[0],
            buildargs=dict(p.get("build_args") or {}),
            labels=dict(p.get("labels") or {}),
            target=p.get("target") or None,
            nocache=bool(p.get("no_cache")),
            pull=bool(p.get("pull")),
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in self.stream(chunks):
            if "error" in chunk or "errorDetail" in chunk:
                message = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message", "")
                self.say(LogStream.STDERR, message)
                return StepResult(StepStatus.FAILED, error=f"build failed: {message.strip()}")
            if isinstance(chunk.get("aux"), dict) and chunk["aux"].get("ID"):
                image_id = chunk["aux"]["ID"]
            text = chunk.get("stream") or chunk.get("status") or ""
            for line in str(text).splitlines():
                if line.strip():
                    self.say(LogStream.STDOUT, line)
        image = client.images.get(image_id or tags[0])
        for extra in tags[1:]:
            repository, tag = parse_repository_tag(extra)
            image.tag(repository, tag or "latest")
        digests = image.attrs.get("RepoDigests") or []
        digest = digests[0].rsplit("@", 1)[-1] if digests else ""
        self.say(LogStream.SYSTEM, f"built {image.id}")
        return StepResult(
            StepStatus.SUCCESS, exit_code=0, outputs={"image_id": image.id, "tag": tags[0], "digest": digest}
        )


@register
class DockerPushExecutor(DockerStep):
    kind = "docker.push"

    def __init__(self) -> None:
        super().__init__()
        self.registry: Registry | None = None
        self.credential: StepCredential | None = None

    def prepare(self, ctx: StepContext) -> None:
        super().prepare(ctx)
        if ctx.params.get("registry"):
            self.registry = project_target(
                ctx, Registry, str(ctx.params["registry"]), "registry", "add it in the admin under Registries"
            )
            if self.registry.credential is not None:
                self.credential = target_credential(ctx, self.registry.credential, f"registry {self.registry.name}")

    def perform(self, ctx: StepContext, client: docker.DockerClient) -> StepResult:
        source = str(ctx.params["image"])
        repository, tag = parse_repository_tag(source)
        tag = tag or "latest"
        if self.registry is not None and not repository.startswith(self.registry.host + "/"):
            target = f"{self.registry.host}/{repository.split('/', 1)[-1] if _has_registry(repository) else repository}"
            try:
                client.api.tag(source, target, tag)
            except ImageNotFound:
                return StepResult(StepStatus.FAILED, error=f"no image {source!r} on Docker host {self.host}")
            repository = target
        auth = None
        if self.credential is not None:
            auth = {"username": self.credential.get("username"), "password": self.credential.get("password")}
        self.say(LogStream.SYSTEM, f"pushing {repository}:{tag}")
        digest = ""
        for chunk in self.stream(client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=auth)):
            if "error" in chunk or "errorDetail" in chunk:
                message = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message", "")
                self.say(LogStream.STDERR, message)
                return StepResult(StepStatus.FAILED, error=f"push failed: {message.strip()}")
            text = str(chunk.get("status") or "") + (f" {chunk['progress']}" if chunk.get("progress") else "")
            found = _DIGEST.search(text) or _DIGEST.search(str((chunk.get("aux") or {}).get("Digest", "")))
            digest = found.group(1) if found else (chunk.get("aux") or {}).get("Digest") or digest
            if text.strip():
                self.say(LogStream.STDOUT, text.strip())
        if not digest:
            return StepResult(StepStatus.FAILED, error="the registry did not report a digest for the push")
        return StepResult(StepStatus.SUCCESS, exit_code=0, outputs={"image": f"{repository}:{tag}", "digest": digest})


def _has_registry(repository: str) -> bool:
    first = repository.split("/", 1)[0]
    return "/" in repository and ("." in first or ":" in first or first == "localhost")


@register
class DockerRunExecutor(DockerStep):
    kind = "docker.run"

    def __init__(self) -> None:
        super().__init__()
        self.container: Any = None

    def _volumes(self, ctx: StepContext) -> dict[str, dict[str, str]]:
        volumes: dict[str, dict[str, str]] = {}
        for spec in ctx.params.get("volumes") or []:
            source, _, rest = str(spec).partition(":")
            target, _, mode = rest.partition(":")
            path = inside(ctx.workspace, source)
            if not path.exists():
                raise ValueError(f"volume source {source!r} is not in the workspace")
            volumes[str(path)] = {"bind": target, "mode": mode or "rw"}
        return volumes

    def _environment(self, ctx: StepContext) -> dict[str, str]:
        env = {name: ctx.env[name] for name in (ctx.spec.get("env") or {}) if name in ctx.env}
        env.update({str(k): str(v) for k, v in (ctx.params.get("environment") or {}).items()})
        return env

    def perform(self, ctx: StepContext, client: docker.DockerClient) -> StepResult:
        p = ctx.params
        image = str(p["image"])
        try:
            self.container = client.containers.create(
                image,
                command=p.get("command"),
                entrypoint=p.get("entrypoint"),
                environment=self._environment(ctx),
                volumes=self._volumes(ctx),
                working_dir=p.get("workdir") or None,
                user=p.get("user") or None,
                network_mode=p.get("network") or None,
                labels={"ansflow.execution": str(ctx.execution_id), "ansflow.step": ctx.step_id},
                detach=True,
            )
        except ImageNotFound:
            return StepResult(StepStatus.FAILED, error=f"no image {image!r} on Docker host {self.host}")
        try:
            return self._attach_and_wait(client)
        finally:
            self._remove()

    def _attach_and_wait(self, client: docker.DockerClient) -> StepResult:
        container = self.container
        assert self.sink is not None
        output = client.api.attach(container.id, stdout=True, stderr=True, stream=True, logs=True, demux=True)
        container.start()
        self.say(LogStream.SYSTEM, f"started container {container.short_id} from {container.attrs['Config']['Image']}")
        for out, err in output:
            if out:
                self.sink.write_chunk(LogStream.STDOUT, out)
            if err:
                self.sink.write_chunk(LogStream.STDERR, err)
            self.checkpoint()
        code = int(container.wait().get("StatusCode", -1))
        if code == 0:
            return StepResult(StepStatus.SUCCESS, exit_code=0, outputs={"exit_code": "0"})
        return StepResult(StepStatus.FAILED, exit_code=code, error=f"container exited with code {code}")

    def on_stop(self) -> None:
        # Stopping the container ends the attached stream; the run then removes it.
        self._remove()
        super().on_stop()

    def _remove(self) -> None:
        container, self.container = self.container, None
        if container is None or self.host is None:
            return
        with (
            contextlib.suppress(DockerException, DockerUnavailable, APIError, requests.RequestException),
            docker_client(self.host, timeout=60) as client,
        ):
            client.api.remove_container(container.id, force=True)
