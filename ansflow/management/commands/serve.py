"""``manage.py serve``: the whole embedded stack as one supervised process group."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ansflow import runtime

BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"


def process_group(host: str, port: int) -> tuple[list[runtime.Child], dict[str, Any]]:
    """The children `serve` starts, in start order, and the readiness hooks between them."""
    py = sys.executable
    base = str(settings.BASE_DIR)
    children: list[runtime.Child] = []
    hooks: dict[str, Any] = {}
    if settings.REDIS_EMBEDDED:
        socket_path = settings.REDIS_EMBEDDED_SOCKET
        socket_path.unlink(missing_ok=True)
        children.append(runtime.Child("redis", runtime.redis_server_argv(socket_path, settings.DATA_DIR / "redis")))
        hooks["redis"] = lambda child: runtime.wait_for_redis(settings.REDIS_URL, process=child.process)
    celery = [py, "-m", "celery", "--workdir", base, "-A", "ansflow"]
    children += [
        runtime.Child(
            "celery-worker",
            [*celery, "worker", "--loglevel", "INFO", "--concurrency", str(settings.WORKER_CONCURRENCY),
             "--hostname", "worker@%h", "--without-gossip", "--without-mingle"],
        ),
        runtime.Child(
            "celery-beat",
            # The database scheduler runs schedule triggers and keeps CELERY_BEAT_SCHEDULE (reaper, log retention).
            [*celery, "beat", "--loglevel", "INFO", "--scheduler", BEAT_SCHEDULER, "--pidfile="],
        ),
        runtime.Child(
            "web",
            [py, "-m", "uvicorn", "ansflow.asgi:application", "--app-dir", base, "--host", host, "--port", str(port),
             "--no-access-log", "--lifespan", "off", "--log-level", "warning", *runtime.UVICORN_WS_FLAGS],
        ),
    ]  # fmt: skip
    return children, hooks


class Command(BaseCommand):
    help = "Start Redis (when embedded), the ASGI server, a Celery worker and Celery beat as one supervised group."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.SERVE_HOST)
        parser.add_argument("--port", type=int, default=settings.SERVE_PORT)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        children, hooks = process_group(host, port)
        names = ", ".join(child.name for child in children)
        self.stdout.write(f"AnsFlow: starting {names}; serving http://{host}:{port}/ (Ctrl-C stops all)")
        self.stdout.flush()
        code = runtime.Supervisor(children).run(after_start=hooks)
        if code:
            sys.exit(code)
