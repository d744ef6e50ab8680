"""README sections of the live-log, scale and load benchmarks (issue 5 §6, issue 6 §6, issue 9 §5)."""

from __future__ import annotations

from typing import Any

from .report import _backend_name, _backends, _met

LIVE_INTRO = """\
- **logs_latency** (issue 5 §6a): a step prints `tick <n> <time.time_ns()>` every millisecond for 10 s while 50
  WebSocket viewers (the `websockets` library, one asyncio process) watch `/ws/executions/{id}/` on one uvicorn;
  each viewer subtracts the printed time from `time.time_ns()` on arrival. Floor: Redis PUBLISH of
  `time.time_ns()` every millisecond to one SUBSCRIBE client on the same Redis. Targets p50 <= 10 ms, p99 <= 50 ms.
  CPU columns: cores used by uvicorn and by the viewers' process from the first tick received to the last.
  Every live benchmark's viewers ask for batched messages (`?batch=1`: one `{"type": "logs", "lines": [...]}`
  per published batch), as the execution page and the `ansflow` CLI do; the notes say which mode a row used
  (rows without `batch=1` were measured with one message per line, the socket's default). The load in the notes
  is the machine's 1-minute load average when the run started: on 2 shared cores, above about 2 the worker, uvicorn
  and the viewers each get a fraction of a core, and latency grows with it.
- **logs_throughput** (issue 5 §6b): `seq 1 1000000` in one step; persisted = lines / (start -> the execution's
  `finished_at`), delivered = lines / (start -> the last line received by one viewer). Floor: the same lines read
  from a pipe and inserted as the same `LogLine` rows, one `executemany` INSERT per batch of the sink's size (2,000
  rows, one transaction each) on the same database. Target: both at least 60 % of the floor.
- **viewers** (issue 5 §6c): 1,000 idle viewers (watching a finished run) plus 10 watching a step that prints every
  millisecond for 5 s, on one uvicorn. Memory per connection = growth of uvicorn's resident set from one warm
  connection to all idle ones connected, divided by their number; delivery as in logs_latency.
- **scale** (issue 6 §6): `manage.py seed_scale` fills the database (MariaDB: its defaults, 100,000 runs,
  1,000,000 steps, 5,000,000 lines; the embedded SQLite default: 20,000 runs, a fifth, to keep seeding under a
  minute; `--quick`: 5,000 runs), then a signed-in superuser requests each
  page/API through httpx against uvicorn (sequentially, after warm-up requests); execution pages are random
  seeded runs. Targets: pages p95 <= 200 ms, API p95 <= 100 ms.
- **load** (issue 9 §5): 200 concurrent API clients (asyncio + httpx, token auth, one uvicorn) for 60 s, each
  looping over the execution list (45 %), an execution's detail (45 %) and starting a one-step run (10 %), while 20
  pipelines (a chain of `sleep 0.2` steps each) run, on a database holding only the benchmark's own runs (it runs
  before scale's seeding). Any non-2xx answer or transport error counts as an error. Runs finished: the started
  one-step runs that succeeded before the window closed (the worker also has the 20 chains to get through).

Each live benchmark is one run (logs_throughput: two); `make bench` takes about half an hour, most of it
seeding MariaDB for scale (about 9 minutes).

**Flush interval.** While lines keep coming, the log sink writes and publishes one batch per `FLUSH_INTERVAL`
(`apps/executions/engine/logsink.py`), and each batch is one frame to every viewer. logs_latency on the embedded
default (2026-11-25, load about 1, with the plain-SQL flush and no per-message deflate) gave p50 17.7 ms at 5 ms
(the web process and the viewers then used 1.3 cores of the 2: frames queued), 9.8 ms at 6 ms, 8.4-9.0 ms in three
runs at 8 ms (14.1 ms in a fourth, where the Redis floor's p99 was 8 times its usual too) and 9.7-11.2 ms at 10 ms;
the sink uses 8 ms.
"""


def _f(value: Any, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _mode(figures: dict[str, Any]) -> str:
    return f"viewers `{figures['viewer_mode']}`" if figures.get("viewer_mode") else "viewers: one message per line"


def _when(figures: dict[str, Any]) -> str:
    env = figures.get("environment", {})
    return f"{env.get('date', '?')[:16].replace('T', ' ')}, load {env.get('load_average_1m', '?')}"


def live_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| benchmark | backend | AnsFlow | floor (same run) | target | met | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, f in _backends(results.get("logs_latency", {})):
        a, fl = f["ansflow"], f["floor"]
        rows.append(
            f"| logs_latency, {f['viewers']} viewers, {f['lines']} lines | {_backend_name(label, f)} "
            f"| p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms | Redis pub/sub p50 {fl['p50_ms']:.2f} ms, "
            f"p99 {fl['p99_ms']:.2f} ms | p50 <= 10 ms, p99 <= 50 ms | {_met(f)} "
            f"| CPU: uvicorn {f['server_cpu_share']:.2f}, viewers {f['client_cpu_share']:.2f}; {_mode(f)}; "
            f"{_when(f)} |"
        )
    for label, f in _backends(results.get("logs_throughput", {})):
        rows.append(
            f"| logs_throughput, {f['lines']:,} lines | {_backend_name(label, f)} "
            f"| persisted {_f(f['persisted_median'], '{:,.0f}')}/s ({_f(f['persisted_ratio'], '{:.0%}')}), "
            f"delivered {_f(f['delivered_median'], '{:,.0f}')}/s ({_f(f['delivered_ratio'], '{:.0%}')}) "
            f"| pipe + executemany {_f(f['floor_median'], '{:,.0f}')}/s | >= 60 % | {_met(f)} "
            f"| medians of {f['repetitions']}; {_mode(f)} |"
        )
    for label, f in _backends(results.get("viewers", {})):
        d = f["delivery"]
        rows.append(
            f"| viewers, {f['idle']:,} idle + {f['active']} active | {_backend_name(label, f)} "
            f"| {f['kib_per_connection']:.0f} KiB per connection; delivery p50 {d['p50_ms']:.1f} ms, "
            f"p99 {d['p99_ms']:.1f} ms | - | p99 <= 50 ms | {_met(f)} "
            f"| uvicorn RSS {f['rss_before_mb']:.0f} -> {f['rss_idle_mb']:.0f} MB; {f['idle']:,} connects in "
            f"{f['idle_connect_seconds']:.1f} s; {_mode(f)} |"
        )
    return rows


def scale_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| backend | seeded | what | p50 | p95 | target (p95) | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, f in _backends(results.get("scale", {})):
        seeded = f["seeded"]
        size = (
            f"{seeded['executions']:,} runs, {seeded['steps']:,} steps, {seeded['lines']:,} lines "
            f"(seeded in {seeded['seconds']:.0f} s)"
        )
        for name, page in f["pages"].items():
            met = "**yes**" if page["met"] else f"**no**{': ' + page['error'] if page.get('error') else ''}"
            rows.append(
                f"| {label} | {size} | `{name}` ({page['path']}) | {page['p50_ms']:.0f} ms | {page['p95_ms']:.0f} ms "
                f"| <= {page['target_ms']:.0f} ms | {met} |"
            )
    return rows


def load_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| backend | clients, seconds | requests | errors | throughput | p50 | p95 | p95 by endpoint "
        "| runs started / finished | uvicorn CPU | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, f in _backends(results.get("load", {})):
        by = ", ".join(f"{name} {v['p95_ms']:.0f} ms" for name, v in f["endpoints"].items())
        rows.append(
            f"| {_backend_name(label, f)} | {f['clients']}, {f['seconds']:.0f} s | {f['requests']:,} "
            f"| {f['errors']} ({f['error_rate']:.2%}) | {f['requests_per_s']:.0f}/s | {f['p50_ms']:.0f} ms "
            f"| {f['p95_ms']:.0f} ms | {by} | {f['runs_started']} / {f['runs_finished']} "
            f"| {f.get('server_cpu_share', 0):.2f} | {_met(f)} |"
        )
    for label, f in _backends(results.get("load", {})):
        for cause, count in f.get("server_errors", {}).items():
            rows.append(f"\n{label}: the server logged `{cause}` {count} times.")
    return rows


def _measured(results: dict[str, dict[str, Any]], name: str) -> list[str]:
    """When each backend's run started and the machine's load then: on 2 shared cores, a load above 2 slows
    every request (the server gets a fraction of a core)."""
    notes = [
        f"{label}: measured {f['environment'].get('date', '?')[:16].replace('T', ' ')}, load (1 min) "
        f"{f['environment'].get('load_average_1m', '?')}."
        for label, f in _backends(results.get(name, {}))
    ]
    return ["", " ".join(notes)] if notes else []


def sections(results: dict[str, dict[str, Any]]) -> list[str]:
    parts: list[str] = []
    if any(name in results for name in ("logs_latency", "logs_throughput", "viewers")):
        parts += ["## Live logs\n", *live_rows(results), ""]
    if "scale" in results:
        parts += ["## Pages and API at scale\n", *scale_rows(results), *_measured(results, "scale"), ""]
    if "load" in results:
        parts += ["## API under load\n", *load_rows(results), *_measured(results, "load"), ""]
    return parts
