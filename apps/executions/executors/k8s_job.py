"""``k8s.job``: a container image run to completion as a Kubernetes Job on one of the project's clusters.

The Job is labelled with the execution id, the step's row id and the attempt that created it, so it can be
found again. Its pods' log is followed live into the step log (see ``k8s_job_log``); the Job's condition
decides the step, and a failed Job reports its container's exit code. Variables from the step's ``env`` reach
the container as environment variables; those that come from credentials travel in a Secret owned by the Job
(so they are not readable by whoever may only read Jobs and pods) and go away with it.

Cancel and timeout delete the Job with foreground propagation and wait until it and its pods are gone; after
a normal end the ``delete`` policy decides (background propagation: the garbage collector removes the pods).

Re-attachment: an attempt that follows attempts which were ``lost`` (their worker died) first looks for a Job
of this step created by one of those attempts. If one still exists and is not being deleted, the attempt
adopts it instead of creating a second Job, and resumes its log after the rows already in the database.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import Any

from django.db import DatabaseError
from kubernetes import client as k8s

from apps.accounts.masking import mask
from apps.k8s_integration.clusters.kube import ClusterError, call

from ..choices import LogStream, StepStatus
from ..models import LogLine, StepAttempt, StepExecution
from .base import StepContext, StepResult, Stopped, register
from .k8s_common import KubeStep
from .k8s_job_log import PodLogFollower, container_state
from .k8s_job_manifest import ATTEMPT_LABEL, job_env, job_labels, job_manifest, job_name, step_selector

POLL = 0.5
# Waiting reasons a pod never recovers from by itself: fail the step at once instead of at its timeout.
HOPELESS = {"ErrImageNeverPull", "InvalidImageName"}


def created_line(namespace: str, name: str) -> str:
    """The system line written right after the Job is created; re-attachment counts the rows after it."""
    return f"created Job {namespace}/{name}"


@register
class KubeJobExecutor(KubeStep):
    kind = "k8s.job"

    def __init__(self) -> None:
        super().__init__()
        self.ctx: StepContext | None = None
        self.job: str = ""
        self.follower: PodLogFollower | None = None
        self.keep_for_next_attempt = False

    def prepare(self, ctx: StepContext) -> None:
        super().prepare(ctx)
        self.ctx = ctx

    # -- the run ----------------------------------------------------------------------------------------

    def perform(self, ctx: StepContext, api: k8s.ApiClient) -> StepResult:
        assert self.target is not None
        batch, core = k8s.BatchV1Api(api), k8s.CoreV1Api(api)
        namespace = self.target.namespace
        try:
            adopted = self._previous_job(ctx, batch)
            if adopted is not None:
                self.job = adopted.metadata.name
                skip = stored_records(ctx.step_pk, created_line(namespace, self.job))
                self.say(
                    f"re-attached to Job {namespace}/{self.job} (created by attempt "
                    f"{adopted.metadata.labels.get(ATTEMPT_LABEL)}, whose worker was lost); {skip} of its log "
                    "lines are already stored, following on after them"
                )
            else:
                self.job = self._create(ctx, batch, core)
                skip = 0
            self.follower = PodLogFollower(core, namespace, self.call, self.pause, self._emit, self._seen, skip)
            result = self._watch(batch, core)
        except Stopped:
            result = StepResult(StepStatus.FAILED)
        except ClusterError as exc:
            if not self.job:
                raise
            # The Job exists but can no longer be followed: it still gets its delete policy (best effort).
            result = StepResult(StepStatus.FAILED, error=str(exc))
        finally:
            if self.stop.is_set():
                self._remove_after_stop(batch)
        if self.stop.is_set():
            return result
        if result.status == StepStatus.TIMED_OUT:  # the cluster's deadline passed first: as for our own timeout
            self._remove_after_stop(batch)
        else:
            self._apply_delete_policy(batch, result)
        return result

    def _create(self, ctx: StepContext, batch: k8s.BatchV1Api, core: k8s.CoreV1Api) -> str:
        assert self.target is not None
        namespace, name = self.target.namespace, job_name(ctx)
        env, secret = job_env(ctx, f"{name}-env")
        if secret:
            meta = {"name": f"{name}-env", "labels": job_labels(ctx)}
            self.call(
                core.create_namespaced_secret, namespace, {"metadata": meta, "type": "Opaque", "stringData": secret}
            )
        try:
            job = self.call(batch.create_namespaced_job, namespace, job_manifest(ctx, name, env))
        except (ClusterError, Stopped):
            if secret:  # not owned by any Job yet: nothing else would ever delete it
                with contextlib.suppress(ClusterError):
                    call(self.target.cluster, core.delete_namespaced_secret, f"{name}-env", namespace)
            raise
        self.say(created_line(namespace, name))
        if secret:
            # Owned by the Job, the Secret goes away with it (whatever deletes the Job).
            owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job.metadata.uid}
            self.call(
                core.patch_namespaced_secret, f"{name}-env", namespace, {"metadata": {"ownerReferences": [owner]}}
            )
        return name

    def _previous_job(self, ctx: StepContext, batch: k8s.BatchV1Api) -> Any:
        """The Job of the lost attempts just before this one, if it is still there (else None)."""
        assert self.target is not None
        lost = lost_attempts(ctx.step_pk, ctx.attempt)
        if not lost:
            return None
        jobs = self.call(batch.list_namespaced_job, self.target.namespace, label_selector=step_selector(ctx)).items
        candidates = [
            job
            for job in jobs
            if job.metadata.deletion_timestamp is None
            and (job.metadata.labels or {}).get(ATTEMPT_LABEL, "").isdigit()
            and int(job.metadata.labels[ATTEMPT_LABEL]) in lost
        ]
        if not candidates:
            self.say(f"attempt {max(lost)} was lost and left no Job behind; starting a new one")
            return None
        return max(candidates, key=lambda job: int(job.metadata.labels[ATTEMPT_LABEL]))

    # -- following the Job ------------------------------------------------------------------------------

    def _watch(self, batch: k8s.BatchV1Api, core: k8s.CoreV1Api) -> StepResult:
        """Follow the Job's pods in creation order until the Job has finished and every started pod is read."""
        assert self.target is not None
        assert self.follower is not None
        namespace = self.target.namespace
        done: set[str] = set()
        shown: dict[str, str] = {}
        while True:
            try:
                job = self.call(batch.read_namespaced_job, self.job, namespace)
            except ClusterError as exc:
                if exc.status == 404:
                    return StepResult(
                        StepStatus.FAILED, error=f"Job {namespace}/{self.job} was deleted before it ended"
                    )
                raise
            pods = self.call(core.list_namespaced_pod, namespace, label_selector=f"job-name={self.job}").items
            pods.sort(key=lambda pod: (pod.metadata.creation_timestamp or datetime.min, pod.metadata.name))
            for pod in pods:
                name = pod.metadata.name
                if name in done:
                    continue
                state, detail = container_state(pod)
                if state == "waiting":
                    reason, message = _waiting(pod, detail)
                    if shown.get(name) != reason:
                        shown[name] = reason
                        self.say(f"pod {name}: waiting ({reason}{': ' + message if message else ''})")
                    if reason in HOPELESS:
                        return StepResult(StepStatus.FAILED, error=f"pod {name} cannot start: {reason}: {message}")
                    break  # later pods wait for this one, so the log stays in order
                self.say(f"pod {name} ({state}) on node {pod.spec.node_name}")
                self.follower.follow(name)
                done.add(name)
                self._say_end(name, core)
            finished = _finished(job)
            if finished is not None and all(
                pod.metadata.name in done or container_state(pod)[0] == "waiting" for pod in pods
            ):
                return self._result(job, finished, core)
            self.pause(POLL)

    def _say_end(self, pod_name: str, core: k8s.CoreV1Api) -> None:
        assert self.target is not None
        try:
            pod = self.call(core.read_namespaced_pod, pod_name, self.target.namespace)
        except ClusterError:
            return
        state, detail = container_state(pod)
        if state == "terminated":
            self.say(f"pod {pod_name}: container exited with code {detail.exit_code} ({detail.reason})")

    def _result(self, job: Any, finished: Any, core: k8s.CoreV1Api) -> StepResult:
        assert self.target is not None
        code = self._last_exit_code(core)
        outputs = {"job": self.job, "exit_code": "" if code is None else str(code)}
        where = f"Job {self.target.namespace}/{self.job}"
        if finished.type == "Complete":
            self.say(f"{where} succeeded")
            return StepResult(StepStatus.SUCCESS, exit_code=code if code is not None else 0, outputs=outputs)
        why = f"{finished.reason}: {finished.message}" if finished.message else str(finished.reason)
        if finished.reason == "DeadlineExceeded":
            return StepResult(StepStatus.TIMED_OUT, exit_code=code, outputs=outputs, error=f"{where} failed ({why})")
        exited = f"; its container exited with code {code}" if code is not None else ""
        return StepResult(StepStatus.FAILED, exit_code=code, outputs=outputs, error=f"{where} failed ({why}){exited}")

    def _last_exit_code(self, core: k8s.CoreV1Api) -> int | None:
        assert self.target is not None
        pods = self.call(core.list_namespaced_pod, self.target.namespace, label_selector=f"job-name={self.job}").items
        codes = [
            (pod.metadata.creation_timestamp or datetime.min, detail.exit_code)
            for pod in pods
            for state, detail in [container_state(pod)]
            if state == "terminated"
        ]
        return int(max(codes, key=lambda item: item[0])[1]) if codes else None

    def _emit(self, text: str) -> None:
        self.say(text, LogStream.STDOUT)

    def _seen(self, text: str) -> None:
        # A line stored by an earlier attempt: not written again, but an output it set still counts.
        if self.sink is not None and self.sink.on_line is not None:
            self.sink.on_line(LogStream.STDOUT, mask(text, self.sink.secrets))

    # -- ending -----------------------------------------------------------------------------------------

    HANDED_ON = (StepStatus.QUEUED, StepStatus.RUNNING)

    def cancel(self) -> None:
        # The watchdog also calls this when the reaper took the attempt away (the worker looked dead). If the
        # step was handed to a next attempt, that attempt adopts the Job: leave it running.
        ctx = self.ctx
        try:
            row = StepExecution.objects.filter(pk=ctx.step_pk).values("attempt", "status").first() if ctx else None
        except DatabaseError:
            row = None  # without the database, a cancel is a cancel
        if ctx is not None and row and row["attempt"] > ctx.attempt and row["status"] in self.HANDED_ON:
            self.keep_for_next_attempt = True
        super().cancel()

    def on_stop(self) -> None:
        if self.follower is not None:
            self.follower.abort()

    def _remove_after_stop(self, batch: k8s.BatchV1Api) -> None:
        assert self.target is not None
        if not self.job:
            return
        where = f"Job {self.target.namespace}/{self.job}"
        if self.keep_for_next_attempt:
            self.say(f"left {where} running for the next attempt")
            return
        grace = int(self.ctx.params.get("grace_period", 5) if self.ctx else 5)
        if self._delete(batch, "Foreground", wait=grace + 30.0):
            self.say(f"deleted {where} and its pods")
        else:
            self.say(f"asked to delete {where}; it is still being removed")

    def _apply_delete_policy(self, batch: k8s.BatchV1Api, result: StepResult) -> None:
        assert self.target is not None
        policy = str((self.ctx.params if self.ctx else {}).get("delete") or "always")
        if not self.job:
            return
        where = f"Job {self.target.namespace}/{self.job}"
        if policy == "always" or (policy == "on_success" and result.status == StepStatus.SUCCESS):
            self._delete(batch, "Background", wait=0)
            self.say(f"deleted {where} (delete: {policy})")
        else:
            self.say(f"kept {where} (delete: {policy})")

    def _delete(self, batch: k8s.BatchV1Api, propagation: str, wait: float) -> bool:
        """Delete the Job (ignoring "already gone"); with ``wait``, until it is gone. True when it is."""
        assert self.target is not None
        cluster, namespace = self.target.cluster, self.target.namespace
        try:
            call(cluster, batch.delete_namespaced_job, self.job, namespace, propagation_policy=propagation)
        except ClusterError as exc:
            if exc.status == 404:
                return True
            self.say(f"could not delete Job {namespace}/{self.job}: {exc}")
            return False
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                call(cluster, batch.read_namespaced_job, self.job, namespace)
            except ClusterError as exc:
                if exc.status == 404:
                    return True
            time.sleep(0.2)
        return wait == 0


def _waiting(pod: Any, detail: Any) -> tuple[str, str]:
    """Why the pod's container has not started: its waiting reason, or why the pod is not scheduled."""
    if detail is not None and detail.reason:
        return str(detail.reason), str(detail.message or "")
    for condition in (pod.status.conditions or []) if pod.status else []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return str(condition.reason or "Unschedulable"), str(condition.message or "")
    return (pod.status.phase if pod.status else "") or "Pending", ""


def _finished(job: Any) -> Any:
    """The Job's Complete or Failed condition when it holds, else None."""
    for condition in (job.status.conditions or []) if job.status else []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition
    return None


def lost_attempts(step_pk: int, attempt: int) -> set[int]:
    """The attempts right before ``attempt`` that were lost, back to the last one that was not."""
    history = dict(StepAttempt.objects.filter(step_id=step_pk, number__lt=attempt).values_list("number", "status"))
    lost: set[int] = set()
    number = attempt - 1
    while history.get(number) == StepStatus.LOST:
        lost.add(number)
        number -= 1
    return lost


def stored_records(step_pk: int, created: str) -> int:
    """How many of a Job's log records the step log already holds: its stdout rows after the Job's creation
    line. Only that Job writes stdout to the step between its creation line and now (later attempts that
    adopted it included), and each record is one row (see ``k8s_job_log``), so the count is exact; rows a
    killed worker had not flushed yet are not counted and are read again from the pod."""
    marker = (
        LogLine.objects.filter(step_id=step_pk, stream=LogStream.SYSTEM, text=created)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    if marker is None:
        return 0
    return LogLine.objects.filter(step_id=step_pk, stream=LogStream.STDOUT, seq__gt=marker).count()
