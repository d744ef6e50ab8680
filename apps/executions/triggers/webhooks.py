"""``POST /hooks/<public id>/``: GitHub and GitLab push deliveries, verified in constant time, filtered, deduplicated.

GitHub signs the body with the shared secret (``X-Hub-Signature-256: sha256=<hmac>``); GitLab sends the
secret itself (``X-Gitlab-Token``). The payload's ref, branch, tag, commit, author and changed paths are
``trigger.*`` in the run's expressions.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.pipelines.models import Trigger, TriggerKind
from apps.pipelines.triggers.services import trigger_webhook_secret

from .fire import trigger_fire, trigger_skip

MAX_PATHS = 3000


def _verified(request: HttpRequest, secret: str) -> bool:
    signature = request.headers.get("X-Hub-Signature-256", "")
    if signature:
        expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.encode(), expected.encode())
    token = request.headers.get("X-Gitlab-Token", "")
    return bool(token) and hmac.compare_digest(token.encode(), secret.encode())


def _event(request: HttpRequest) -> tuple[str, str, str]:
    """(provider, event name normalised to push / tag_push / ping / other, delivery id)."""
    if "X-GitHub-Event" in request.headers:
        name = request.headers["X-GitHub-Event"]
        return "github", {"push": "push", "ping": "ping"}.get(name, name), request.headers.get("X-GitHub-Delivery", "")
    name = request.headers.get("X-Gitlab-Event", "")
    delivery = request.headers.get("X-Gitlab-Event-UUID") or request.headers.get("Idempotency-Key", "")
    return "gitlab", {"Push Hook": "push", "Tag Push Hook": "tag_push"}.get(name, name), delivery


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def payload_facts(payload: dict[str, Any]) -> dict[str, Any]:
    """``trigger.*``: ref, branch or tag, commit, author, repository and changed paths of a push payload."""
    ref = str(payload.get("ref") or "")
    head: dict[str, Any] = _mapping(payload.get("head_commit"))
    commits = [c for c in payload.get("commits") or [] if isinstance(c, dict)]
    repository: dict[str, Any] = _mapping(payload.get("repository"))
    pusher: dict[str, Any] = _mapping(payload.get("pusher"))
    author = _mapping(head.get("author")).get("name")
    paths: list[str] = []
    for commit in commits:
        for key in ("added", "modified", "removed"):
            paths.extend(p for p in commit.get(key) or [] if isinstance(p, str) and p not in paths)
    return {
        "ref": ref,
        "branch": ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else "",
        "tag": ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else "",
        "commit": str(payload.get("checkout_sha") or payload.get("after") or head.get("id") or ""),
        "before": str(payload.get("before") or ""),
        "author": str(author or payload.get("user_name") or pusher.get("name") or payload.get("user_username") or ""),
        "message": str(head.get("message") or (commits[-1].get("message") if commits else "") or "")[:2000],
        "repository": str(
            repository.get("full_name")
            or repository.get("path_with_namespace")
            or _mapping(payload.get("project")).get("path_with_namespace")
            or repository.get("name")
            or ""
        ),
        "paths": paths[:MAX_PATHS],
    }  # fmt: skip


def _match(value: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def filter_reason(config: dict[str, Any], event: str, facts: dict[str, Any]) -> str:
    """Why this push does not start a run ("" when it does)."""
    if event not in config.get("events", ["push", "tag_push"]):
        return f"event {event!r} is not in {config.get('events')}"
    branches, tags = config.get("branches") or [], config.get("tags") or []
    if facts["branch"] and (branches or tags) and not _match(facts["branch"], branches):
        return f"branch {facts['branch']!r} matches none of {branches}"
    if facts["tag"] and (branches or tags) and not _match(facts["tag"], tags):
        return f"tag {facts['tag']!r} matches none of {tags}"
    paths = config.get("paths") or []
    if paths and not any(_match(path, paths) for path in facts["paths"]):
        return f"no changed path matches {paths}"
    return ""


def _answer(code: int, **body: Any) -> JsonResponse:
    return JsonResponse(body, status=code)


@csrf_exempt
@require_POST
def webhook_receive(request: HttpRequest, public_id: str) -> JsonResponse:
    trigger = Trigger.objects.select_related("pipeline__project").filter(
        public_id=public_id, kind=TriggerKind.WEBHOOK
    ).first()  # fmt: skip
    if trigger is None or not trigger.active:
        # A disabled trigger does nothing, and says no more than an unknown one.
        return _answer(404, detail="No such webhook.")
    if not _verified(request, trigger_webhook_secret(trigger)):
        return _answer(401, detail="Signature or token does not match this webhook's secret.")
    provider, event, delivery = _event(request)
    if event == "ping":
        return _answer(200, status="pong")
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return _answer(400, detail="The body is not JSON.")
    if not isinstance(payload, dict):
        return _answer(400, detail="The body must be a JSON object.")
    facts = payload_facts(payload)
    if event == "push" and facts["tag"]:
        event = "tag_push"  # GitHub sends tag pushes as push events
    facts.update(provider=provider, event=event, delivery=delivery)
    reason = filter_reason(trigger.config, event, facts)
    if reason:
        trigger_skip(trigger=trigger, reason=reason, info=facts, delivery_id=delivery or None)
        return _answer(202, status="skipped", reason=reason)
    fired = trigger_fire(trigger=trigger, info=facts, delivery_id=delivery or None)
    if fired is None:
        return _answer(200, status="duplicate", detail=f"Delivery {delivery} was already received.")
    if fired.execution_id is None:
        return _answer(422, status="failed", detail=fired.reason)
    return _answer(201, status="started", execution=fired.execution_id)
