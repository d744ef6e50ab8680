"""Settings from the environment: the embedded default, production hardening, JSON logs with request ids."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")}
    base.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], env=base, capture_output=True, text=True, timeout=120)


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x7!kq2" * 10,
    "ALLOWED_HOSTS": "ansflow.example.com",
    "ANSFLOW_CREDENTIAL_KEYS": "k1:" + "A" * 43 + "=",
    "LOG_LEVEL": "ERROR",
}


def test_production_settings_pass_check_deploy_with_no_warnings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", ANSFLOW_DATA_DIR=str(tmp_path), **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    env = {**PRODUCTION, "SECRET_KEY": ""}
    result = manage("check", ANSFLOW_DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_nothing_set_means_sqlite_and_bundled_redis_under_the_data_dir(tmp_path):
    code = (
        "from django.conf import settings as s; import json; "
        "print(json.dumps([s.DATABASES['default']['ENGINE'], str(s.DATABASES['default']['NAME']), s.REDIS_URL, "
        "s.CELERY_BROKER_URL, s.REDIS_EMBEDDED, s.CHANNEL_LAYERS['default']['BACKEND']]))"
    )
    result = manage("shell", "-c", code, ANSFLOW_DATA_DIR=str(tmp_path), LOG_LEVEL="ERROR")
    engine, name, redis_url, broker, embedded, layer = json.loads(result.stdout.strip().splitlines()[-1])
    assert engine == "django.db.backends.sqlite3"
    assert name == str(tmp_path / "ansflow.sqlite3")
    assert redis_url == f"unix://{tmp_path}/redis.sock"
    assert broker == f"redis+socket://{tmp_path}/redis.sock"
    assert embedded is True
    assert "InMemory" not in layer


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    code = (
        "from django.db import connection; c = connection.cursor(); c.execute('PRAGMA journal_mode'); "
        "print(c.fetchone()[0]); c.execute('PRAGMA busy_timeout'); print(c.fetchone()[0])"
    )
    result = manage("shell", "-c", code, ANSFLOW_DATA_DIR=str(tmp_path), LOG_LEVEL="ERROR")
    mode, timeout = result.stdout.split()[-2:]
    assert mode == "wal"
    assert int(timeout) >= 5000


def test_every_request_gets_an_id_in_the_response_and_the_json_log(tmp_path):
    code = (
        "from django.test import Client; c = Client(); "
        "print(c.get('/healthz', HTTP_HOST='127.0.0.1', HTTP_X_REQUEST_ID='rid-7')['X-Request-ID']); "
        "print(c.get('/healthz', HTTP_HOST='127.0.0.1', HTTP_X_REQUEST_ID='bad id; rm -rf')['X-Request-ID'])"
    )
    result = manage("shell", "-c", code, ANSFLOW_DATA_DIR=str(tmp_path), LOG_LEVEL="INFO")
    kept, generated = result.stdout.split()[-2:]
    assert kept == "rid-7"
    assert len(generated) == 32
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    request = next(r for r in records if r.get("logger") == "ansflow.request" and r["request_id"] == "rid-7")
    assert request["path"] == "/healthz"
    assert request["status"] == 200
    assert request["level"] == "INFO"


def test_engine_log_lines_name_their_execution_and_step():
    import logging

    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    from ansflow.logging import RequestIdFilter, engine_context

    config = settings.LOGGING["formatters"]["json"]
    formatter = JsonFormatter(config["fmt"], rename_fields=config["rename_fields"])
    inside = logging.LogRecord("ansflow.engine", logging.WARNING, __file__, 1, "heartbeat failed", None, None)
    outside = logging.LogRecord("ansflow.engine", logging.WARNING, __file__, 1, "idle", None, None)
    with engine_context(42, "build[py=3.12]"):
        RequestIdFilter().filter(inside)
    RequestIdFilter().filter(outside)
    line = json.loads(formatter.format(inside))
    assert (line["execution_id"], line["step_id"], line["message"]) == (42, "build[py=3.12]", "heartbeat failed")
    assert "execution_id" not in json.loads(formatter.format(outside))


def test_notification_upkeep_comes_from_the_environment(tmp_path):
    code = (
        "from django.conf import settings as s; import json; "
        "print(json.dumps([s.NOTIFICATION_RETENTION_DAYS, s.NOTIFICATION_SENDING_TIMEOUT, "
        "s.CELERY_BEAT_SCHEDULE['ansflow-notification-retention']['task']]))"
    )
    env = {"ANSFLOW_NOTIFICATION_RETENTION_DAYS": "7", "ANSFLOW_NOTIFICATION_SENDING_TIMEOUT": "45"}
    result = manage("shell", "-c", code, ANSFLOW_DATA_DIR=str(tmp_path), LOG_LEVEL="ERROR", **env)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [7, 45.0, "executions.cleanup_notifications"]
    default = manage("shell", "-c", code, ANSFLOW_DATA_DIR=str(tmp_path), LOG_LEVEL="ERROR")
    assert json.loads(default.stdout.strip().splitlines()[-1])[:2] == [90, 300.0]
