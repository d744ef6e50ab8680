"""The Celery application. Tasks live in each app's ``tasks.py``."""

import os
from typing import Any

from celery import Celery, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ansflow.settings")

app = Celery("ansflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class OrphanSweeper(bootsteps.StartStopStep):
    """The worker's main process adopts the processes of a pool process that died, and ends them.

    See ``apps.executions.engine.orphans``: without it, a step whose pool process was killed runs on
    beside the retry that the reaper starts.
    """

    requires = {"celery.worker.components:Timer"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        from django.conf import settings

        from apps.executions.engine import orphans

        if orphans.adopt():
            self.tref = parent.timer.call_repeatedly(settings.ORPHAN_SWEEP_INTERVAL, orphans.sweep)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


app.steps["worker"].add(OrphanSweeper)


@signals.worker_process_init.connect
def keep_connections(**kwargs: Any) -> None:
    """A pool process reuses its database connection across tasks, up to ``WORKER_DB_CONN_MAX_AGE``.

    A new connection per task (Celery's default with Django) costs a connect and, on SQLite, the
    connection's PRAGMAs for every step. ``CELERY_DB_REUSE_MAX`` stops the fix-up from closing them;
    ``check_connections`` below closes what is too old, broken, or left inside a transaction.
    """
    from django.conf import settings
    from django.db import connections

    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = settings.WORKER_DB_CONN_MAX_AGE


@signals.task_prerun.connect
@signals.task_postrun.connect
def check_connections(**kwargs: Any) -> None:
    """Around every task, as Django does around a request: drop unusable or expired connections.

    ``CONN_HEALTH_CHECKS`` then pings a kept connection before its first query in the next task, so
    one the server closed meanwhile (MariaDB's ``wait_timeout``, a restart) is replaced, not used.
    """
    from django.db import close_old_connections

    close_old_connections()
