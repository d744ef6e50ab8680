"""``http``: one HTTP request; the status decides the step, JSON paths pick outputs."""

from __future__ import annotations

import json
import threading
from typing import Any

import requests

from apps.pipelines.spec import parse_json_path

from ..choices import LogStream, StepStatus
from ..engine.logsink import LogSink
from .base import Executor, StepContext, StepResult, register

EXCERPT = 2000


def _expected(expect: Any) -> set[int] | None:
    if expect is None:
        return None
    if isinstance(expect, int):
        return {expect}
    return {int(code) for code in expect}


def _walk(document: Any, path: list[str | int]) -> Any:
    for part in path:
        document = document[part]
    return document


@register
class HttpExecutor(Executor):
    kind = "http"

    def __init__(self) -> None:
        self.session = requests.Session()
        self.canceled = threading.Event()

    def run(self, ctx: StepContext, sink: LogSink) -> StepResult:
        p = ctx.params
        method = str(p.get("method", "GET")).upper()
        url = str(p["url"])
        timeout = float(p.get("timeout") or ctx.timeout or 30)
        retries = int(p.get("retries", 0))
        kwargs: dict[str, Any] = {"headers": p.get("headers") or {}, "timeout": timeout, "allow_redirects": True}
        if p.get("json") is not None:
            kwargs["json"] = p["json"]
        elif p.get("body") is not None:
            kwargs["data"] = str(p["body"]).encode()
        response = None
        for attempt in range(retries + 1):
            sink.write(LogStream.SYSTEM, f"{method} {url}" + (f" (retry {attempt})" if attempt else ""))
            try:
                response = self.session.request(method, url, **kwargs)
                break
            except requests.ConnectionError as exc:
                if self.canceled.is_set():
                    return StepResult(StepStatus.CANCELED, error="canceled")
                sink.write(LogStream.STDERR, f"connection error: {exc}")
                if attempt == retries:
                    return StepResult(StepStatus.FAILED, error=f"connection error: {exc}")
            except requests.Timeout:
                return StepResult(StepStatus.TIMED_OUT, error=f"no answer within {timeout:g} s")
            except requests.RequestException as exc:
                return StepResult(StepStatus.FAILED, error=f"request failed: {exc}")
        assert response is not None
        sink.write(LogStream.SYSTEM, f"HTTP {response.status_code} {response.reason} ({len(response.content)} bytes)")
        for line in response.text[:EXCERPT].splitlines():
            sink.write(LogStream.STDOUT, line)
        expected = _expected(p.get("expect_status"))
        ok = response.status_code in expected if expected else 200 <= response.status_code < 300
        if not ok:
            wanted = ", ".join(map(str, sorted(expected))) if expected else "2xx"
            return StepResult(StepStatus.FAILED, error=f"HTTP {response.status_code}, expected {wanted}")
        outputs: dict[str, str] = {}
        wanted_outputs = p.get("outputs") or {}
        if wanted_outputs:
            try:
                document = response.json()
            except ValueError:
                return StepResult(StepStatus.FAILED, error="outputs need a JSON response body")
            for name, expression in wanted_outputs.items():
                try:
                    value = _walk(document, parse_json_path(str(expression)))
                except (KeyError, IndexError, TypeError, ValueError):
                    return StepResult(StepStatus.FAILED, error=f"output {name}: {expression} not in the response")
                outputs[name] = value if isinstance(value, str) else json.dumps(value)
        return StepResult(StepStatus.SUCCESS, outputs=outputs)

    def cancel(self) -> None:
        self.canceled.set()
        self.session.close()
