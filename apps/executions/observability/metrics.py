"""``/metrics``: Prometheus text built from the database at scrape time.

The database is the truth shared by every web process and worker, so the figures
are read from it when Prometheus scrapes, not counted in one process's memory:
executions by pipeline and status, step attempt durations by step kind, the queue,
running steps, log lines handed out and the workers' last heartbeats. Only the
live WebSocket count comes from Redis (see ``live``), and the HTTP request queue
from the web process that answers the scrape.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Max, Min, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ansflow.concurrency import GAUGES

from ..choices import ExecutionStatus, StepStatus
from ..models import Execution, StepExecution
from . import durations, live

logger = logging.getLogger("ansflow.metrics")


class AnsFlowCollector(Collector):
    """Collects every AnsFlow metric with a handful of aggregate queries."""

    def collect(self) -> Iterator[Metric]:
        yield self._executions()
        yield self._step_durations()
        yield from self._queue()
        yield self._running()
        yield self._log_lines()
        yield from self._heartbeats()
        yield self._websockets()
        yield from self._http_requests()

    def _executions(self) -> Metric:
        family = GaugeMetricFamily(
            "ansflow_executions",
            "Executions by project, pipeline and status.",
            labels=["project", "pipeline", "status"],
        )
        rows = (
            Execution.objects.order_by()
            .values("project__slug", "pipeline__name", "status")
            .annotate(n=Count("pk"))
            .order_by("project__slug", "pipeline__name", "status")
        )
        for row in rows:
            family.add_metric([row["project__slug"], row["pipeline__name"], row["status"]], row["n"])
        return family

    def _step_durations(self) -> Metric:
        family = HistogramMetricFamily(
            "ansflow_step_duration_seconds", "Duration of finished step attempts, by step kind.", labels=["kind"]
        )
        for kind, counts in durations.histogram.read().items():
            cumulative = [(str(bound), n) for bound, n in zip(durations.BUCKETS, counts.buckets, strict=True)]
            family.add_metric([kind], [*cumulative, ("+Inf", counts.count)], sum_value=counts.total)
        return family

    def _queue(self) -> Iterator[Metric]:
        queued = StepExecution.objects.filter(status=StepStatus.QUEUED).order_by()
        figures = queued.aggregate(n=Count("pk"), oldest=Min("queued_at"))
        depth = GaugeMetricFamily("ansflow_queue_depth", "Steps queued for a worker (including retry backoffs).")
        depth.add_metric([], figures["n"])
        yield depth
        age = GaugeMetricFamily("ansflow_queue_oldest_age_seconds", "Age of the oldest queued step (0 when none).")
        oldest = figures["oldest"]
        age.add_metric([], max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0)
        yield age
        waiting = GaugeMetricFamily(
            "ansflow_executions_waiting", "Executions queued behind a concurrency group or not yet started."
        )
        waiting.add_metric([], Execution.objects.filter(status=ExecutionStatus.QUEUED).count())
        yield waiting

    def _running(self) -> Metric:
        family = GaugeMetricFamily("ansflow_steps_running", "Steps running on a worker, by step kind.", labels=["kind"])
        rows = (
            StepExecution.objects.filter(status=StepStatus.RUNNING)
            .order_by()
            .values("kind")
            .annotate(n=Count("pk"))
            .order_by("kind")
        )
        for row in rows:
            family.add_metric([row["kind"]], row["n"])
        return family

    def _log_lines(self) -> Metric:
        family = CounterMetricFamily("ansflow_log_lines_ingested", "Log lines written by steps and the engine.")
        family.add_metric([], Execution.objects.order_by().aggregate(n=Sum("log_seq"))["n"] or 0)
        return family

    def _heartbeats(self) -> Iterator[Metric]:
        rows = (
            StepExecution.objects.filter(status=StepStatus.RUNNING, heartbeat_at__isnull=False)
            .order_by()
            .values("worker")
            .annotate(last=Max("heartbeat_at"), n=Count("pk"))
            .order_by("worker")
        )
        last = GaugeMetricFamily(
            "ansflow_worker_last_heartbeat_timestamp_seconds",
            "Unix time of the newest heartbeat of a worker process running steps.",
            labels=["worker"],
        )
        age = GaugeMetricFamily(
            "ansflow_worker_heartbeat_age_seconds",
            "Seconds since a worker process's newest heartbeat.",
            labels=["worker"],
        )
        now = timezone.now()
        alive = 0
        for row in rows:
            last.add_metric([row["worker"]], row["last"].timestamp())
            seconds = max((now - row["last"]).total_seconds(), 0.0)
            age.add_metric([row["worker"]], seconds)
            alive += seconds <= settings.HEARTBEAT_TIMEOUT
        yield last
        yield age
        workers = GaugeMetricFamily(
            "ansflow_workers_heartbeating", "Worker processes running steps whose heartbeat is within the timeout."
        )
        workers.add_metric([], alive)
        yield workers

    def _websockets(self) -> Metric:
        family = GaugeMetricFamily("ansflow_websocket_connections", "Open execution and project WebSockets.")
        try:
            family.add_metric([], live.live_connections())
        except Exception:
            logger.warning("could not read the WebSocket connection count", exc_info=True)
            family.add_metric([], float("nan"))
        return family

    def _http_requests(self) -> Iterator[Metric]:
        for name, value, text in (
            ("in_flight", GAUGES.in_flight, "HTTP requests inside Django in the web process that answered."),
            ("waiting", GAUGES.waiting, "HTTP requests queued for a place in the web process that answered."),
            ("limit", GAUGES.limit, "Concurrent HTTP requests one web process lets in (0 = unbounded)."),
        ):
            family = GaugeMetricFamily(f"ansflow_http_requests_{name}", text)
            family.add_metric([], value)
            yield family


def render() -> bytes:
    """The metrics in the Prometheus text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AnsFlowCollector())
    return generate_latest(registry)


def _allowed_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOW)


def _bearer(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


@csrf_exempt
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: allowed with ``Authorization: Bearer <METRICS_TOKEN>`` or from ``METRICS_ALLOW``."""
    token = settings.METRICS_TOKEN
    given = _bearer(request)
    if given:
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            return JsonResponse({"detail": "Invalid metrics token."}, status=401)
    elif not _allowed_address(request.META.get("REMOTE_ADDR", "")):
        return JsonResponse(
            {"detail": "Metrics need 'Authorization: Bearer <token>' (ANSFLOW_METRICS_TOKEN) or an allowed address "
                       "(ANSFLOW_METRICS_ALLOW)."},
            status=403,
        )  # fmt: skip
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
