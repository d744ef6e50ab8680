"""Notifications end to end: runs on a real worker, deliveries to a real SMTP server and real HTTP receivers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from ansflow.celery import app
from ansflow.testing import CeleryWorker, wait_until
from apps.accounts.models import AuditEvent, Project
from apps.accounts.services import credential_create
from apps.executions.choices import StepStatus
from apps.executions.engine.reaper import reap
from apps.executions.models import Execution, NotificationDelivery, NotificationTarget, StepExecution
from apps.executions.notifications.choices import DeliveryStatus, NotificationEvent, TargetKind
from apps.executions.notifications.delivery import delivery_recover, recover_sending
from apps.executions.notifications.dispatch import notify_approval_waiting, notify_execution_finished
from apps.executions.notifications.services import notification_rule_create, notification_target_create
from apps.executions.services import execution_cancel, notification_deliveries_expire
from apps.executions.tasks import cleanup_notifications
from apps.executions.tasks import reap as reap_task

from .helpers import pipeline_yaml, project, start, superuser, wait_done
from .notify_parts import HttpReceiver, SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)

BASE_URL = "http://ansflow.test"
LEAKY = "Leaky-Passw0rd-99"  # a project secret a failing step prints (the pipeline does not declare it)
TOKEN = "tok-Secret-4711"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def notify_worker(celery_worker: CeleryWorker, smtp: SmtpServer, django_db_blocker: Any) -> Iterator[CeleryWorker]:
    """A worker whose mail settings point at the test SMTP server, with short retry delays.

    Settings come from the environment of the worker process, so this module runs its own worker and
    the session's worker stops consuming meanwhile (Celery's remote control), so every task lands here.
    """
    with django_db_blocker.unblock():
        worker = CeleryWorker.create(
            "notify-worker",
            EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
            ANSFLOW_BASE_URL=BASE_URL,
            ANSFLOW_NOTIFICATION_BACKOFF="0.2",
            ANSFLOW_NOTIFICATION_ATTEMPTS="3",
        )
    app.control.cancel_consumer("celery", destination=[celery_worker.hostname], reply=True)
    try:
        worker.start()
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
        app.control.add_consumer("celery", destination=[celery_worker.hostname], reply=True)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _worker(notify_worker: CeleryWorker) -> CeleryWorker:
    return notify_worker


def webhook(proj: Project, url: str, name: str = "hook", **fields: Any) -> NotificationTarget:
    return notification_target_create(actor=superuser(), project=proj, name=name, kind=TargetKind.WEBHOOK, url=url,
                                      **fields)  # fmt: skip


def deliveries(**filters: Any) -> list[NotificationDelivery]:
    return list(NotificationDelivery.objects.filter(**filters).order_by("pk"))


def settled(**filters: Any) -> list[NotificationDelivery]:
    """The deliveries once none is pending or sending any more."""

    def done() -> list[NotificationDelivery] | None:
        rows = deliveries(**filters)
        busy = any(row.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING) for row in rows)
        return rows if rows and not busy else None

    return wait_until(done, timeout=30, message=f"deliveries {filters} settle")


FAILING = f"""
- id: build
  type: shell
  run: |
    echo "connecting with {LEAKY}"
    exit 3
"""


def test_a_failure_reaches_email_webhook_and_slack_with_every_secret_masked(smtp, receiver):
    root, proj = superuser(), project("notify")
    credential_create(actor=root, project=proj, name="leaky", kind="secret_text", fields={"secret": LEAKY})
    token = credential_create(actor=root, project=proj, name="hook-token", kind="bearer_token", fields={"token": TOKEN})
    slack_path = "/services/T000/B000/slackSecretPath42"
    slack_url = credential_create(actor=root, project=proj, name="slack-url", kind="secret_text",
                                  fields={"secret": receiver.url + slack_path})  # fmt: skip
    body = {"event": "{{ event }}", "run": "{{ pipeline.name }}#{{ execution.number }}", "status": "{{ status }}",
            "text": "{{ message }}", "url": "{{ url }}", "project": "{{ project.slug }}",
            "note": "{{ step.log[0] }}"}  # fmt: skip
    targets = [
        notification_target_create(actor=root, project=proj, name="ops-mail", kind=TargetKind.EMAIL,
                                   recipients=["ops@example.com", "lead@example.com"]),
        webhook(proj, receiver.url + "/hook", credential=token, body_template=body),
        notification_target_create(actor=root, project=proj, name="chat", kind=TargetKind.SLACK, credential=slack_url),
    ]  # fmt: skip
    notification_rule_create(actor=root, project=proj, name="on-failure", event=NotificationEvent.FAILURE,
                             targets=targets)  # fmt: skip

    execution = wait_done(start(pipeline_yaml("fragile", FAILING, project_slug="notify"), project_slug="notify"))
    assert execution.status == "failed"
    rows = settled(execution=execution)
    assert {(row.target_name, row.status, row.response_code) for row in rows} == {
        ("ops-mail", "sent", 250), ("hook", "sent", 200), ("chat", "sent", 200)
    }  # fmt: skip
    url = f"{BASE_URL}/executions/{execution.pk}/"

    [hook] = receiver.at("/hook")
    assert hook.headers["Authorization"] == f"Bearer {TOKEN}"
    signature = "sha256=" + hmac.new(TOKEN.encode(), hook.raw, hashlib.sha256).hexdigest()
    assert hook.headers["X-AnsFlow-Signature-256"] == signature
    assert hook.json == {"event": "failure", "run": "fragile#1", "status": "failed", "text": hook.json["text"],
                         "url": url, "project": "notify", "note": "connecting with ***"}  # fmt: skip
    assert hook.json["text"].startswith("notify/fragile #1 failed")
    assert "Step build failed: exited with code 3" in hook.json["text"]

    [slack] = receiver.at(slack_path)
    assert set(slack.json) == {"text"}
    assert "notify/fragile #1 failed" in slack.json["text"]
    assert url in slack.json["text"]
    assert "connecting with ***" in slack.json["text"]

    wait_until(lambda: smtp.messages, message="the mail arrives")
    [(recipients, mail)] = smtp.messages
    assert sorted(recipients) == ["lead@example.com", "ops@example.com"]
    assert mail["Subject"].startswith("[AnsFlow] notify/fragile #1 failed")
    text = mail.get_content()
    assert url in text
    assert "connecting with ***" in text

    everything = [r.raw.decode() for r in receiver.requests] + [mail.as_string()] + [r.message for r in rows]
    for secret in (LEAKY, TOKEN, slack_path):
        assert not any(secret in sent for sent in everything if sent is not None), secret
    assert all(LEAKY not in row.message and "connecting with ***" in row.message for row in rows)


def test_a_failing_receiver_is_retried_and_every_attempt_recorded(receiver):
    root, proj = superuser(), project("notify")
    receiver.scripts["/flaky"] = [500]
    receiver.scripts["/down"] = [503, 503, 503, 503]
    flaky, down = webhook(proj, receiver.url + "/flaky", "flaky"), webhook(proj, receiver.url + "/down", "down")
    notification_rule_create(actor=root, project=proj, name="failures", event="failure", targets=[flaky, down])

    execution = wait_done(start(pipeline_yaml("fragile", FAILING, project_slug="notify"), project_slug="notify"))
    wait_until(lambda: len(receiver.at("/down")) == 3 and len(receiver.at("/flaky")) == 2, timeout=30)
    rows = settled(execution=execution)  # a retry's row is written with the failed attempt's record
    assert [(r.attempt, r.status, r.response_code) for r in rows if r.target_name == "flaky"] == [
        (1, "retrying", 500), (2, "sent", 200)
    ]  # fmt: skip
    assert [(r.attempt, r.status, r.response_code) for r in rows if r.target_name == "down"] == [
        (1, "retrying", 503), (2, "retrying", 503), (3, "failed", 503)
    ]  # fmt: skip
    assert all("receiver says no" in r.error for r in rows if r.status != "sent")
    first, second = receiver.at("/flaky")
    assert first.json == second.json
    assert first.json["event"] == "failure"
    assert len(receiver.at("/down")) == 3  # bounded: no fourth attempt


def test_recovered_fires_only_for_a_success_after_a_failure(receiver):
    root, proj = superuser(), project("notify")
    target = webhook(proj, receiver.url + "/recovered")
    notification_rule_create(actor=root, project=proj, name="fixed", event="recovered", targets=[target])
    yaml_text = pipeline_yaml(
        "flappy",
        '- {id: check, type: shell, run: "test \\"$INPUT_BROKEN\\" != true"}',
        extra="inputs: {broken: {type: boolean, default: false}}\n",
        project_slug="notify",
    )
    runs = [wait_done(start(yaml_text, {"broken": broken}, project_slug="notify")) for broken in (0, 1, 0, 0)]
    assert [run.status for run in runs] == ["success", "failed", "success", "success"]
    [row] = settled(event="recovered")
    assert row.execution_id == runs[2].pk
    assert row.status == "sent"
    [hook] = wait_until(lambda: receiver.at("/recovered"))
    assert hook.json["event"] == "recovered"
    assert hook.json["number"] == "3"
    assert "flappy #3 succeeded after a failure" in hook.json["text"]
    # The same decisions again, in this process: nothing new for the others, and #3 is not told twice.
    assert [notify_execution_finished(run.pk) for run in runs] == [[], [], [], []]
    assert len(deliveries(event="recovered")) == 1


GATED = """
- {id: gate, type: approval, with: {approvers: {roles: [maintainer]}}}
- {id: after, type: shell, needs: [gate], run: "true"}
"""


def test_approval_waiting_fires_once(receiver):
    root, proj = superuser(), project("notify")
    target = webhook(proj, receiver.url + "/approval")
    notification_rule_create(actor=root, project=proj, name="gates", event="approval_waiting", targets=[target])
    execution = start(pipeline_yaml("gated", GATED, project_slug="notify"), project_slug="notify")
    [row] = settled(event="approval_waiting")
    assert (row.execution_id, row.subject, row.status) == (execution.pk, "gate", "sent")
    [hook] = receiver.at("/approval")
    assert "gated #1 waits for approval at step gate" in hook.json["text"]
    gate = StepExecution.objects.get(execution=execution, step_id="gate")
    assert gate.status == StepStatus.WAITING
    assert notify_approval_waiting(gate.pk) == []  # reported again: still one delivery
    assert len(deliveries(event="approval_waiting")) == 1
    assert len(receiver.at("/approval")) == 1
    execution_cancel(actor=root, execution=execution)
    wait_done(execution)


def test_a_long_run_is_reported_once_per_rule(receiver):
    root, proj = superuser(), project("notify")
    target = webhook(proj, receiver.url + "/slow")
    notification_rule_create(actor=root, project=proj, name="slow", event="long_running", minutes=5, targets=[target])
    execution = start(pipeline_yaml("gated", GATED, project_slug="notify"), project_slug="notify")
    wait_until(lambda: Execution.objects.get(pk=execution.pk).status == "running")
    assert reap()["notifications"] == 0  # just started
    Execution.objects.filter(pk=execution.pk).update(started_at=timezone.now() - timedelta(minutes=6))
    assert reap()["notifications"] == 1
    assert reap()["notifications"] == 0
    [row] = settled(event="long_running")
    assert (row.execution_id, row.status) == (execution.pk, "sent")
    [hook] = receiver.at("/slow")
    assert "gated #1 has been running for more than 5 minutes" in hook.json["text"]
    execution_cancel(actor=root, execution=execution)
    wait_done(execution)


def stuck(
    execution: Execution,
    target: NotificationTarget,
    rule: Any,
    subject: str,
    attempt: int,
    age: timedelta,
    status: str = DeliveryStatus.SENDING,
) -> NotificationDelivery:
    """A delivery attempt as a worker that died mid-send leaves it: claimed, never recorded."""
    row = NotificationDelivery.objects.create(project_id=execution.project_id, rule=rule, target=target,
                                              target_name=target.name, execution=execution, event=rule.event,
                                              subject=subject, attempt=attempt, status=status)  # fmt: skip
    NotificationDelivery.objects.filter(pk=row.pk).update(updated_at=timezone.now() - age)
    return row


def test_an_attempt_left_sending_by_a_dead_worker_is_recovered_by_the_reaper_task(receiver):
    """The worker runs with 3 attempts and the default 300 s before a `sending` attempt counts as lost."""
    root, proj = superuser(), project("notify")
    execution = wait_done(start(pipeline_yaml("fragile", FAILING, project_slug="notify"), project_slug="notify"))
    target = webhook(proj, receiver.url + "/late")
    # Not a failure rule: the run's own failure report (sent when it finished) must not add rows here.
    rule = notification_rule_create(actor=root, project=proj, name="gates", event="approval_waiting", targets=[target])
    lost = stuck(execution, target, rule, "", 1, timedelta(minutes=10))
    last = stuck(execution, target, rule, "last", 3, timedelta(minutes=10))
    busy = stuck(execution, target, rule, "busy", 1, timedelta(seconds=30))  # a send still within its time

    reap_task.delay()
    wait_until(lambda: not deliveries(pk__in=[lost.pk, last.pk], status=DeliveryStatus.SENDING), timeout=30,
               message="the reaper task recovers the stale attempts")  # fmt: skip
    lost.refresh_from_db()
    assert lost.status == DeliveryStatus.RETRYING
    assert "the worker stopped while sending" in lost.error
    assert lost.finished_at is not None
    last.refresh_from_db()
    assert (last.status, "the worker stopped while sending" in last.error) == (DeliveryStatus.FAILED, True)
    [first, second] = settled(execution=execution, subject="")  # the retry is sent like any other
    assert (first.pk, second.attempt, second.status, second.response_code) == (lost.pk, 2, "sent", 200)
    [hook] = receiver.at("/late")
    assert hook.json["event"] == "approval_waiting"
    assert deliveries(subject="last") == [last]  # the last attempt is not retried
    busy.refresh_from_db()
    assert busy.status == DeliveryStatus.SENDING
    # Recovered once: a second pass, or the slow worker reporting at last, changes nothing.
    assert recover_sending() == 0
    assert delivery_recover(delivery_id=lost.pk, cutoff=timezone.now()) is None
    assert deliveries(subject="") == [first, second]


def test_old_delivery_attempts_are_deleted_by_the_cleanup_task(settings):
    root, proj = superuser(), project("notify")
    execution = wait_done(start(pipeline_yaml("fragile", FAILING, project_slug="notify"), project_slug="notify"))
    target = webhook(proj, "http://127.0.0.1:9/never")
    rule = notification_rule_create(actor=root, project=proj, name="gates", event="approval_waiting", targets=[target])
    old = [stuck(execution, target, rule, status, 1, timedelta(0), status=status)
           for status in ("sent", "failed", "retrying", "pending")]  # fmt: skip
    recent = stuck(execution, target, rule, "recent", 1, timedelta(0), status="sent")
    NotificationDelivery.objects.filter(pk__in=[row.pk for row in old]).update(
        created_at=timezone.now() - timedelta(days=91)
    )
    NotificationDelivery.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=89))
    assert settings.CELERY_BEAT_SCHEDULE["ansflow-notification-retention"]["task"] == "executions.cleanup_notifications"

    cleanup_notifications.delay()  # on the worker, with the default of 90 days
    wait_until(lambda: len(deliveries()) == 2, timeout=30, message="the cleanup task deletes the old attempts")
    assert {row.subject for row in deliveries()} == {"pending", "recent"}  # a pending attempt is still due
    event = AuditEvent.objects.get(verb="notifications.expire")
    assert event.changes == {"deliveries": 3, "older_than_days": 90}
    assert notification_deliveries_expire(days=0) == 0  # 0 keeps them forever
    assert notification_deliveries_expire(days=1) == 1
    assert [row.subject for row in deliveries()] == ["pending"]
