"""``manage.py seed_scale``: fill a project with many finished runs, to measure pages and API at scale.

The defaults give 100,000 executions, 1,000,000 step executions and 5,000,000 log
lines, spread over the last 30 days, written with bulk inserts.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Project
from apps.accounts.services import project_create
from apps.pipelines.models import Pipeline
from apps.pipelines.services import pipeline_import

from ...choices import ExecutionStatus, LogStream, StepStatus
from ...models import Execution, LogLine, StepExecution

BATCH = 2000


def pipeline_yaml(name: str, steps: int) -> str:
    body = "".join(
        f"    - {{id: s{i}, type: shell, run: 'true'" + (f", needs: [s{i - 1}]" if i else "") + "}\n"
        for i in range(steps)
    )
    return f"apiVersion: ansflow/v1\nkind: Pipeline\nmetadata: {{name: {name}}}\nspec:\n  steps:\n{body}"


class Command(BaseCommand):
    help = "Fill a project with finished runs (default 100k executions, 1M steps, 5M log lines)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", default="scale")
        parser.add_argument("--pipelines", type=int, default=20)
        parser.add_argument("--executions", type=int, default=100_000)
        parser.add_argument("--steps", type=int, default=10, help="steps per execution")
        parser.add_argument("--lines", type=int, default=50, help="log lines per execution")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **opts: Any) -> None:
        rng = random.Random(opts["seed"])
        admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
        project = Project.objects.filter(slug=opts["project"]).first() or project_create(
            actor=admin, slug=opts["project"], name=opts["project"].title()
        )
        pipelines = [
            pipeline_import(
                actor=admin, project=project, yaml_text=pipeline_yaml(f"service-{i:02d}", opts["steps"])
            ).pipeline
            for i in range(opts["pipelines"])
        ]
        now = timezone.now()
        done = 0
        while done < opts["executions"]:
            count = min(BATCH // max(opts["steps"], 1) * 4, opts["executions"] - done)
            self.write_batch(rng, project, pipelines, count, opts["steps"], opts["lines"], now)
            done += count
            self.stdout.write(f"\r{done}/{opts['executions']} executions", ending="")
            self.stdout.flush()
        for pipeline in pipelines:
            last = pipeline.executions.order_by("-number").first()
            if last is not None:
                Pipeline.objects.filter(pk=pipeline.pk).update(
                    run_count=last.number,
                    last_status=last.status,
                    last_execution_id=last.pk,
                    last_run_at=last.started_at,
                )
        self.stdout.write(f"\nseeded {done} executions in project {project.slug}")

    @transaction.atomic
    def write_batch(
        self,
        rng: random.Random,
        project: Project,
        pipelines: list[Pipeline],
        count: int,
        steps: int,
        lines: int,
        now: Any,
    ) -> None:
        executions = []
        for _ in range(count):
            pipeline = rng.choice(pipelines)
            pipeline.run_count += 1
            started = now - timedelta(seconds=rng.uniform(60, 30 * 86400))
            status = ExecutionStatus.FAILED if rng.random() < 0.15 else ExecutionStatus.SUCCESS
            executions.append(
                Execution(
                    project=project,
                    pipeline=pipeline,
                    version=pipeline.current_version,
                    number=pipeline.run_count,
                    status=status,
                    trigger="api",
                    started_at=started,
                    log_seq=lines,
                    finished_at=started + timedelta(seconds=rng.uniform(5, 900)),
                )
            )
        executions = Execution.objects.bulk_create(executions, batch_size=BATCH)
        if not executions or executions[0].pk is None:  # backends that do not return ids
            created = Execution.objects.filter(project=project).order_by("-pk")[: len(executions)]
            executions = list(reversed(list(created)))
        step_rows = []
        for execution in executions:
            failing = rng.randrange(steps) if execution.status == ExecutionStatus.FAILED else -1
            for i in range(steps):
                step_status: str = (
                    StepStatus.FAILED
                    if i == failing
                    else StepStatus.SKIPPED
                    if 0 <= failing < i
                    else StepStatus.SUCCESS
                )
                step_rows.append(
                    StepExecution(
                        execution=execution,
                        step_id=f"s{i}",
                        base_id=f"s{i}",
                        kind="shell",
                        position=i,
                        needs=[f"s{i - 1}"] if i else [],
                        status=step_status,
                        attempt=1,
                        started_at=execution.started_at,
                        finished_at=execution.finished_at,
                    )
                )
        StepExecution.objects.bulk_create(step_rows, batch_size=BATCH)
        log_rows = [
            LogLine(
                execution=execution,
                seq=seq,
                stream=LogStream.STDOUT,
                time=execution.started_at or now,
                text=f"step output line {seq} of run {execution.number}",
            )
            for execution in executions
            for seq in range(1, lines + 1)
        ]
        LogLine.objects.bulk_create(log_rows, batch_size=BATCH * 2)
