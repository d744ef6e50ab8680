"""Heartbeats of the steps running in a worker process: one thread per process, not one per step.

Every ``HEARTBEAT_INTERVAL`` a running step's row gets a fresh ``heartbeat_at``, only while it still
runs the attempt that was claimed. When that update finds no such row (the execution was canceled,
a ``fail_fast`` sibling failed, the reaper declared the attempt lost), the step's executor is stopped.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from ..choices import StepStatus
from ..executors.base import Executor
from ..models import StepExecution

logger = logging.getLogger("ansflow.engine.runner")


class Watch:
    """One running attempt the heartbeat thread looks after."""

    def __init__(self, step_pk: int, attempt: int, executor: Executor) -> None:
        self.step_pk = step_pk
        self.attempt = attempt
        self.executor = executor
        self.context = contextvars.copy_context()  # log lines name the execution and step
        self.due = time.monotonic() + settings.HEARTBEAT_INTERVAL
        self.revoked = False
        self.canceler: threading.Thread | None = None


class Heartbeats:
    """The process's heartbeat thread, started with the first step and kept for the next ones."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # A forked child (Celery's prefork pool) starts its own thread on first use.
        self._cond = threading.Condition()
        self._watches: list[Watch] = []
        self._beating: Watch | None = None
        self._thread: threading.Thread | None = None

    def watch(self, step_pk: int, attempt: int, executor: Executor) -> Watch:
        """Beat for this attempt from now on, until ``unwatch``."""
        watch = Watch(step_pk, attempt, executor)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ansflow-heartbeat", daemon=True)
                self._thread.start()
            self._watches.append(watch)
            self._cond.notify_all()
        return watch

    def unwatch(self, watch: Watch) -> None:
        """Stop beating for the attempt; returns when no beat or cancel of it is under way."""
        with self._cond:
            if watch in self._watches:
                self._watches.remove(watch)
            while self._beating is watch:
                self._cond.wait()
            self._cond.notify_all()
        if watch.canceler is not None:
            watch.canceler.join()

    def _next(self) -> Watch | None:
        """The watch whose beat is due, once one is; None when nothing is watched."""
        with self._cond:
            while self._watches:
                now = time.monotonic()
                watch = min(self._watches, key=lambda w: w.due)
                if watch.due <= now:
                    watch.due = now + settings.HEARTBEAT_INTERVAL
                    self._beating = watch
                    return watch
                self._cond.wait(watch.due - now)
            return None

    def _run(self) -> None:
        while True:
            watch = self._next()
            if watch is None:
                connection.close()  # idle: hold no database connection between steps
                with self._cond:
                    while not self._watches:
                        self._cond.wait()
                continue
            try:
                watch.revoked = not watch.context.run(self._beat, watch)
            except Exception:
                logger.exception("heartbeat of step %s failed", watch.step_pk)
            with self._cond:
                if watch.revoked and watch in self._watches:
                    self._watches.remove(watch)
                    # Stopping may wait for a grace period: never on this thread, which beats for every step.
                    watch.canceler = threading.Thread(
                        target=watch.context.copy().run, args=(watch.executor.cancel,), daemon=True
                    )
                    watch.canceler.start()
                self._beating = None
                self._cond.notify_all()

    @staticmethod
    def _beat(watch: Watch) -> bool:
        """One heartbeat; False when the row no longer runs this attempt."""
        try:
            beat = StepExecution.objects.filter(
                pk=watch.step_pk, attempt=watch.attempt, status=StepStatus.RUNNING
            ).update(heartbeat_at=timezone.now())
        except (OperationalError, InterfaceError):
            # The database is away: keep the step running and beat again when it is back.
            logger.warning("heartbeat of step %s failed; the database is unavailable", watch.step_pk)
            connection.close()
            return True
        return beat > 0


heartbeats = Heartbeats()
os.register_at_fork(after_in_child=heartbeats.reset)
