"""Webhook, upstream and api/manual triggers with real signed deliveries to a live server and a real worker."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ansflow.testing import wait_until
from apps.executions.models import Execution
from apps.executions.services import RunError, execution_start
from apps.pipelines.models import Trigger, TriggerEvent
from apps.pipelines.spec import SpecError
from apps.pipelines.triggers.services import trigger_set_enabled, trigger_webhook_secret

from .helpers import log_text, pipeline_yaml, project, superuser, wait_done

pytestmark = pytest.mark.django_db(transaction=True)

HOOKED = pipeline_yaml(
    "hooked",
    """
    - id: build
      type: shell
      if: "{{ trigger.branch == 'main' }}"
      run: 'echo "building $INPUT_SHA by $INPUT_WHO"'
    """,
    extra="""
    inputs:
      sha: {type: string, pattern: '^[0-9a-f]{40}$'}
      who: {type: string, default: nobody}
    on:
      webhook:
        branches: [main, "release/*"]
        paths: ["src/**"]
        inputs: {sha: "{{ trigger.commit }}", who: "{{ trigger.author }}"}
    """,
)


def import_yaml(text: str):
    from apps.pipelines.services import pipeline_import

    return pipeline_import(actor=superuser(), project=project(), yaml_text=text).pipeline


def push(ref: str = "refs/heads/main", paths=("src/app.py",), sha: str = "a" * 40) -> dict:
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": sha,
        "repository": {"full_name": "acme/shop"},
        "pusher": {"name": "ada"},
        "head_commit": {"id": sha, "message": "fix", "author": {"name": "Ada Lovelace"}},
        "commits": [{"id": sha, "added": [], "modified": list(paths), "removed": []}],
    }


def github(server, trigger, payload, secret=None, delivery=None, event="push"):
    body = json.dumps(payload).encode()
    key = (secret or trigger_webhook_secret(trigger)).encode()
    signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-Hub-Signature-256": signature, "Content-Type": "application/json"}  # fmt: skip
    return httpx.post(f"{server.url}/hooks/{trigger.public_id}/", content=body, headers=headers, timeout=30)


def gitlab(server, trigger, payload, token=None, delivery=None, event="Push Hook"):
    headers = {"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": delivery or str(uuid.uuid4()),
               "X-Gitlab-Token": token or trigger_webhook_secret(trigger)}  # fmt: skip
    return httpx.post(f"{server.url}/hooks/{trigger.public_id}/", json=payload, headers=headers, timeout=30)


def test_signed_github_push_starts_a_run_with_trigger_facts(asgi_server, celery_worker) -> None:
    pipeline = import_yaml(HOOKED)
    trigger = Trigger.objects.get(pipeline=pipeline, kind="webhook")
    delivery = str(uuid.uuid4())
    answer = github(asgi_server, trigger, push(), delivery=delivery)
    assert answer.status_code == 201, answer.text
    execution = wait_done(Execution.objects.get(pk=answer.json()["execution"]))
    assert execution.status == "success"
    assert execution.trigger == "webhook"
    assert execution.trigger_info["branch"] == "main"
    assert execution.trigger_info["author"] == "Ada Lovelace"
    assert f"building {'a' * 40} by Ada Lovelace" in log_text(execution, "build")

    again = github(asgi_server, trigger, push(), delivery=delivery)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert Execution.objects.filter(pipeline=pipeline).count() == 1
    assert TriggerEvent.objects.filter(trigger=trigger, delivery_id=delivery).count() == 1


def test_wrong_signatures_filters_and_disabled_trigger(asgi_server, celery_worker) -> None:
    pipeline = import_yaml(HOOKED)
    trigger = Trigger.objects.get(pipeline=pipeline, kind="webhook")
    forged = github(asgi_server, trigger, push(), secret="not-the-secret")
    assert forged.status_code == 401
    assert gitlab(asgi_server, trigger, push(), token="not-the-secret").status_code == 401
    unsigned = httpx.post(f"{asgi_server.url}/hooks/{trigger.public_id}/", json=push(), timeout=30)
    assert unsigned.status_code == 401

    branch = github(asgi_server, trigger, push(ref="refs/heads/dev"))
    assert (branch.status_code, branch.json()["status"]) == (202, "skipped")
    assert "branch 'dev'" in branch.json()["reason"]
    tag = gitlab(asgi_server, trigger, push(ref="refs/tags/v1.0"), event="Tag Push Hook")
    assert tag.status_code == 202
    docs_only = github(asgi_server, trigger, push(paths=("docs/readme.md",)))
    assert "no changed path" in docs_only.json()["reason"]
    assert github(asgi_server, trigger, {}, event="ping").json() == {"status": "pong"}
    assert Execution.objects.filter(pipeline=pipeline).count() == 0
    assert TriggerEvent.objects.filter(trigger=trigger, outcome="skipped").count() == 3

    release = gitlab(asgi_server, trigger, {**push(ref="refs/heads/release/2"), "checkout_sha": "b" * 40})
    assert release.status_code == 201, release.text
    assert Execution.objects.get(pk=release.json()["execution"]).inputs["sha"] == "b" * 40

    invalid = github(asgi_server, trigger, push(sha="not-a-sha"))
    assert invalid.status_code == 422
    event = TriggerEvent.objects.filter(trigger=trigger).latest("pk")
    assert (event.outcome, "sha" in event.reason) == ("failed", True)
    assert Trigger.objects.get(pk=trigger.pk).last_outcome == "failed"

    trigger_set_enabled(actor=superuser(), trigger=trigger, enabled=False)
    before = TriggerEvent.objects.count()
    assert github(asgi_server, trigger, push()).status_code == 404
    assert TriggerEvent.objects.count() == before


def test_concurrent_duplicate_deliveries_start_one_run(asgi_server, celery_worker) -> None:
    pipeline = import_yaml(HOOKED.replace("name: hooked", "name: hooked-race"))
    trigger = Trigger.objects.get(pipeline=pipeline, kind="webhook")
    delivery = str(uuid.uuid4())
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: github(asgi_server, trigger, push(), delivery=delivery), range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert Execution.objects.filter(pipeline=pipeline).count() == 1


def test_upstream_pipeline_passes_its_outputs(celery_worker) -> None:
    up = import_yaml(
        pipeline_yaml(
            "up", "- {id: make, type: shell, run: 'echo digest=sha256:42 >> $ANSFLOW_OUTPUT', outputs: [digest]}"
        )
    )
    import_yaml(
        pipeline_yaml(
            "down",
            "- {id: use, type: shell, run: 'echo deploying $INPUT_DIGEST from $INPUT_SOURCE'}",
            extra="""
            inputs: {digest: {type: string, required: true}, source: {type: string}}
            on:
              pipeline:
                - {pipeline: up, status: [success], inputs: {source: "{{ trigger.pipeline }} #{{ trigger.number }}"}}
            """,
        )
    )
    first = wait_done(execution_start(actor=superuser(), pipeline=up))
    assert first.status == "success"
    down = wait_until(
        lambda: Execution.objects.filter(pipeline__name="down").first(), timeout=60, message="down starts"
    )
    down = wait_done(down)
    assert down.trigger == "pipeline"
    assert down.inputs == {"digest": "sha256:42", "source": f"up #{first.number}"}
    assert "deploying sha256:42 from up #1" in log_text(down, "use")


def test_upstream_status_filter_records_the_skip(celery_worker) -> None:
    up = import_yaml(pipeline_yaml("up-fails", "- {id: a, type: shell, run: exit 1}"))
    down = import_yaml(pipeline_yaml("down-2", "- {id: b, type: shell, run: 'true'}",
                                     extra="on: {pipeline: [{pipeline: up-fails}]}\n"))  # fmt: skip
    execution = wait_done(execution_start(actor=superuser(), pipeline=up))
    assert execution.status == "failed"
    trigger = Trigger.objects.get(pipeline=down, kind="pipeline")
    event = wait_until(lambda: TriggerEvent.objects.filter(trigger=trigger).first(), timeout=30, message="recorded")
    assert (event.outcome, event.reason) == ("skipped", "upstream status failed")
    assert not Execution.objects.filter(pipeline=down).exists()


def test_api_and_manual_runs_can_be_turned_off() -> None:
    pipeline = import_yaml(pipeline_yaml("no-api", "- {id: a, type: shell, run: 'true'}", extra="on: {api: false}\n"))
    with pytest.raises(RunError, match="runs by api are turned off"):
        execution_start(actor=superuser(), pipeline=pipeline, trigger="api")
    assert execution_start(actor=superuser(), pipeline=pipeline, trigger="manual").trigger == "manual"
    manual = Trigger.objects.get(pipeline=pipeline, key="manual")
    trigger_set_enabled(actor=superuser(), trigger=manual, enabled=False)
    with pytest.raises(RunError, match="runs by manual"):
        execution_start(actor=superuser(), pipeline=pipeline, trigger="manual")


def test_on_block_errors_are_located() -> None:
    bad = pipeline_yaml(
        "bad-on", "- {id: a, type: shell, run: 'true'}",
        extra="on:\n  schedule: [{cron: '0 25 * * *', timezone: Nowhere/City}]\n  webhook: {provider: svn}\n",
    )  # fmt: skip
    with pytest.raises(SpecError) as caught:
        import_yaml(bad)
    found = {(e.path, e.line) for e in caught.value.errors}
    assert ("spec.on.schedule[0].cron", 6) in found
    assert ("spec.on.schedule[0].timezone", 6) in found
    assert ("spec.on.webhook.provider", 7) in found


def test_a_webhook_added_through_the_api_starts_runs_signed_with_its_secret(asgi_server, celery_worker) -> None:
    from apps.accounts.services import token_create

    pipeline = import_yaml(pipeline_yaml("api-hooked", "- {id: a, type: shell, run: 'echo tag $INPUT_TAG'}",
                                         extra="inputs: {tag: {type: string}}\n"))  # fmt: skip
    root = superuser()
    headers = {"Authorization": f"Token {token_create(actor=root, user=root, name='hooks')[1]}"}
    secret = "Shared-With-GitHub-2024"
    added = httpx.post(f"{asgi_server.url}/api/v1/triggers/", headers=headers, timeout=30, json={
        "pipeline": pipeline.pk, "kind": "webhook", "name": "releases", "secret": secret,
        "config": {"tags": ["v*"], "inputs": {"tag": "{{ trigger.tag }}"}},
    })  # fmt: skip
    assert added.status_code == 201, added.text
    trigger = Trigger.objects.get(pk=added.json()["id"])
    assert added.json()["webhook_url"] == f"{asgi_server.url}/hooks/{trigger.public_id}/"
    assert github(asgi_server, trigger, push(), secret="a-guessed-secret").status_code == 401
    branch = github(asgi_server, trigger, push(ref="refs/heads/main"), secret=secret)
    assert (branch.status_code, branch.json()["status"]) == (202, "skipped")
    answer = github(asgi_server, trigger, push(ref="refs/tags/v2.1"), secret=secret)
    assert answer.status_code == 201, answer.text
    execution = wait_done(Execution.objects.get(pk=answer.json()["execution"]))
    assert (execution.status, execution.trigger, execution.inputs) == ("success", "webhook", {"tag": "v2.1"})
    assert "tag v2.1" in log_text(execution, "a")
    shown = httpx.get(f"{asgi_server.url}/api/v1/triggers/{trigger.pk}/", headers=headers, timeout=30).json()
    assert (shown["last_outcome"], shown["last_execution_id"], shown["has_secret"]) == ("started", execution.pk, True)
    assert secret not in json.dumps(shown)
