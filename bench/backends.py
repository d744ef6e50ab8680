"""The external backend the benchmarks use when it answers: MariaDB and Redis on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
from pathlib import Path

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}

# AnsFlow is measured as README's "Production" section runs it: DEBUG=0 (no statement is logged, static files
# come from collectstatic's manifest), its own keys; only TLS is left out, as a proxy in front would end it.
PRODUCTION = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_HSTS_SECONDS": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
}


def mariadb_answers() -> bool:
    try:
        import MySQLdb

        MySQLdb.connect(connect_timeout=2, **MARIADB).close()  # type: ignore[arg-type]
    except Exception:
        return False
    return True


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def recreate_mariadb_database(name: str) -> str:
    """Drop and create database ``name``; its ``DATABASE_URL``."""
    import MySQLdb

    conn = MySQLdb.connect(connect_timeout=5, **MARIADB)  # type: ignore[arg-type]
    try:
        cursor = conn.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    return f"mysql://{MARIADB['user']}@{MARIADB['host']}:{MARIADB['port']}/{name}"


def fresh_environment(data_dir: Path, overrides: dict[str, str]) -> dict[str, str]:
    """Empty ``data_dir`` (a fresh database file, Redis socket and workspaces) and the environment of a process
    using it as ``ANSFLOW_DATA_DIR``, in production settings, with the backend's overrides (``""`` removes the
    variable)."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    env = dict(os.environ, ANSFLOW_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **PRODUCTION)
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env["ANSFLOW_CREDENTIAL_KEYS"] = "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    for name, value in overrides.items():
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    return env


def wait_or_stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    """The process's exit code; past ``timeout`` it is sent SIGTERM (it stops what it started), then killed: -1."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return -1
