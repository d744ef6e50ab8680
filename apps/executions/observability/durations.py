"""The step duration histogram of ``/metrics``, brought up to date at each scrape rather than recounted.

Attempt rows are only ever added, so a web process keeps the bucket counts of the attempts it has
already counted ("settled": finished more than ``SETTLE`` ago, so no transaction can still add one
below them) and each scrape reads only what came after: the attempts that settled since the last
scrape are added to the kept counts, the few newer ones are counted afresh. A scrape's cost then
follows the number of steps finished since the last one, not the size of the history.

If the row the counts stop at is gone or changed (the table was emptied), everything is counted again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import F, FloatField, Func, QuerySet
from django.utils import timezone

from ..models import StepAttempt

# Upper bounds (seconds) of the step duration histogram.
BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
SETTLE = timedelta(seconds=60)


class Seconds(Func):  # type: ignore[misc]
    """``end - start`` in seconds, computed by the database.

    Django's duration arithmetic calls back into Python for every row on SQLite; the database's own
    date functions do not.
    """

    output_field = FloatField()

    def __init__(self, end: str, start: str) -> None:
        super().__init__(F(end), F(start))

    def _sql(self, compiler: Any, template: str, *order: str) -> Any:
        """``template`` with ``{end}`` and ``{start}``; ``order``: the order they appear in it, for the params."""
        end, end_params = compiler.compile(self.source_expressions[0])
        start, start_params = compiler.compile(self.source_expressions[1])
        params = {"end": tuple(end_params), "start": tuple(start_params)}
        return template.format(end=end, start=start), tuple(p for name in order for p in params[name])

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Whole seconds, then the fractions of the stored text ("YYYY-MM-DD HH:MM:SS[.ffffff]", UTC): exact to
        # the microsecond, where julianday()'s difference of two large doubles is off by tens of them.
        sql = (
            "((strftime('%%s', substr({end}, 1, 19)) - strftime('%%s', substr({start}, 1, 19)))"
            " + (CAST(substr({end}, 20) AS REAL) - CAST(substr({start}, 20) AS REAL)))"
        )
        return self._sql(compiler, sql, "end", "start", "end", "start")

    def as_mysql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self._sql(compiler, "(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1e6)", "start", "end")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self._sql(compiler, "EXTRACT(EPOCH FROM ({end} - {start}))", "end", "start")


@dataclass
class Counts:
    """One step kind's histogram: attempts at or under each bound, all of them, and their total seconds."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    count: int = 0
    total: float = 0.0

    def add(self, other: Counts) -> None:
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.count += other.count
        self.total += other.total


def count(attempts: QuerySet[StepAttempt]) -> dict[str, Counts]:
    """The histogram of ``attempts`` (those with both times), by step kind, in one query.

    Each attempt's seconds are computed once, in a derived table, and compared with every bound there;
    an ORM aggregate would repeat the expression in each bucket's filter.
    """
    finished = attempts.filter(started_at__isnull=False, finished_at__isnull=False).order_by()
    seconds = finished.values(kind=F("step__kind"), seconds=Seconds("finished_at", "started_at"))
    inner, params = seconds.query.sql_with_params()
    if connection.vendor == "sqlite":
        # SQLite flattens a derived table into the aggregate, repeating the expression (a few string
        # functions) in every bucket's sum: 4.2 s instead of 0.6 s over 300,000 attempts. It keeps one
        # that has a LIMIT whole.
        inner += " LIMIT -1"
    buckets = ", ".join("SUM(CASE WHEN seconds <= %s THEN 1 ELSE 0 END)" for _ in BUCKETS)
    sql = f"SELECT kind, COUNT(*), SUM(seconds), {buckets} FROM ({inner}) durations GROUP BY kind"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*BUCKETS, *params])  # the bounds come first in the text
        rows = cursor.fetchall()
    return {
        kind: Counts([int(n) for n in counted], int(total_count), max(float(total or 0), 0.0))
        for kind, total_count, total, *counted in rows
    }


class Histogram:
    """The settled attempts' counts of one process, and where they stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.upto = 0  # the last settled attempt's pk (0: none yet)
        self.upto_finished: datetime | None = None
        self.settled: dict[str, Counts] = {}

    def read(self) -> dict[str, Counts]:
        with self._lock:
            if self.upto and not StepAttempt.objects.filter(pk=self.upto, finished_at=self.upto_finished).exists():
                self._reset()
            newer = StepAttempt.objects.filter(pk__gt=self.upto)
            last = newer.filter(finished_at__lt=timezone.now() - SETTLE).order_by("-pk")
            mark = last.values_list("pk", "finished_at").first()
            if mark is not None:
                for kind, counts in count(newer.filter(pk__lte=mark[0])).items():
                    self.settled.setdefault(kind, Counts()).add(counts)
                self.upto, self.upto_finished = mark
            result: dict[str, Counts] = {}
            for kind, counts in [*self.settled.items(), *count(StepAttempt.objects.filter(pk__gt=self.upto)).items()]:
                result.setdefault(kind, Counts()).add(counts)
            return dict(sorted(result.items()))


histogram = Histogram()
