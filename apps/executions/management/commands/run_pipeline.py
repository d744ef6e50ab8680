"""``manage.py run_pipeline FILE.yaml``: import (or update) a pipeline, run it on the workers, wait for it.

Exit codes: 0 success, 1 failure / cancel / timeout, 2 invalid file or inputs (every error printed).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ansflow.celery import app as celery_app
from apps.accounts.models import Project
from apps.accounts.services import project_create
from apps.pipelines.services import pipeline_import
from apps.pipelines.spec import InputError, SpecError, parse_pipeline

from ...choices import ExecutionStatus
from ...models import Execution, LogLine
from ...services import RunError, execution_cancel, execution_start

POLL = 0.05


class Command(BaseCommand):
    help = "Import a pipeline file into a project, run it on the workers and wait (exit 0 ok, 1 failed, 2 invalid)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--project", help="project slug (default: the file's metadata.project)")
        parser.add_argument("--input", action="append", default=[], metavar="NAME=VALUE", help="a run input")
        parser.add_argument("--follow", action="store_true", help="stream the log to stdout while it runs")
        parser.add_argument("--timeout", type=float, default=None, help="cancel and exit 1 after this many seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        code = self.run(options)
        sys.stdout.flush()
        if code:
            sys.exit(code)

    def fail(self, lines: list[str], code: int = 2) -> int:
        for line in lines:
            self.stderr.write(line)
        return code

    def run(self, options: dict[str, Any]) -> int:
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            return self.fail([f"{path}: {exc.strerror}"])
        try:
            spec = parse_pipeline(data)
        except SpecError as exc:
            return self.fail([f"{path}: {len(exc.errors)} error(s)"] + [f"  {issue}" for issue in exc.errors])
        slug = options["project"] or spec.get("project")
        if not slug:
            return self.fail([f"{path}: no project: pass --project or set metadata.project"])
        inputs: dict[str, str] = {}
        for item in options["input"]:
            name, sep, value = item.partition("=")
            if not sep or not name:
                return self.fail([f"--input {item!r}: expected NAME=VALUE"])
            inputs[name] = value
        project = Project.objects.filter(slug=slug).first() or project_create(actor=None, slug=slug, name=slug)
        try:
            imported = pipeline_import(actor=None, project=project, yaml_text=data, message=f"run_pipeline {path.name}")
            execution = execution_start(actor=None, pipeline=imported.pipeline, inputs=inputs, trigger="cli")
        except SpecError as exc:
            return self.fail([f"{path}: {len(exc.errors)} error(s)"] + [f"  {issue}" for issue in exc.errors])
        except InputError as exc:
            return self.fail([f"input {name}: {message}" for name, message in exc.errors.items()])
        except RunError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"{imported.pipeline} v{imported.version.number}: execution #{execution.number} (id {execution.pk})"
        )
        if not celery_app.control.ping(timeout=1.0, limit=1):
            self.stderr.write("no Celery worker answered: the run waits until one starts (`make run` starts one)")
        return self.wait(execution, options["follow"], options["timeout"])

    def wait(self, execution: Execution, follow: bool, timeout: float | None) -> int:
        interrupted: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
        deadline = time.monotonic() + timeout if timeout else None
        after = 0
        try:
            while True:
                status = Execution.objects.values_list("status", flat=True).get(pk=execution.pk)
                if follow:
                    after = self.print_lines(execution.pk, after)
                if status in ExecutionStatus.terminal():
                    if follow:
                        self.print_lines(execution.pk, after)
                    break
                if interrupted or (deadline and time.monotonic() > deadline):
                    reason = "interrupted" if interrupted else f"timed out after {timeout:g} s"
                    self.stderr.write(f"{reason}: canceling execution {execution.pk}")
                    execution_cancel(actor=None, execution=execution)
                    deadline, interrupted[:] = None, []
                time.sleep(POLL)
        finally:
            signal.signal(signal.SIGINT, previous)
        self.stderr.write(f"execution #{execution.number}: {status}")
        return 0 if status == ExecutionStatus.SUCCESS else 1

    def print_lines(self, execution_id: int, after: int) -> int:
        while True:
            rows = list(
                LogLine.objects.filter(execution_id=execution_id, seq__gt=after)
                .order_by("seq")
                .values_list("seq", "step__step_id", "text")[:2000]
            )
            for seq, step_id, text in rows:
                self.stdout.write(f"[{step_id or '-'}] {text}")
                after = seq
            if len(rows) < 2000:
                return after
