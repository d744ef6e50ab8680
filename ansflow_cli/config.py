"""Where the client finds the server and its token: flags, then ANSFLOW_URL/ANSFLOW_TOKEN, then the config file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    """``$ANSFLOW_CONFIG``, else ``$XDG_CONFIG_HOME/ansflow/config.json`` (``~/.config/...``)."""
    explicit = os.environ.get("ANSFLOW_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ansflow" / "config.json"


@dataclass
class Settings:
    url: str
    token: str
    source: str  # where the token came from, for error messages


def load(url: str | None = None, token: str | None = None) -> Settings:
    stored: dict[str, str] = {}
    path = config_path()
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"ansflow: cannot read {path}: {exc}") from exc
    chosen_url = url or os.environ.get("ANSFLOW_URL") or stored.get("url") or DEFAULT_URL
    if token:
        return Settings(chosen_url.rstrip("/"), token, "--token")
    if os.environ.get("ANSFLOW_TOKEN"):
        return Settings(chosen_url.rstrip("/"), os.environ["ANSFLOW_TOKEN"], "ANSFLOW_TOKEN")
    return Settings(chosen_url.rstrip("/"), stored.get("token", ""), str(path))


def save(url: str, token: str) -> Path:
    """Writes the config file readable by its owner only."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"url": url.rstrip("/"), "token": token}, handle)
    path.chmod(0o600)
    return path
