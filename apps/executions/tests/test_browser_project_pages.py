"""A project's triggers, notifications and Docker host pages in a real headless Chromium against the real ASGI
server.

A maintainer reaches both from the project page, reads every trigger (what it listens to, its webhook URL, why
its last firing failed) and switches one off; reads the targets (secrets masked), the rules and the delivery
attempts, and filters them. A viewer gets neither link nor page. Both pages fit a phone's width (only their
tables scroll). A Docker host that does not answer, linked from the project page, shows why instead of empty
lists. Screenshots go to ``<data dir>/test-output/screenshots/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ansflow.testing import signed_in_page
from apps.accounts.choices import Role
from apps.accounts.services import credential_create
from apps.accounts.tests.factories import ProjectFactory, UserFactory, make_user_with_role
from apps.executions.models import NotificationDelivery, NotificationRule, NotificationTarget
from apps.executions.services import execution_start
from apps.k8s_integration.models import DockerHost
from apps.k8s_integration.services import target_create
from apps.pipelines.services import pipeline_import
from apps.pipelines.triggers.models import Trigger
from apps.pipelines.triggers.services import trigger_record

from .helpers import wait_done

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

URL_KEY = "Url-Query-Key-5e5e"
YAML = """apiVersion: ansflow/v1
kind: Pipeline
metadata: {name: web-deploy}
spec:
  inputs:
    target: {type: string, default: staging}
  on:
    webhook: {branches: [main]}
    schedule: [{cron: "0 3 * * 1-5", timezone: Europe/Paris}]
  steps:
    - {id: a, type: shell, run: "true"}
"""


@pytest.fixture
def shop(celery_worker: Any) -> Any:
    """Project "shop": a pipeline with a webhook and a schedule, two finished runs, two notification targets,
    a rule and three delivery attempts; a maintainer (not staff) and a viewer."""
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    shop = ProjectFactory(slug="shop", name="Shop")
    pipeline = pipeline_import(actor=root, project=shop, yaml_text=YAML).pipeline
    hook = Trigger.objects.get(pipeline=pipeline, key="webhook")
    trigger_record(trigger=hook, outcome="failed", reason="inputs.target: must match '^v[0-9]+'")
    runs = [wait_done(execution_start(actor=root, pipeline=pipeline)) for _ in range(2)]
    credential_create(actor=root, project=shop, name="url-key", kind="secret_text", fields={"secret": URL_KEY})
    webhook = NotificationTarget.objects.create(project=shop, name="hook", kind="webhook",
                                                url=f"https://hooks.example.test/in?key={URL_KEY}")  # fmt: skip
    mail = NotificationTarget.objects.create(project=shop, name="mail", kind="email", recipients=["ops@example.test"])
    rule = NotificationRule.objects.create(project=shop, name="on-failure", event="failure")
    rule.targets.set([webhook, mail])
    for target, run, attempt, status, code, error in [
        (webhook, runs[0], 1, "retrying", 503, "HTTP 503: busy"),
        (webhook, runs[0], 2, "sent", 200, ""),
        (mail, runs[1], 1, "failed", 550, "SMTP 550: no such user"),
    ]:
        NotificationDelivery.objects.create(project=shop, target=target, target_name=target.name, execution=run,
                                            event="failure", attempt=attempt, status=status, response_code=code,
                                            error=error, message="shop/web-deploy failed")  # fmt: skip
    make_user_with_role(shop, Role.MAINTAINER, username="mia")
    make_user_with_role(shop, Role.VIEWER, username="vic")
    shop.hook = hook
    return shop


def row_texts(page: Any, selector: str) -> list[str]:
    return [" ".join(text.split()) for text in page.locator(selector).all_inner_texts()]


def test_a_maintainer_reads_and_switches_triggers_and_reads_notifications(browser, asgi_server, shop, shots):
    base = asgi_server.url
    page = signed_in_page(browser, base, "mia")
    page.goto(f"{base}/projects/shop/")
    with page.expect_navigation():
        page.click("main a:has-text('Triggers')")
    triggers = {text.split()[1]: text for text in row_texts(page, "#triggers tbody tr")}
    assert set(triggers) == {"api", "manual", "schedule[0]", "webhook"}
    assert "0 3 * * 1-5 Europe/Paris" in triggers["schedule[0]"]
    assert f"POST {base}/hooks/{shop.hook.public_id}/" in triggers["webhook"]
    assert "inputs.target: must match '^v[0-9]+'" in triggers["webhook"]
    assert all(" on " in f" {text} " for text in triggers.values())
    page.screenshot(path=str(shots / "triggers.png"), full_page=True)

    schedule = Trigger.objects.get(pipeline__project=shop, key="schedule[0]")
    with page.expect_navigation():
        page.click(f"#trigger-{schedule.pk} button:has-text('Switch off')")
    assert "web-deploy schedule[0] switched off." in page.locator("ul.messages").inner_text()
    assert page.locator(f"#trigger-{schedule.pk} .badge").inner_text() == "switched off"
    assert page.locator(f"#trigger-{schedule.pk} button").inner_text() == "Switch on"
    schedule.refresh_from_db()
    assert schedule.enabled is False

    page.goto(f"{base}/projects/shop/")
    with page.expect_navigation():
        page.click("main a:has-text('Notifications')")
    assert row_texts(page, "#targets tbody tr") == [
        "hook Webhook https://hooks.example.test/in?key=*** —", "mail Email ops@example.test —"]  # fmt: skip
    assert URL_KEY not in page.content()
    assert row_texts(page, "#rules tbody tr") == ["on-failure Run failed every pipeline hook mail on"]
    attempts = row_texts(page, "#deliveries tbody tr")
    assert [row.split(" ", 2)[2] for row in attempts] == [
        "Run failed web-deploy #2 mail 1 failed 550 SMTP 550: no such user",
        "Run failed web-deploy #1 hook 2 sent 200",
        "Run failed web-deploy #1 hook 1 failed, retrying 503 HTTP 503: busy",
    ]  # fmt: skip
    assert page.locator("main a:has-text('admin')").count() == 0  # the admin is for staff only
    page.screenshot(path=str(shots / "notifications.png"), full_page=True)
    page.select_option("#id_status", "failed")
    with page.expect_navigation():
        page.click("#deliveries button:has-text('Filter')")
    assert [row.split(" ", 2)[2] for row in row_texts(page, "#deliveries tbody tr")] == [attempts[0].split(" ", 2)[2]]

    phone = signed_in_page(browser, base, "mia", 390, 844)
    for name in ("triggers", "notifications"):
        phone.goto(f"{base}/projects/shop/{name}/")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, name
        phone.screenshot(path=str(shots / f"phone-{name}.png"), full_page=True)


def test_a_viewer_has_neither_link_nor_page(browser, asgi_server, shop):
    base = asgi_server.url
    page = signed_in_page(browser, base, "vic")
    page.goto(f"{base}/projects/shop/")
    assert page.locator("main a:has-text('Clusters')").is_visible()
    assert page.locator("main a:has-text('Triggers'), main a:has-text('Notifications')").count() == 0
    for name in ("triggers", "notifications"):
        answer = page.goto(f"{base}/projects/shop/{name}/")
        assert answer.status == 403, name
        assert "maintainers" in page.locator("main").inner_text()


def test_a_docker_host_that_does_not_answer_says_why_instead_of_listing_nothing(browser, asgi_server, tmp_path, shots):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    dock = ProjectFactory(slug="dock", name="Dock")
    target_create(actor=root, model=DockerHost, project=dock, name="gone", url=f"unix://{tmp_path}/none.sock")
    make_user_with_role(dock, Role.VIEWER, username="vic")
    base = asgi_server.url
    for width, height in ((1280, 800), (390, 844)):
        page = signed_in_page(browser, base, "vic", width, height)
        page.goto(f"{base}/projects/dock/")
        with page.expect_navigation():
            page.click('[data-docker-host="gone"]')
        assert page.url == f"{base}/projects/dock/docker-hosts/gone/"
        assert "does not answer" in page.locator("#docker-error").inner_text()
        assert page.locator("#images, #containers").count() == 0  # no "No images." under the error
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(shots / f"docker-host-down-{width}.png"), full_page=True)
