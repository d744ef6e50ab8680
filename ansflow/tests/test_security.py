"""Security checks as tests: secrets never leak, CSRF, cookie flags, clickjacking, body limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.apps import apps
from django.db import connection, models
from django.test import Client

from apps.accounts.services import credential_create, token_create
from apps.executions.tests.helpers import pipeline_yaml, project, superuser, wait_done

SECRET = "pa55-Word_with-unique-77Q"


def text_columns() -> list[tuple[str, str]]:
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, (models.CharField, models.TextField, models.JSONField)):
                found.append((model._meta.db_table, field.column))
    return found


@pytest.mark.django_db(transaction=True)
def test_a_secret_used_by_a_run_appears_nowhere_in_clear(celery_worker, client):
    admin = superuser()
    proj = project("vault")
    credential_create(
        actor=admin, project=proj, name="db", kind="username_password", fields={"username": "app", "password": SECRET}
    )
    from apps.executions.services import execution_start
    from apps.pipelines.services import pipeline_import

    imported = pipeline_import(
        actor=admin,
        project=proj,
        yaml_text=pipeline_yaml(
            "leaky",
            """
            - id: leak
              type: shell
              env: {PASSWORD: {secret: db.password}}
              outputs: [written, printed]
              run: |
                echo "password is $PASSWORD"
                echo "url https://app:$PASSWORD@db.example/x"
                echo "$PASSWORD" >&2
                echo "written=dsn:$PASSWORD" >> "$ANSFLOW_OUTPUT"
                echo "::set-output printed=$PASSWORD"
                exit 3
            """,
            extra="credentials: [db]\n",
            project_slug="vault",
        ),
    )
    execution = wait_done(execution_start(actor=admin, pipeline=imported.pipeline))
    assert execution.status == "failed"
    # A failed step keeps its declared outputs, each masked as its log is.
    assert execution.steps.get().outputs == {"written": "dsn:***", "printed": "***"}

    # 1. The database: no text column of any table holds it (the credential's ciphertext is not clear text).
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column in text_columns():
            cursor.execute(f"SELECT COUNT(*) FROM {quote(table)} WHERE {quote(column)} LIKE %s", [f"%{SECRET}%"])  # noqa: S608
            assert cursor.fetchone()[0] == 0, f"{table}.{column} holds the secret"

    # 2. Every API answer a superuser can read about it.
    _token, key = token_create(actor=admin, user=admin, name="audit")
    headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
    for path in (
        f"/api/v1/executions/{execution.pk}/",
        f"/api/v1/executions/{execution.pk}/logs/",
        f"/api/v1/executions/{execution.pk}/logs.txt",
        "/api/v1/credentials/",
        "/api/v1/audit-events/",
        f"/api/v1/steps/?execution={execution.pk}",
    ):
        response = client.get(path, **headers)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert SECRET.encode() not in body, path
    logs = client.get(f"/api/v1/executions/{execution.pk}/logs/", **headers).json()["lines"]
    # stdout and stderr are separate pipes, so their lines may interleave either way.
    assert sorted(line["text"] for line in logs[:4]) == [
        "***", "::set-output printed=***", "password is ***", "url https://app:***@db.example/x"
    ]  # fmt: skip


@pytest.mark.django_db
def test_csrf_is_enforced_for_session_writes_but_not_for_tokens():
    admin = superuser()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    refused = client.post("/api/v1/projects/", {"slug": "csrf", "name": "x"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    _token, key = token_create(actor=admin, user=admin, name="t")
    tokened = Client(enforce_csrf_checks=True).post(
        "/api/v1/projects/", {"slug": "csrf", "name": "x"}, HTTP_AUTHORIZATION=f"Token {key}"
    )
    assert tokened.status_code == 201


@pytest.mark.django_db
def test_pages_refuse_framing_and_sniffing(client):
    response = client.get("/healthz")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_oversized_bodies_get_a_clear_413(client, settings):
    admin = superuser()
    _token, key = token_create(actor=admin, user=admin, name="t")
    body = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.post(
        "/api/v1/pipelines/import/?project=big", data=body, content_type="application/x-yaml",
        HTTP_AUTHORIZATION=f"Token {key}",
    )  # fmt: skip
    assert response.status_code == 413
    assert "limit is" in response.json()["detail"]


def test_production_cookies_are_secure_httponly_and_samesite(tmp_path):
    code = (
        "from django.conf import settings as s; import json; print(json.dumps([s.SESSION_COOKIE_SECURE, "
        "s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_SAMESITE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.X_FRAME_OPTIONS]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DEBUG="0", SECRET_KEY="k" * 20 + "QWERTYUIOPASDFGHJKLZXCVBNM1234567890", ALLOWED_HOSTS="a.example",
        ANSFLOW_CREDENTIAL_KEYS="k1:" + "A" * 43 + "=", ANSFLOW_DATA_DIR=str(tmp_path), LOG_LEVEL="ERROR",
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, True, "Lax", True, "Lax", True, True, "DENY"]
