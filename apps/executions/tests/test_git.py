"""The git step on a real worker: a bare repository on disk and the same over real SSH to 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.accounts.masking import variants
from apps.accounts.models import AuditEvent
from apps.accounts.services import credential_create

from .helpers import log_text, pipeline_yaml, project, run, statuses, superuser
from .realparts import keygen

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _worker(celery_worker):
    return celery_worker


def test_checks_out_the_default_branch_shallowly_into_the_workspace(git_repo):
    execution = run(
        pipeline_yaml(
            "git-default",
            f"""
            - id: checkout
              type: git
              with: {{repository: "{git_repo["path"]}"}}
            - id: look
              type: shell
              needs: [checkout]
              env: {{COMMIT: "{{{{ steps.checkout.outputs.commit }}}}"}}
              run: |
                echo "readme=$(cat README) commits=$(git rev-list --count HEAD) head=$(git rev-parse HEAD)"
                test "$COMMIT" = "$(git rev-parse HEAD)"
                test -z "$(git status --porcelain --untracked-files=no)"
            """,
        )
    )
    assert statuses(execution) == {"checkout": "success", "look": "success"}
    assert execution.steps.get(step_id="checkout").outputs == {"commit": git_repo["second"], "ref": "HEAD"}
    assert f"readme=second commits=1 head={git_repo['second']}" in log_text(execution, "look")


@pytest.mark.parametrize(
    ("ref", "expected", "check"),
    [
        ("v1", "first", 'test "$(cat README)" = first'),
        ("feature", "feature", "test -f FEATURE"),
        ("{first}", "first", "test ! -f FEATURE"),
    ],
)
def test_checks_out_a_tag_a_branch_or_a_commit_into_a_subdirectory(git_repo, ref, expected, check):
    ref = ref.format(**git_repo)
    execution = run(
        pipeline_yaml(
            f"git-ref-{expected}",
            f"""
            - id: checkout
              type: git
              with: {{repository: "file://{git_repo["path"]}", ref: "{ref}", path: src/app}}
            - id: look
              type: shell
              needs: [checkout]
              run: cd src/app && {check} && git rev-parse HEAD
            """,
        )
    )
    assert statuses(execution) == {"checkout": "success", "look": "success"}, log_text(execution)
    assert execution.steps.get(step_id="checkout").outputs["commit"] == git_repo[expected]
    assert git_repo[expected] in log_text(execution, "look")


def test_depth_zero_fetches_the_whole_history_and_a_second_fetch_reuses_the_checkout(git_repo):
    execution = run(
        pipeline_yaml(
            "git-full",
            f"""
            - id: one
              type: git
              with: {{repository: "{git_repo["path"]}", ref: v1, depth: 0, path: r}}
            - id: two
              type: git
              needs: [one]
              with: {{repository: "{git_repo["path"]}", ref: main, depth: 0, path: r}}
            - id: look
              type: shell
              needs: [two]
              run: echo "count=$(git -C r rev-list --count HEAD)"
            """,
        )
    )
    assert statuses(execution) == {"one": "success", "two": "success", "look": "success"}
    assert execution.steps.get(step_id="two").outputs["commit"] == git_repo["second"]
    assert "count=2" in log_text(execution, "look")


def test_an_unknown_ref_fails_with_gits_message(git_repo):
    execution = run(
        pipeline_yaml(
            "git-bad-ref",
            f"""
            - id: checkout
              type: git
              with: {{repository: "{git_repo["path"]}", ref: no-such-branch}}
            """,
        )
    )
    step = execution.steps.get(step_id="checkout")
    assert step.status == "failed"
    assert step.error == "git fetch failed (exit 128)"
    assert any("no-such-branch" in line for line in log_text(execution, "checkout"))


def test_clones_over_ssh_with_a_passphrase_protected_key_and_masks_it(git_repo, sshd):
    credential_create(
        actor=superuser(),
        project=project(),
        name="deploy-key",
        kind="ssh_key",
        fields={"username": "root", "private_key": sshd.encrypted_key, "passphrase": sshd.passphrase},
    )
    url = f"ssh://127.0.0.1:{sshd.port}{git_repo['path']}"
    execution = run(
        pipeline_yaml(
            "git-ssh",
            f"""
            - id: checkout
              type: git
              with:
                repository: "{url}"
                ref: feature
                credential: deploy-key
                known_hosts: "{sshd.host_key_line.strip()}"
            - id: leak
              type: shell
              needs: [checkout]
              env: {{PASS: {{secret: deploy-key.passphrase}}}}
              run: echo "passphrase is $PASS"; ls
            """,
            extra="credentials: [deploy-key]\n",
        )
    )
    assert statuses(execution) == {"checkout": "success", "leak": "success"}, log_text(execution)
    assert execution.steps.get(step_id="checkout").outputs["commit"] == git_repo["feature"]
    text = "\n".join(log_text(execution))
    assert "FEATURE" in text
    assert "passphrase is ***" in text
    assert sshd.passphrase not in text
    assert "PRIVATE KEY" not in text
    used = [event.changes["used_by"]["repr"] for event in AuditEvent.objects.filter(verb="credential.use")]
    assert any("checkout" in target for target in used), used


def test_a_wrong_host_key_or_an_unlisted_credential_fails_clearly(git_repo, sshd, tmp_path):
    credential_create(
        actor=superuser(), project=project(), name="other-key", kind="ssh_key", fields={"private_key": sshd.private_key}
    )
    keygen(tmp_path / "impostor")
    impostor = (tmp_path / "impostor.pub").read_text().split()
    known = f"[127.0.0.1]:{sshd.port} {impostor[0]} {impostor[1]}"
    url = f"ssh://root@127.0.0.1:{sshd.port}{git_repo['path']}"
    execution = run(
        pipeline_yaml(
            "git-ssh-bad",
            f"""
            - id: unlisted
              type: git
              with: {{repository: "{url}", credential: not-listed}}
            - id: spoofed
              type: git
              with: {{repository: "{url}", credential: other-key, known_hosts: "{known}"}}
            """,
            extra="credentials: [other-key]\n",
        )
    )
    unlisted = execution.steps.get(step_id="unlisted")
    assert unlisted.status == "failed"
    assert unlisted.error == "git: credential 'not-listed' is not listed in spec.credentials"
    spoofed = execution.steps.get(step_id="spoofed")
    assert spoofed.status == "failed"
    assert any("Host key verification failed" in line for line in log_text(execution, "spoofed"))


def test_fetches_over_http_with_a_token_kept_out_of_the_log_the_config_and_command_lines(git_repo, git_http):
    actor = superuser()
    credential_create(
        actor=actor, project=project(), name="git-token", kind="bearer_token", fields={"token": git_http.token}
    )
    credential_create(
        actor=actor, project=project(), name="git-wrong", kind="bearer_token", fields={"token": "x" + git_http.token}
    )
    url = f"{git_http.url}/repo.git"
    execution = run(
        pipeline_yaml(
            "git-http-token",
            f"""
            - id: checkout
              type: git
              with: {{repository: "{url}", ref: feature, credential: git-token, path: src}}
            - id: denied
              type: git
              needs: [checkout]
              with: {{repository: "{url}", credential: git-wrong, path: denied}}
            - id: anonymous
              type: git
              needs: [checkout]
              with: {{repository: "{url}", path: anonymous}}
            - id: look
              type: shell
              needs: [checkout]
              run: git -C src log --format=%s -1 && git -C src remote -v
            """,
            extra="credentials: [git-token, git-wrong]\n",
        )
    )
    assert statuses(execution) == {
        "checkout": "success",
        "denied": "failed",
        "anonymous": "failed",
        "look": "success",
    }, log_text(execution)
    assert execution.steps.get(step_id="checkout").outputs["commit"] == git_repo["feature"]
    assert "feature" in log_text(execution, "look")
    assert f"origin\t{url} (fetch)" in log_text(execution, "look")
    # git sent the token only when the server asked for it (401), and got in with it.
    assert not git_http.requests[0].authorised
    assert any(request.authorised and request.method == "POST" for request in git_http.requests)
    assert execution.steps.get(step_id="denied").error == "git fetch failed (exit 128)"
    assert any(f"fatal: Authentication failed for '{url}/'" in line for line in log_text(execution, "denied"))
    tokens = variants(git_http.token) | variants("x" + git_http.token)
    text = "\n".join(log_text(execution))
    assert not [form for form in tokens if form in text]
    # Nothing of it is left in the checkout's git config, nor was it in any command line while git fetched.
    workspace = Path(settings.WORKSPACES_DIR) / str(execution.pk)
    for config in (workspace / "src" / ".git" / "config", workspace / "denied" / ".git" / "config"):
        assert not [form for form in tokens if form in config.read_text()]
    assert any("git" in line and "repo.git" in line for line in git_http.command_lines), git_http.command_lines
    assert not [form for form in tokens if any(form in line for line in git_http.command_lines)]
