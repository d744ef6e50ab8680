"""The REST client: one place that turns HTTP and network failures into clear messages and exit codes."""

from __future__ import annotations

from typing import Any

import requests

from .config import Settings

# Exit codes shared by every command.
OK, FAILED, INVALID, UNREACHABLE, DENIED, NOT_FOUND = 0, 1, 2, 3, 4, 5


class CliError(Exception):
    """A failure the user can act on; ``code`` is the process exit code."""

    def __init__(self, message: str, code: int = FAILED, payload: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.payload = payload


def _detail(response: requests.Response) -> tuple[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return (response.text.strip()[:300] or response.reason or f"HTTP {response.status_code}"), None
    if isinstance(body, dict):
        return str(body.get("detail") or body), body
    return str(body), body


class Client:
    def __init__(self, settings: Settings, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self.session = requests.Session()
        if settings.token:
            self.session.headers["Authorization"] = f"Token {settings.token}"
        self.session.headers["Accept"] = "application/json"

    def url(self, path: str) -> str:
        return f"{self.settings.url}/api/v1/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        try:
            response = self.session.request(method, self.url(path), timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise CliError(f"cannot reach {self.settings.url}: {_reason(exc)}", UNREACHABLE) from exc
        except requests.Timeout as exc:
            raise CliError(f"{self.settings.url} did not answer within {self.timeout:g} s", UNREACHABLE) from exc
        except requests.RequestException as exc:
            raise CliError(f"request to {self.settings.url} failed: {exc}", UNREACHABLE) from exc
        if response.status_code in ok:
            return response.json() if response.content else None
        detail, body = _detail(response)
        if response.status_code == 401:
            hint = (
                "no token: run `ansflow login` or set ANSFLOW_TOKEN"
                if not self.settings.token
                else (f"the token from {self.settings.source} was refused")
            )
            raise CliError(f"not authenticated ({hint}): {detail}", DENIED, body)
        if response.status_code == 403:
            raise CliError(f"permission denied: {detail}", DENIED, body)
        if response.status_code == 404:
            raise CliError(f"not found: {detail}", NOT_FOUND, body)
        if response.status_code == 400:
            raise CliError(detail, INVALID, body)
        raise CliError(f"the server answered {response.status_code}: {detail}", FAILED, body)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def post_yaml(self, path: str, text: str, ok: tuple[int, ...] = (200, 201)) -> Any:
        return self.request("POST", path, data=text.encode(), headers={"Content-Type": "application/x-yaml"}, ok=ok)


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if marker in text:
            return marker.lower()
    return text[:200]
