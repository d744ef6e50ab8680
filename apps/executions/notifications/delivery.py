"""Sending one delivery attempt, recording what the target answered, and scheduling the next attempt.

A worker claims the attempt (``pending -> sending``, a conditional update), so a duplicate message sends
nothing. A failure that may pass (a connection error, HTTP 5xx/408/429, an SMTP error) is retried as a new
attempt row after an exponentially growing delay, up to ``NOTIFICATION_ATTEMPTS`` attempts in all. An attempt
whose worker died mid-send (still ``sending`` after ``NOTIFICATION_SENDING_TIMEOUT``) is recovered by the reaper
the same way, as a failure that may pass.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from apps.accounts.choices import CredentialKind
from apps.accounts.masking import mask
from apps.accounts.services import credential_secrets_only
from apps.pipelines.spec import ExpressionError

from ..models import NotificationDelivery, NotificationTarget
from .choices import DeliveryStatus, TargetKind
from .dispatch import send_after_commit
from .messages import event_context, project_secrets, render

logger = logging.getLogger("ansflow.notifications")

HTTP_TIMEOUT = 10.0
MAX_BACKOFF = 3600.0
SIGNATURE_HEADER = "X-AnsFlow-Signature-256"


@dataclass
class Answer:
    """What the target said: ``ok``; the HTTP status or SMTP reply code; the error; whether to try again."""

    ok: bool
    code: int | None = None
    error: str = ""
    retry: bool = False


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1``."""
    return float(min(settings.NOTIFICATION_BACKOFF * 2 ** (attempt - 1), MAX_BACKOFF))


def _credential_secret(target: NotificationTarget) -> str:
    if target.credential is None:
        return ""
    secrets = credential_secrets_only(credential=target.credential)
    for name in ("secret", "token", "password"):
        if secrets.get(name):
            return secrets[name]
    return next((value for value in secrets.values() if value), "")


def _post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    try:
        response = requests.post(url, data=body, headers=headers, timeout=HTTP_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return Answer(False, error=f"{type(exc).__name__}: {exc}", retry=True)
    code = response.status_code
    if 200 <= code < 300:
        return Answer(True, code)
    return Answer(False, code, f"HTTP {code}: {response.text[:500]}", retry=code >= 500 or code in (408, 429))


def send_webhook(target: NotificationTarget, payload: Any, delivery: NotificationDelivery) -> Answer:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "AnsFlow-Notifications",
               "X-AnsFlow-Event": delivery.event, "X-AnsFlow-Delivery": str(delivery.pk)}  # fmt: skip
    secret = _credential_secret(target)
    if secret:
        headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if target.secret_header:
            bearer = target.secret_header.lower() == "authorization" and target.credential is not None
            bearer = bearer and target.credential.kind == CredentialKind.BEARER_TOKEN  # type: ignore[union-attr]
            headers[target.secret_header] = f"Bearer {secret}" if bearer else secret
    return _post(target.url, body, headers)


def send_slack(target: NotificationTarget, payload: Any) -> Answer:
    url = _credential_secret(target)
    if not url:
        return Answer(False, error="The target's credential holds no webhook URL.")
    return _post(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def send_email(target: NotificationTarget, text: str) -> Answer:
    subject, _, _ = text.partition("\n")
    message = EmailMessage(subject=f"[AnsFlow] {subject}"[:200], body=text, to=list(target.recipients))
    try:
        message.send()
    except smtplib.SMTPResponseException as exc:
        return Answer(False, exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retry=exc.smtp_code < 500)
    except smtplib.SMTPRecipientsRefused as exc:
        return Answer(False, error=f"recipients refused: {exc.recipients}", retry=False)
    except (smtplib.SMTPException, OSError) as exc:
        return Answer(False, error=f"{type(exc).__name__}: {exc}", retry=True)
    return Answer(True, 250)


def _send(delivery: NotificationDelivery, target: NotificationTarget, secrets: list[str]) -> tuple[str, Answer]:
    execution = delivery.execution
    minutes = delivery.rule.minutes if delivery.rule is not None else None
    try:
        text, payload = render(target, event_context(execution, delivery.event, subject=delivery.subject,
                                                     minutes=minutes), secrets)  # fmt: skip
    except ExpressionError as exc:
        return "", Answer(False, error=f"body template: {exc}", retry=False)
    if target.kind == TargetKind.EMAIL:
        return text, send_email(target, text)
    if target.kind == TargetKind.SLACK:
        return text, send_slack(target, payload)
    return text, send_webhook(target, payload, delivery)


def delivery_send(*, delivery_id: int) -> str | None:
    """Sends one attempt and records the answer; returns the attempt's final status (None if not claimed)."""
    now = timezone.now()
    if not NotificationDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING, updated_at=now
    ):
        return None
    delivery = NotificationDelivery.objects.select_related(
        "rule", "target__credential", "execution__project", "execution__pipeline"
    ).get(pk=delivery_id)
    target = delivery.target
    secrets = project_secrets(delivery.project_id)
    if target is None:
        text, answer = "", Answer(False, error="The target was deleted.")
    else:
        try:
            text, answer = _send(delivery, target, secrets)
        except Exception as exc:  # an unexpected failure is recorded, never lost
            logger.exception("notification %s failed", delivery_id)
            text, answer = "", Answer(False, error=f"{type(exc).__name__}: {exc}", retry=True)
    return _record(delivery, text, answer, secrets)


@transaction.atomic
def _record(delivery: NotificationDelivery, text: str, answer: Answer, secrets: list[str]) -> str | None:
    """Records how the attempt ended and schedules the next one; None when it was recorded already (a
    worker that outlived the reaper's patience finds its attempt recovered: the first record stands)."""
    now = timezone.now()
    retry = not answer.ok and answer.retry and delivery.attempt < settings.NOTIFICATION_ATTEMPTS
    status = DeliveryStatus.SENT if answer.ok else DeliveryStatus.RETRYING if retry else DeliveryStatus.FAILED
    if not NotificationDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=status, response_code=answer.code, error=mask(answer.error, secrets)[:4000], message=text,
        finished_at=now, updated_at=now,
    ):  # fmt: skip
        logger.warning("notification %s: attempt %s was recorded already, %s dropped", delivery.pk,
                       delivery.attempt, status, extra={"execution_id": delivery.execution_id})  # fmt: skip
        return None
    if retry:
        delay = backoff(delivery.attempt)
        following = NotificationDelivery.objects.create(
            project_id=delivery.project_id, rule_id=delivery.rule_id, target_id=delivery.target_id,
            target_name=delivery.target_name, execution_id=delivery.execution_id, event=delivery.event,
            subject=delivery.subject, attempt=delivery.attempt + 1, not_before=now + timedelta(seconds=delay),
        )  # fmt: skip
        send_after_commit([(following.pk, delay)])
    if not answer.ok:
        logger.warning(
            "notification %s to %s, attempt %s: %s",
            delivery.event,
            delivery.target_name,
            delivery.attempt,
            mask(answer.error, secrets),
            extra={"execution_id": delivery.execution_id},
        )
    return status


def delivery_recover(*, delivery_id: int, cutoff: datetime) -> str | None:
    """An attempt ``sending`` since before ``cutoff`` lost its worker mid-send: it is recorded failed and
    retried per the policy (the target may have got it: a retry can repeat a message, never lose one).
    Returns the status recorded, or None when the attempt was not stale any more."""
    delivery = NotificationDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.SENDING, updated_at__lt=cutoff
    ).first()
    if delivery is None:
        return None
    silent = (timezone.now() - delivery.updated_at).total_seconds()
    error = f"no answer recorded {silent:.0f} s after the send started: the worker stopped while sending"
    return _record(delivery, "", Answer(False, error=error, retry=True), [])


def recover_sending(now: datetime | None = None) -> int:
    """Recovers every attempt stuck ``sending`` longer than ``NOTIFICATION_SENDING_TIMEOUT``; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT)
    stuck = NotificationDelivery.objects.filter(status=DeliveryStatus.SENDING, updated_at__lt=cutoff)
    ids = list(stuck.values_list("pk", flat=True)[:500])
    return sum(delivery_recover(delivery_id=pk, cutoff=cutoff) is not None for pk in ids)
