"""The pages in a real headless Chromium (Debian's, driven by Playwright) against a real uvicorn and Celery worker.

One person signs in, imports a pipeline, runs it with inputs, watches live log lines arrive, loses the
socket twice and gets every line exactly once, approves the gate, sees the run succeed and the dashboard
chart. The page's viewer asks for batched messages; the same viewer code in the socket's default mode (one
message per line) follows the last step beside it and also gets every line once. Steps that stream "until a
file exists" let the test decide when output stops, so nothing waits on a clock. A screenshot of each page
goes to ``<data dir>/test-output/screenshots/``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from ansflow.testing import sign_in
from apps.accounts.choices import Role
from apps.accounts.tests.factories import ProjectFactory, make_user_with_role
from apps.executions.choices import ExecutionStatus
from apps.executions.models import Execution, LogLine

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 30_000

PIPELINE = """apiVersion: ansflow/v1
kind: Pipeline
metadata: {name: release, project: web, description: "Streams, waits for a person, streams again"}
spec:
  inputs:
    stop: {type: string, required: true, description: Directory the test writes stop files into}
    version: {type: string, required: true, pattern: '^v[0-9]+'}
  defaults: {timeout: 2m}
  steps:
    - id: build
      type: shell
      run: |
        i=0
        while [ ! -e "$INPUT_STOP/build" ]; do
          i=$((i+1)); printf '\\033[32mok\\033[0m build %s line %s\\n' "$INPUT_VERSION" "$i"; sleep 0.03
        done
        echo "build done"
    - id: gate
      type: approval
      needs: [build]
      with: {approvers: {roles: [operator]}}
    - id: ship
      type: shell
      needs: [gate]
      run: |
        i=0
        while [ ! -e "$INPUT_STOP/ship" ]; do i=$((i+1)); echo "ship tick $i"; sleep 0.03; done
        echo "shipped"
"""


PER_LINE_VIEWER = """() => {
  const card = document.getElementById("log-card");
  const got = (window.perLine = { seqs: [] });
  got.socket = new window.AnsFlow.LogSocket(
    card.dataset.wsPath,
    { line: (line) => got.seqs.push(line.seq), state: () => {}, status: () => {} },
    { batch: false },
  );
  got.socket.start();
}"""


def dom_seqs(page: Any) -> list[int]:
    return page.eval_on_selector_all("#log .l", "rows => rows.map(r => Number(r.dataset.seq))")


def db_seqs(execution: Execution) -> list[int]:
    return list(LogLine.objects.filter(execution=execution).order_by("seq").values_list("seq", flat=True))


def test_import_run_watch_reconnect_approve_and_dashboard(browser, asgi_server, celery_worker, shots, tmp_path):
    project = ProjectFactory(slug="web", name="Web shop")
    make_user_with_role(project, Role.MAINTAINER, username="mia")
    base = asgi_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)

    with page.expect_response(lambda response: response.url.endswith("/favicon.svg")) as icon:
        sign_in(page, base, "mia")
    assert icon.value.status == 200  # the tab's icon, not a 404 for /favicon.ico on every page
    page.screenshot(path=str(shots / "dashboard-empty.png"), full_page=True)

    # Import: a broken document first shows its located errors, then the good one.
    page.goto(f"{base}/pipelines/import/")
    page.select_option("#id_project", "web")
    page.fill("#id_yaml_text", PIPELINE.replace("needs: [gate]", "needs: [gait]"))
    page.click("form.stack button[type=submit]")
    errors = page.locator("#import-errors")
    assert re.search(r"line \d+, column \d+", errors.inner_text())
    assert "gait" in errors.inner_text()
    page.screenshot(path=str(shots / "import-errors.png"), full_page=True)
    page.fill("#id_yaml_text", PIPELINE)
    page.fill("#id_message", "first version")
    page.click("form.stack button[type=submit]")
    page.wait_for_url(re.compile(r".*/pipelines/\d+/$"))
    assert page.locator("svg.dag .dag-node").count() == 3
    page.wait_for_selector("#run-history")  # run history loaded by htmx
    page.screenshot(path=str(shots / "pipeline.png"), full_page=True)

    # Run it with inputs; a bad version is refused next to its field first.
    page.click("#run-button")
    page.fill("#id_stop", str(tmp_path))
    page.fill("#id_version", "1.0")
    page.click("#start-run")
    assert "does not match the pattern" in page.locator("#error-version").inner_text()
    page.fill("#id_version", "v42")
    page.screenshot(path=str(shots / "run-form.png"), full_page=True)
    page.click("#start-run")
    page.wait_for_url(re.compile(r".*/executions/\d+/$"))
    execution = Execution.objects.get()
    assert execution.inputs["version"] == "v42"

    # Live lines arrive while the step runs, with their ANSI colours.
    page.wait_for_selector("#log-conn[data-state=live]")
    page.wait_for_function("document.querySelectorAll('#log .l').length >= 5")
    first = len(dom_seqs(page))
    page.wait_for_function(f"document.querySelectorAll('#log .l').length > {first}")
    assert page.locator("#log .ansi-fg-2", has_text="ok").first.is_visible()
    assert page.locator('#execution-dag .dag-node[data-step="build"]').get_attribute("class") == "dag-node s-running"
    page.screenshot(path=str(shots / "execution-running.png"), full_page=True)

    # Force two disconnects while lines keep coming: the viewer resumes with after=<last seq>.
    for _ in range(2):
        seen = max(dom_seqs(page))
        with page.expect_websocket() as reconnected:
            page.evaluate("window.AnsFlow.execution.socket.ws.close()")
        resumed_after = int(re.search(r"after=(\d+)", reconnected.value.url).group(1))
        assert resumed_after >= seen > 0
        assert reconnected.value.url.endswith("&batch=1")
        page.wait_for_function(
            f"Math.max(...[...document.querySelectorAll('#log .l')].map(r => +r.dataset.seq)) > {seen + 5}"
        )

    (tmp_path / "build").touch()
    gate = page.locator('[data-approve="gate"]')
    gate.wait_for()  # the summary refreshed itself when the gate started waiting
    assert page.locator('#execution-dag .dag-node[data-step="gate"]').get_attribute("class") == "dag-node s-waiting"
    build_lines = db_seqs(execution)
    page.wait_for_function(f"document.querySelectorAll('#log .l').length >= {len(build_lines)}")
    assert dom_seqs(page) == build_lines == list(range(1, len(build_lines) + 1))  # no gap, no duplicate
    page.screenshot(path=str(shots / "execution-waiting.png"), full_page=True)

    # Approve: the page comes back with the gate passed and the last step streaming.
    with page.expect_navigation():
        gate.click()
    page.wait_for_selector("#log-conn[data-state=live]")
    page.wait_for_selector("#log .l >> text=ship tick 3")
    # A second viewer in per-line mode, which loses its socket once while lines keep coming.
    page.evaluate(PER_LINE_VIEWER)
    page.wait_for_function("window.perLine.seqs.length > 5")
    with page.expect_websocket() as per_line_reconnect:
        seen = page.evaluate("window.perLine.seqs.length")
        page.evaluate("window.perLine.socket.ws.close()")
    assert "batch" not in per_line_reconnect.value.url
    page.wait_for_function(f"window.perLine.seqs.length > {seen + 5}")
    # Scrolled up, the viewer stops following the tail (and offers to follow again).
    page.evaluate("const l = document.getElementById('log'); l.scrollTop = 0; l.dispatchEvent(new Event('scroll'))")
    page.wait_for_selector("#log-follow:not([hidden])")
    count = len(dom_seqs(page))
    page.wait_for_function(f"document.querySelectorAll('#log .l').length > {count + 5}")
    assert page.evaluate("document.getElementById('log').scrollTop") == 0
    page.click("#log-follow")
    page.wait_for_function("(() => { const l = document.getElementById('log'); "
                           "return l.scrollTop + l.clientHeight >= l.scrollHeight - 4; })()")  # fmt: skip

    # Filter by step: only the chosen step's lines stay visible.
    page.select_option("#log-step", "ship")
    assert not page.locator("#L1").is_visible()
    assert page.locator("#log .l[data-step=ship]").last.is_visible()
    page.select_option("#log-step", "")

    (tmp_path / "ship").touch()
    page.wait_for_selector("#execution-status[data-status=success]")
    page.wait_for_selector("#log-conn[data-state=ended]")  # connected, but no more lines can come
    assert page.locator("#log-conn").inner_text() == "ended"
    done = Execution.objects.get(pk=execution.pk)
    assert done.status == ExecutionStatus.SUCCESS
    all_lines = db_seqs(done)
    page.wait_for_function(f"document.querySelectorAll('#log .l').length >= {len(all_lines)}")
    assert dom_seqs(page) == all_lines == list(range(1, len(all_lines) + 1))
    page.wait_for_function(f"window.perLine.seqs.length >= {len(all_lines)}")
    assert page.evaluate("window.perLine.seqs") == all_lines
    states = page.eval_on_selector_all("#execution-dag .dag-node", "nodes => nodes.map(n => n.getAttribute('class'))")
    assert states == ["dag-node s-success"] * 3
    page.screenshot(path=str(shots / "execution-success.png"), full_page=True)

    # A line number is a link to that line, on this page and on a fresh one.
    page.click("#L2 a.n")
    page.wait_for_selector("#L2.hl")
    assert page.url.endswith("#L2")
    page.goto(f"{base}/")
    page.goto(f"{base}/executions/{execution.pk}/#L3")
    page.wait_for_selector("#L3.hl")
    assert page.locator("#log-follow").is_visible()  # a linked line stops the tail-following
    page.wait_for_selector("#log-conn[data-state=ended]")  # a finished run is never shown "live"
    assert missing == []

    # The dashboard shows the finished run in its chart.
    page.goto(f"{base}/")
    bars = page.locator("#chart-success rect.bar:not(.empty)")
    assert bars.count() == 1
    assert "100% of 1 run succeeded" in bars.first.locator("title").text_content()
    assert page.locator("#chart-duration circle.dot").count() == 1
    page.click("#trends a[role=tab]:has-text('30 days')")
    page.wait_for_function("document.querySelectorAll('#chart-success rect.bar').length === 30")
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

    for name, path in [("pipelines", "/pipelines/"), ("project", "/projects/web/"), ("approvals", "/approvals/"),
                       ("audit", "/audit/"), ("credentials", "/projects/web/credentials/")]:  # fmt: skip
        page.goto(f"{base}{path}")
        assert page.locator("main h1").count() == 1, path
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    # Phone width: nothing wider than the screen except the scrollable log and tables.
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.set_default_timeout(TIMEOUT_MS)
    sign_in(phone, base, "mia")
    for name, path in [("dashboard", "/"), ("execution", f"/executions/{execution.pk}/"), ("pipelines", "/pipelines/")]:
        phone.goto(f"{base}{path}")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
        phone.screenshot(path=str(shots / f"phone-{name}.png"), full_page=True)
